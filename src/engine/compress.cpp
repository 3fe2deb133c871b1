#include "bnstep/compress.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/did_you_mean.hpp"
#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"
#include "ops/compression.hpp"

namespace bnstep {
namespace {

std::optional<std::size_t> first_consumer_op(const Graph& g, std::size_t leaf, const std::string& op,
                                             std::size_t slot) {
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        if (!n.is_leaf() && n.op->name == op && n.inputs.size() > slot && n.inputs[slot] == leaf) return i;
    }
    return std::nullopt;
}

std::size_t param_to_compress(const Graph& g, const std::string& wanted, const std::string& option) {
    std::vector<std::string> params;
    std::optional<std::size_t> pruned, largest;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        if (n.kind != NodeKind::Param) continue;
        params.push_back(n.name);
        if (!wanted.empty() && n.name == wanted) return i;
        if (!pruned && first_consumer_op(g, i, "prune_mask", 0)) pruned = i;
        if (!largest || element_count(n.shape) > element_count(g.nodes[*largest].shape)) largest = i;
    }
    if (wanted.empty() && (pruned || largest)) return pruned ? *pruned : *largest;
    if (params.empty()) throw UsageError(fmt::format("lesson {} has no param to compress", g.name));
    const std::string hint = did_you_mean(wanted, params);
    throw UsageError(fmt::format("{}: lesson {} has no param '{}'{}; its params: {}", option, g.name, wanted,
                                 hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                 fmt::join(params, ", ")));
}

}  // namespace

double kmeans_work(std::size_t weights, int bits) {
    // Each iteration assigns every weight (a binary search among the centroids and the
    // cluster bookkeeping, about as long as kKmeansWeightCost multiply-adds) and
    // averages the 2^bits clusters.
    return (static_cast<double>(weights) * kKmeansWeightCost + std::ldexp(1.0, bits)) * kMaxKmeansIterations;
}

LessonCompression compress_lesson(const Graph& g, const CompressRequest& request) {
    LessonCompression c{.graph = &g};
    c.leaf = param_to_compress(g, request.param, request.param_name);
    const Tensor& w = g.nodes[c.leaf].value;
    const bool conv = first_consumer_op(g, c.leaf, "conv2d", 1).has_value();
    c.layer_kind = conv ? "a convolution" : "no convolution";
    CompressionOptions options{.bits = request.bits.value_or(conv ? 8 : 5),
                               .index_bits = request.index_bits.value_or(conv ? 8 : 5)};
    const double work = kmeans_work(w.size(), options.bits);
    if (work > static_cast<double>(request.max_work))
        throw UsageError(fmt::format("k-means on {} weights with 2^{} centroids may take {:.3g} steps, above {} ({})",
                                     w.size(), options.bits, work, request.max_work, request.max_work_name));
    std::vector<double> weights(w.data().begin(), w.data().end());
    if (request.sparsity) {
        c.sparsity = request.sparsity;
        const std::vector<bool> pruned = ops::by_magnitude(w, ops::count_of(*request.sparsity, w.size()), false);
        for (std::size_t i = 0; i < weights.size(); ++i)
            if (pruned[i]) weights[i] = 0;
    } else if ((c.prune_node = first_consumer_op(g, c.leaf, "prune_mask", 0))) {
        const std::vector<Tensor> values = forward(g);
        const Tensor& p = values[*c.prune_node];
        weights.assign(p.data().begin(), p.data().end());
    }
    const std::string& name = g.nodes[c.leaf].name;
    if (std::all_of(weights.begin(), weights.end(), [](double x) { return x == 0; }))
        throw UsageError(fmt::format("{}: no weight of {} is left to store after {}: nothing to compress", g.source,
                                     name,
                                     c.sparsity     ? fmt::format("--sparsity {}", *c.sparsity)
                                     : c.prune_node ? fmt::format("pruning by node {}", g.nodes[*c.prune_node].name)
                                                    : std::string("loading (every weight is 0)")));
    c.report = deep_compression(weights, options);
    const auto& centroids = c.report.codebook.centroids;
    if (!std::isfinite(c.report.squared_error) ||
        !std::all_of(centroids.begin(), centroids.end(), [](double x) { return std::isfinite(x); })) {
        double largest = 0;
        for (double x : weights) largest = std::max(largest, std::fabs(x));
        throw NumericError(
            fmt::format("{}: k-means on {} overflows: a centroid or the squared error sum (w - c)^2 is "
                        "not finite (weights up to {:.3g} in magnitude)",
                        g.source, name, largest));
    }
    return c;
}

}  // namespace bnstep
