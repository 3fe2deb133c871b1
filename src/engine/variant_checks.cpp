// Whether a drawn variant is fit to teach from, in the order of the design
// (docs/lesson-format.md, Variants): the forward pass runs, the lesson's
// required properties hold, no op is degenerate, the full gradient check
// meets no kink and passes, and no element is 0 by cancellation where the
// lesson as written and a reference draw are not.
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
    Cancellations(const Trace& settled, ZeroReference& reference) : t_(settled), ref_(reference) {}

    std::optional<VariantProblem> find() const {
        const Graph& g = *t_.graph;
        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            if (g.nodes[i].is_leaf()) continue;
            const Tensor& v = t_.nodes[i].value;
            for (std::size_t k = 0; k < v.size(); ++k)
                if (v[k] == 0.0 && !ref_.structural_zero(i, false, k, v.shape()) &&
                    cancels(worked_value(t_, i, v.unravel(k), num_)))
                    return problem(i, fmt::format("{}{}", g.nodes[i].name, index_str(v.unravel(k))));
        }
        for (std::size_t i : t_.backward_order) {
            if (i == g.output || !t_.nodes[i].grad) continue;
            const Tensor& grad = *t_.nodes[i].grad;
            const auto& received = t_.nodes[i].received;
            for (std::size_t k = 0; k < grad.size(); ++k) {
                if (grad[k] != 0.0 || ref_.structural_zero(i, true, k, grad.shape())) continue;
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
    VariantProblem problem(std::size_t i, const std::string& element) const {
        return {
            "cancellation", t_.graph->nodes[i].location,
            fmt::format("avoids {} = 0 by cancellation (not 0 in both the lesson as written and the reference draw)",
                        element)};
    }

    const Trace& t_;
    ZeroReference& ref_;
    NumFmt num_{17};
};

// 0 at element k of node i's value (or gradient) in `t`, at the same shape.
bool zero_in(const Trace& t, std::size_t i, bool gradient, std::size_t k, const Shape& shape) {
    const NodeState& n = t.nodes[i];
    const Tensor* x = gradient ? (n.grad ? &*n.grad : nullptr) : &n.value;
    return x && x->shape() == shape && k < x->size() && (*x)[k] == 0.0;
}

}  // namespace

ZeroReference::ZeroReference(const Graph* written) : written_(written) {}

// The reference draw: the first attempt of kReferenceVariant (another number when the
// lesson is drawn as that very variant) whose forward pass runs and keeps the lesson's
// require; none of the other checks, so that it is independent of what they reject.
void ZeroReference::compute_reference() const {
    Graph ref = *written_;
    ref.variant = written_->variant == kReferenceVariant ? kReferenceVariant + 1 : kReferenceVariant;
    for (std::uint64_t attempt = 0; attempt < kMaxVariantDraws; ++attempt) {
        Graph c = draw_candidate(ref, attempt);
        try {
            const std::vector<Tensor> values = forward(c);
            if (failed_require(c, values)) continue;
        } catch (const Error&) {
            continue;
        }
        reference_trace_ = run_for_display(c);
        return;
    }
}

bool ZeroReference::structural_zero(std::size_t i, bool gradient, std::size_t k, const Shape& shape) const {
    if (!written_) return false;
    if (!written_trace_) written_trace_ = run_for_display(*written_);
    if (!zero_in(*written_trace_, i, gradient, k, shape)) return false;
    if (!reference_done_) {
        reference_done_ = true;
        compute_reference();
    }
    return reference_trace_ && zero_in(*reference_trace_, i, gradient, k, shape);
}

namespace {

// Two tests on one node that no tensor keeps: every element above a and below b <= a, or
// some element above a (below b) while all are below b <= a (above a >= b).
std::optional<VariantProblem> contradictory_require(const Graph& g) {
    for (std::size_t i = 0; i < g.variant_rules.require.size(); ++i) {
        const VariantRequire& later = g.variant_rules.require[i];
        for (std::size_t j = 0; j <= i; ++j) {
            const VariantRequire& earlier = g.variant_rules.require[j];
            if (earlier.node != later.node) continue;
            for (const auto& [t1, x1] : earlier.tests)
                for (const auto& [t2, x2] : later.tests) {
                    const bool clash = ((t1 == "all_above" || t1 == "some_above") && t2 == "all_below" && x1 >= x2) ||
                                       ((t2 == "all_above" || t2 == "some_above") && t1 == "all_below" && x2 >= x1) ||
                                       ((t1 == "all_below" || t1 == "some_below") && t2 == "all_above" && x1 <= x2) ||
                                       ((t2 == "all_below" || t2 == "some_below") && t1 == "all_above" && x2 <= x1);
                    if (clash)
                        return VariantProblem{
                            "require", later.where,
                            fmt::format("'{}' {} {} contradicts {} {}{}: no tensor keeps both", later.node, t2, x2, t1,
                                        x1, j == i ? "" : " at " + earlier.where)};
                }
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<VariantProblem> written_breaks_require(const Graph& written) {
    if (written.variant_rules.require.empty()) return std::nullopt;
    if (auto p = contradictory_require(written)) return p;
    std::vector<Tensor> values;
    try {
        values = forward(written);
    } catch (const Error&) {
        return std::nullopt;  // the run reports a forward pass that fails, with its own message
    }
    if (auto p = failed_require(written, values))
        return VariantProblem{"require", p->where,
                              fmt::format("the lesson as written breaks it: it does not keep {}; a variant keeps "
                                          "only what the lesson as written has",
                                          p->what.substr(std::string_view("keeps ").size()))};
    return std::nullopt;
}

std::optional<VariantProblem> variant_problem(const Graph& candidate, const Graph* written) {
    ZeroReference reference(written);
    return variant_problem(candidate, reference, false);
}

std::optional<VariantProblem> variant_problem(const Graph& candidate, ZeroReference& reference, bool cheap_first) {
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
        return Cancellations(settled, reference).find();
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
