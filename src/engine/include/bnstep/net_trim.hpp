#pragma once
// Net-Trim (Aghasi, Abdi, Nguyen and Romberg, NIPS 2017) on one ReLU layer
// Y = relu(X W): for each output unit j separately, with y = Y[:, j], the
// active set O = {i : y_i > 0} and its complement Oc,
//
//     minimise ||w||_1  subject to  ||(X w)_O - y_O||_2 <= epsilon,  (X w)_Oc <= 0,
//
// solved by ADMM on the splitting w = u, X w = z:
//
//     w <- (I + X^T X)^-1 ((u - a) + X^T (z - b))
//     u <- soft(w + a, 1/rho)             (the prox of ||.||_1)
//     z <- P_C(X w + b)                   (C: the constraint set, projected onto exactly)
//     a <- a + w - u,  b <- b + X w - z   (scaled dual variables)
//
// from w = u = z = a = b = 0. The trimmed weights are u (exact zeros).
#include <string>
#include <vector>

#include "bnstep/graph.hpp"

namespace bnstep {

inline constexpr std::size_t kNetTrimMaxIterations = 100'000;  // per unit and epsilon
inline constexpr std::size_t kNetTrimMaxEpsilons = 20;
inline constexpr std::size_t kNetTrimMaxLogged = 2'000'000;  // iterations x units x epsilons, each logged

struct NetTrimOptions {
    std::string param;                                          // the weight leaf; empty: the first that fits
    std::vector<double> epsilons = {0.0, 0.05, 0.1, 0.2, 0.5};  // absolute, per unit, in the units of Y
    double rho = 1.0;                                           // the ADMM penalty
    double tolerance = 1e-7;                                    // tol of the stopping rule (absolute and relative)
    std::size_t iterations = 20000;                             // at most, per unit and epsilon
    double zero_threshold = 1e-6;                               // |w| at or below it counts as zero in the table
    std::size_t max_work = std::size_t{16} << 30;               // multiply-adds all the solves may take
    // How messages name the knobs: the caller names its own.
    std::string param_name = "param", epsilon_name = "epsilon", iterations_name = "iterations", rho_name = "rho",
                tolerance_name = "tolerance", threshold_name = "zero threshold", max_work_name = "the work limit";
};

// One ADMM iteration: the objective and the residuals of the stopping rule
// r <= eps_primal and s <= eps_dual (Boyd et al., "Distributed Optimization
// and Statistical Learning via ADMM", section 3.3):
//   r = ||(w - u, X w - z)||_2, s = rho ||(u - u_prev) + X^T (z - z_prev)||_2,
//   eps_primal = sqrt(d + n) tol + tol max(||(w, X w)||_2, ||(u, z)||_2),
//   eps_dual = sqrt(d) tol + tol rho ||a||_2.
struct AdmmStep {
    double objective = 0.0;  // ||u||_1
    double primal = 0.0;     // r
    double dual = 0.0;       // s
    double eps_primal = 0.0;
    double eps_dual = 0.0;
};

struct NetTrimUnit {
    std::size_t unit = 0;
    std::vector<double> weights;      // u at the last iteration
    std::vector<AdmmStep> log;        // every iteration
    bool converged = false;           // the stopping rule held before the iteration limit
    double active_error = 0.0;        // ||(X u)_O - y_O||_2, to compare with epsilon
    double inactive_violation = 0.0;  // max(0, max (X u)_Oc)
    std::vector<double> dual_z;       // rho b: the multipliers of the constraints on X w (KKT)
};

struct NetTrimSolution {
    double epsilon = 0.0;
    std::vector<NetTrimUnit> units;
    Tensor trimmed;               // d x m, the units' u side by side
    double l1 = 0.0;              // ||W_trim||_1
    std::size_t nonzero = 0;      // |w| above the zero threshold
    double relative_error = 0.0;  // ||relu(X W_trim) - Y||_F / ||Y||_F
};

struct NetTrimReport {
    const Graph* graph = nullptr;
    NetTrimOptions options;
    std::size_t param = 0;   // the weight leaf
    std::size_t matmul = 0;  // Z = X W
    std::size_t relu = 0;    // Y = relu(Z)
    Tensor x, w, y;          // n x d, d x m, n x m
    double original_l1 = 0.0;
    std::size_t original_nonzero = 0;
    std::vector<NetTrimSolution> solutions;  // one per epsilon, in the order given
};

NetTrimReport net_trim(const Graph& g, const NetTrimOptions& options);

// The param leaves W that Net-Trim can prune: read as the right operand of a
// matmul whose output a relu reads.
std::vector<std::size_t> net_trim_params(const Graph& g);

// One unit's program, on plain arrays: x is n x d row-major, y has n entries.
NetTrimUnit net_trim_unit(const std::vector<double>& x, std::size_t n, std::size_t d, const std::vector<double>& y,
                          double epsilon, const NetTrimOptions& options);

}  // namespace bnstep
