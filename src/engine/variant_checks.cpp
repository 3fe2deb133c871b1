// Whether a drawn variant is fit to teach from, in the order of the design
// (docs/lesson-format.md, Variants): the forward pass runs, the lesson's
// required properties hold, no op is degenerate, the full gradient check
// meets no kink and passes, and no element is 0 by cancellation where the
// lesson as written is not.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/variant.hpp"

namespace bnstep {
namespace {

bool allowed(const Graph& g, std::string_view kind) {
    const auto& allow = g.variant_rules.allow;
    return std::find(allow.begin(), allow.end(), kind) != allow.end();
}

bool test_holds(const std::string& test, double x, const Tensor& v) {
    const auto& d = v.data();
    if (test == "all_above") return std::all_of(d.begin(), d.end(), [x](double e) { return e > x; });
    if (test == "all_below") return std::all_of(d.begin(), d.end(), [x](double e) { return e < x; });
    if (test == "some_above") return std::any_of(d.begin(), d.end(), [x](double e) { return e > x; });
    if (test == "some_below") return std::any_of(d.begin(), d.end(), [x](double e) { return e < x; });
    if (test == "some_abs_above") return std::any_of(d.begin(), d.end(), [x](double e) { return std::fabs(e) > x; });
    return std::any_of(d.begin(), d.end(), [x](double e) { return std::fabs(e) < x; });  // some_abs_below
}

std::optional<VariantProblem> failed_require(const Graph& g, const std::vector<Tensor>& values) {
    for (const VariantRequire& req : g.variant_rules.require) {
        const Tensor& v = values[*g.find(req.node)];
        for (const auto& [test, x] : req.tests)
            if (!test_holds(test, x, v))
                return VariantProblem{"require", req.where, fmt::format("keeps '{}' {} {}", req.node, test, x)};
    }
    return std::nullopt;
}

std::optional<VariantProblem> degenerate_op(const Graph& g, const std::vector<Tensor>& values) {
    if (allowed(g, "degenerate")) return std::nullopt;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        if (n.is_leaf() || !n.op->degenerate) continue;
        const std::string why = n.op->degenerate(call_of(g, values, i));
        if (!why.empty())
            return VariantProblem{"degenerate", n.location, fmt::format("avoids {} at '{}'", why, n.name)};
    }
    return std::nullopt;
}

// The gradient check in `mode`: a kink (unless allowed) or a failing node.
std::optional<VariantProblem> failed_gradcheck(const Graph& g, const Trace& t, GradcheckMode mode) {
    GradcheckOptions options;
    options.mode = mode;
    const GradcheckReport report = check_gradients(g, t, options);
    for (const NodeCheck& c : report.checks) {
        const Node& n = g.nodes[c.node];
        if (c.kinks > 0 && !allowed(g, "kink")) {
            const KinkCrossing& k = *c.first_kink;
            return VariantProblem{"kink", n.location,
                                  fmt::format("avoids a kink: moving {}{} crosses a kink of '{}' at {}", n.name,
                                              index_str(k.at), g.nodes[k.where].name, index_str(k.where_at))};
        }
        if (!c.passed)
            return VariantProblem{"gradient", n.location,
                                  fmt::format("passes the gradient check at '{}'{}", n.name,
                                              c.not_checkable.empty() ? "" : " (" + c.not_checkable + ")")};
    }
    return std::nullopt;
}

// A 0 computed from terms that are not all 0 (its worked line has a scale).
bool cancels(const Worked& w) { return w.scale > 0.0; }

class Cancellations {
public:
    // `written`: the lesson as written, run only when a 0 needs it, once for all draws.
    Cancellations(const Trace& settled, const Graph* written, std::optional<Trace>& written_trace)
        : t_(settled), written_graph_(written), written_(written_trace) {}

    std::optional<VariantProblem> find() const {
        const Graph& g = *t_.graph;
        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            if (g.nodes[i].is_leaf()) continue;
            const Tensor& v = t_.nodes[i].value;
            for (std::size_t k = 0; k < v.size(); ++k)
                if (v[k] == 0.0 && !written_zero(i, false, k) && cancels(worked_value(t_, i, v.unravel(k), num_)))
                    return problem(i, fmt::format("{}{}", g.nodes[i].name, index_str(v.unravel(k))));
        }
        for (std::size_t i : t_.backward_order) {
            if (i == g.output || !t_.nodes[i].grad) continue;
            const Tensor& grad = *t_.nodes[i].grad;
            const auto& received = t_.nodes[i].received;
            for (std::size_t k = 0; k < grad.size(); ++k) {
                if (grad[k] != 0.0 || written_zero(i, true, k)) continue;
                const Index at = grad.unravel(k);
                bool zero = received.size() > 1 && cancels(worked_accumulation(t_, i, at, num_));
                for (const auto& [consumer, slot] : received)
                    if (!zero && t_.edge({consumer, slot}).contribution[k] == 0.0)
                        zero = cancels(worked_gradient(t_, consumer, slot, at, num_));
                if (zero) return problem(i, fmt::format("{}{}", g.nodes[i].grad_name(), index_str(at)));
            }
        }
        return std::nullopt;
    }

private:
    bool written_zero(std::size_t i, bool gradient, std::size_t k) const {
        if (!written_graph_) return false;
        if (!written_) written_ = run_for_display(*written_graph_);
        const NodeState& n = written_->nodes[i];
        const Tensor* x = gradient ? (n.grad ? &*n.grad : nullptr) : &n.value;
        return x && k < x->size() && x->shape() == (gradient ? *t_.nodes[i].grad : t_.nodes[i].value).shape() &&
               (*x)[k] == 0.0;
    }

    VariantProblem problem(std::size_t i, const std::string& element) const {
        return {"cancellation", t_.graph->nodes[i].location,
                fmt::format("avoids {} = 0 by cancellation (the lesson as written is not 0 there)", element)};
    }

    const Trace& t_;
    const Graph* written_graph_;
    std::optional<Trace>& written_;
    NumFmt num_{17};
};

}  // namespace

std::optional<VariantProblem> variant_problem(const Graph& candidate, const Graph* written) {
    std::optional<Trace> written_trace;
    return variant_problem(candidate, written, written_trace, false);
}

std::optional<VariantProblem> variant_problem(const Graph& candidate, const Graph* written,
                                              std::optional<Trace>& written_trace, bool cheap_first) {
    std::vector<Tensor> values;
    try {
        values = forward(candidate);
    } catch (const Error& e) {
        return VariantProblem{"forward", "/", fmt::format("gets through the forward pass ({})", e.what())};
    }
    if (auto p = failed_require(candidate, values)) return p;
    if (auto p = degenerate_op(candidate, values)) return p;
    const Trace t = run(candidate);
    auto cancellation = [&]() -> std::optional<VariantProblem> {
        if (allowed(candidate, "cancellation")) return std::nullopt;
        Trace settled = t;
        round_off_zeros(settled);
        return Cancellations(settled, written, written_trace).find();
    };
    if (cheap_first)
        if (auto p = cancellation()) return p;
    // The local check first: it finds most kinks at a fraction of the cost;
    // the full check, the one check-gradients runs, decides.
    if (auto p = failed_gradcheck(candidate, t, GradcheckMode::Local)) return p;
    if (auto p = failed_gradcheck(candidate, t, GradcheckMode::Full)) return p;
    return cheap_first ? std::nullopt : cancellation();
}

}  // namespace bnstep
