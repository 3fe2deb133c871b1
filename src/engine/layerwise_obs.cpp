#include "bnstep/layerwise_obs.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <numeric>

#include "bnstep/error.hpp"
#include "bnstep/saliency.hpp"
#include "bnstep/executor.hpp"

namespace bnstep {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// The matmul y = x @ W whose input B is the leaf `options.param`.
std::size_t obs_matmul_of(const Graph& g, const ObsOptions& options) {
    std::vector<std::string> weights;
    std::vector<std::size_t> uses;
    const auto leaf = g.find(options.param);
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        if (n.kind != NodeKind::Op || n.op->name != "matmul" || !g.nodes[n.inputs[1]].is_leaf()) continue;
        if (std::find(weights.begin(), weights.end(), g.nodes[n.inputs[1]].name) == weights.end())
            weights.push_back(g.nodes[n.inputs[1]].name);
        if (leaf && n.inputs[1] == *leaf) uses.push_back(i);
    }
    const std::string have =
        weights.empty() ? fmt::format("lesson {} has no matmul with a leaf as its B", g.name)
                        : fmt::format("the weights of lesson {}'s matmuls are {}", g.name, fmt::join(weights, ", "));
    if (options.param.empty())
        throw UsageError(
            fmt::format("layer-wise OBS needs {} W, the weight of a matmul y = x @ W; {}", options.param_name, have));
    if (uses.empty())
        throw UsageError(fmt::format("{} {}: not the weight (input B, a leaf) of a matmul y = x @ W; {}",
                                     options.param_name, options.param, have));
    if (uses.size() > 1)
        throw UsageError(fmt::format("{} {}: it is the weight of {} matmuls, and layer-wise OBS prunes one layer",
                                     options.param_name, options.param, uses.size()));
    return uses.front();
}

MatrixXd obs_matrix(const Tensor& t) {
    MatrixXd out(static_cast<Eigen::Index>(t.shape()[0]), static_cast<Eigen::Index>(t.shape()[1]));
    for (Eigen::Index r = 0; r < out.rows(); ++r)
        for (Eigen::Index c = 0; c < out.cols(); ++c) out(r, c) = t[static_cast<std::size_t>(r * out.cols() + c)];
    return out;
}

Tensor obs_tensor(const MatrixXd& a) {
    Tensor out(Shape{static_cast<std::size_t>(a.rows()), static_cast<std::size_t>(a.cols())});
    for (Eigen::Index r = 0; r < a.rows(); ++r)
        for (Eigen::Index c = 0; c < a.cols(); ++c) out[static_cast<std::size_t>(r * a.cols() + c)] = a(r, c);
    return out;
}

// E = 1/(2n) ||x @ dW||_F^2, computed from the layer's output, not from H.
double obs_layer_error(const MatrixXd& x, const MatrixXd& dw) {
    return (x * dw).squaredNorm() / (2.0 * static_cast<double>(x.rows()));
}

// H is singular when its smallest eigenvalue is 0 up to rounding.
bool obs_singular(const MatrixXd& h) {
    const VectorXd eig = Eigen::SelfAdjointEigenSolver<MatrixXd>(h, Eigen::EigenvaluesOnly).eigenvalues();
    return eig.maxCoeff() <= 0.0 || eig.minCoeff() <= 1e-12 * eig.maxCoeff();
}

// (H_RR)^-1 over the rows R a column still has, placed in a (d, d) matrix
// whose removed rows and columns are 0.
MatrixXd obs_reduced_inverse(const MatrixXd& h, const std::vector<bool>& removed) {
    std::vector<Eigen::Index> keep;
    for (std::size_t i = 0; i < removed.size(); ++i)
        if (!removed[i]) keep.push_back(static_cast<Eigen::Index>(i));
    MatrixXd out = MatrixXd::Zero(h.rows(), h.cols());
    if (keep.empty()) return out;
    const MatrixXd sub = h(keep, keep);
    const MatrixXd inverse = sub.llt().solve(MatrixXd::Identity(sub.rows(), sub.cols()));
    out(keep, keep) = inverse;
    return out;
}

void obs_check_limits(const ObsReport& r, const ObsOptions& o) {
    const std::size_t d3 = saturating_mul(saturating_mul(r.d, r.d), r.d);
    // H and its inverse, one inverse per removal, E from x @ dw for every weight alone and after every step,
    // and the lesson's loss four times.
    const std::size_t nd = saturating_mul(r.n, r.d), dm = saturating_mul(r.d, r.m);
    std::size_t total = saturating_add(saturating_mul(nd, r.d), saturating_mul(d3, saturating_add(r.prune, 1)));
    total = saturating_add(total, saturating_mul(nd, dm));
    total = saturating_add(total, saturating_mul(r.prune, saturating_mul(nd, r.m)));
    total = saturating_add(total, saturating_mul(r.graph->work, 4));
    if (total > o.max_work)
        throw UsageError(
            fmt::format("layer-wise OBS on {} ({} x {}, {} examples) would take about {} multiply-adds, "
                        "more than the limit of {} ({}); {}",
                        o.param, r.d, r.m, r.n, total, o.max_work, o.max_work_name,
                        r.prune > 1 ? fmt::format("prune fewer with {} or raise {}", o.prune_name, o.max_work_name)
                                    : fmt::format("raise {}", o.max_work_name)));
    const std::size_t held = saturating_mul(saturating_mul(r.d, r.d), saturating_add(std::min(r.prune, r.m), 2));
    if (held > o.max_elements)
        throw UsageError(
            fmt::format("layer-wise OBS on {} would hold {} elements of (d, d) inverses (d = {}), more "
                        "than the limit of {} ({})",
                        o.param, held, r.d, o.max_elements, o.max_elements_name));
}

// Every weight's saliencies and E when it alone is removed with the OBS update.
void obs_rank_weights(ObsReport& r, const MatrixXd& x, const MatrixXd& w, const MatrixXd& h, const MatrixXd& hinv) {
    std::vector<double> magnitude;
    for (std::size_t q = 0; q < r.d; ++q)
        for (std::size_t j = 0; j < r.m; ++j) {
            const auto qi = static_cast<Eigen::Index>(q), ji = static_cast<Eigen::Index>(j);
            ObsWeight s;
            s.at = {q, j};
            s.weight = w(qi, ji);
            s.hessian = h(qi, qi);
            s.inverse = hinv(qi, qi);
            s.saliency = s.weight * s.weight / (2.0 * s.inverse);
            s.obd_saliency = 0.5 * s.hessian * s.weight * s.weight;
            // Only column j moves: E is that column's share, from x @ dw_j.
            MatrixXd dw = -(s.weight / s.inverse) * hinv.col(qi);
            dw(qi, 0) = -s.weight;
            s.error_alone = obs_layer_error(x, dw);
            magnitude.push_back(std::fabs(s.weight));
            r.weights.push_back(s);
        }
    const std::vector<std::size_t> rank = ranks(magnitude);
    for (std::size_t k = 0; k < r.weights.size(); ++k) r.weights[k].magnitude_rank = rank[k];
}

// K removals, each the least salient weight left, its column re-fitted and its inverse recomputed.
MatrixXd obs_prune(ObsReport& r, const MatrixXd& x, const MatrixXd& w0, const MatrixXd& h, const MatrixXd& hinv) {
    MatrixXd w = w0;
    std::vector<std::vector<bool>> removed(r.m, std::vector<bool>(r.d, false));
    // A column's own inverse once it has lost a weight; until then (0 x 0) it shares hinv.
    std::vector<MatrixXd> column_inverse(r.m);
    auto inverse_of = [&](std::size_t j) -> const MatrixXd& {
        return column_inverse[j].size() ? column_inverse[j] : hinv;
    };
    for (std::size_t step = 0; step < r.prune; ++step) {
        ObsRemoval best;
        best.saliency = INFINITY;
        double best_magnitude = INFINITY;
        for (std::size_t q = 0; q < r.d; ++q)
            for (std::size_t j = 0; j < r.m; ++j) {
                if (removed[j][q]) continue;
                const double wq = w(static_cast<Eigen::Index>(q), static_cast<Eigen::Index>(j));
                const double inv = inverse_of(j)(static_cast<Eigen::Index>(q), static_cast<Eigen::Index>(q));
                const double s = wq * wq / (2.0 * inv);
                if (s < best.saliency || (s == best.saliency && std::fabs(wq) < best_magnitude)) {
                    best = {
                        .at = {q, j}, .weight = wq, .inverse = inv, .saliency = s, .update = {}, .error_after = 0.0};
                    best_magnitude = std::fabs(wq);
                }
            }
        const auto q = static_cast<Eigen::Index>(best.at[0]), j = static_cast<Eigen::Index>(best.at[1]);
        const VectorXd update = -(best.weight / best.inverse) * inverse_of(best.at[1]).col(q);
        w.col(j) += update;
        w(q, j) = 0.0;  // exactly, not up to rounding
        best.update.assign(update.data(), update.data() + update.size());
        best.update[best.at[0]] = -best.weight;
        removed[best.at[1]][best.at[0]] = true;
        column_inverse[best.at[1]] = obs_reduced_inverse(h, removed[best.at[1]]);
        best.error_after = obs_layer_error(x, w - w0);
        r.steps.push_back(std::move(best));
    }
    return w;
}

// The K weights of least `key` (ties: by |w|, then order), set to 0 with no update.
template <class Key>
MatrixXd obs_remove_least(const ObsReport& r, const MatrixXd& w, Key key, std::vector<Index>& out) {
    std::vector<ObsWeight> order = r.weights;
    std::sort(order.begin(), order.end(), [&](const ObsWeight& a, const ObsWeight& b) {
        if (key(a) != key(b)) return key(a) < key(b);
        return a.magnitude_rank < b.magnitude_rank;
    });
    MatrixXd pruned = w;
    for (std::size_t k = 0; k < r.prune; ++k) {
        out.push_back(order[k].at);
        pruned(static_cast<Eigen::Index>(order[k].at[0]), static_cast<Eigen::Index>(order[k].at[1])) = 0.0;
    }
    return pruned;
}

double obs_lesson_loss(const Graph& g, std::size_t leaf, const MatrixXd& w) {
    Graph pruned = g;
    pruned.nodes[leaf].value = obs_tensor(w);
    return loss(pruned, forward(pruned));
}

}  // namespace

ObsReport compute_layerwise_obs(const Graph& g, const ObsOptions& options) {
    ObsReport r;
    r.graph = &g;
    r.options = options;
    r.matmul = obs_matmul_of(g, options);
    r.input = g.nodes[r.matmul].inputs[0];
    r.leaf = g.nodes[r.matmul].inputs[1];
    r.n = g.nodes[r.input].shape[0];
    r.d = g.nodes[r.leaf].shape[0];
    r.m = g.nodes[r.leaf].shape[1];
    const std::size_t count = r.d * r.m;
    if (r.n == 0 || count == 0)
        throw UsageError(
            fmt::format("layer-wise OBS on {}: x has {} examples and W {} weights, so there is no "
                        "layer to prune",
                        options.param, r.n, count));
    if (options.prune > count)
        throw UsageError(fmt::format("{} {}: {} has {} weights ({} x {}), so K must be 1 to {}", options.prune_name,
                                     options.prune, options.param, count, r.d, r.m, count));
    if (!(options.damping >= 0.0) || !std::isfinite(options.damping))
        throw UsageError(
            fmt::format("{} {}: lambda must be a finite number >= 0", options.damping_name, options.damping));
    r.prune = options.prune ? options.prune : std::max<std::size_t>(1, count / 4);
    obs_check_limits(r, options);

    const std::vector<Tensor> values = forward(g);
    r.loss = loss(g, values);
    const MatrixXd x = obs_matrix(values[r.input]), w = obs_matrix(g.nodes[r.leaf].value);
    const MatrixXd h = x.transpose() * x / static_cast<double>(r.n);
    if (!h.allFinite())
        throw NumericError(
            fmt::format("{}: layer-wise OBS on {}: H = {}^T {} / n is not finite (the values of {} "
                        "are too large to square)",
                        g.source, options.param, g.nodes[r.input].name, g.nodes[r.input].name, g.nodes[r.input].name));
    r.singular = obs_singular(h);
    if (r.singular && options.damping == 0.0)
        throw UsageError(
            fmt::format("layer-wise OBS on {}: H = x^T x / n ({} x {}) is singular (x has {} examples "
                        "and linearly dependent columns), so H^-1 does not exist; give {} LAMBDA > 0 "
                        "to invert H + LAMBDA I instead",
                        options.param, r.d, r.d, r.n, options.damping_name));
    const MatrixXd damped = h + options.damping * MatrixXd::Identity(h.rows(), h.cols());
    if (obs_singular(damped))
        throw UsageError(fmt::format("layer-wise OBS on {}: H + {} I is still singular; give a larger {}",
                                     options.param, options.damping, options.damping_name));
    const MatrixXd hinv = damped.llt().solve(MatrixXd::Identity(h.rows(), h.cols()));
    if (!hinv.allFinite())
        throw NumericError(
            fmt::format("{}: layer-wise OBS on {}: the inverse of H is not finite", g.source, options.param));
    r.hessian = obs_tensor(h);
    r.inverse = obs_tensor(hinv);

    obs_rank_weights(r, x, w, h, hinv);
    const MatrixXd by_obs = obs_prune(r, x, w, damped, hinv);
    const MatrixXd by_obd = obs_remove_least(
        r, w, [](const ObsWeight& s) { return s.obd_saliency; }, r.obd_removed);
    const MatrixXd by_magnitude = obs_remove_least(
        r, w, [](const ObsWeight& s) { return static_cast<double>(s.magnitude_rank); }, r.magnitude_removed);
    std::stable_sort(r.weights.begin(), r.weights.end(), [](const ObsWeight& a, const ObsWeight& b) {
        if (a.saliency != b.saliency) return a.saliency < b.saliency;
        return a.magnitude_rank < b.magnitude_rank;
    });
    r.pruned = obs_tensor(by_obs);
    r.error_obs = obs_layer_error(x, by_obs - w);
    r.error_obd = obs_layer_error(x, by_obd - w);
    r.error_magnitude = obs_layer_error(x, by_magnitude - w);
    r.loss_obs = obs_lesson_loss(g, r.leaf, by_obs);
    r.loss_obd = obs_lesson_loss(g, r.leaf, by_obd);
    r.loss_magnitude = obs_lesson_loss(g, r.leaf, by_magnitude);
    bool finite = std::isfinite(r.error_obs) && std::isfinite(r.error_obd) && std::isfinite(r.error_magnitude) &&
                  std::isfinite(r.loss_obs) && std::isfinite(r.loss_obd) && std::isfinite(r.loss_magnitude);
    for (const ObsWeight& s : r.weights)
        finite = finite && std::isfinite(s.saliency) && std::isfinite(s.error_alone) && std::isfinite(s.obd_saliency);
    for (const ObsRemoval& s : r.steps) finite = finite && std::isfinite(s.saliency) && std::isfinite(s.error_after);
    if (!finite)
        throw NumericError(
            fmt::format("{}: layer-wise OBS on {}: a saliency, error or loss is not finite (the "
                        "values are too large)",
                        g.source, options.param));
    return r;
}

}  // namespace bnstep
