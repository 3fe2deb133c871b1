#include "bnstep/net_trim.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"

namespace bnstep {
namespace {

using Vec = std::vector<double>;

double norm2(const Vec& v) {
    double s = 0;
    for (double e : v) s += e * e;
    return std::sqrt(s);
}

// x (n x d, row-major) times w.
Vec times(const Vec& x, std::size_t n, std::size_t d, const Vec& w) {
    Vec out(n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < d; ++k) out[i] += x[i * d + k] * w[k];
    return out;
}

// x^T v.
Vec transposed_times(const Vec& x, std::size_t n, std::size_t d, const Vec& v) {
    Vec out(d, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < d; ++k) out[k] += x[i * d + k] * v[i];
    return out;
}

// The Cholesky factor L (lower, row-major) of I + X^T X, which is positive definite.
Vec cholesky_of_gram(const Vec& x, std::size_t n, std::size_t d) {
    Vec a(d * d, 0.0);
    for (std::size_t r = 0; r < d; ++r) {
        a[r * d + r] = 1.0;
        for (std::size_t c = 0; c <= r; ++c)
            for (std::size_t i = 0; i < n; ++i) a[r * d + c] += x[i * d + r] * x[i * d + c];
    }
    Vec l(d * d, 0.0);
    for (std::size_t r = 0; r < d; ++r)
        for (std::size_t c = 0; c <= r; ++c) {
            double s = a[r * d + c];
            for (std::size_t k = 0; k < c; ++k) s -= l[r * d + k] * l[c * d + k];
            l[r * d + c] = r == c ? std::sqrt(s) : s / l[c * d + c];
        }
    return l;
}

// Solves L L^T v = rhs.
Vec cholesky_solve(const Vec& l, std::size_t d, Vec v) {
    for (std::size_t r = 0; r < d; ++r) {
        for (std::size_t k = 0; k < r; ++k) v[r] -= l[r * d + k] * v[k];
        v[r] /= l[r * d + r];
    }
    for (std::size_t r = d; r-- > 0;) {
        for (std::size_t k = r + 1; k < d; ++k) v[r] -= l[k * d + r] * v[k];
        v[r] /= l[r * d + r];
    }
    return v;
}

double soft_threshold(double v, double t) { return v > t ? v - t : v < -t ? v + t : 0.0; }

// The projection onto C = {z : ||z_O - y_O||_2 <= epsilon, z_Oc <= 0}: the
// active part onto the ball around y_O, the inactive part clamped at 0.
Vec project_to_constraints(Vec z, const Vec& y, double epsilon) {
    double off = 0;
    for (std::size_t i = 0; i < z.size(); ++i)
        if (y[i] > 0) off += (z[i] - y[i]) * (z[i] - y[i]);
    off = std::sqrt(off);
    const double shrink = off > epsilon ? epsilon / off : 1.0;
    for (std::size_t i = 0; i < z.size(); ++i) z[i] = y[i] > 0 ? y[i] + shrink * (z[i] - y[i]) : std::min(z[i], 0.0);
    return z;
}

void check_options(const NetTrimOptions& o) {
    if (o.epsilons.empty() || o.epsilons.size() > kNetTrimMaxEpsilons)
        throw UsageError(fmt::format("{}: give from 1 to {} values, not {}", o.epsilon_name, kNetTrimMaxEpsilons,
                                     o.epsilons.size()));
    for (double e : o.epsilons)
        if (!std::isfinite(e) || e < 0)
            throw UsageError(fmt::format("{} {}: expected a number >= 0 (how far each unit's active outputs may move)",
                                         o.epsilon_name, e));
    if (!(o.rho >= 1e-6 && o.rho <= 1e6))
        throw UsageError(fmt::format("{} {}: expected a number from 1e-6 to 1e6", o.rho_name, o.rho));
    if (!std::isfinite(o.tolerance) || o.tolerance <= 0 || o.tolerance >= 1)
        throw UsageError(fmt::format("{} {}: expected a number between 0 and 1", o.tolerance_name, o.tolerance));
    if (!std::isfinite(o.zero_threshold) || o.zero_threshold < 0)
        throw UsageError(fmt::format("{} {}: expected a number >= 0", o.threshold_name, o.zero_threshold));
    if (o.iterations < 1 || o.iterations > kNetTrimMaxIterations)
        throw UsageError(fmt::format("{} {}: expected a whole number from 1 to {}", o.iterations_name, o.iterations,
                                     kNetTrimMaxIterations));
}

}  // namespace

namespace {

// One unit's program: X (n x d, row-major), the original outputs y, epsilon,
// and the Cholesky factor of I + X^T X.
struct UnitProgram {
    const Vec& x;
    std::size_t n, d;
    const Vec& y;
    double epsilon;
    Vec gram_factor;
};

// The ADMM iterates: w and the split (u, z), with the scaled duals (a, b).
struct AdmmState {
    Vec w, u, a, z, b;
};

AdmmStep admm_iteration(const UnitProgram& p, AdmmState& s, double rho, double tol) {
    const std::size_t n = p.n, d = p.d;
    Vec target(n);
    for (std::size_t i = 0; i < n; ++i) target[i] = s.z[i] - s.b[i];
    Vec rhs = transposed_times(p.x, n, d, target);
    for (std::size_t c = 0; c < d; ++c) rhs[c] += s.u[c] - s.a[c];
    s.w = cholesky_solve(p.gram_factor, d, rhs);
    const Vec xw = times(p.x, n, d, s.w);
    const Vec u_prev = s.u, z_prev = s.z;
    for (std::size_t c = 0; c < d; ++c) s.u[c] = soft_threshold(s.w[c] + s.a[c], 1.0 / rho);
    Vec v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = xw[i] + s.b[i];
    s.z = project_to_constraints(v, p.y, p.epsilon);
    for (std::size_t c = 0; c < d; ++c) s.a[c] += s.w[c] - s.u[c];
    for (std::size_t i = 0; i < n; ++i) s.b[i] += xw[i] - s.z[i];

    // The residuals and thresholds of the stopping rule (net_trim.hpp).
    AdmmStep step;
    Vec residual, moved(n), primal_side, split_side;
    for (std::size_t c = 0; c < d; ++c) {
        residual.push_back(s.w[c] - s.u[c]);
        step.objective += std::fabs(s.u[c]);
        primal_side.push_back(s.w[c]);
        split_side.push_back(s.u[c]);
    }
    for (std::size_t i = 0; i < n; ++i) {
        residual.push_back(xw[i] - s.z[i]);
        moved[i] = s.z[i] - z_prev[i];
        primal_side.push_back(xw[i]);
        split_side.push_back(s.z[i]);
    }
    Vec dual = transposed_times(p.x, n, d, moved);
    for (std::size_t c = 0; c < d; ++c) dual[c] += s.u[c] - u_prev[c];
    step.primal = norm2(residual);
    step.dual = rho * norm2(dual);
    step.eps_primal =
        std::sqrt(static_cast<double>(d + n)) * tol + tol * std::max(norm2(primal_side), norm2(split_side));
    step.eps_dual = std::sqrt(static_cast<double>(d)) * tol + tol * rho * norm2(s.a);
    return step;
}

}  // namespace

NetTrimUnit net_trim_unit(const Vec& x, std::size_t n, std::size_t d, const Vec& y, double epsilon,
                          const NetTrimOptions& options) {
    const UnitProgram program{x, n, d, y, epsilon, cholesky_of_gram(x, n, d)};
    AdmmState state{Vec(d, 0.0), Vec(d, 0.0), Vec(d, 0.0), Vec(n, 0.0), Vec(n, 0.0)};
    NetTrimUnit unit;
    while (unit.log.size() < options.iterations && !unit.converged) {
        const AdmmStep step = admm_iteration(program, state, options.rho, options.tolerance);
        unit.converged = step.primal <= step.eps_primal && step.dual <= step.eps_dual;
        unit.log.push_back(step);
        if (!std::isfinite(step.primal) || !std::isfinite(step.dual) || !std::isfinite(step.objective)) break;
    }
    unit.weights = state.u;
    const Vec xu = times(x, n, d, state.u);
    double off = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (y[i] > 0)
            off += (xu[i] - y[i]) * (xu[i] - y[i]);
        else
            unit.inactive_violation = std::max(unit.inactive_violation, xu[i]);
        unit.dual_z.push_back(options.rho * state.b[i]);
    }
    unit.active_error = std::sqrt(off);
    return unit;
}

namespace {

struct Layer {
    std::size_t param = 0, matmul = 0, relu = 0;
};

// The relu that reads matmul(X, leaf) with the leaf as its right operand, if any.
std::optional<Layer> layer_of(const Graph& g, const std::vector<std::vector<std::size_t>>& consumers,
                              std::size_t leaf) {
    for (std::size_t m : consumers[leaf]) {
        const Node& mm = g.nodes[m];
        if (mm.op->name != "matmul" || mm.inputs[1] != leaf || mm.inputs[0] == leaf) continue;
        for (std::size_t r : consumers[m])
            if (g.nodes[r].op->name == "relu") return Layer{leaf, m, r};
    }
    return std::nullopt;
}

Layer find_layer(const Graph& g, const NetTrimOptions& o) {
    const auto consumers = g.consumers();
    std::vector<std::string> fitting;
    std::optional<Layer> first;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        if (g.nodes[i].kind != NodeKind::Param) continue;
        if (const auto layer = layer_of(g, consumers, i)) {
            fitting.push_back(g.nodes[i].name);
            if (!first) first = layer;
        }
    }
    if (fitting.empty())
        throw UsageError(
            fmt::format("lesson {} has no layer relu(matmul(X, W)) with W a param leaf, so nothing "
                        "for Net-Trim to prune",
                        g.name));
    if (o.param.empty()) return *first;
    const auto i = g.find(o.param);
    const std::optional<Layer> layer =
        i && g.nodes[*i].kind == NodeKind::Param ? layer_of(g, consumers, *i) : std::nullopt;
    if (!layer)
        throw UsageError(
            fmt::format("{} {}: expected a param leaf W of lesson {} feeding relu(matmul(X, W)); "
                        "these do: {}",
                        o.param_name, o.param, g.name, fmt::join(fitting, ", ")));
    return *layer;
}

// The columns of an n x m tensor.
Vec column(const Tensor& t, std::size_t j) {
    const std::size_t rows = t.shape()[0], cols = t.shape()[1];
    Vec out(rows);
    for (std::size_t i = 0; i < rows; ++i) out[i] = t[i * cols + j];
    return out;
}

bool all_finite(const Vec& v) {
    return std::all_of(v.begin(), v.end(), [](double e) { return std::isfinite(e); });
}

// A numeric fault when the unit's solve overflowed (a huge X makes I + X^T X,
// its Cholesky factor and so the ADMM iterates infinite or NaN).
void check_unit_finite(const NetTrimReport& r, const NetTrimUnit& unit, double epsilon) {
    const AdmmStep& last = unit.log.back();
    const bool finite = all_finite(unit.weights) && all_finite(unit.dual_z) && std::isfinite(unit.active_error) &&
                        std::isfinite(unit.inactive_violation) && std::isfinite(last.primal) &&
                        std::isfinite(last.dual) && std::isfinite(last.objective);
    if (finite) return;
    double largest = 0;
    for (double v : r.x.data()) largest = std::max(largest, std::fabs(v));
    const Graph& g = *r.graph;
    throw NumericError(
        fmt::format("{}: Net-Trim of {}, unit {} at epsilon {}: the ADMM iterates are not finite after {} "
                    "iterations (X = {} has values up to {:.3g}, so I + X^T X overflows); rescale X",
                    g.source, g.nodes[r.param].name, unit.unit, epsilon, unit.log.size(),
                    g.nodes[g.nodes[r.matmul].inputs[0]].name, largest));
}

NetTrimSolution solve_for(const NetTrimReport& r, double epsilon) {
    const std::size_t n = r.x.shape()[0], d = r.x.shape()[1], m = r.w.shape()[1];
    NetTrimSolution s;
    s.epsilon = epsilon;
    s.trimmed = Tensor(Shape{d, m}, Vec(d * m, 0.0));
    for (std::size_t j = 0; j < m; ++j) {
        NetTrimUnit unit = net_trim_unit(r.x.data(), n, d, column(r.y, j), epsilon, r.options);
        unit.unit = j;
        check_unit_finite(r, unit, epsilon);
        for (std::size_t k = 0; k < d; ++k) s.trimmed[k * m + j] = unit.weights[k];
        s.units.push_back(std::move(unit));
    }
    double error = 0, size = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < m; ++j) {
            double z = 0;
            for (std::size_t k = 0; k < d; ++k) z += r.x[i * d + k] * s.trimmed[k * m + j];
            const double y = r.y[i * m + j];
            error += (std::max(z, 0.0) - y) * (std::max(z, 0.0) - y);
            size += y * y;
        }
    s.relative_error = size > 0 ? std::sqrt(error / size) : std::sqrt(error);
    if (!std::isfinite(s.relative_error))
        throw NumericError(
            fmt::format("{}: Net-Trim of {} at epsilon {}: the output error of the trimmed layer is {} "
                        "(the layer's values overflow); rescale X",
                        r.graph->source, r.graph->nodes[r.param].name, epsilon, s.relative_error));
    for (double v : s.trimmed.data()) {
        s.l1 += std::fabs(v);
        s.nonzero += std::fabs(v) > r.options.zero_threshold;
    }
    return s;
}

}  // namespace

std::vector<std::size_t> net_trim_params(const Graph& g) {
    const auto consumers = g.consumers();
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].kind == NodeKind::Param && layer_of(g, consumers, i)) out.push_back(i);
    return out;
}

NetTrimReport net_trim(const Graph& g, const NetTrimOptions& options) {
    check_options(options);
    const Layer layer = find_layer(g, options);
    NetTrimReport r;
    r.graph = &g;
    r.options = options;
    r.param = layer.param;
    r.matmul = layer.matmul;
    r.relu = layer.relu;
    const std::size_t x_node = g.nodes[layer.matmul].inputs[0];
    if (g.nodes[x_node].shape.size() != 2 || g.nodes[layer.param].shape.size() != 2)
        throw UsageError(
            fmt::format("{} {}: Net-Trim needs a matrix layer X W, with X n x d and W d x m; here X ({}) "
                        "is {} and W is {}",
                        options.param_name, g.nodes[layer.param].name, g.nodes[x_node].name,
                        fmt::join(g.nodes[x_node].shape, " x "), fmt::join(g.nodes[layer.param].shape, " x ")));
    const std::size_t n = g.nodes[x_node].shape[0], d = g.nodes[x_node].shape[1], m = g.nodes[layer.param].shape[1];
    // Per iteration: X w, X^T (z - b), X^T (z - z_prev), the solve; then the factorisation.
    const double per_iteration = 3.0 * static_cast<double>(n * d) + 2.0 * static_cast<double>(d * d);
    const double work = static_cast<double>(options.iterations) * per_iteration * static_cast<double>(m) *
                            static_cast<double>(options.epsilons.size()) +
                        static_cast<double>(n * d * d + d * d * d);
    if (work > static_cast<double>(options.max_work))
        throw UsageError(
            fmt::format("Net-Trim of {} ({} x {}, {} examples) for {} epsilons with up to {} iterations "
                        "would take about {:.3g} multiply-adds, more than the limit of {} ({}); "
                        "lower {}",
                        g.nodes[layer.param].name, d, m, n, options.epsilons.size(), options.iterations, work,
                        options.max_work, options.max_work_name, options.iterations_name));
    if (options.iterations * m * options.epsilons.size() > kNetTrimMaxLogged)
        throw UsageError(
            fmt::format("{} {}: {} units x {} epsilons x {} iterations is more than the {} iterations "
                        "bnstep logs at most; lower {} or give fewer epsilons",
                        options.iterations_name, options.iterations, m, options.epsilons.size(), options.iterations,
                        kNetTrimMaxLogged, options.iterations_name));
    const std::vector<Tensor> values = forward(g);
    r.x = values[x_node];
    r.w = values[layer.param];
    r.y = values[layer.relu];
    for (double v : r.w.data()) {
        r.original_l1 += std::fabs(v);
        r.original_nonzero += std::fabs(v) > options.zero_threshold;
    }
    for (double e : options.epsilons) r.solutions.push_back(solve_for(r, e));
    return r;
}

}  // namespace bnstep
