#include "ops/kmeans.hpp"

#include <algorithm>
#include <cmath>

#include "ops/compression.hpp"

namespace bnstep::ops {

double linear_init(double lo, double hi, std::size_t j, std::size_t k) {
    // torch.linspace's formula; when hi - lo overflows (finite weights near
    // +-1.8e308), the same points computed from hi / (k - 1) - lo / (k - 1).
    const bool overflows = !std::isfinite(hi - lo) && std::isfinite(lo) && std::isfinite(hi);
    if (k == 1) return overflows ? lo / 2 + hi / 2 : lo + (hi - lo) / 2;
    if (overflows && k == 2) return j == 0 ? lo : hi;
    const double steps = static_cast<double>(k - 1);
    const double step = overflows ? hi / steps - lo / steps : (hi - lo) / steps;
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
            const double count = static_cast<double>(clusters[j].size());
            if (!std::isfinite(sum)) {  // finite weights whose sum overflows: the mean of the scaled weights
                sum = 0.0;
                for (std::size_t i : clusters[j]) sum += v[i] / count;
                r.centroids[j] = sum;
            } else {
                r.centroids[j] = sum / count;
            }
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
