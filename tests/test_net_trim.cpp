// Net-Trim on one ReLU layer: the ADMM solution checked against the program's
// own conditions (feasibility and the KKT conditions), against independent
// brute-force solvers on tiny layers, and the iteration log against the
// update formulas worked by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/net_trim.hpp"
#include "cli_support.hpp"

using namespace bnstep;

namespace {

using NtVec = std::vector<double>;

NtVec nt_times(const NtVec& x, std::size_t n, std::size_t d, const NtVec& w) {
    NtVec out(n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < d; ++k) out[i] += x[i * d + k] * w[k];
    return out;
}

double nt_l1(const NtVec& w) {
    double s = 0;
    for (double v : w) s += std::fabs(v);
    return s;
}

// ||(X w)_O - y_O||_2 and max (X w)_Oc, with O = {i : y_i > 0}.
std::pair<double, double> nt_constraints(const NtVec& x, std::size_t n, std::size_t d, const NtVec& y, const NtVec& w) {
    const NtVec xw = nt_times(x, n, d, w);
    double off = 0, above = -1e300;
    for (std::size_t i = 0; i < n; ++i) {
        if (y[i] > 0)
            off += (xw[i] - y[i]) * (xw[i] - y[i]);
        else
            above = std::max(above, xw[i]);
    }
    return {std::sqrt(off), above};
}

NtVec nt_relu_of(const NtVec& x, std::size_t n, std::size_t d, const NtVec& w) {
    NtVec y = nt_times(x, n, d, w);
    for (double& v : y) v = std::max(v, 0.0);
    return y;
}

// The KKT conditions of min ||u||_1 + I_C(z) s.t. X u = z, with multipliers
// theta on X u = z: -X^T theta is a subgradient of ||.||_1 at u, and theta is
// in the normal cone of C at X u (on Oc: theta_i >= 0, and 0 where (X u)_i < 0;
// on O: a non-negative multiple of (X u)_O - y_O, 0 when that is inside the ball).
void nt_check_kkt(const NtVec& x, std::size_t n, std::size_t d, const NtVec& y, double epsilon,
                  const NetTrimUnit& unit) {
    const NtVec& u = unit.weights;
    const NtVec& theta = unit.dual_z;
    const NtVec xu = nt_times(x, n, d, u);
    const double tol = 1e-4;
    for (std::size_t k = 0; k < d; ++k) {
        double g = 0;
        for (std::size_t i = 0; i < n; ++i) g -= x[i * d + k] * theta[i];
        CAPTURE(k);
        CAPTURE(u[k]);
        if (u[k] != 0.0)
            CHECK(g == doctest::Approx(u[k] > 0 ? 1.0 : -1.0).epsilon(tol));
        else
            CHECK(std::fabs(g) <= 1.0 + tol);
    }
    double dot = 0, theta_norm = 0, r_norm = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (y[i] > 0) {
            const double r = xu[i] - y[i];
            dot += theta[i] * r;
            theta_norm += theta[i] * theta[i];
            r_norm += r * r;
        } else {
            CHECK(theta[i] >= -tol);
            if (xu[i] < -1e-3) CHECK(std::fabs(theta[i]) <= tol);
        }
    }
    theta_norm = std::sqrt(theta_norm);
    r_norm = std::sqrt(r_norm);
    if (theta_norm > 1e-3 && epsilon > 0) {
        CHECK(dot >= 0);
        CHECK(dot == doctest::Approx(theta_norm * r_norm).epsilon(tol));  // parallel
        CHECK(r_norm == doctest::Approx(epsilon).epsilon(tol));           // on the sphere
    }
}

Graph nt_lesson() { return load_lesson("net-trim"); }

NetTrimOptions nt_tight() {
    NetTrimOptions o;
    o.tolerance = 1e-9;
    o.iterations = 100000;
    return o;
}

}  // namespace

TEST_CASE("net-trim: the first two ADMM iterations and the solution of a one-weight layer, by hand") {
    // y = relu(0.8 x): O = {0, 1, 3}, y_O = 0.8 x_O, ||y_O||^2 = 3.36, x_O . y_O = 4.2, ||x||^2 = 7.25.
    const NtVec x = {1.0, 2.0, -1.0, 0.5}, y = {0.8, 1.6, 0.0, 0.4};
    NetTrimOptions o;
    const double eps = 0.1, tol = o.tolerance;
    const NetTrimUnit u = net_trim_unit(x, 4, 1, y, eps, o);
    REQUIRE(u.log.size() >= 2);
    // Iteration 1: w = u = 0, z = the point of the ball nearest 0: y_O (1 - eps / ||y_O||), z_2 = 0.
    const double shrink = 1.0 - eps / std::sqrt(3.36);
    const double r1 = std::sqrt(3.36) - eps, s1 = 4.2 * shrink;
    CHECK(u.log[0].objective == 0.0);
    CHECK(u.log[0].primal == doctest::Approx(r1).epsilon(1e-14));  // ||X w - z|| = ||z||
    CHECK(u.log[0].dual == doctest::Approx(s1).epsilon(1e-14));    // rho |x . z|
    CHECK(u.log[0].eps_primal == doctest::Approx(tol * (std::sqrt(5.0) + r1)).epsilon(1e-12));
    CHECK(u.log[0].eps_dual == doctest::Approx(tol).epsilon(1e-12));
    // Iteration 2: b = -z, so w = x . (2 z) / (1 + ||x||^2) = 2 s1 / 7.25; u = soft(w, 1) = w - 1; a = w - u = 1.
    const double w2 = 2.0 * s1 / 7.25;
    CHECK(u.log[1].objective == doctest::Approx(w2 - 1.0).epsilon(1e-13));
    CHECK(u.log[1].eps_dual == doctest::Approx(2.0 * tol).epsilon(1e-12));
    // z: X w + b = (w2 - 0.8 shrink) x on O lies outside the ball, so it lands on the sphere at
    // y_O + eps (direction of x_O) = (0.8 - eps / sqrt(5.25)) x_O; on row 2, -w2 <= 0 stays. Then
    // r = ||(w - u, X w - z)|| = sqrt(1 + (w2 - 0.8 + eps / sqrt(5.25))^2 * 5.25).
    const double gap = w2 - 0.8 + eps / std::sqrt(5.25);
    CHECK(u.log[1].primal == doctest::Approx(std::sqrt(1.0 + gap * gap * 5.25)).epsilon(1e-12));
    // The program: min |w| with w >= 0 (from row 2) and |w - 0.8| sqrt(5.25) <= eps.
    CHECK(u.converged);
    REQUIRE(u.weights.size() == 1);
    CHECK(u.weights[0] == doctest::Approx(0.8 - eps / std::sqrt(5.25)).epsilon(1e-5));
    CHECK(u.active_error == doctest::Approx(eps).epsilon(1e-5));
    CHECK(u.inactive_violation <= 1e-6);
}

TEST_CASE("net-trim: on a two-weight layer, the optimum agrees with a brute-force grid search") {
    const NtVec x = {1.0, 0.5, 0.3, 1.0, -1.0, 0.2, 0.5, -0.8, 0.2, 0.9};
    const NtVec y = nt_relu_of(x, 5, 2, {0.6, 0.3});
    for (const double eps : {0.05, 0.2, 0.4}) {
        CAPTURE(eps);
        const NetTrimUnit u = net_trim_unit(x, 5, 2, y, eps, nt_tight());
        CHECK(u.converged);
        // The same constraints as nt_constraints, unrolled for two weights: 2.3 million points.
        double best = 1e300;
        const double step = 0.002;
        for (int i = -750; i <= 750; ++i)
            for (int j = -750; j <= 750; ++j) {
                const double w0 = i * step, w1 = j * step;
                double off2 = 0;
                bool below = true;
                for (std::size_t r = 0; r < 5 && below; ++r) {
                    const double xw = x[2 * r] * w0 + x[2 * r + 1] * w1;
                    if (y[r] > 0)
                        off2 += (xw - y[r]) * (xw - y[r]);
                    else
                        below = xw <= 0;
                }
                if (below && std::sqrt(off2) <= eps) best = std::min(best, std::fabs(w0) + std::fabs(w1));
            }
        const double l1 = nt_l1(u.weights);
        CHECK(l1 <= best + 1e-6);        // nothing feasible on the grid does better
        CHECK(l1 >= best - 2.5 * step);  // and the grid comes within its resolution
        const auto [off, above] = nt_constraints(x, 5, 2, y, u.weights);
        CHECK(off <= eps + 1e-6);
        CHECK(above <= 1e-6);
        nt_check_kkt(x, 5, 2, y, eps, u);
    }
}

namespace {

// Solves the 3 x 3 system a v = b by Cramer's rule; false when singular.
bool nt_solve3(const double a[3][3], const double b[3], double v[3]) {
    auto det = [](const double m[3][3]) {
        return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
               m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    };
    const double d = det(a);
    if (std::fabs(d) < 1e-12) return false;
    for (int c = 0; c < 3; ++c) {
        double m[3][3];
        for (int r = 0; r < 3; ++r)
            for (int k = 0; k < 3; ++k) m[r][k] = k == c ? b[r] : a[r][k];
        v[c] = det(m) / d;
    }
    return true;
}

}  // namespace

TEST_CASE("net-trim: at epsilon 0 on a three-weight layer, the optimum is the best vertex of the linear program") {
    // Rows 0 and 1 active (equalities), rows 2 and 3 inactive (X w <= 0); the l1 norm is linear on each
    // orthant, so its minimum is at a vertex cut out by the equalities and one of rows 2, 3 or w_k = 0.
    const NtVec x = {1.0, 0.5, -0.3, 0.2, 1.0, 0.8, -0.5, 0.2, 0.4, 0.3, -1.0, 0.6};
    const NtVec y = nt_relu_of(x, 4, 3, {0.5, 0.4, 0.1});
    REQUIRE(y[0] > 0);
    REQUIRE(y[1] > 0);
    REQUIRE(y[2] == 0.0);
    REQUIRE(y[3] == 0.0);
    double best = 1e300;
    NtVec best_w;
    for (int extra = 0; extra < 5; ++extra) {
        double a[3][3], b[3] = {y[0], y[1], 0.0}, v[3];
        for (int k = 0; k < 3; ++k) {
            a[0][k] = x[k];
            a[1][k] = x[3 + k];
            a[2][k] = extra < 2 ? x[(2 + extra) * 3 + k] : (k == extra - 2 ? 1.0 : 0.0);
        }
        if (!nt_solve3(a, b, v)) continue;
        const NtVec w = {v[0], v[1], v[2]};
        if (nt_constraints(x, 4, 3, y, w).second > 1e-12) continue;
        if (nt_l1(w) < best) best = nt_l1(w), best_w = w;
    }
    REQUIRE(best < 1e300);
    const NetTrimUnit u = net_trim_unit(x, 4, 3, y, 0.0, nt_tight());
    CHECK(u.converged);
    CHECK(nt_l1(u.weights) == doctest::Approx(best).epsilon(1e-6));
    for (std::size_t k = 0; k < 3; ++k) CHECK(u.weights[k] == doctest::Approx(best_w[k]).epsilon(1e-5));
    CHECK(nt_l1(u.weights) < nt_l1({0.5, 0.4, 0.1}));  // the original weights are feasible, but not the sparsest
    nt_check_kkt(x, 4, 3, y, 0.0, u);
}

TEST_CASE("net-trim: the lesson's layer, reproduced at epsilon 0 and pruned more as epsilon grows") {
    const Graph g = nt_lesson();
    NetTrimOptions o = nt_tight();
    o.epsilons = {0.0, 0.05, 0.1, 0.2, 0.5, 1.0};
    const NetTrimReport r = net_trim(g, o);
    REQUIRE(r.x.shape() == Shape{12, 4});
    REQUIRE(r.w.shape() == Shape{4, 3});
    const std::size_t n = 12, d = 4, m = 3;
    // Y = relu(X W) recomputed here.
    std::vector<NtVec> columns(m);
    for (std::size_t j = 0; j < m; ++j) {
        NtVec w(d);
        for (std::size_t k = 0; k < d; ++k) w[k] = r.w[k * m + j];
        columns[j] = nt_relu_of(r.x.data(), n, d, w);
        for (std::size_t i = 0; i < n; ++i) CHECK(r.y[i * m + j] == doctest::Approx(columns[j][i]).epsilon(1e-15));
    }
    // epsilon = 0: X_O has full column rank on every unit here, so W itself is the only feasible point.
    for (std::size_t k = 0; k < d * m; ++k) CHECK(r.solutions[0].trimmed[k] == doctest::Approx(r.w[k]).epsilon(1e-5));
    CHECK(r.solutions[0].relative_error < 1e-5);
    std::vector<double> previous(m, 1e300);
    for (const NetTrimSolution& s : r.solutions) {
        CAPTURE(s.epsilon);
        double error = 0, size = 0, l1 = 0;
        std::size_t nonzero = 0;
        for (std::size_t j = 0; j < m; ++j) {
            const NetTrimUnit& u = s.units[j];
            CHECK(u.converged);
            nt_check_kkt(r.x.data(), n, d, columns[j], s.epsilon, u);
            const auto [off, above] = nt_constraints(r.x.data(), n, d, columns[j], u.weights);
            CHECK(off <= s.epsilon + 1e-6);
            CHECK(above <= 1e-6);
            CHECK(nt_l1(u.weights) <= previous[j] + 1e-7);  // a larger epsilon never needs a larger l1 norm
            previous[j] = nt_l1(u.weights);
            const NtVec out = nt_relu_of(r.x.data(), n, d, u.weights);
            for (std::size_t i = 0; i < n; ++i) {
                error += (out[i] - columns[j][i]) * (out[i] - columns[j][i]);
                size += columns[j][i] * columns[j][i];
            }
            l1 += nt_l1(u.weights);
            for (double v : u.weights) nonzero += std::fabs(v) > o.zero_threshold;
        }
        CHECK(s.relative_error == doctest::Approx(std::sqrt(error / size)).epsilon(1e-12));
        CHECK(s.l1 == doctest::Approx(l1).epsilon(1e-12));
        CHECK(s.nonzero == nonzero);
    }
    CHECK(r.solutions.back().nonzero < r.solutions.front().nonzero);
    CHECK(r.original_l1 == doctest::Approx(4.82).epsilon(1e-12));  // the sum of the lesson's |W|
}

TEST_CASE("net-trim: bad options and layers are refused with a message naming them") {
    const Graph g = nt_lesson();
    auto refused = [&](NetTrimOptions o, const std::string& words) {
        try {
            net_trim(g, o);
            FAIL("accepted");
        } catch (const UsageError& e) {
            CHECK(std::string(e.what()).find(words) != std::string::npos);
        }
    };
    NetTrimOptions o;
    o.epsilons = {0.1, -0.5};
    refused(o, "epsilon -0.5");
    o = NetTrimOptions{};
    o.param = "X";
    refused(o, "param X");
    o.param = "nope";
    refused(o, "these do: W");
    o = NetTrimOptions{};
    o.iterations = kNetTrimMaxIterations + 1;
    refused(o, "iterations");
    o = NetTrimOptions{};
    o.rho = 0;
    refused(o, "rho");
    o = NetTrimOptions{};
    o.max_work = 1000;
    refused(o, "the work limit");
    CHECK_THROWS_AS(net_trim(load_lesson("magnitude-pruning"), NetTrimOptions{}), UsageError);  // no relu
}

TEST_CASE("net-trim: the command prints the log and the table, and JSON, and exits 2 on bad options") {
    const auto r = bnstep_test::run_bnstep({"net-trim", "--epsilon", "0,0.5", "--color", "never"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("Net-Trim of W in lesson net-trim") != std::string::npos);
    CHECK(r.out.find("ADMM iterations of unit 0 at epsilon = 0.5") != std::string::npos);
    CHECK(r.out.find("Sparsity against error") != std::string::npos);
    const auto j = bnstep_test::run_bnstep({"net-trim", "--epsilon", "0.2", "--format", "json"});
    REQUIRE(j.exit_code == 0);
    const nlohmann::json doc = nlohmann::json::parse(j.out);
    CHECK(doc.at("command") == "net-trim");
    CHECK(doc.at("param") == "W");
    REQUIRE(doc.at("solutions").size() == 1);
    const nlohmann::json& unit = doc.at("solutions").at(0).at("units").at(0);
    CHECK(unit.at("log").size() == unit.at("iterations").get<std::size_t>());
    const auto short_run = bnstep_test::run_bnstep({"net-trim", "--iterations", "3", "--color", "never"});
    CHECK(short_run.exit_code == 0);
    CHECK(short_run.out.find("Not converged (the limit) after 3 iterations.") != std::string::npos);
    for (const std::vector<std::string>& bad : {std::vector<std::string>{"net-trim", "--epsilon", "-1"},
                                                {"net-trim", "--param", "X"},
                                                {"net-trim", "--iterations", "100001"},
                                                {"net-trim", "--unit", "3"},
                                                {"net-trim", "magnitude-pruning"},
                                                {"net-trim", "--zero-threshold", "-1"},
                                                {"net-trim", "--epsilon", "x"}}) {
        CAPTURE(bad[1]);
        const auto e = bnstep_test::run_bnstep(bad);
        CHECK(e.exit_code == 2);
        CHECK(e.out.empty());
        CHECK(std::count(e.err.begin(), e.err.end(), '\n') == 1);
    }
}

TEST_CASE("net-trim: a layer whose X overflows I + X^T X is a numeric fault, not a table of NaN") {
    const std::string text = R"({"name":"hugeX","title":"t","leaves":[{"name":"X","kind":"input","shape":[4,2],)"
                             R"("values":[[1e200,1],[2,1e200],[1,3],[2,2]]},{"name":"W","kind":"param","shape":[2,2],)"
                             R"("values":[[1,1],[1,1]]}],"nodes":[{"name":"Z","op":"matmul","inputs":["X","W"]},)"
                             R"({"name":"Y","op":"relu","inputs":["Z"]}],"output":{"node":"Y","upstream":{"fill":1}}})";
    const Graph g = parse_lesson(text, "hugeX.json");
    try {
        net_trim(g, NetTrimOptions{});
        FAIL("accepted");
    } catch (const NumericError& e) {
        CHECK(std::string(e.what()).find("hugeX.json: Net-Trim of W") != std::string::npos);
        CHECK(std::string(e.what()).find("not finite") != std::string::npos);
    }
}

TEST_CASE("net-trim: a malformed --epsilon list is a one-line error naming --epsilon") {
    for (const char* bad : {",", "", "0,,1", "0,", ",0", "0;1", "1e999", " 0"}) {
        CAPTURE(bad);
        const auto e = bnstep_test::run_bnstep({"net-trim", "--epsilon", bad, "--color", "never"});
        CHECK(e.exit_code == 2);
        CHECK(e.out.empty());
        CHECK(std::count(e.err.begin(), e.err.end(), '\n') == 1);
        CHECK(e.err.find("--epsilon") != std::string::npos);
        CHECK(e.err.find("--color") == std::string::npos);
    }
    const auto two =
        bnstep_test::run_bnstep({"net-trim", "--epsilon", "0", "--epsilon", "0.1,0.2", "--format", "json"});
    REQUIRE(two.exit_code == 0);
    CHECK(nlohmann::json::parse(two.out).at("solutions").size() == 3);
}
