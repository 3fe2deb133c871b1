#pragma once
// The op table: for each op its inputs and attributes, shape rule, forward
// rule, and per input the vector-Jacobian product next to the human formula
// of the local gradient. Graph and executor know ops only through this table.
//
// Formulas are templates: `{name}` stands for an input (by its name in the
// op's input list), `{out}` for the node itself, an attribute name for its
// value, or a variable the op's `vars` adds (such as `N`). A part in `{[...]}`
// is dropped when a placeholder inside it has no value (an absent optional
// input, or a variable of a node's shapes in the op reference).
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bnstep/numfmt.hpp"
#include "bnstep/region.hpp"
#include "bnstep/tensor.hpp"

namespace bnstep {

enum class AttrType { Int, Number, Bool, IntList, Choice };
std::string_view attr_type_name(AttrType type);

// The values an attribute may take (for a list, each element), as the
// lesson schema states them; the op's shape rule checks them and words the error.
struct AttrRange {
    std::optional<double> min = std::nullopt;
    std::optional<double> max = std::nullopt;
    bool above_min = false;                        // min itself excluded (a temperature above 0)
    std::optional<long long> fits = std::nullopt;  // a list: an element that may stand once for the size that fits (-1)
};

struct AttrSpec {
    std::string name;
    AttrType type;
    std::optional<double> fallback;  // no fallback: the attribute is required (lists have none);
                                     // for a choice, the index of the default
    std::string help;
    AttrRange range = {};
    std::vector<std::string> choices = {};  // Choice: the words a lesson may give; stored as their index
};

class Attrs {
public:
    void set(const std::string& name, double value) { values_[name] = value; }
    // Integer attributes are kept as integers, so a seed or a stride beyond
    // 2^53 is neither rounded nor shown rounded.
    void set_integer(const std::string& name, long long value) { integers_[name] = value; }
    bool has(const std::string& name) const { return values_.count(name) != 0 || integers_.count(name) != 0; }
    double number(const std::string& name) const;
    long long integer(const std::string& name) const;
    bool flag(const std::string& name) const { return number(name) != 0.0; }
    const std::map<std::string, double>& all() const { return values_; }
    const std::map<std::string, long long>& integers() const { return integers_; }

    void set_list(const std::string& name, std::vector<long long> value) { lists_[name] = std::move(value); }
    const std::vector<long long>& list(const std::string& name) const;
    const std::map<std::string, std::vector<long long>>& lists() const { return lists_; }

private:
    std::map<std::string, double> values_;
    std::map<std::string, long long> integers_;
    std::map<std::string, std::vector<long long>> lists_;
};

// What an op sees of one node: its input values, attributes and, for
// backward and explanations, its forward output and the input (slot) whose
// gradient is asked for.
struct OpCall {
    std::vector<const Tensor*> in;
    const Attrs* attrs = nullptr;
    const Tensor* out = nullptr;
    std::size_t slot = 0;
    const Tensor& input(std::size_t i) const { return *in[i]; }
    bool has_input(std::size_t i) const { return i < in.size(); }
};

// Names of what one node touches, for formulas and worked examples.
struct Names {
    std::vector<std::string> in;  // the input nodes
    std::string out;              // the node
    std::string upstream;         // the node's gradient ("dxhat")
    std::string downstream;       // the gradient being explained ("dxmu1")
};

// One element's arithmetic: `lhs = symbolic = numeric = result`.
struct Worked {
    std::string lhs;
    std::string symbolic;
    std::string numeric;
    double result = 0.0;
    // The magnitude of the terms the result is computed from (the sum of their
    // absolute values), from the printed line (settle_worked sets it); 0 when not
    // known. A result within a few units in the last place of it is 0 in exact
    // arithmetic.
    double scale = 0.0;
    std::vector<std::string> notes;  // extra lines (the local gradient evaluated ...); a note
                                     // starting with a space is a table row, printed as is
};

// A quantity that a node's formula or worked examples use and that is neither
// an input nor the output (batch norm's mu and ivar, the alpha of each XNOR-Net
// filter, quantize's levels): run and trace print it before it is used.
struct Intermediate {
    std::string name;     // "mu", "ivar"
    std::string formula;  // how it is computed, with the node's names: "mean of x over the batch, per column"
    Tensor value;
};
// From the forward pass; the backward ones also read the upstream gradient
// (batch norm's sum(dout) and sum(dout * xhat)).
using IntermediatesFn = std::function<std::vector<Intermediate>(const OpCall& call, const Names& names)>;
using BackwardIntermediatesFn =
    std::function<std::vector<Intermediate>(const OpCall& call, const Tensor& upstream, const Names& names)>;

// Which differentiable piece of the op each output element lies on (ReLU: the
// side of 0 its input is on; max pool: which element is the maximum; rounding:
// the step). Two evaluations that put an element on different pieces span a
// kink, and a finite difference between them says nothing about the derivative.
using PiecesFn = std::function<std::vector<long long>(const OpCall& call)>;
// See OpDef::degenerate.
using DegenerateFn = std::function<std::string(const OpCall& call)>;

// A straight-through estimator: the op is flat or jumps almost everywhere (sign,
// rounding), and its backward uses the derivative of a surrogate instead.
struct Surrogate {
    std::function<std::string(const Attrs& attrs)> name;  // "identity", "hardtanh"
    // The op with its flat parts replaced by the surrogate, anchored at `base`
    // (the inputs of the forward pass): equal to the op there, and with the
    // derivative the backward uses, e.g. sign(x0) + (x - x0). Gradient checks
    // differentiate this.
    std::function<Tensor(const OpCall& call, const OpCall& base)> forward;
    PiecesFn pieces;  // the surrogate's own kinks (hardtanh at +-1); may be empty
};

// Raised by shape rules; the graph builder adds the node's name.
struct ShapeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Raised by shape rules for an attribute out of its range (bits 20, a
// negative temperature): the loader reports the node's attributes.
struct AttrError : ShapeError {
    using ShapeError::ShapeError;
};

// Raised by a forward rule for input values it cannot take (a class label out
// of range, a mask that is not 0 or 1); the executor names the lesson and the
// node and turns it into a LessonError.
struct ValueError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

using ShapeFn = std::function<Shape(const std::vector<Shape>& in, const Attrs& attrs)>;
using ForwardFn = std::function<Tensor(const OpCall& call)>;
using LocalFn = std::function<Tensor(const OpCall& call)>;
using VjpFn = std::function<Tensor(const OpCall& call, const Tensor& upstream)>;
using VarsFn = std::function<std::map<std::string, std::string>(const std::vector<Shape>& in, const Attrs& attrs)>;
// Multiply-adds of one forward evaluation, and how they are counted.
struct Cost {
    double macs = 0;
    std::string formula;          // e.g. "N*K*(C/groups)*R*S*Ho*Wo = 2*2*3*3*3*5*5"
    std::string weights_formula;  // e.g. "K*(C/groups)*R*S = 2*3*3*3"
};
using CostFn = std::function<Cost(const std::vector<Shape>& in, const Shape& out, const Attrs& attrs)>;
using ExplainForwardFn =
    std::function<Worked(const OpCall& call, const Names& names, const Index& out_at, const NumFmt& num)>;
using ExplainGradFn = std::function<Worked(const OpCall& call, const Tensor& upstream, const Names& names,
                                           const Index& in_at, const NumFmt& num)>;

// Which elements a change reaches, for the gradient check: moving one element
// recomputes only the output box it can change, from the input boxes that box
// reads. The contract, tested on random graphs: outside `affects` the output
// does not change, and the op evaluated on the slices `reads` gives (with
// `sliced_attrs`) is the box of the whole output. An op without a ReachRule is
// recomputed whole.
struct ReachRule {
    // The output box that a change of input `slot` within `changed` can move.
    std::function<Box(const std::vector<Shape>& in, const Shape& out, const Attrs& attrs, std::size_t slot,
                      const Box& changed)>
        affects;
    // Per input, the box an output box reads; it may reach past the input's
    // edges, where the slice holds `pad` (the op's padding).
    std::function<std::vector<Box>(const std::vector<Shape>& in, const Shape& out, const Attrs& attrs,
                                   const Box& out_box)>
        reads;
    // The attributes the op takes on the slices (padding 0: the slice holds
    // it; the number of groups in the slice); empty: the node's own.
    std::function<Attrs(const Attrs& attrs, const std::vector<Shape>& in, const Box& out_box)> sliced_attrs = {};
    double pad = 0.0;
};

// The values an input takes where the op is defined and well conditioned:
// the random-graph generator and the op tests draw inputs from it. Kinks are
// not part of it: the op's `pieces` says where they are.
struct Domain {
    enum class Kind {
        Any,           // any real number
        Positive,      // > 0 (log, the divisor of div)
        ClassLabels,   // integers in [0, classes): the last axis of the op's first input
        Mask,          // 0 or 1
        Distribution,  // >= 0, each row along the last axis summing to 1
    };
    Kind kind = Kind::Any;
    double bound = 0;  // > 0: |x| <= bound as well (exp, softmax)
};
// A domain that depends on the node's attributes (pow: a whole exponent p >= 0
// takes a base of any sign, other exponents a positive one).
using DomainFn = std::function<Domain(const Attrs& attrs)>;

struct InputRule {
    std::string name = {};  // the input's name in formulas
    bool optional = false;
    bool differentiable = true;
    Domain domain = {};
    DomainFn domain_of = {};   // when set, the domain for the given attributes; `domain` is then unused
    std::string formula = {};  // the local gradient, e.g. "d(1/{v})/d{v} = -1/{v}^2"
    // The gradient is (in part) a straight-through estimator's, not the true
    // derivative: run and trace label it, and the formula says so.
    bool straight_through = false;
    // The local gradient per element, when the op is elementwise after
    // broadcasting, in the shape where it multiplies the upstream gradient
    // (the output's for elementwise ops, the input's for sum and mean);
    // empty otherwise.
    LocalFn local = {};
    // The downstream gradient, in the input's shape or in the output's shape
    // (the executor then undoes the broadcasting).
    VjpFn vjp = {};
    ExplainGradFn explain = {};
    // The formula for a node's input shapes and attributes, when `formula`
    // covers cases a node is one of (the straight-through estimators of a
    // `ste` attribute, a convolution's groups): run and trace show the case in
    // use, the op reference `formula`. Empty: `formula`.
    std::function<std::string(const std::vector<Shape>& in, const Attrs& attrs)> formula_for = {};

    Domain domain_for(const Attrs& attrs) const { return domain_of ? domain_of(attrs) : domain; }
};

// One row of the op table. Every member has a default, so that an op is
// declared with designated initializers naming only what it has.
struct OpDef {
    std::string name = {};
    std::string family = {};
    std::string summary = {};
    std::string forward_formula = {};  // e.g. "{a} * {b}"
    std::vector<InputRule> inputs = {};
    std::vector<AttrSpec> attrs = {};
    ShapeFn shape = {};
    ForwardFn forward = {};
    ExplainForwardFn explain = {};
    VarsFn vars = {};  // optional extra placeholders for formulas
    CostFn cost = {};  // optional: ops whose multiply-adds the cost summary counts
    // Ops whose output elements each read a window of an input (convolution,
    // pooling): the elements one output element reads, saturated. The loader
    // bounds it by Limits::elements, and the work of a run by Limits::work.
    std::function<std::size_t(const std::vector<Shape>& in, const Attrs& attrs)> window_taps = {};
    // The last input may repeat (concat): its rule serves every extra input,
    // and `{inputs}` in the forward formula lists them all.
    bool variadic = false;
    std::optional<ReachRule> reach = {};      // what a change reaches; empty: the whole output
    PiecesFn pieces = {};                     // ops with kinks; empty for smooth ops
    // A degenerate case of the op that is not a kink of `pieces` (a column of
    // zero variance, a weight exactly at a threshold, an empty cluster): a short
    // description of it, or "" when the inputs are not degenerate. A variant of
    // a lesson never lands on one (docs/lesson-format.md, Variants).
    DegenerateFn degenerate = {};
    std::optional<Surrogate> surrogate = {};  // ops whose backward is a straight-through estimator
    IntermediatesFn intermediates = {};       // the quantities its formulas use, printed before them
    BackwardIntermediatesFn backward_intermediates = {};

    std::size_t min_arity() const;
    std::size_t max_arity() const { return variadic ? static_cast<std::size_t>(-1) : inputs.size(); }
    const InputRule& rule(std::size_t slot) const { return slot < inputs.size() ? inputs[slot] : inputs.back(); }
};

class OpTable {
public:
    void add(OpDef op);
    const OpDef* find(std::string_view name) const;
    OpDef* find_mutable(std::string_view name);
    const std::vector<OpDef>& all() const { return ops_; }
    std::vector<std::string> names() const;

private:
    std::vector<OpDef> ops_;
};

// The ops bnstep ships, in the order of the op reference.
const OpTable& builtin_ops();

// Fills a formula template; `lookup` returns nothing for an unknown name.
std::string render(std::string_view tmpl, const std::function<std::optional<std::string>(std::string_view)>& lookup);

// The substitutions for one node: input names, `out`, attributes, op vars.
std::map<std::string, std::string> formula_names(const OpDef& op, const std::vector<std::string>& input_names,
                                                 const std::string& out_name, const std::vector<Shape>& in_shapes,
                                                 const Attrs& attrs);
std::string render(std::string_view tmpl, const std::map<std::string, std::string>& names);

}  // namespace bnstep
