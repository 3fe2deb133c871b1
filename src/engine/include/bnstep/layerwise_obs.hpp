#pragma once
// Layer-wise Optimal Brain Surgeon (Dong, Chen and Pan, NIPS 2017) on one
// linear layer y = x @ W of a lesson: x is (n, d), W is (d, m). Removing
// weights changes the output by x @ dW, and the layer-wise error
//     E(dW) = 1/(2n) ||x @ dW||_F^2 = sum_j 0.5 dw_j^T H dw_j,  H = x^T x / n,
// is quadratic with the same (d, d) Hessian for every column j of W (bnstep's
// W is (inputs, outputs), so H is indexed by W's row; the paper writes X X^T
// with examples as columns). Removing W[q,j] alone and re-fitting the rest of
// column j optimally costs L_q = w_q^2 / (2 [H^-1]_qq), with the update
// dw_j = -(w_q / [H^-1]_qq) H^-1 e_q.
#include <string>
#include <vector>

#include "bnstep/graph.hpp"

namespace bnstep {

struct ObsOptions {
    std::string param;                             // the weight leaf W (input B of one matmul)
    double damping = 0.0;                          // lambda: H + lambda I is inverted (needed when H is singular)
    std::size_t prune = 0;                         // how many weights to remove; 0: a quarter
    std::size_t max_work = std::size_t{16} << 30;  // multiply-adds the whole computation may take
    std::size_t max_elements = 100'000'000;        // elements of the Hessian's inverses held at once
    // How messages name the options: the caller names its own knobs.
    std::string param_name = "param";
    std::string damping_name = "damping";
    std::string prune_name = "prune";
    std::string max_work_name = "the work limit";
    std::string max_elements_name = "the element limit";
};

// One weight before any removal.
struct ObsWeight {
    Index at;                        // {q, j}: row q (the input), column j (the output)
    double weight = 0.0;             // w_q
    double hessian = 0.0;            // H_qq (without damping)
    double inverse = 0.0;            // [H^-1]_qq (of H + lambda I)
    double saliency = 0.0;           // OBS: w_q^2 / (2 [H^-1]_qq)
    double error_alone = 0.0;        // E after removing it alone with the OBS update, from x @ dW
    double obd_saliency = 0.0;       // OBD: 0.5 H_qq w_q^2, no update
    std::size_t magnitude_rank = 0;  // 1: the smallest |w|
};

// One step of the iterative OBS: the least salient remaining weight goes,
// its column is re-fitted, and that column's inverse is recomputed over the
// weights it still has.
struct ObsRemoval {
    Index at;
    double weight = 0.0;         // w_q when removed (earlier updates included)
    double inverse = 0.0;        // [H_R^-1]_qq over the column's remaining weights R
    double saliency = 0.0;       // w_q^2 / (2 [H_R^-1]_qq)
    std::vector<double> update;  // dw of column j (d entries; 0 on its removed rows)
    double error_after = 0.0;    // E of the whole layer after this step, from x @ (W_now - W)
};

struct ObsReport {
    const Graph* graph = nullptr;
    ObsOptions options;
    std::size_t matmul = 0;  // the node y = x @ W
    std::size_t input = 0;   // x
    std::size_t leaf = 0;    // W
    std::size_t n = 0, d = 0, m = 0;
    Tensor hessian;                        // H = x^T x / n, (d, d)
    Tensor inverse;                        // (H + lambda I)^-1
    bool singular = false;                 // H alone is singular (rank below d)
    std::vector<ObsWeight> weights;        // by OBS saliency, least first (ties: by |w|, then order)
    std::size_t prune = 0;                 // K
    std::vector<ObsRemoval> steps;         // the K removals of OBS, in order
    Tensor pruned;                         // W after OBS: K zeros, the rest updated
    std::vector<Index> obd_removed;        // the K of least 0.5 H_qq w_q^2
    std::vector<Index> magnitude_removed;  // the K of least |w|
    double error_obs = 0.0, error_obd = 0.0, error_magnitude = 0.0;  // E after removing K each way
    double loss = 0.0;                                               // the lesson's loss
    double loss_obs = 0.0, loss_obd = 0.0, loss_magnitude = 0.0;     // with W pruned each way
};

ObsReport compute_layerwise_obs(const Graph& g, const ObsOptions& options);

}  // namespace bnstep
