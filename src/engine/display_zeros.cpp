// The display step (round_off_zeros): a value that is zero in exact arithmetic
// but not in floating point prints as 0.
//
// Candidates: an element whose magnitude is at most 2^-40 of its tensor's
// scale. For a gradient (a node's gradient, an edge's contribution, before or
// after undoing broadcasting) the scale is the largest |gradient| anywhere in
// the trace, the seed included; for a forward value, the largest |value| of the
// node and its inputs; for a local gradient, its own largest element. This is
// only a cheap filter: a genuine 1e-13 * 1 is a candidate too.
//
// Each candidate is confirmed from the terms it is computed from, in place and
// in order, so that round-off carried into later steps (dx2 = dmu * 1/4 where
// dmu[1] is round-off) is caught: forward values in topological order, from
// the op's worked element (as worked_value shows it) at full precision on the
// already settled trace; then, in
// backward order, each node's gradient (worked_accumulation, or the decision of
// its only contribution), each edge's local gradient (recomputed: 0 is 0), its
// contribution (as worked_gradient) and its value before undoing broadcasting
// (upstream * local). A worked result is 0 when it is within 64 units in the
// last place of its terms (Worked::scale), or exactly 0 from settled operands.
// Leaves' values and the seed are never changed.
#include <algorithm>
#include <cmath>
#include <functional>

#include "bnstep/arith.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/parallel.hpp"
#include "bnstep/round_off.hpp"

namespace bnstep {
namespace {

using Where = RoundedZero::Where;

// The elements of `x` that may be round-off (see above).
std::vector<std::size_t> zero_candidates(const Tensor& x, double scale) {
    std::vector<std::size_t> found;
    for (std::size_t k = 0; k < x.size(); ++k)
        if (x[k] != 0.0 && within_round_off(x[k], scale) && std::isfinite(x[k])) found.push_back(k);
    return found;
}

// Whether a worked element, evaluated from its operands at full precision, is
// 0 in exact arithmetic. A line that is not arithmetic (a lookup) is kept. A
// long sum prints its middle terms as their sum ("[283 more terms: ...]"),
// whose own magnitude is not theirs: its round-off can reach many units of
// what is printed, so it is judged by the candidates' 2^-40 of its terms.
bool worked_is_zero(const Worked& w) {
    if (w.numeric.empty()) return false;
    const std::optional<Evaluated> e = eval_arithmetic(w.numeric);
    const bool elided = w.numeric.find(" more terms: ") != std::string::npos;
    return e && (elided ? within_round_off(e->value, e->scale) : zero_beside_terms(e->value, e->scale));
}

// Which of the candidates `is_zero` confirms, shared between threads when
// there are many (each confirmation formats and evaluates a worked line).
std::vector<char> confirmed(const std::vector<std::size_t>& found, const std::function<bool(std::size_t)>& is_zero) {
    std::vector<char> zero(found.size(), 0);
    parallel_ranges(found.size(), 2e4 * static_cast<double>(found.size()), [&](std::size_t begin, std::size_t end) {
        for (std::size_t k = begin; k < end; ++k) zero[k] = is_zero(found[k]) ? 1 : 0;
    });
    return zero;
}

double gradient_scale(const Trace& t) {
    double m = largest_magnitude(t.graph->seed);
    for (const NodeState& n : t.nodes) {
        if (n.grad) m = std::max(m, largest_magnitude(*n.grad));
        for (const EdgeGrad& e : n.edges)
            m = std::max({m, largest_magnitude(e.contribution), largest_magnitude(e.unreduced)});
    }
    return m;
}

class Settler {
public:
    explicit Settler(Trace& t) : t_(t), g_(*t.graph), grads_(gradient_scale(t)) {}

    void forward_values() {
        for (std::size_t i = 0; i < t_.nodes.size(); ++i) {
            if (g_.nodes[i].is_leaf()) continue;
            Tensor& v = t_.nodes[i].value;
            double scale = largest_magnitude(v);
            for (std::size_t in : g_.nodes[i].inputs) scale = std::max(scale, largest_magnitude(t_.nodes[in].value));
            const std::vector<std::size_t> found = zero_candidates(v, scale);
            if (found.empty()) continue;
            const OpCall call = t_.call(i);
            const Names names = t_.names(i, 0);
            const std::vector<char> zero = confirmed(found, [&](std::size_t k) {
                return worked_is_zero(g_.nodes[i].op->explain(call, names, v.unravel(k), full_));
            });
            for (std::size_t z = 0; z < found.size(); ++z)
                if (zero[z]) snap(v, {Where::Value, i, 0, found[z], v[found[z]]});
        }
    }

    void backward() {
        for (std::size_t i : t_.backward_order) {
            if (i != g_.output) gradient(i);
            for (EdgeGrad& e : t_.nodes[i].edges)
                if (e.status == EdgeGrad::Status::Flows) edge(i, e);
        }
    }

private:
    void snap(Tensor& x, const RoundedZero& z) {
        x[z.offset] = 0.0;
        t_.rounded_zeros.push_back(z);
    }

    void gradient(std::size_t i) {
        NodeState& n = t_.nodes[i];
        Tensor& grad = *n.grad;
        for (std::size_t k : zero_candidates(grad, grads_)) {
            const bool zero = n.received.size() == 1
                                  ? t_.edge(n.received.front()).contribution[k] == 0.0
                                  : worked_is_zero(worked_accumulation(t_, i, grad.unravel(k), full_));
            if (zero) snap(grad, {Where::Gradient, i, 0, k, grad[k]});
        }
    }

    void edge(std::size_t i, EdgeGrad& e) {
        if (e.local) {
            const std::vector<std::size_t> local_candidates = zero_candidates(*e.local, largest_magnitude(*e.local));
            if (!local_candidates.empty()) {
                const Tensor again = g_.nodes[i].op->rule(e.slot).local(t_.call(i, e.slot));
                for (std::size_t k : local_candidates)
                    if (again[k] == 0.0) snap(*e.local, {Where::Local, i, e.slot, k, (*e.local)[k]});
            }
        }
        const std::vector<std::size_t> found = zero_candidates(e.contribution, grads_);
        if (!found.empty()) {
            const OpCall call = t_.call(i, e.slot);
            const Names names = t_.names(i, e.slot);
            const InputRule& rule = g_.nodes[i].op->rule(e.slot);
            const std::vector<char> zero = confirmed(found, [&](std::size_t k) {
                return worked_is_zero(rule.explain(call, *t_.nodes[i].grad, names, e.contribution.unravel(k), full_));
            });
            for (std::size_t z = 0; z < found.size(); ++z)
                if (zero[z]) snap(e.contribution, {Where::Contribution, i, e.slot, found[z], e.contribution[found[z]]});
        }
        const Tensor& upstream = *t_.nodes[i].grad;
        for (std::size_t k : zero_candidates(e.unreduced, grads_)) {
            const double product = e.local ? upstream[k] * (*e.local)[k] : upstream[k];
            if (product == 0.0) snap(e.unreduced, {Where::Unreduced, i, e.slot, k, e.unreduced[k]});
        }
    }

    Trace& t_;
    const Graph& g_;
    double grads_;
    NumFmt full_{17};
};

}  // namespace

void round_off_zeros(Trace& t) {
    Settler s(t);
    s.forward_values();
    s.backward();
}

std::vector<RoundedZero> exact_zeros(const Trace& t) {
    Trace copy = t;
    copy.rounded_zeros.clear();
    round_off_zeros(copy);
    return copy.rounded_zeros;
}

std::vector<Intermediate> display_intermediates(const Trace& t, std::size_t node, bool backward) {
    std::vector<Intermediate> items = backward ? backward_intermediates(t, node) : forward_intermediates(t, node);
    if (items.empty()) return items;
    double scale = backward ? largest_magnitude(*t.nodes[node].grad) : 0.0;
    for (std::size_t in : t.graph->nodes[node].inputs) scale = std::max(scale, largest_magnitude(t.nodes[in].value));
    for (Intermediate& q : items)
        for (std::size_t k : zero_candidates(q.value, scale)) q.value[k] = 0.0;
    return items;
}

Trace run_for_display(const Graph& g) {
    Trace t = run(g);
    round_off_zeros(t);
    return t;
}

}  // namespace bnstep
