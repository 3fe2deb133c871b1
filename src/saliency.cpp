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

std::vector<std::size_t> chosen_params(const Graph& g, const std::vector<std::string>& names) {
    std::vector<std::size_t> leaves;
    if (names.empty()) {
        for (std::size_t i = 0; i < g.nodes.size(); ++i)
            if (g.nodes[i].kind == NodeKind::Param) leaves.push_back(i);
        if (leaves.empty()) throw UsageError(fmt::format("lesson {} has no param leaves to rank", g.name));
        return leaves;
    }
    for (const std::string& name : names) {
        const auto i = g.find(name);
        if (!i || !g.nodes[*i].is_leaf() || g.nodes[*i].kind == NodeKind::Const) {
            std::vector<std::string> candidates;
            for (const Node& n : g.nodes)
                if (n.is_leaf() && n.kind != NodeKind::Const) candidates.push_back(n.name);
            throw UsageError(fmt::format("--param {}: lesson {} has no such input or param leaf; it has: {}", name,
                                         g.name, fmt::join(candidates, ", ")));
        }
        if (std::find(leaves.begin(), leaves.end(), *i) == leaves.end()) leaves.push_back(*i);
    }
    return leaves;
}

double loss_of(const Graph& g) { return loss(g, forward(g)); }

// Ranks (1 = smallest) of `keys`, ties broken by position.
std::vector<std::size_t> ranks(const std::vector<double>& keys) {
    std::vector<std::size_t> order(keys.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
    std::vector<std::size_t> rank(keys.size());
    for (std::size_t r = 0; r < order.size(); ++r) rank[order[r]] = r + 1;
    return rank;
}

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

SaliencyReport compute_saliency(const Graph& g, const SaliencyOptions& options) {
    SaliencyReport report;
    report.graph = &g;
    report.options = options;
    Graph work = g;
    report.loss = loss_of(work);
    const double h = options.gradient_step, h2 = options.loss_step;
    for (std::size_t leaf : chosen_params(g, options.params)) {
        Tensor& w = work.nodes[leaf].value;
        const Trace base = run(work);
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

    report.prune = options.prune ? std::min(options.prune, report.weights.size()) : std::max<std::size_t>(1, report.weights.size() / 4);
    auto loss_without = [&](auto remove) {
        Graph pruned = g;
        for (const WeightSaliency& s : report.weights)
            if (remove(s)) pruned.nodes[s.leaf].value.at(s.at) = 0.0;
        return loss_of(pruned);
    };
    report.loss_pruned_by_saliency = loss_without([&](const WeightSaliency& s) {
        return static_cast<std::size_t>(&s - report.weights.data()) < report.prune;
    });
    report.loss_pruned_by_magnitude = loss_without([&](const WeightSaliency& s) { return s.magnitude_rank <= report.prune; });
    for (std::size_t r = 0; r < report.prune; ++r) report.overlap += report.weights[r].magnitude_rank <= report.prune;
    return report;
}

}  // namespace bnstep
