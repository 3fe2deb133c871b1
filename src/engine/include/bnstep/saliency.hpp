#pragma once
// Optimal Brain Damage: the saliency of each weight, s_k = 0.5 * h_kk * w_k^2,
// where h_kk, the Hessian's diagonal, comes from differentiating the analytic
// gradient numerically, (g_k(w + h e_k) - g_k(w - h e_k)) / 2h, and is checked
// against a direct second difference of the loss,
// (L(w + h e_k) - 2 L(w) + L(w - h e_k)) / h^2.
#include <string>
#include <vector>

#include "bnstep/graph.hpp"

namespace bnstep {

struct SaliencyOptions {
    std::vector<std::string> params;  // leaves to rank; empty: every param leaf
    double gradient_step = 1e-5;      // h of the gradient's centred difference
    double loss_step = 1e-4;          // h of the loss's second difference (larger: it divides by h^2)
    std::size_t prune = 0;            // how many weights to remove in the comparison (at most all); 0: a quarter
    std::size_t max_work = std::size_t{16} << 30;  // multiply-adds the whole ranking may take
    // How messages name `params` ("<params_name> w: ...") and `max_work`:
    // the caller names its own knobs.
    std::string params_name = "param";
    std::string prune_name = "prune";
    std::string max_work_name = "the work limit";
};

struct WeightSaliency {
    std::size_t leaf = 0;
    Index at;
    double weight = 0.0;
    double gradient = 0.0;           // dL/dw_k
    double hessian = 0.0;            // h_kk from the analytic gradient
    double hessian_direct = 0.0;     // h_kk from the loss's second difference
    double saliency = 0.0;           // 0.5 * h_kk * w_k^2
    double loss_change = 0.0;        // L with w_k = 0, minus L: what the saliency estimates
    std::size_t magnitude_rank = 0;  // 1: the smallest |w|
};

struct SaliencyReport {
    const Graph* graph = nullptr;
    SaliencyOptions options;
    double loss = 0.0;
    std::vector<std::string> skipped;       // params that get no gradient, so have no saliency
    std::vector<WeightSaliency> weights;    // by saliency, least salient first (ties: by |w|, then order)
    double max_disagreement = 0.0;          // between the two h_kk, relative (floor 1e-3)
    std::size_t prune = 0;                  // the k of the comparison
    double loss_pruned_by_saliency = 0.0;   // L with the k least salient weights set to 0
    double loss_pruned_by_magnitude = 0.0;  // L with the k smallest |w| set to 0
    std::size_t overlap = 0;                // weights both choices remove
    double rank_correlation = 0.0;          // Spearman's, between the two rankings
};

SaliencyReport compute_saliency(const Graph& g, const SaliencyOptions& options);

// Ranks (1 = the smallest) of `keys`, ties broken by position: the orders the
// saliency methods compare.
std::vector<std::size_t> ranks(const std::vector<double>& keys);

// The work of one forward or backward pass over g, in multiply-adds: the
// loader's count plus what elementwise ops and the pass itself cost, measured
// at about 100 multiply-adds per element of every node and 1000 per node.
std::size_t pass_work(const Graph& g);

}  // namespace bnstep
