// Optimal Brain Damage saliency on a least-squares layer, whose Hessian
// diagonal is known in closed form: L = (1/n) sum (x W - t)^2 gives
// d2L/dW_ij^2 = (2/n) sum_r x_ri^2, and because L is quadratic, setting one
// weight to 0 changes L by exactly -g_k w_k + 0.5 h_kk w_k^2.
#include <doctest/doctest.h>

#include <cmath>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/saliency.hpp"
#include "cli_support.hpp"

using namespace bnstep;

namespace {

const double kX[3][2] = {{1.0, -2.0}, {0.5, 1.5}, {-1.0, 0.25}};
const double kW[2][2] = {{0.3, -0.8}, {0.05, 1.2}};

Graph least_squares() {
    return parse_lesson(R"({"title": "least squares",
        "leaves": [{"name": "x", "kind": "input", "shape": [3, 2], "values": [[1.0, -2.0], [0.5, 1.5], [-1.0, 0.25]]},
                   {"name": "W", "kind": "param", "shape": [2, 2], "values": [[0.3, -0.8], [0.05, 1.2]]},
                   {"name": "t", "kind": "const", "shape": [3, 2], "values": [[1.0, 0.0], [0.0, 1.0], [0.5, -0.5]]}],
        "nodes": [{"name": "h", "op": "matmul", "inputs": ["x", "W"]},
                  {"name": "loss", "op": "mse", "inputs": ["h", "t"]}],
        "output": {"node": "loss"}})",
                        "least_squares.json");
}

}  // namespace

TEST_CASE("saliency: h_kk, saliency and the loss change match the closed form of least squares") {
    const Graph g = least_squares();
    const SaliencyReport r = compute_saliency(g, SaliencyOptions{});
    REQUIRE(r.weights.size() == 4);
    for (const WeightSaliency& s : r.weights) {
        CAPTURE(s.at[0]);
        CAPTURE(s.at[1]);
        const std::size_t i = s.at[0];
        double h = 0;
        for (const auto& row : kX) h += row[i] * row[i];
        h *= 2.0 / 6.0;
        const double w = kW[s.at[0]][s.at[1]];
        CHECK(s.weight == w);
        CHECK(s.hessian == doctest::Approx(h).epsilon(1e-8));
        CHECK(s.hessian_direct == doctest::Approx(h).epsilon(1e-6));
        CHECK(s.saliency == doctest::Approx(0.5 * h * w * w).epsilon(1e-8));
        CHECK(s.loss_change == doctest::Approx(-s.gradient * w + 0.5 * h * w * w).epsilon(1e-9));
    }
    CHECK(r.max_disagreement < 1e-5);
    // Least salient first.
    for (std::size_t k = 1; k < r.weights.size(); ++k) CHECK(r.weights[k - 1].saliency <= r.weights[k].saliency);
    // Magnitude ranks: |0.05| < |0.3| < |-0.8| < |1.2|.
    for (const WeightSaliency& s : r.weights) {
        const double a = std::fabs(s.weight);
        CHECK(s.magnitude_rank == (a < 0.1 ? 1u : a < 0.5 ? 2u : a < 1.0 ? 3u : 4u));
    }
    CHECK(r.prune == 1);
}

TEST_CASE("saliency: pruning comparisons recompute the loss with the chosen weights removed") {
    const Graph g = least_squares();
    SaliencyOptions o;
    o.prune = 2;
    const SaliencyReport r = compute_saliency(g, o);
    // Recompute by hand: zero the two least salient, and the two smallest, and evaluate L.
    auto loss_without = [&](auto removed) {
        double w[2][2] = {{kW[0][0], kW[0][1]}, {kW[1][0], kW[1][1]}};
        for (const WeightSaliency& s : r.weights)
            if (removed(s)) w[s.at[0]][s.at[1]] = 0;
        const double t[3][2] = {{1.0, 0.0}, {0.0, 1.0}, {0.5, -0.5}};
        double l = 0;
        for (std::size_t row = 0; row < 3; ++row)
            for (std::size_t j = 0; j < 2; ++j) {
                const double h = kX[row][0] * w[0][j] + kX[row][1] * w[1][j] - t[row][j];
                l += h * h;
            }
        return l / 6.0;
    };
    CHECK(r.loss_pruned_by_saliency == doctest::Approx(loss_without([&](const WeightSaliency& s) {
                                           return &s - r.weights.data() < 2;
                                       })).epsilon(1e-12));
    CHECK(r.loss_pruned_by_magnitude ==
          doctest::Approx(loss_without([](const WeightSaliency& s) { return s.magnitude_rank <= 2; })).epsilon(1e-12));
}

TEST_CASE("saliency: --param picks leaves and rejects unknown ones") {
    const Graph g = least_squares();
    SaliencyOptions o;
    o.params = {"x"};
    CHECK(compute_saliency(g, o).weights.size() == 6);
    o.params = {"t"};
    CHECK_THROWS_AS(compute_saliency(g, o), UsageError);
    o.params = {"nope"};
    CHECK_THROWS_AS(compute_saliency(g, o), UsageError);
}

TEST_CASE("saliency: the command ranks the obd-saliency lesson's weights") {
    const auto r = bnstep_test::run_bnstep({"saliency", "obd-saliency"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Optimal Brain Damage saliency in lesson obd-saliency") != std::string::npos);
    CHECK(r.out.find("W1[") != std::string::npos);
    CHECK(r.out.find("W2[") != std::string::npos);
    const auto bad = bnstep_test::run_bnstep({"saliency", "obd-saliency", "--param", "Wx"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("--param Wx") != std::string::npos);
}
