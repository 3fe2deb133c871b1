#pragma once
// Deep Compression's storage pipeline (Han, Mao and Dally 2016) on one layer's
// weights, in bits: dense 32-bit floats; pruned, as sparse entries with
// relative indices; quantized by weight sharing to a k-bit codebook; Huffman
// coded. Each stage's size and its ratio to the dense one, and what each stage
// stored, so that a printer can show the arithmetic.
#include <cstddef>
#include <string>
#include <vector>

#include "bnstep/huffman.hpp"

namespace bnstep {

inline constexpr int kFloatBits = 32;

// One stored entry of the sparse layer: a kept weight, or a filler zero.
struct SparseEntry {
    std::size_t position = 0;  // in the flattened layer
    std::size_t run = 0;       // zeros skipped since the previous entry (the first: since position 0)
    bool filler = false;
};

// Relative indices in `index_bits` bits: each entry stores the run of zeros
// before it, at most 2^index_bits - 1; a longer run gets a filler zero after
// 2^index_bits - 1 zeros (Deep Compression's Figure 2). `kept` is in
// increasing order.
std::vector<SparseEntry> relative_indices(const std::vector<std::size_t>& kept, int index_bits);

// Weight sharing by k-means (Lloyd's algorithm) on the kept weights: the
// centroids start linearly spaced over [min, max] (the paper's linear
// initialisation); each weight joins its nearest centroid (the lower index on a
// tie), each centroid with members moves to their mean, until no weight changes
// cluster (at most kMaxKmeansIterations). With `zero_centroid`, centroid 0 is
// pinned at 0 (the filler zeros' value) and the other 2^bits - 1 are learned.
inline constexpr int kMaxKmeansIterations = 100;
struct Codebook {
    std::vector<double> initial;     // the linear initialisation
    std::vector<double> centroids;   // 2^bits, after k-means
    std::vector<std::size_t> index;  // per kept weight, its centroid
    int iterations = 0;
    bool converged = false;  // no weight changed cluster in the last iteration (else: stopped at the cap)
    bool zero_centroid = false;
};
Codebook share_weights(const std::vector<double>& kept_values, int bits, bool zero_centroid);

struct StorageStage {
    std::string name;
    double bits = 0;
    std::string formula;  // "256*32", "64*(32 + 5)" ...
    double ratio = 1;     // dense bits / these bits
};

struct CompressionOptions {
    int bits = 5;        // k: the codebook has 2^k centroids
    int index_bits = 5;  // bits of a relative index
};

struct CompressionReport {
    CompressionOptions options;
    std::vector<double> weights;    // the layer, flattened
    std::vector<std::size_t> kept;  // positions of the nonzero weights after pruning
    std::vector<SparseEntry> entries;
    std::size_t fillers = 0;
    Codebook codebook;
    std::vector<std::size_t> entry_index;  // per entry, its centroid (fillers: 0)
    double squared_error = 0;              // sum over kept weights of (w - its centroid)^2
    HuffmanCode weight_code;               // of entry_index
    HuffmanCode run_code;                  // of the entries' runs
    std::vector<StorageStage> stages;      // dense, pruned, quantized, Huffman
};

// `weights`: the layer after pruning (zeros are not stored).
CompressionReport deep_compression(const std::vector<double>& weights, const CompressionOptions& options);

}  // namespace bnstep
