#pragma once
// Deep Compression's weight sharing: k-means of a layer's weights in one
// dimension, started from centroids spread linearly over [min, max] (the
// initialisation the paper recommends). The op kmeans_centroids and the
// storage arithmetic of `bnstep compress` both cluster with it.
#include <cstddef>
#include <vector>

#include "bnstep/tensor.hpp"

namespace bnstep::ops {

struct KMeansOptions {
    std::size_t clusters = 1;
    long long max_updates = 100;  // Lloyd updates at most
    // Centroid 0 fixed at 0 (the filler zeros of sparse storage), the others
    // spread over [min, max] and updated.
    bool pinned_zero = false;
};

struct KMeans {
    std::size_t argmin = 0, argmax = 0;  // the first smallest and the first largest value
    Tensor initial;                      // the linear initialisation
    Tensor centroids;
    std::vector<std::size_t> index;  // per value, its nearest centroid (a tie: the lower index)
    // Per centroid, the values whose mean it is (its cluster at its last
    // update); empty: the cluster was always empty and the centroid initial.
    std::vector<std::vector<std::size_t>> members;
    long long updates = 0;  // Lloyd updates made
    bool converged = false;
};

// torch.linspace(lo, hi, k)[j]: the first half counted up from lo, the rest down
// from hi; a single centroid starts halfway.
double linear_init(double lo, double hi, std::size_t j, std::size_t k);

// Lloyd's iterations from the linear initialisation: each value joins its
// nearest centroid, each centroid moves to the mean of its cluster (an empty
// cluster keeps its centroid), until no value changes cluster or after
// `max_updates` updates.
KMeans kmeans_linear(const Tensor& values, const KMeansOptions& options);

}  // namespace bnstep::ops
