#include "bnstep/storage.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "ops/kmeans.hpp"

namespace bnstep {
namespace {

double two_to(int bits) { return std::ldexp(1.0, bits); }

std::string entry_count_text(std::size_t kept, std::size_t fillers) {
    return fillers == 0 ? fmt::format("{}", kept) : fmt::format("({} + {})", kept, fillers);
}

void add_storage_stages(CompressionReport& r) {
    const int k = r.options.bits, b = r.options.index_bits;
    const double n = static_cast<double>(r.weights.size());
    const double entries = static_cast<double>(r.entries.size());
    const double codebook = two_to(k) * kFloatBits;
    const std::string e = entry_count_text(r.kept.size(), r.fillers);
    const double dense = n * kFloatBits;
    auto stage = [&](std::string name, double bits, std::string formula) {
        r.stages.push_back({std::move(name), bits, std::move(formula), bits == 0 ? 0.0 : dense / bits});
    };
    stage("dense", dense, fmt::format("{}*{}", r.weights.size(), kFloatBits));
    stage("pruned", entries * (kFloatBits + b), fmt::format("{}*({} + {})", e, kFloatBits, b));
    stage("quantized", codebook + entries * (k + b), fmt::format("2^{}*{} + {}*({} + {})", k, kFloatBits, e, k, b));
    stage("huffman", codebook + r.weight_code.total_bits + r.run_code.total_bits,
          fmt::format("2^{}*{} + {:.0f} + {:.0f}", k, kFloatBits, r.weight_code.total_bits, r.run_code.total_bits));
}

}  // namespace

std::vector<SparseEntry> relative_indices(const std::vector<std::size_t>& kept, int index_bits) {
    const std::size_t longest = (std::size_t{1} << index_bits) - 1;
    std::vector<SparseEntry> entries;
    std::size_t next = 0;  // the first position after the previous entry
    for (std::size_t p : kept) {
        while (p - next > longest) {
            entries.push_back({.position = next + longest, .run = longest, .filler = true});
            next += longest + 1;
        }
        entries.push_back({.position = p, .run = p - next});
        next = p + 1;
    }
    return entries;
}

Codebook share_weights(const std::vector<double>& kept_values, int bits, bool zero_centroid) {
    const ops::KMeans k = ops::kmeans_linear(Tensor(Shape{kept_values.size()}, kept_values),
                                             {.clusters = static_cast<std::size_t>(two_to(bits)),
                                              .max_updates = kMaxKmeansIterations,
                                              .pinned_zero = zero_centroid});
    return {.initial = k.initial.data(),
            .centroids = k.centroids.data(),
            .index = k.index,
            .iterations = static_cast<int>(k.updates),
            .converged = k.converged,
            .zero_centroid = zero_centroid};
}

CompressionReport deep_compression(const std::vector<double>& weights, const CompressionOptions& options) {
    CompressionReport r;
    r.options = options;
    r.weights = weights;
    for (std::size_t i = 0; i < weights.size(); ++i)
        if (weights[i] != 0) r.kept.push_back(i);
    r.entries = relative_indices(r.kept, options.index_bits);
    r.fillers = r.entries.size() - r.kept.size();
    std::vector<double> kept_values;
    for (std::size_t p : r.kept) kept_values.push_back(weights[p]);
    r.codebook = share_weights(kept_values, options.bits, r.fillers > 0);
    std::vector<double> index_counts(r.codebook.centroids.size(), 0.0);
    std::vector<double> run_counts(std::size_t{1} << options.index_bits, 0.0);
    std::size_t k = 0;
    for (const SparseEntry& e : r.entries) {
        const std::size_t index = e.filler ? 0 : r.codebook.index[k++];
        r.entry_index.push_back(index);
        index_counts[index] += 1;
        run_counts[e.run] += 1;
    }
    for (std::size_t i = 0; i < kept_values.size(); ++i) {
        const double d = kept_values[i] - r.codebook.centroids[r.codebook.index[i]];
        r.squared_error += d * d;
    }
    r.weight_code = huffman_code(index_counts);
    r.run_code = huffman_code(run_counts);
    add_storage_stages(r);
    return r;
}

}  // namespace bnstep
