#include "compare_diagnosis.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <numeric>
#include <set>

namespace bnstep {

ElementError Closeness::largest_error(const Tensor& given, const Tensor& expected) const {
    double scale = 1.0;
    for (double v : expected.data()) scale = std::max(scale, std::fabs(v));
    const double floor = options.floor * scale;
    ElementError worst;
    for (std::size_t k = 0; k < expected.size(); ++k) {
        const double a = given[k], b = expected[k];
        double err = std::fabs(a - b) / std::max({std::fabs(a), std::fabs(b), floor});
        if (!std::isfinite(err)) err = INFINITY;
        if (err > worst.error || (k == 0 && err >= worst.error)) worst = {err, k};
    }
    return worst;
}

bool Closeness::close(const Tensor& given, const Tensor& expected) const {
    return given.shape() == expected.shape() && largest_error(given, expected).error <= options.tolerance;
}

namespace {

using Kind = ReferenceTensor::Kind;

struct Candidate {
    Tensor value;
    std::string code;
    std::string message;
};

// A gradient computed in another shape, brought to `shape` the way the
// executor would: summed over broadcast axes. None when it cannot be.
std::optional<Tensor> summed_to_shape(const Tensor& t, const Shape& shape) {
    if (t.shape() == shape) return t;
    const auto b = broadcast_shapes(t.shape(), shape);
    if (b && *b == t.shape()) return unbroadcast(t, shape).value;
    return std::nullopt;
}

std::optional<Tensor> broadcast_as(const Tensor& t, const Shape& shape) {
    const auto b = broadcast_shapes(t.shape(), shape);
    if (!b || *b != shape) return std::nullopt;
    return broadcast_to(t, shape);
}

Tensor times_constant(const Tensor& t, double c) {
    return map(t, [c](double v) { return c * v; });
}

// `given` with its axes permuted so that its axis perm[k] becomes axis k.
Tensor permuted(const Tensor& given, const std::vector<std::size_t>& perm) {
    Shape shape(perm.size());
    for (std::size_t k = 0; k < perm.size(); ++k) shape[k] = given.shape()[perm[k]];
    Tensor out(shape);
    Index from(perm.size());
    for (std::size_t flat = 0; flat < out.size(); ++flat) {
        const Index at = out.unravel(flat);
        for (std::size_t k = 0; k < perm.size(); ++k) from[perm[k]] = at[k];
        out[flat] = given.at(from);
    }
    return out;
}

Shape squeezed(const Shape& s) {
    Shape out;
    for (std::size_t d : s)
        if (d != 1) out.push_back(d);
    return out;
}

// The ways to sum axes of `got` away and leave `want`: want's lengths are
// got's in the same order, the summed axes anywhere between them.
std::vector<std::vector<std::size_t>> axes_to_sum(const Shape& got, const Shape& want) {
    std::vector<std::vector<std::size_t>> out;
    if (got.size() <= want.size()) return out;
    const std::size_t n = got.size();
    for (unsigned mask = 1; mask < (1u << n); ++mask) {
        std::vector<std::size_t> summed;
        Shape kept;
        for (std::size_t a = 0; a < n; ++a) (mask >> a & 1 ? summed.push_back(a) : kept.push_back(got[a]));
        if (kept == want) out.push_back(std::move(summed));
    }
    return out;
}

Tensor summed_over(const Tensor& t, const std::vector<std::size_t>& axes) {
    Tensor out = t;
    for (auto a = axes.rbegin(); a != axes.rend(); ++a) out = sum_axis(out, *a, false);
    return out;
}

std::string axes_words(const std::vector<std::size_t>& axes) {
    if (axes.size() == 1) return fmt::format("axis {}", axes[0]);
    std::vector<std::string> words;
    for (std::size_t a : axes) words.push_back(std::to_string(a));
    const std::string last = words.back();
    words.pop_back();
    return fmt::format("axes {} and {}", fmt::join(words, ", "), last);
}

Diagnosis shape_cause(const Graph& g, const ReferenceTensor& r, const Tensor& given, const Closeness& close) {
    const Shape& want = r.tensor->shape();
    const Shape& got = given.shape();
    const std::string head = fmt::format("shape {} where {} was due", shape_str(got), shape_str(want));
    if (squeezed(got) == squeezed(want) && element_count(got) == element_count(want)) {
        const bool right = close.close(Tensor(want, given.data()), *r.tensor);
        const std::string values = right ? "; its numbers are right" : "; its numbers are wrong too";
        if (got.size() > want.size())
            return {"keepdims", head +
                                    ": an extra axis of length 1, as a sum or mean with keepdims=True leaves it "
                                    "where the lesson drops the axis" +
                                    values};
        return {"keepdims", head +
                                ": an axis of length 1 is missing, as a sum or mean without keepdims=True drops "
                                "it" +
                                values};
    }
    for (const auto& axes : axes_to_sum(got, want)) {
        if (!close.close(summed_over(given, axes), *r.tensor)) continue;
        return {"not-summed",
                fmt::format("{}: {} is used along {} in the forward pass (broadcast, or shared as a "
                            "bias is), so its gradient is summed over {}; summed so, your numbers "
                            "are right",
                            head, g.nodes[r.node].name, axes_words(axes), axes.size() == 1 ? "it" : "them")};
    }
    if (const auto b = broadcast_shapes(got, want); b && *b == got && element_count(got) > element_count(want)) {
        const std::vector<std::size_t> axes = unbroadcast(given, want).axes;
        return {"not-summed",
                fmt::format("{}: {} is broadcast along {} in the forward pass, so its gradient is "
                            "summed over {}",
                            head, g.nodes[r.node].name, axes_words(axes), axes.size() == 1 ? "it" : "them")};
    }
    if (got.size() == want.size() && got.size() >= 2 && std::is_permutation(got.begin(), got.end(), want.begin())) {
        std::vector<std::size_t> perm(got.size());
        std::iota(perm.begin(), perm.end(), 0);
        do {
            Shape s(perm.size());
            for (std::size_t k = 0; k < perm.size(); ++k) s[k] = got[perm[k]];
            if (s == want && close.close(permuted(given, perm), *r.tensor))
                return {"transposed", head +
                                          ": it is the transpose of the right answer (axes swapped), e.g. W.T "
                                          "where W was due, or the product in the wrong order"};
        } while (std::next_permutation(perm.begin(), perm.end()));
        return {"transposed", head +
                                  ": the axes are in another order (transposed?), and the numbers do not match "
                                  "in that order either"};
    }
    return {"shape", head + ": a gradient has the shape of the value it belongs to"};
}

// The sizes a lesson's means and sums divide or multiply by: axis lengths
// and the number of elements each reduction gathers into one.
std::set<std::size_t> lesson_counts(const Graph& g) {
    std::set<std::size_t> counts;
    for (const Node& n : g.nodes) {
        for (std::size_t d : n.shape)
            if (d > 1) counts.insert(d);
        for (std::size_t in : n.inputs) {
            const std::size_t a = element_count(g.nodes[in].shape), b = element_count(n.shape);
            if (b > 0 && a > b && a % b == 0) counts.insert(a / b);
        }
    }
    return counts;
}

bool about_equal(double a, double b) { return std::fabs(a - b) <= 1e-6 * std::max(std::fabs(a), std::fabs(b)); }

std::string factor_words(const Graph& g, double c) {
    const std::string sign = c < 0 ? "the sign is flipped and " : "";
    const double m = std::fabs(c);
    if (about_equal(m, 1)) return "the sign is flipped: every element is -1 times the right value";
    if (about_equal(m, 2))
        return sign + "every element is twice the right value: a factor 2 too many, or a contribution added twice";
    if (about_equal(m, 0.5))
        return sign + "every element is half the right value: a factor 2 missing, as in d(v^2)/dv = 2v";
    for (std::size_t n : lesson_counts(g)) {
        const double d = static_cast<double>(n);
        if (about_equal(m, d))
            return fmt::format(
                "{}every element is {} times the right value: a 1/{} missing, as the mean over {} "
                "numbers has (or a sum where a mean was due)",
                sign, n, n, n);
        if (about_equal(m, 1 / d))
            return fmt::format(
                "{}every element is 1/{} of the right value: divided by {} once too often (a mean "
                "where a sum was due, or its 1/{} applied twice)",
                sign, n, n, n);
    }
    return fmt::format("{}every element is {:.6g} times the right value", sign, m);
}

std::optional<Diagnosis> factor_cause(const Graph& g, const ReferenceTensor& r, const Tensor& given,
                                      const Closeness& close) {
    const Tensor& want = *r.tensor;
    double rr = 0, tr = 0, tt = 0;
    for (std::size_t k = 0; k < want.size(); ++k) {
        rr += want[k] * want[k];
        tr += given[k] * want[k];
        tt += given[k] * given[k];
    }
    if (tt == 0 && rr > 0)
        return Diagnosis{"zero",
                         "every element is 0: no gradient arrived (a contribution not added, or the "
                         "gradient not passed on)"};
    if (!(rr > 0)) return std::nullopt;
    const double c = tr / rr;
    if (!std::isfinite(c) || c == 0 || about_equal(c, 1) || !close.close(given, times_constant(want, c)))
        return std::nullopt;
    return Diagnosis{"factor", factor_words(g, c)};
}

// The candidates for one edge: what the student may have computed instead
// of the consumer's contribution to its input.
std::vector<Candidate> edge_candidates(const Trace& t, const EdgeGrad& e, std::size_t consumer) {
    const Graph& g = *t.graph;
    const Node& c = g.nodes[consumer];
    const Shape& shape = g.nodes[e.input].shape;
    const Tensor& upstream = *t.nodes[consumer].grad;
    const std::string up = c.grad_name();
    const std::string step = c.label();
    const Closeness exact{{1e-12, 1e-12}};
    std::vector<Candidate> out;
    OpCall call = t.call(consumer, e.slot);
    const InputRule& rule = c.op->rule(e.slot);

    for (std::size_t j : t.backward_order) {
        if (j == consumer || t.nodes[j].grad->shape() != upstream.shape() || exact.close(*t.nodes[j].grad, upstream))
            continue;
        if (auto x = summed_to_shape(rule.vjp(call, *t.nodes[j].grad), shape))
            out.push_back({std::move(*x), "wrong-upstream",
                           fmt::format("the right local gradient of {} ({}) times {}, where the upstream gradient "
                                       "is {}",
                                       step, e.formula, g.nodes[j].grad_name(), up)});
    }
    for (std::size_t s = 0; s < c.inputs.size(); ++s) {
        const InputRule& other = c.op->rule(s);
        if (s == e.slot || !other.differentiable || !other.vjp) continue;
        OpCall other_call = t.call(consumer, s);
        if (auto x = summed_to_shape(other.vjp(other_call, upstream), shape))
            out.push_back({std::move(*x), "wrong-local",
                           fmt::format("the upstream {} times the local gradient for {} ({}), where the one for "
                                       "{} is due ({})",
                                       up, g.nodes[c.inputs[s]].name, t.nodes[consumer].edges[s].formula,
                                       g.nodes[e.input].name, e.formula)});
    }
    // The rule with a forward value swapped: an input read as another value of its shape (W for Wp).
    for (std::size_t q = 0; q < c.inputs.size(); ++q) {
        const Tensor& read = t.nodes[c.inputs[q]].value;
        for (std::size_t j = 0; j < g.nodes.size(); ++j) {
            const Tensor& instead = t.nodes[j].value;
            if (j == consumer || instead.shape() != read.shape() || exact.close(instead, read)) continue;
            OpCall swapped = call;
            swapped.in[q] = &instead;
            if (auto x = summed_to_shape(rule.vjp(swapped, upstream), shape))
                out.push_back({std::move(*x), "wrong-local",
                               fmt::format("the local gradient of {} ({}) with {} read where {} was due", step,
                                           e.formula, g.nodes[j].name, g.nodes[c.inputs[q]].name)});
        }
    }
    if (e.local) {
        const Tensor& local = *e.local;
        const auto up_b = broadcast_as(upstream, local.shape());
        if (up_b) {
            if (!local.all_equal_to(1.0))
                if (auto x = summed_to_shape(*up_b, shape))
                    out.push_back({std::move(*x), "no-local",
                                   fmt::format("the upstream {} passed on as it is, without the local gradient ({})",
                                               up, e.formula)});
            for (std::size_t j = 0; j < g.nodes.size(); ++j) {
                const auto v = broadcast_as(t.nodes[j].value, local.shape());
                if (!v || exact.close(*v, local)) continue;
                if (auto x = summed_to_shape(zip(*up_b, *v, [](double a, double b) { return a * b; }), shape))
                    out.push_back({std::move(*x), "wrong-local",
                                   fmt::format("the upstream {} times {}, where the local gradient is {}", up,
                                               g.nodes[j].name, e.formula)});
            }
        }
    }
    return out;
}

Tensor sum_of(const std::vector<const Tensor*>& parts, const Shape& shape) {
    Tensor total(shape);
    for (const Tensor* p : parts)
        for (std::size_t k = 0; k < total.size(); ++k) total[k] += (*p)[k];
    return total;
}

std::optional<Diagnosis> contribution_cause(const Trace& t, const ReferenceTensor& r, const Tensor& given,
                                            const Closeness& close) {
    const Graph& g = *t.graph;
    if (r.kind == Kind::Contribution) {
        for (Candidate& c : edge_candidates(t, t.nodes[r.consumer].edges[r.slot], r.consumer))
            if (close.close(given, c.value)) return Diagnosis{c.code, c.message};
        return std::nullopt;
    }
    const auto& received = t.nodes[r.node].received;
    if (received.empty()) return std::nullopt;
    if (received.size() == 1) {
        for (Candidate& c : edge_candidates(t, t.edge(received[0]), received[0].first))
            if (close.close(given, c.value)) return Diagnosis{c.code, c.message};
        return std::nullopt;
    }
    const Shape& shape = r.tensor->shape();
    std::vector<std::string> names;
    for (const auto& from : received) names.push_back(t.edge(from).name);
    const std::string whole = fmt::format("{} = {}", r.name, fmt::join(names, " + "));
    auto part = [&](std::size_t k) {
        return fmt::format("{} (from {})", names[k], g.nodes[received[k].first].label());
    };
    const std::size_t m = received.size();
    if (m <= 10) {
        for (std::size_t mask = 1; mask + 1 < (std::size_t{1} << m); ++mask) {
            std::vector<const Tensor*> parts;
            std::vector<std::string> have, missing;
            for (std::size_t k = 0; k < m; ++k) {
                if (mask >> k & 1) {
                    parts.push_back(&t.edge(received[k]).contribution);
                    have.push_back(part(k));
                } else {
                    missing.push_back(part(k));
                }
            }
            if (close.close(given, sum_of(parts, shape)))
                return Diagnosis{
                    "one-contribution",
                    fmt::format("only {} of {}: {} missing; {} feeds {} nodes, and its gradient adds up "
                                "what each of them sends back",
                                fmt::join(have, " + "), whole, fmt::join(missing, " and "), g.nodes[r.node].name, m)};
        }
    }
    for (std::size_t k = 0; k < m; ++k) {
        std::vector<const Tensor*> others;
        for (std::size_t j = 0; j < m; ++j)
            if (j != k) others.push_back(&t.edge(received[j]).contribution);
        const Tensor rest = sum_of(others, shape);
        for (Candidate& c : edge_candidates(t, t.edge(received[k]), received[k].first)) {
            for (std::size_t q = 0; q < rest.size(); ++q) c.value[q] += rest[q];
            if (close.close(given, c.value))
                return Diagnosis{c.code, fmt::format("in {} of {}: {}", part(k), whole, c.message)};
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<Diagnosis> diagnose(const Trace& t, const ReferenceTensor& r, const Tensor& given,
                                  const Closeness& close) {
    if (given.shape() != r.tensor->shape()) return shape_cause(*t.graph, r, given, close);
    if (auto d = factor_cause(*t.graph, r, given, close)) return d;
    if (r.kind == Kind::Gradient || r.kind == Kind::Contribution) return contribution_cause(t, r, given, close);
    return std::nullopt;
}

}  // namespace bnstep
