#include "bnstep/saliency.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <numeric>

#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/gradcheck.hpp"

namespace bnstep {
namespace {

// The leaves to rank. A param that gets no gradient (it does not reach the
// output, or reaches it only through a label, a mask or a comparison) has no
// Hessian to estimate: by default it is skipped with a note; named in
// SaliencyOptions::params it is an error.
std::vector<std::size_t> chosen_params(const Graph& g, const Trace& base, const SaliencyOptions& options,
                                       std::vector<std::string>& skipped) {
    const std::vector<std::string>& names = options.params;
    std::vector<std::size_t> leaves;
    if (names.empty()) {
        bool any = false;
        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            if (g.nodes[i].kind != NodeKind::Param) continue;
            any = true;
            if (base.nodes[i].grad)
                leaves.push_back(i);
            else
                skipped.push_back(g.nodes[i].name);
        }
        if (!any) throw UsageError(fmt::format("lesson {} has no param leaves to rank", g.name));
        if (leaves.empty())
            throw UsageError(
                fmt::format("lesson {}: no param gets a gradient from the output ({}), so none can be ranked", g.name,
                            fmt::join(skipped, ", ")));
        return leaves;
    }
    for (const std::string& name : names) {
        const auto i = g.find(name);
        if (!i || !g.nodes[*i].is_leaf() || g.nodes[*i].kind == NodeKind::Const) {
            std::vector<std::string> candidates;
            for (const Node& n : g.nodes)
                if (n.is_leaf() && n.kind != NodeKind::Const) candidates.push_back(n.name);
            throw UsageError(fmt::format("{} {}: lesson {} has no such input or param leaf; it has: {}",
                                         options.params_name, name, g.name, fmt::join(candidates, ", ")));
        }
        if (!base.nodes[*i].grad)
            throw UsageError(
                fmt::format("{} {}: it gets no gradient from the output of lesson {} (it does not reach "
                            "the output through a differentiable path), so it has no saliency",
                            options.params_name, name, g.name));
        if (std::find(leaves.begin(), leaves.end(), *i) == leaves.end()) leaves.push_back(*i);
    }
    return leaves;
}

double loss_of(const Graph& g) { return loss(g, forward(g)); }

double spearman(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
    const double n = static_cast<double>(a.size());
    if (a.size() < 2) return 1.0;
    double d2 = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
        d2 += d * d;
    }
    return 1.0 - 6.0 * d2 / (n * (n * n - 1.0));
}

}  // namespace

std::size_t pass_work(const Graph& g) {
    std::size_t work = saturating_add(std::max<std::size_t>(g.work, 1), saturating_mul(g.nodes.size(), 1000));
    for (const Node& n : g.nodes) work = saturating_add(work, saturating_mul(element_count(n.shape), 100));
    return work;
}

SaliencyReport compute_saliency(const Graph& g, const SaliencyOptions& options) {
    SaliencyReport report;
    report.graph = &g;
    report.options = options;
    Graph work = g;
    report.loss = loss_of(work);
    const double h = options.gradient_step, h2 = options.loss_step;
    const Trace base = run(work);
    const std::vector<std::size_t> leaves = chosen_params(g, base, options, report.skipped);
    std::size_t weights = 0;
    for (std::size_t leaf : leaves) weights = saturating_add(weights, g.nodes[leaf].value.size());
    if (options.prune > weights)
        throw UsageError(fmt::format("{} {}: lesson {} has {} weights to rank, so K must be 1 to {}",
                                     options.prune_name, options.prune, g.name, weights, weights));
    // Each weight costs two runs (forward and backward) and three forward passes.
    const std::size_t pass = pass_work(g);
    if (saturating_mul(saturating_mul(weights, 7), pass) > options.max_work)
        throw UsageError(
            fmt::format("saliency of {} weights in lesson {} would take about {} multiply-adds (7 forward "
                        "passes of {} each per weight), more than the limit of {} ({}); "
                        "pick fewer with {}",
                        weights, g.name, static_cast<double>(weights) * 7.0 * static_cast<double>(pass), pass,
                        options.max_work, options.max_work_name, options.params_name));
    for (std::size_t leaf : leaves) {
        Tensor& w = work.nodes[leaf].value;
        for (std::size_t k = 0; k < w.size(); ++k) {
            const double original = w[k];
            WeightSaliency s;
            s.leaf = leaf;
            s.at = w.unravel(k);
            s.weight = original;
            s.gradient = (*base.nodes[leaf].grad)[k];
            w[k] = original + h;
            const double g_plus = (*run(work).nodes[leaf].grad)[k];
            w[k] = original - h;
            const double g_minus = (*run(work).nodes[leaf].grad)[k];
            s.hessian = (g_plus - g_minus) / (2 * h);
            w[k] = original + h2;
            const double l_plus = loss_of(work);
            w[k] = original - h2;
            const double l_minus = loss_of(work);
            s.hessian_direct = (l_plus - 2 * report.loss + l_minus) / (h2 * h2);
            w[k] = 0.0;
            s.loss_change = loss_of(work) - report.loss;
            w[k] = original;
            s.saliency = 0.5 * s.hessian * original * original;
            report.max_disagreement =
                std::max(report.max_disagreement, relative_error(s.hessian, s.hessian_direct, 1e-3));
            report.weights.push_back(std::move(s));
        }
    }
    std::vector<double> magnitude, saliency;
    for (const WeightSaliency& s : report.weights) {
        magnitude.push_back(std::fabs(s.weight));
        saliency.push_back(s.saliency);
    }
    const std::vector<std::size_t> by_magnitude = ranks(magnitude), by_saliency = ranks(saliency);
    report.rank_correlation = spearman(by_magnitude, by_saliency);
    for (std::size_t i = 0; i < report.weights.size(); ++i) report.weights[i].magnitude_rank = by_magnitude[i];
    std::stable_sort(report.weights.begin(), report.weights.end(),
                     [](const WeightSaliency& a, const WeightSaliency& b) { return a.saliency < b.saliency; });

    report.prune = options.prune ? options.prune : std::max<std::size_t>(1, report.weights.size() / 4);
    auto loss_without = [&](auto remove) {
        Graph pruned = g;
        for (const WeightSaliency& s : report.weights)
            if (remove(s)) pruned.nodes[s.leaf].value.at(s.at) = 0.0;
        return loss_of(pruned);
    };
    report.loss_pruned_by_saliency = loss_without(
        [&](const WeightSaliency& s) { return static_cast<std::size_t>(&s - report.weights.data()) < report.prune; });
    report.loss_pruned_by_magnitude =
        loss_without([&](const WeightSaliency& s) { return s.magnitude_rank <= report.prune; });
    for (std::size_t r = 0; r < report.prune; ++r) report.overlap += report.weights[r].magnitude_rank <= report.prune;
    return report;
}

std::vector<std::size_t> ranks(const std::vector<double>& keys) {
    std::vector<std::size_t> order(keys.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
    std::vector<std::size_t> rank(keys.size());
    for (std::size_t r = 0; r < order.size(); ++r) rank[order[r]] = r + 1;
    return rank;
}

}  // namespace bnstep
