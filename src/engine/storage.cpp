#include "bnstep/storage.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "bnstep/error.hpp"

namespace bnstep {
namespace {

std::vector<double> codebook_linear_start(const std::vector<double>& values, std::size_t learned, bool zero_centroid) {
    std::vector<double> c;
    if (zero_centroid) c.push_back(0.0);
    const auto [lo, hi] = values.empty() ? std::pair{0.0, 0.0}
                                         : std::pair{*std::min_element(values.begin(), values.end()),
                                                     *std::max_element(values.begin(), values.end())};
    for (std::size_t j = 0; j < learned; ++j)
        c.push_back(learned == 1 ? (lo + hi) / 2
                                 : lo + (hi - lo) * static_cast<double>(j) / static_cast<double>(learned - 1));
    return c;
}

std::size_t nearest_centroid_index(const std::vector<double>& centroids, double w) {
    std::size_t best = 0;
    for (std::size_t j = 1; j < centroids.size(); ++j)
        if (std::fabs(w - centroids[j]) < std::fabs(w - centroids[best])) best = j;
    return best;
}

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
    Codebook cb;
    cb.zero_centroid = zero_centroid;
    const auto size = static_cast<std::size_t>(two_to(bits));
    cb.initial = codebook_linear_start(kept_values, zero_centroid ? size - 1 : size, zero_centroid);
    cb.centroids = cb.initial;
    cb.index.assign(kept_values.size(), 0);
    for (std::size_t i = 0; i < kept_values.size(); ++i)
        cb.index[i] = nearest_centroid_index(cb.centroids, kept_values[i]);
    for (cb.iterations = 0; cb.iterations < kMaxKmeansIterations;) {
        std::vector<double> sum(size, 0.0);
        std::vector<std::size_t> members(size, 0);
        for (std::size_t i = 0; i < kept_values.size(); ++i) {
            sum[cb.index[i]] += kept_values[i];
            ++members[cb.index[i]];
        }
        for (std::size_t j = zero_centroid ? 1 : 0; j < size; ++j)
            if (members[j] > 0) cb.centroids[j] = sum[j] / static_cast<double>(members[j]);
        ++cb.iterations;
        bool changed = false;
        for (std::size_t i = 0; i < kept_values.size(); ++i) {
            const std::size_t j = nearest_centroid_index(cb.centroids, kept_values[i]);
            changed = changed || j != cb.index[i];
            cb.index[i] = j;
        }
        if (!changed) break;
    }
    return cb;
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
