#pragma once
// Fisher pruning (Theis et al. 2018; Tu et al. 2016): the empirical Fisher
// diagonal F_kk = (1/N) sum_n (dL_n/dw_k)^2 from per-example gradients, and
// the saliency 0.5 * F_kk * w_k^2, beside Optimal Brain Damage's Hessian
// diagonal and magnitude.
//
// The batch: the first axis of the lesson's leaves of kind "input" (N
// examples; they must agree). Example n is the lesson's graph run on the n-th
// slice of every input leaf and of every const leaf whose first axis is also
// N (its labels or targets), each kept as a batch of one; params are shared.
// L_n is the graph's loss on that batch of one, so for a loss that averages
// over the batch, L = (1/N) sum_n L_n and dL/dw = (1/N) sum_n dL_n/dw.
#include <string>
#include <vector>

#include "bnstep/saliency.hpp"

namespace bnstep {

struct FisherOptions {
    SaliencyOptions saliency;  // the params, steps, K and work limit of the OBD ranking beside it
    std::size_t example = 0;   // the example whose own gradient is shown
    std::string example_name = "example";
};

struct FisherWeight {
    std::size_t obd = 0;            // its row of FisherReport::obd.weights
    double example_gradient = 0.0;  // dL_n/dw_k for the example shown
    double mean_gradient = 0.0;     // (1/N) sum_n dL_n/dw_k
    double fisher = 0.0;            // F_kk
    double saliency = 0.0;          // 0.5 * F_kk * w_k^2
    std::size_t obd_rank = 0;       // 1: the least salient by OBD
};

struct FisherReport {
    SaliencyReport obd;               // h_kk, OBD's saliency, magnitude ranks, the losses pruned by them
    std::size_t batch = 0;            // N
    std::vector<std::string> sliced;  // the leaves cut into examples
    std::size_t example = 0;
    double example_loss = 0.0;             // L_n of the example shown
    double mean_example_loss = 0.0;        // (1/N) sum_n L_n
    std::vector<FisherWeight> weights;     // by Fisher saliency, least first (ties: by OBD's order)
    std::vector<double> worked_gradients;  // dL_n/dw_k of the least salient by Fisher, for every n
    double gradient_norm = 0.0;            // ||dL/dw|| over the ranked weights: ~0 at a minimum
    double max_mean_gradient_gap = 0.0;    // max_k |(1/N) sum_n dL_n/dw_k - dL/dw_k|
    // L = (1/N) sum_n L_n and dL/dw = (1/N) sum_n dL_n/dw (to 1e-9): false when the examples interact
    // (batch statistics) or the loss sums over the batch, and F is then not the Fisher of L.
    bool loss_is_mean = true;
    double max_fisher_hessian_gap = 0.0;  // max_k |F_kk - h_kk| / max(|h_kk|, 1e-3)
    double loss_pruned_by_fisher = 0.0;   // L with the K of least Fisher saliency set to 0
    std::size_t overlap_with_obd = 0;     // weights both the Fisher and the OBD choice remove
};

FisherReport compute_fisher(const Graph& g, const FisherOptions& options);

}  // namespace bnstep
