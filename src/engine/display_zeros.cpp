// The display step (round_off_zeros): a value that is zero in exact arithmetic
// but not in floating point prints as 0.
//
// The rule: an element is set to 0 when its magnitude is at most 2^-40 of its
// tensor's scale. For a gradient (a node's gradient, an edge's contribution,
// before or after undoing broadcasting) the scale is the largest |gradient|
// anywhere in the trace, the seed included; for a forward value, the largest
// |value| of the node and its inputs; for a local gradient, its own largest
// element. Round-off of a sum of n terms is about n units in the last place of
// the largest (2^-52 each); measured on the built-in lessons, every such
// residue is below 2e-16 of its scale and every real value above 1e-6 of it,
// so 2^-40 (9.1e-13) sits with a wide margin on both sides. Leaves keep their
// given values.
#include <algorithm>
#include <cmath>

#include "bnstep/executor.hpp"

namespace bnstep {
namespace {

constexpr double kZeroFraction = 0x1p-40;

double largest(const Tensor& t) {
    double m = 0;
    for (std::size_t k = 0; k < t.size(); ++k) m = std::max(m, std::fabs(t[k]));
    return m;
}

void snap_tensor(Trace& t, Tensor& x, double scale, RoundedZero where) {
    const double below = kZeroFraction * scale;
    for (std::size_t k = 0; k < x.size(); ++k) {
        if (x[k] == 0.0 || std::fabs(x[k]) > below || !std::isfinite(x[k])) continue;
        where.offset = k;
        where.raw = x[k];
        t.rounded_zeros.push_back(where);
        x[k] = 0.0;
    }
}

double gradient_scale(const Trace& t) {
    double m = largest(t.graph->seed);
    for (const NodeState& n : t.nodes) {
        if (n.grad) m = std::max(m, largest(*n.grad));
        for (const EdgeGrad& e : n.edges) m = std::max({m, largest(e.contribution), largest(e.unreduced)});
    }
    return m;
}

}  // namespace

void round_off_zeros(Trace& t) {
    using W = RoundedZero::Where;
    const Graph& g = *t.graph;
    const double grads = gradient_scale(t);
    std::vector<double> value_scale(t.nodes.size());
    for (std::size_t i = 0; i < t.nodes.size(); ++i) {
        double m = largest(t.nodes[i].value);
        for (std::size_t in : g.nodes[i].inputs) m = std::max(m, largest(t.nodes[in].value));
        value_scale[i] = m;
    }
    for (std::size_t i = 0; i < t.nodes.size(); ++i) {
        NodeState& n = t.nodes[i];
        if (!g.nodes[i].is_leaf()) snap_tensor(t, n.value, value_scale[i], {W::Value, i, 0, 0, 0.0});
        if (n.grad) snap_tensor(t, *n.grad, grads, {W::Gradient, i, 0, 0, 0.0});
        for (EdgeGrad& e : n.edges) {
            snap_tensor(t, e.contribution, grads, {W::Contribution, i, e.slot, 0, 0.0});
            snap_tensor(t, e.unreduced, grads, {W::Unreduced, i, e.slot, 0, 0.0});
            if (e.local) snap_tensor(t, *e.local, largest(*e.local), {W::Local, i, e.slot, 0, 0.0});
        }
    }
}

Trace run_for_display(const Graph& g) {
    Trace t = run(g);
    round_off_zeros(t);
    return t;
}

}  // namespace bnstep
