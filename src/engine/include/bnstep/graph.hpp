#pragma once
// A validated lesson: nodes in topological order with shapes inferred and
// ops resolved, the leaves' values, and the seed gradient of the output.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bnstep/op.hpp"
#include "bnstep/tensor.hpp"

namespace bnstep {

enum class NodeKind { Input, Param, Const, Op };

// How a leaf (or the output's upstream gradient) is redrawn under a variant
// (the lesson key "variant", or its default; docs/lesson-format.md, Variants).
struct LeafVariant {
    enum class Kind { Fixed, Grid, Choices };
    Kind kind = Kind::Fixed;
    long long low = 0;  // Grid: the integers k in [low, high], the element k / 10^decimals
    long long high = 0;
    int decimals = 0;
    std::vector<double> choices;  // Choices: each element one of them
    bool nonzero = false;         // never 0 (Grid: 0 left out; Choices: the zeros left out at loading)
    std::string where;            // the JSON location of the key, or of the leaf for a default
};

// A property every variant of a lesson keeps ("variant": {"require": [...]}).
struct VariantRequire {
    std::string node;
    std::string why;
    std::vector<std::pair<std::string, double>> tests;  // ("all_above", 0) ...
    std::string where;                                  // "/variant/require/0"
};

// The lesson-level "variant" object.
struct VariantRules {
    std::vector<VariantRequire> require;
    std::optional<std::string> description;
    std::vector<std::pair<std::string, std::string>> notes;  // node name -> its note under a variant
    std::vector<std::string> allow;                          // degenerate kinds the lesson asks for
};
std::string_view kind_name(NodeKind kind);  // "input", "param", "const", "op"

struct Node {
    std::string name;
    std::optional<int> step;
    NodeKind kind = NodeKind::Op;
    const OpDef* op = nullptr;        // Op nodes only
    std::vector<std::size_t> inputs;  // indices into Graph::nodes
    Attrs attrs;
    Shape shape;
    Tensor value;      // leaves only
    std::string note;  // the lesson's comment on this node, may be empty
    // The lesson says this node's gradient is exactly 0 and that this is the
    // point ("zero_gradient": true): the quiz may ask for it.
    bool zero_gradient = false;
    std::string location;  // where the lesson declares it ("/nodes/3")
    LeafVariant redraw;    // leaves: how a variant redraws its values

    bool is_leaf() const { return kind != NodeKind::Op; }
    std::string grad_name() const { return "d" + name; }
    std::string label() const;  // "step 7 (xhat)" or "node 'xhat'"
};

// A set of nodes whose weights and multiply-adds a lesson compares with another's.
struct CostGroup {
    std::string label;
    std::vector<std::size_t> nodes;
};

struct Graph {
    std::string name;  // the lesson's name ("batchnorm")
    std::string title;
    std::string description;
    std::string source;       // the file it came from ("lessons/batchnorm.json" for a built-in lesson)
    bool builtin = false;     // embedded in the binary: commands can name it by `name`
    std::vector<Node> nodes;  // topological order, declaration order on ties
    std::size_t output = 0;
    Tensor seed;                       // the upstream gradient of the output: L = sum(output * seed)
    bool scalar_loss = false;          // the output is a scalar loss and the seed is 1
    std::vector<CostGroup> compare;    // empty, or the two designs the lesson compares
    std::vector<std::size_t> resized;  // leaves whose shape the caller changed (LessonOptions::shapes)
    std::size_t work = 0;              // multiply-adds of one forward pass, roughly (saturated); the loader bounds it
    std::uint64_t variant = 0;         // which variant of the lesson (0: as written)
    std::string student;               // the student the variant belongs to, when chosen by --student
    LeafVariant seed_redraw;           // how a variant redraws the seed (Fixed for a scalar loss)
    VariantRules variant_rules;        // the lesson's "variant" object

    std::optional<std::size_t> find(std::string_view name) const;
    std::optional<std::size_t> find_step(int step) const;
    // Which nodes read node i, in topological order (a node reading it twice appears twice).
    std::vector<std::vector<std::size_t>> consumers() const;
    // Nodes with a path to the output (the output included).
    std::vector<bool> reaches_output() const;
    // Nodes reachable from node i (i included).
    std::vector<bool> downstream_of(std::size_t i) const;
    // Nodes that get a gradient: not constants, and with a path to the output
    // through inputs the ops differentiate (not cross_entropy's labels).
    std::vector<bool> gets_gradient() const;
    // What the loss is, for display: "sum(out * dout)" or "loss".
    std::string loss_formula() const;
};

// The nodes in topological order, given each node's inputs (indices), the
// lower index first on ties. If the inputs hold a cycle, the order is partial
// and `cycle` lists one, from the node where it is found back to that node
// ("c", "b", "a", "c": c reads b, b reads a, a reads c); else it is empty.
std::vector<std::size_t> topological_order(const std::vector<std::vector<std::size_t>>& inputs,
                                           std::vector<std::size_t>& cycle);

}  // namespace bnstep
