#include "ops/kmeans.hpp"

#include <algorithm>

#include "ops/compression.hpp"

namespace bnstep::ops {

double linear_init(double lo, double hi, std::size_t j, std::size_t k) {
    if (k == 1) return lo + (hi - lo) / 2;
    const double step = (hi - lo) / static_cast<double>(k - 1);
    return j < k / 2 ? lo + step * static_cast<double>(j) : hi - step * static_cast<double>(k - 1 - j);
}

KMeans kmeans_linear(const Tensor& values, const KMeansOptions& options) {
    const std::size_t k = options.clusters, first = options.pinned_zero ? 1 : 0;
    KMeans r;
    const auto& v = values.data();
    if (!v.empty()) {
        r.argmin = static_cast<std::size_t>(std::min_element(v.begin(), v.end()) - v.begin());
        r.argmax = static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
    }
    const double lo = v.empty() ? 0.0 : v[r.argmin], hi = v.empty() ? 0.0 : v[r.argmax];
    r.initial = Tensor(Shape{k});
    for (std::size_t j = first; j < k; ++j) r.initial[j] = linear_init(lo, hi, j - first, k - first);
    r.centroids = r.initial;
    r.members.assign(k, {});
    r.index = nearest_indices(values, r.centroids);
    while (r.updates < options.max_updates) {
        std::vector<std::vector<std::size_t>> clusters(k);
        for (std::size_t i = 0; i < v.size(); ++i) clusters[r.index[i]].push_back(i);
        for (std::size_t j = first; j < k; ++j) {
            if (clusters[j].empty()) continue;
            double sum = 0.0;
            for (std::size_t i : clusters[j]) sum += v[i];
            r.centroids[j] = sum / static_cast<double>(clusters[j].size());
            r.members[j] = std::move(clusters[j]);
        }
        ++r.updates;
        std::vector<std::size_t> next = nearest_indices(values, r.centroids);
        if (next == r.index) {
            r.converged = true;
            break;
        }
        r.index = std::move(next);
    }
    return r;
}

}  // namespace bnstep::ops
