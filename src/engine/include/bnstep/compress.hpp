#pragma once
// `bnstep compress`: Deep Compression's storage pipeline on one param of a
// lesson, pruned by the lesson's own prune_mask node or by magnitude.
#include <optional>
#include <string>

#include "bnstep/graph.hpp"
#include "bnstep/storage.hpp"

namespace bnstep {

struct CompressRequest {
    std::string param = {};                         // empty: the param a prune_mask node reads, else the largest param
    std::optional<double> sparsity = {};            // magnitude pruning of the param instead of the lesson's own
    std::optional<int> bits = {}, index_bits = {};  // default: 8 for a convolution's weights, 5 otherwise (the paper's)
    std::size_t max_work = 0;                       // k-means: kmeans_work(weights, bits) at most
    std::string max_work_name = "the work limit";
    std::string param_name = "param";  // how messages name `param`: the caller names its own knob
};

struct LessonCompression {
    const Graph* graph = nullptr;
    std::size_t leaf = 0;
    std::optional<std::size_t> prune_node = {};  // the lesson's prune_mask node used
    std::optional<double> sparsity = {};         // the magnitude pruning applied instead
    std::string layer_kind = {};                 // "a convolution" or "no convolution": what reads the param
    CompressionReport report = {};
};

// What one weight costs k-means per iteration, in multiply-adds of the work limit:
// measured, a nearest-centroid search and the cluster bookkeeping take 50-200 ns.
inline constexpr double kKmeansWeightCost = 400;
// The work of k-means on `weights` values with 2^bits centroids, at most kMaxKmeansIterations.
double kmeans_work(std::size_t weights, int bits);

LessonCompression compress_lesson(const Graph& g, const CompressRequest& request);

}  // namespace bnstep
