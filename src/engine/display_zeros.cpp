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

void find_in(const Tensor& x, double scale, RoundedZero where, std::vector<RoundedZero>& found) {
    const double below = kZeroFraction * scale;
    for (std::size_t k = 0; k < x.size(); ++k) {
        if (x[k] == 0.0 || std::fabs(x[k]) > below || !std::isfinite(x[k])) continue;
        where.offset = k;
        where.raw = x[k];
        found.push_back(where);
    }
}

Tensor& tensor_of(Trace& t, const RoundedZero& z) {
    using W = RoundedZero::Where;
    NodeState& n = t.nodes[z.node];
    switch (z.where) {
        case W::Value: return n.value;
        case W::Gradient: return *n.grad;
        case W::Contribution: return n.edges[z.slot].contribution;
        case W::Unreduced: return n.edges[z.slot].unreduced;
        case W::Local: return *n.edges[z.slot].local;
    }
    return n.value;
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

std::vector<RoundedZero> exact_zeros(const Trace& t) {
    using W = RoundedZero::Where;
    const Graph& g = *t.graph;
    const double grads = gradient_scale(t);
    std::vector<RoundedZero> found;
    for (std::size_t i = 0; i < t.nodes.size(); ++i) {
        const NodeState& n = t.nodes[i];
        if (!g.nodes[i].is_leaf()) {
            double values = largest(n.value);
            for (std::size_t in : g.nodes[i].inputs) values = std::max(values, largest(t.nodes[in].value));
            find_in(n.value, values, {W::Value, i, 0, 0, 0.0}, found);
        }
        if (n.grad) find_in(*n.grad, grads, {W::Gradient, i, 0, 0, 0.0}, found);
        for (const EdgeGrad& e : n.edges) {
            find_in(e.contribution, grads, {W::Contribution, i, e.slot, 0, 0.0}, found);
            find_in(e.unreduced, grads, {W::Unreduced, i, e.slot, 0, 0.0}, found);
            if (e.local) find_in(*e.local, largest(*e.local), {W::Local, i, e.slot, 0, 0.0}, found);
        }
    }
    return found;
}

void round_off_zeros(Trace& t) {
    std::vector<RoundedZero> found = exact_zeros(t);
    for (const RoundedZero& z : found) tensor_of(t, z)[z.offset] = 0.0;
    t.rounded_zeros.insert(t.rounded_zeros.end(), found.begin(), found.end());
}

Trace run_for_display(const Graph& g) {
    Trace t = run(g);
    round_off_zeros(t);
    return t;
}

}  // namespace bnstep
