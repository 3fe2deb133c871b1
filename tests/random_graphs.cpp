// The checker of random lessons (random_graphs.hpp); the generator is
// random_graph_generator.cpp and its neighbours.
#include "random_graphs.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/op.hpp"

namespace bnstep::fuzz {
namespace {

// The pooling windows, as PoolGeometry in src/engine/ops/pool.cpp lays them out.
struct Windows {
    std::size_t n = 0, c = 0, h = 0, w = 0, kernel = 1, stride = 1, padding = 0, ho = 0, wo = 0;
};

Windows windows_of(const Shape& x, long long kernel, long long stride, long long padding) {
    Windows g;
    g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
    g.kernel = static_cast<std::size_t>(kernel);
    g.stride = stride == 0 ? g.kernel : static_cast<std::size_t>(stride);
    g.padding = static_cast<std::size_t>(padding);
    g.ho = (g.h + 2 * g.padding - g.kernel) / g.stride + 1;
    g.wo = (g.w + 2 * g.padding - g.kernel) / g.stride + 1;
    return g;
}

// Calls f(window elements as flat offsets) for every window.
template <class F>
void for_each_window(const Windows& g, F f) {
    std::vector<std::size_t> elems;
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t c = 0; c < g.c; ++c)
            for (std::size_t i = 0; i < g.ho; ++i)
                for (std::size_t j = 0; j < g.wo; ++j) {
                    elems.clear();
                    for (std::size_t r = 0; r < g.kernel; ++r)
                        for (std::size_t s = 0; s < g.kernel; ++s) {
                            const long long h = (long long)(i * g.stride + r) - (long long)g.padding;
                            const long long w = (long long)(j * g.stride + s) - (long long)g.padding;
                            if (h >= 0 && w >= 0 && h < (long long)g.h && w < (long long)g.w)
                                elems.push_back(((n * g.c + c) * g.h + (std::size_t)h) * g.w + (std::size_t)w);
                        }
                    f(elems);
                }
}

std::string first_difference(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return fmt::format("shape {} vs {}", shape_str(a.shape()), shape_str(b.shape()));
    for (std::size_t e = 0; e < a.size(); ++e)
        if (!(a[e] == b[e]) && !(std::isnan(a[e]) && std::isnan(b[e])))
            return fmt::format("at {}: {} vs {}", index_str(a.unravel(e)), a[e], b[e]);
    return "";
}

// Recomputes what lies downstream of node `first` as check_gradients does.
void downstream_as_checked(const Graph& g, const Trace& t, std::vector<Tensor>& values, std::size_t first,
                           const std::vector<bool>& downstream, bool surrogate) {
    for (std::size_t j = first + 1; j < g.nodes.size(); ++j)
        if (downstream[j] && !g.nodes[j].is_leaf()) values[j] = forward_as_checked(g, t, values, j, surrogate);
}

// Does moving node i's element e by +-h put an element of an op downstream
// on another piece (a relu input across 0, another max-pool winner, another
// rounding step or pruning choice)?
bool crosses_kink(const Graph& g, const std::vector<Tensor>& base, const std::vector<Tensor>& plus,
                  const std::vector<Tensor>& minus, const std::vector<bool>& downstream, bool surrogate,
                  std::string& where) {
    for (std::size_t n = 0; n < g.nodes.size(); ++n) {
        const Node& node = g.nodes[n];
        if (!downstream[n] || node.is_leaf()) continue;
        const std::vector<long long> b = pieces_as_checked(g, base, n, surrogate);
        if (b.empty()) continue;
        const std::vector<long long> p = pieces_as_checked(g, plus, n, surrogate),
                                     m = pieces_as_checked(g, minus, n, surrogate);
        for (std::size_t k = 0; k < b.size() && k < p.size() && k < m.size(); ++k)
            if (b[k] != p[k] || b[k] != m[k]) {
                where = fmt::format("{} = {}({}) changes piece at {}", node.name, node.op->name,
                                    g.nodes[node.inputs[0]].name, index_str(base[n].unravel(k)));
                return true;
            }
    }
    return false;
}

// The worked examples that `bnstep trace` prints, for a few elements of every
// op node and of every gradient it sends: each one's result must be the value
// or the gradient contribution the executor computed. Returns "" or the first
// mismatch.
std::string check_worked_examples(const Graph& g, const Trace& t) {
    const NumFmt num{6};
    auto close = [](double a, double b) {
        return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
    };
    auto sample = [](std::size_t size) {  // first, last and a few in between
        std::vector<std::size_t> at;
        for (std::size_t k = 0; k < 5 && k < size; ++k) at.push_back(size <= 5 ? k : k * (size - 1) / 4);
        return at;
    };
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& node = g.nodes[i];
        if (node.is_leaf()) continue;
        const Tensor& v = t.nodes[i].value;
        for (std::size_t e : sample(v.size())) {
            const Worked w = node.op->explain(t.call(i), t.names(i, 0), v.unravel(e), num);
            if (!close(w.result, v[e]))
                return fmt::format(
                    "{} = {}: the worked forward example {} = {} = {} gives {:.12g}, the value is {:.12g}", node.name,
                    node.op->name, w.lhs, w.symbolic, w.numeric, w.result, v[e]);
        }
        if (!t.nodes[i].grad) continue;
        for (const EdgeGrad& edge : t.nodes[i].edges) {
            if (edge.status != EdgeGrad::Status::Flows) continue;
            for (std::size_t e : sample(edge.contribution.size())) {
                const Worked w = node.op->rule(edge.slot).explain(
                    t.call(i, edge.slot), *t.nodes[i].grad, t.names(i, edge.slot), edge.contribution.unravel(e), num);
                if (!close(w.result, edge.contribution[e]))
                    return fmt::format(
                        "{} = {}: the worked gradient example {} = {} = {} gives {:.12g}, the gradient is {:.12g}",
                        node.name, node.op->name, w.lhs, w.symbolic, w.numeric, w.result, edge.contribution[e]);
            }
        }
    }
    return "";
}

}  // namespace

double max_pool_min_gap(const Tensor& x, long long kernel, long long stride, long long padding) {
    double gap = std::numeric_limits<double>::infinity();
    for_each_window(windows_of(x.shape(), kernel, stride, padding), [&](const std::vector<std::size_t>& elems) {
        if (elems.size() < 2) return;
        double top = -std::numeric_limits<double>::infinity(), second = top;
        for (std::size_t e : elems) {
            if (x[e] > top) {
                second = top;
                top = x[e];
            } else if (x[e] > second) {
                second = x[e];
            }
        }
        gap = std::min(gap, top - second);
    });
    return gap;
}

std::string_view verdict_name(Verdict v) {
    switch (v) {
        case Verdict::Passed: return "passed";
        case Verdict::Rejected: return "rejected by the loader";
        case Verdict::RunError: return "run failed";
        case Verdict::ValueMismatch: return "forward value mismatch";
        case Verdict::KinkSkipped: return "skipped: the check crossed a kink";
        case Verdict::RoundoffSkipped: return "skipped: finite-difference round-off";
        case Verdict::TruncationSkipped: return "skipped: finite-difference truncation";
        case Verdict::Failed: return "GRADIENT CHECK FAILED";
        case Verdict::ExplainMismatch: return "WORKED EXAMPLE MISMATCH";
    }
    return "?";
}

CheckResult check_lesson(const GeneratedLesson& lesson, const GradcheckOptions& options, const OpTable& ops) {
    CheckResult result;
    const std::string source = fmt::format("random-{}.json", lesson.seed);
    Graph g;
    try {
        g = parse_lesson(lesson.json, source, ops);
    } catch (const std::exception& e) {
        result.verdict = Verdict::Rejected;
        result.message = e.what();
        return result;
    }
    Trace t;
    try {
        t = run(g);
    } catch (const std::exception& e) {
        result.verdict = Verdict::RunError;
        result.message = e.what();
        return result;
    }
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const auto it = lesson.values.find(g.nodes[i].name);
        const std::string diff =
            it == lesson.values.end() ? "not generated" : first_difference(it->second, t.nodes[i].value);
        if (!diff.empty()) {
            result.verdict = Verdict::ValueMismatch;
            result.message =
                fmt::format("{}: the loaded lesson's value differs from the generator's: {}", g.nodes[i].name, diff);
            return result;
        }
    }
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        if (g.nodes[i].is_leaf()) continue;
        for (const EdgeGrad& e : t.nodes[i].edges)
            if (e.status == EdgeGrad::Status::Flows) {
                result.exercised.push_back(g.nodes[i].op->name);
                break;
            }
    }

    const GradcheckReport report = check_gradients(g, t, options);
    result.nodes_checked = report.checks.size();
    for (const NodeCheck& c : report.checks) {
        result.elements_checked += c.elements;
        result.elements_at_kinks += c.kinks;
    }
    if (report.passed()) {
        result.message = check_worked_examples(g, t);
        if (!result.message.empty()) result.verdict = Verdict::ExplainMismatch;
        return result;
    }

    // Classify every failing element of every failing node, evaluating L as
    // check_gradients does (straight-through ops by their surrogates). A
    // wrong backward rule fails at every step; a finite-difference artefact
    // does not:
    //  - kink: the +-h of the check puts an op downstream on another piece
    //    than the forward values (a relu input across 0, another max-pool
    //    winner; check_gradients already skips plus against minus);
    //  - round-off: it passes with the step 10h (10x less round-off), or with
    //    L(v+h) - L(v-h) summed per element, sum((out+ - out-) * seed);
    //  - truncation: it passes with the step h/10 (100x less h^2 error).
    auto per_element = [&](const std::vector<Tensor>& plus, const std::vector<Tensor>& minus) {
        double d = 0;
        for (std::size_t k = 0; k < g.seed.size(); ++k) d += (plus[g.output][k] - minus[g.output][k]) * g.seed[k];
        return d;
    };
    std::vector<Tensor> base;
    for (const NodeState& s : t.nodes) base.push_back(s.value);
    auto numeric_at = [&](std::size_t i, std::size_t e, double h, const std::vector<bool>& downstream, bool surrogate) {
        std::vector<Tensor> plus = base, minus = base;
        plus[i][e] += h;
        minus[i][e] -= h;
        downstream_as_checked(g, t, plus, i, downstream, surrogate);
        downstream_as_checked(g, t, minus, i, downstream, surrogate);
        return (loss(g, plus) - loss(g, minus)) / (2 * h);
    };
    auto passes = [&](double analytic, double numeric) {
        return relative_error(analytic, numeric, options.floor) <= options.tolerance;
    };
    std::size_t unexplained = 0, kinks = 0, roundoff = 0, truncation = 0;
    std::string lines;
    for (const NodeCheck& c : report.checks) {
        if (c.passed) continue;
        const std::size_t i = c.node;
        const std::vector<bool> downstream = g.downstream_of(i);
        const bool surrogate = !c.surrogates.empty();
        const Tensor& analytic = *t.nodes[i].grad;
        std::size_t failing = 0, node_kinks = 0, node_roundoff = 0, node_truncation = 0;
        std::string kink_where;
        for (std::size_t e = 0; e < analytic.size(); ++e) {
            std::vector<Tensor> plus = base, minus = base;
            plus[i][e] += options.step;
            minus[i][e] -= options.step;
            downstream_as_checked(g, t, plus, i, downstream, surrogate);
            downstream_as_checked(g, t, minus, i, downstream, surrogate);
            if (passes(analytic[e], (loss(g, plus) - loss(g, minus)) / (2 * options.step))) continue;
            ++failing;
            std::string where;
            if (crosses_kink(g, base, plus, minus, downstream, surrogate, where)) {
                ++node_kinks;
                if (kink_where.empty()) kink_where = where;
            } else if (passes(analytic[e], per_element(plus, minus) / (2 * options.step)) ||
                       passes(analytic[e], numeric_at(i, e, 10 * options.step, downstream, surrogate))) {
                ++node_roundoff;
            } else if (passes(analytic[e], numeric_at(i, e, options.step / 10, downstream, surrogate))) {
                ++node_truncation;
            }
        }
        kinks += node_kinks, roundoff += node_roundoff, truncation += node_truncation;
        unexplained += failing - node_kinks - node_roundoff - node_truncation;
        lines += fmt::format(
            "  {} {}: worst at {}: analytic {:.12g}, numeric {:.12g}, error {:.3g}\n"
            "    {} of {} elements fail: {} cross a kink{}, {} pass with less round-off (step 10h or a "
            "per-element sum), {} with less truncation (step h/10), {} unexplained\n",
            g.nodes[i].is_leaf() ? "leaf" : "node", g.nodes[i].name, index_str(c.worst), c.analytic, c.numeric,
            c.max_error, failing, analytic.size(), node_kinks, kink_where.empty() ? "" : " (" + kink_where + ")",
            node_roundoff, node_truncation, failing - node_kinks - node_roundoff - node_truncation);
        const std::size_t e = analytic.offset(c.worst);
        std::string steps;
        for (double h : {1e-3, 1e-4, 1e-6, 1e-7})
            steps += fmt::format("{}h={:g}: {:.12g}", steps.empty() ? "" : ", ", h,
                                 numeric_at(i, e, h, downstream, surrogate));
        lines += "    the worst element's numeric gradient with other steps: " + steps + "\n";
    }
    result.verdict = unexplained  ? Verdict::Failed
                     : kinks      ? Verdict::KinkSkipped
                     : truncation ? Verdict::TruncationSkipped
                                  : Verdict::RoundoffSkipped;
    result.message = lines;
    return result;
}

}  // namespace bnstep::fuzz
