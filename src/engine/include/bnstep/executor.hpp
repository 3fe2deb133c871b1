#pragma once
// Running a graph: forward values in topological order, then the backward
// pass from the seed gradient, keeping every contribution so it can be shown.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bnstep/cost.hpp"
#include "bnstep/graph.hpp"

namespace bnstep {

// What one node sends back to one of its inputs in the backward pass.
struct EdgeGrad {
    enum class Status { Flows, ConstInput, NotDifferentiable };
    std::size_t input = 0;  // the input node
    std::size_t slot = 0;   // which of the node's inputs
    Status status = Status::Flows;
    std::string formula;          // the local gradient, with this node's names
    std::optional<Tensor> local;  // its value, when the op is elementwise after broadcasting
    Tensor unreduced;             // the VJP before undoing broadcasting; kept only when reduced_axes is not empty
                                  // (otherwise it is `contribution` itself)
    std::vector<std::size_t> reduced_axes;  // axes of `unreduced` summed away
    Tensor contribution;                    // in the input's shape
    std::string name;                       // "dxmu1", or "dxmu" when it is the only one
    bool straight_through = false;          // the local gradient is a surrogate's (an STE), not the true derivative
};

struct NodeState {
    Tensor value;
    std::optional<Tensor> grad;   // none for constants and nodes off the path to the output
    std::vector<EdgeGrad> edges;  // one per input slot (op nodes)
    // The contributions this node received, in arrival order: (consumer, slot).
    std::vector<std::pair<std::size_t, std::size_t>> received;
    // The nodes whose straight-through estimators this gradient passed
    // through, in topological order: then it is a surrogate gradient.
    std::vector<std::size_t> surrogates;
};

// An element the display step set to 0 (round_off_zeros): zero in exact
// arithmetic, round-off in floating point.
struct RoundedZero {
    enum class Where { Value, Gradient, Contribution, Unreduced, Local };
    Where where = Where::Value;
    std::size_t node = 0;    // the node; for an edge's tensors, the node that sends it
    std::size_t slot = 0;    // the edge's slot
    std::size_t offset = 0;  // the element
    double raw = 0.0;        // its value in floating point
};

struct Trace {
    const Graph* graph = nullptr;
    std::vector<NodeState> nodes;
    std::vector<std::size_t> backward_order;  // nodes that get a gradient, reverse topological
    CostReport cost;                          // weights and multiply-adds of the forward pass
    std::vector<RoundedZero> rounded_zeros;   // what round_off_zeros set to 0, in the order it found them

    const EdgeGrad& edge(std::pair<std::size_t, std::size_t> consumer_slot) const {
        return nodes[consumer_slot.first].edges[consumer_slot.second];
    }
    OpCall call(std::size_t node, std::size_t slot = 0) const;
    Names names(std::size_t node, std::size_t slot) const;
};

// Forward values of every node. Throws NumericError on a NaN or infinity.
std::vector<Tensor> forward(const Graph& g);

// The loss: sum(output * seed).
double loss(const Graph& g, const std::vector<Tensor>& values);

// How much of the backward pass a trace keeps: everything `run` and `trace`
// show, or only the values and gradients a gradient check compares (no local
// gradient tensors, and each edge's contribution dropped once it is added).
enum class TraceDetail { Everything, Gradients };

// Forward, then backward. Gradients start from zero on every call.
Trace run(const Graph& g, TraceDetail detail = TraceDetail::Everything);

// The quantities node `node`'s formulas use (OpDef::intermediates), from its
// forward values; the backward ones from its gradient too (none when it has no
// gradient). Empty for leaves and ops without any.
std::vector<Intermediate> forward_intermediates(const Trace& t, std::size_t node);
std::vector<Intermediate> backward_intermediates(const Trace& t, std::size_t node);
// What the text commands print of them: forward (backward = false) or
// backward intermediates, each element within 2^-40 of the scale of the
// tensors they are computed from (the node's inputs; for backward ones, its
// gradient too) set to 0 as round-off. JSON prints them raw.
std::vector<Intermediate> display_intermediates(const Trace& t, std::size_t node, bool backward);
// The display step of the text commands: every element of the values,
// gradients, contributions and local gradients that is zero in exact arithmetic
// but round-off in floating point is set to 0.0 and recorded in rounded_zeros,
// in the order it is confirmed (see display_zeros.cpp for the rule). JSON, the gradient check and `compare`
// use a trace without it.
void round_off_zeros(Trace& t);
// What round_off_zeros would set to 0, leaving the trace as it is (JSON lists them).
std::vector<RoundedZero> exact_zeros(const Trace& t);
// run(), then round_off_zeros(): what the text commands show.
Trace run_for_display(const Graph& g);

// One element worked by hand, as every command shows it: the forward value
// of `node` at `at`; the gradient `node` sends to its input `slot`, at `at`
// of that input; and a gradient that adds several contributions
// ("dx[0,1] = dx1[0,1] + dx2[0,1] = a + b").
Worked worked_value(const Trace& t, std::size_t node, const Index& at, const NumFmt& num);
Worked worked_gradient(const Trace& t, std::size_t node, std::size_t slot, const Index& at, const NumFmt& num);
Worked worked_accumulation(const Trace& t, std::size_t node, const Index& at, const NumFmt& num);

// Where the digits of a worked element are settled (worked.cpp): `explain` is
// called with operands at precision q = p, p+1, ... 17 (p: num's), and the
// first q is kept at which the numeric line, evaluated with its printed numbers
// (bnstep/arith.hpp), rounds at p to the printed result, and so does every
// arithmetic chain of the notes ("-1/1.118^2 = -0.8"). The result prints at p.
// Sets `scale` to the magnitude of the evaluated terms; a result within
// 64 units in the last place of it (zero in exact arithmetic) becomes 0, with
// a note of what the printed, rounded terms leave instead. An operand within
// 2^-40 of the line's scale (round-off) prints as 0 (NumFmt::zero_below), and
// the result of each chain of the notes is printed at p, from its printed
// operands.
Worked settle_worked(const std::function<Worked(const NumFmt&)>& explain, const NumFmt& num);
// Whether `w`'s printed lines reproduce at precision `p` from operands printed
// at `q`; the test of settle_worked, for the tests.
bool worked_reproduces(const Worked& w, int p, int q);

// For each element of the gradient node `node` sends to its input `slot`, the
// elements (flat offsets) of the node's gradient it came from, by the op's own
// backward rule (gradient_sources.cpp): one vector-Jacobian product per
// element of the node, so a caller bounds the node's size.
std::vector<std::vector<std::size_t>> gradient_sources(const Trace& t, std::size_t node, std::size_t slot);

OpCall call_of(const Graph& g, const std::vector<Tensor>& values, std::size_t node);

}  // namespace bnstep
