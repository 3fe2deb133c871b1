// Layer-wise Optimal Brain Surgeon on a 3-weight layer with one output,
// x = [[1,0,1],[0,1,1],[1,1,0],[1,0,0]] and w = (0.5, -0.2, 0.8). By hand:
// x^T x = A = [[3,1,1],[1,2,1],[1,1,2]], det A = 7, so H = A / 4 and
// H^-1 = (4/7) [[3,-1,-1],[-1,5,-2],[-1,-2,5]]. The OBS updates are checked
// against a brute-force re-fit: the least-squares weights of the remaining
// inputs for the original output x w, from the normal equations solved here
// by Cramer's rule.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "bnstep/error.hpp"
#include "bnstep/layerwise_obs.hpp"
#include "bnstep/lesson.hpp"
#include "cli_support.hpp"

using namespace bnstep;

namespace {

constexpr std::array<std::array<double, 3>, 4> kObsX{{{1, 0, 1}, {0, 1, 1}, {1, 1, 0}, {1, 0, 0}}};
constexpr std::array<double, 3> kObsW{0.5, -0.2, 0.8};

Graph three_weight_layer(const std::string& x_values = "[[1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]]") {
    return parse_lesson(R"({"title": "one output",
        "leaves": [{"name": "x", "kind": "input", "shape": [4, 3], "values": )" +
                            x_values + R"(},
                   {"name": "W", "kind": "param", "shape": [3, 1], "values": [[0.5], [-0.2], [0.8]]},
                   {"name": "t", "kind": "const", "shape": [4, 1], "values": [[1.0], [0.5], [0.0], [0.4]]}],
        "nodes": [{"name": "y", "op": "matmul", "inputs": ["x", "W"]},
                  {"name": "loss", "op": "mse", "inputs": ["y", "t"]}],
        "output": {"node": "loss"}})",
                        "three_weights.json");
}

// E = 1/(2n) ||x (w - v)||^2, from the layer's outputs.
double output_error(const std::array<double, 3>& v) {
    double sum = 0;
    for (const auto& row : kObsX) {
        double diff = 0;
        for (std::size_t i = 0; i < 3; ++i) diff += row[i] * (kObsW[i] - v[i]);
        sum += diff * diff;
    }
    return sum / (2.0 * kObsX.size());
}

// x^T x, entry (a, b).
double gram(std::size_t a, std::size_t b) {
    double s = 0;
    for (const auto& row : kObsX) s += row[a] * row[b];
    return s;
}

// The best weights with input `removed` fixed at 0: minimise ||x w - x v||^2
// over the two others a < b, whose normal equations are
// [[G_aa, G_ab], [G_ab, G_bb]] (v_a, v_b) = ((G w)_a, (G w)_b).
std::array<double, 3> refit_without(std::size_t removed) {
    const std::size_t a = removed == 0 ? 1 : 0, b = removed == 2 ? 1 : 2;
    auto gw = [](std::size_t r) { return gram(r, 0) * kObsW[0] + gram(r, 1) * kObsW[1] + gram(r, 2) * kObsW[2]; };
    const double det = gram(a, a) * gram(b, b) - gram(a, b) * gram(a, b);
    std::array<double, 3> v{};
    v[a] = (gw(a) * gram(b, b) - gram(a, b) * gw(b)) / det;
    v[b] = (gram(a, a) * gw(b) - gram(a, b) * gw(a)) / det;
    return v;
}

}  // namespace

TEST_CASE("layer-wise OBS: H and H^-1 match the hand values") {
    const ObsReport r = compute_layerwise_obs(three_weight_layer(), ObsOptions{.param = "W"});
    REQUIRE(r.d == 3);
    REQUIRE(r.m == 1);
    CHECK(r.n == 4);
    const double a[3][3] = {{3, 1, 1}, {1, 2, 1}, {1, 1, 2}};
    const double adj[3][3] = {{3, -1, -1}, {-1, 5, -2}, {-1, -2, 5}};
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
            CHECK(r.hessian.at({i, j}) == doctest::Approx(a[i][j] / 4).epsilon(1e-14));
            CHECK(r.inverse.at({i, j}) == doctest::Approx(4.0 * adj[i][j] / 7.0).epsilon(1e-12));
        }
    CHECK_FALSE(r.singular);
}

TEST_CASE("layer-wise OBS: each saliency is the exact error of removing that weight and re-fitting the others") {
    const ObsReport r = compute_layerwise_obs(three_weight_layer(), ObsOptions{.param = "W"});
    REQUIRE(r.weights.size() == 3);
    // By hand: L_q = w_q^2 / (2 [H^-1]_qq) = 0.25 * 7 / 24, 0.04 * 7 / 40, 0.64 * 7 / 40.
    const double hand[3] = {0.25 * 7 / 24, 0.04 * 7 / 40, 0.64 * 7 / 40};
    for (const ObsWeight& s : r.weights) {
        const std::size_t q = s.at[0];
        CAPTURE(q);
        CHECK(s.saliency == doctest::Approx(hand[q]).epsilon(1e-12));
        const double brute = output_error(refit_without(q));
        CHECK(s.saliency == doctest::Approx(brute).epsilon(1e-12));
        CHECK(s.error_alone == doctest::Approx(brute).epsilon(1e-12));
        CHECK(s.obd_saliency == doctest::Approx(0.5 * gram(q, q) / 4 * kObsW[q] * kObsW[q]).epsilon(1e-14));
    }
    // Least salient first: w_1 (0.007), w_0, w_2.
    CHECK(r.weights[0].at[0] == 1);
    CHECK(r.weights[1].at[0] == 0);
    CHECK(r.weights[2].at[0] == 2);
}

TEST_CASE("layer-wise OBS: the update equals a brute-force re-fit, one removal and then two") {
    const ObsReport r = compute_layerwise_obs(three_weight_layer(), ObsOptions{.param = "W", .prune = 2});
    REQUIRE(r.steps.size() == 2);
    // First removal: w_1; dw = -(w_1 / [H^-1]_11) H^-1 e_1 = (-0.04, 0.2, -0.08), so w = (0.46, 0, 0.72).
    const ObsRemoval& first = r.steps[0];
    CHECK(first.at == Index{1, 0});
    const std::array<double, 3> refit = refit_without(1);
    CHECK(refit[0] == doctest::Approx(0.46).epsilon(1e-12));
    CHECK(refit[2] == doctest::Approx(0.72).epsilon(1e-12));
    for (std::size_t i = 0; i < 3; ++i) CHECK(kObsW[i] + first.update[i] == doctest::Approx(refit[i]).epsilon(1e-12));
    CHECK(first.error_after == doctest::Approx(output_error(refit)).epsilon(1e-12));
    CHECK(first.error_after == doctest::Approx(0.007).epsilon(1e-12));
    // Second removal, over the remaining (w_0, w_2) = (0.46, 0.72) with (H_RR)^-1 = (4/5) [[2,-1],[-1,3]]:
    // L_0 = 0.46^2 / 3.2 < L_2 = 0.72^2 / 4.8, and the best single weight left is (G w)_2 / G_22 = 1.9 / 2.
    const ObsRemoval& second = r.steps[1];
    CHECK(second.at == Index{0, 0});
    CHECK(second.weight == doctest::Approx(0.46).epsilon(1e-12));
    CHECK(second.inverse == doctest::Approx(1.6).epsilon(1e-12));
    CHECK(second.saliency == doctest::Approx(0.46 * 0.46 / 3.2).epsilon(1e-12));
    CHECK(r.pruned.at({0, 0}) == 0.0);
    CHECK(r.pruned.at({1, 0}) == 0.0);
    CHECK(r.pruned.at({2, 0}) == doctest::Approx(0.95).epsilon(1e-12));
    const double both = output_error({0, 0, 0.95});
    CHECK(second.error_after == doctest::Approx(both).epsilon(1e-12));
    CHECK(r.error_obs == doctest::Approx(both).epsilon(1e-12));
    CHECK(both == doctest::Approx(0.007 + 0.46 * 0.46 / 3.2).epsilon(1e-12));
    // OBD (0.5 H_qq w^2 = 0.09375, 0.01, 0.16) and magnitude both remove w_1 and w_0, and update nothing.
    CHECK(r.error_obd == doctest::Approx(output_error({0, 0, 0.8})).epsilon(1e-12));
    CHECK(r.error_magnitude == doctest::Approx(output_error({0, 0, 0.8})).epsilon(1e-12));
    CHECK(r.error_obs < r.error_obd);
}

TEST_CASE("layer-wise OBS: bad options are usage errors naming the option") {
    const Graph g = three_weight_layer();
    auto message = [&](const ObsOptions& o) {
        try {
            compute_layerwise_obs(g, o);
        } catch (const UsageError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(message({.param = "t", .param_name = "--param"}).find("--param t: not the weight") != std::string::npos);
    CHECK(message({.param = "x", .param_name = "--param"}).find("--param x: not the weight") != std::string::npos);
    CHECK(message({.param = ""}).find("the weights of lesson") != std::string::npos);
    CHECK(message({.param = "W", .prune = 4, .prune_name = "--prune"}).find("--prune 4: W has 3 weights") !=
          std::string::npos);
    CHECK(message({.param = "W", .damping = -1, .damping_name = "--damping"}).find("--damping -1") !=
          std::string::npos);
    CHECK(message({.param = "W", .max_work = 10}).find("multiply-adds") != std::string::npos);
}

TEST_CASE("layer-wise OBS: a singular H needs damping, and the damped inverse is (H + lambda I)^-1") {
    // Input 2 is input 0 again: x^T x has rank 2.
    const Graph g = three_weight_layer("[[1, 0, 1], [0, 1, 0], [1, 1, 1], [1, 0, 1]]");
    CHECK_THROWS_AS(compute_layerwise_obs(g, ObsOptions{.param = "W"}), UsageError);
    const ObsReport r = compute_layerwise_obs(g, ObsOptions{.param = "W", .damping = 0.5});
    CHECK(r.singular);
    // (H + 0.5 I) times the inverse is the identity; H = [[3,1,3],[1,2,1],[3,1,3]] / 4.
    const double h[3][3] = {{3, 1, 3}, {1, 2, 1}, {3, 1, 3}};
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
            double product = 0;
            for (std::size_t k = 0; k < 3; ++k) product += (h[i][k] / 4 + (i == k ? 0.5 : 0.0)) * r.inverse.at({k, j});
            CHECK(product == doctest::Approx(i == j ? 1.0 : 0.0).epsilon(1e-12));
        }
}

TEST_CASE("layer-wise OBS: the command on the layerwise-obs lesson, text and JSON, and its option errors") {
    const auto text = bnstep_test::run_bnstep({"saliency", "layerwise-obs", "--method", "obs", "--param", "W"});
    CHECK(text.exit_code == 0);
    CHECK(text.out.find("Layer-wise Optimal Brain Surgeon on W in lesson layerwise-obs") != std::string::npos);
    CHECK(text.out.find("L_q = w_q^2 / (2 [H^-1]_qq) = ") != std::string::npos);
    const auto json = bnstep_test::run_bnstep(
        {"saliency", "layerwise-obs", "--method", "obs", "--param", "W", "--prune", "2", "--format", "json"});
    REQUIRE(json.exit_code == 0);
    const nlohmann::json j = nlohmann::json::parse(json.out);
    CHECK(j["method"] == "obs");
    CHECK(j["steps"].size() == 2);
    // The lesson's inputs 0 and 2 are nearly copies: OBS re-fits and loses far less than OBD or magnitude.
    CHECK(j["error_obs"].get<double>() < 0.25 * j["error_obd"].get<double>());
    CHECK(j["error_obs"].get<double>() < 0.25 * j["error_magnitude"].get<double>());
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"saliency", "layerwise-obs", "--method", "nope"},
             {"saliency", "layerwise-obs", "--method", "obs", "--param", "t"},
             {"saliency", "layerwise-obs", "--method", "obs", "--param", "W", "--prune", "7"},
             {"saliency", "layerwise-obs", "--method", "obs", "--param", "W", "--param", "x"},
             {"saliency", "layerwise-obs", "--damping", "0.1"},
             {"saliency", "layerwise-obs", "--method", "obs", "--param", "W", "--damping", "-1"}}) {
        const auto bad = bnstep_test::run_bnstep(args);
        CAPTURE(args.back());
        CHECK(bad.exit_code == 2);
        CHECK(bad.err.find('\n') == bad.err.size() - 1);
    }
}

TEST_CASE("layer-wise OBS: over the work limit with --prune 1, the advice is to raise --max-work") {
    const Graph g = three_weight_layer();
    auto message = [&](std::size_t prune) {
        try {
            compute_layerwise_obs(g, ObsOptions{.param = "W",
                                                .prune = prune,
                                                .max_work = 10,
                                                .prune_name = "--prune",
                                                .max_work_name = "--max-work"});
        } catch (const UsageError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(message(1).find("raise --max-work") != std::string::npos);
    CHECK(message(1).find("prune fewer") == std::string::npos);
    CHECK(message(2).find("prune fewer with --prune or raise --max-work") != std::string::npos);
}

TEST_CASE("layer-wise OBS: --damping must be finite and >= 0, said in one short line") {
    for (const std::string v : {"-1", "inf", "1e400", "nan", "x"}) {
        const auto bad =
            bnstep_test::run_bnstep({"saliency", "layerwise-obs", "--method", "obs", "--param", "W", "--damping", v});
        CAPTURE(v);
        CHECK(bad.exit_code == 2);
        CHECK(bad.err.find("--damping: must be a finite number >= 0, got " + v) != std::string::npos);
        CHECK(bad.err.size() < 120);
    }
}

TEST_CASE("layer-wise OBS: with damping, the text does not call the prediction exact") {
    const auto damped =
        bnstep_test::run_bnstep({"saliency", "layerwise-obs", "--method", "obs", "--param", "W", "--damping", "0.1"});
    REQUIRE(damped.exit_code == 0);
    CHECK(damped.out.find("prediction is exact") == std::string::npos);
    CHECK(damped.out.find("the error of the") != std::string::npos);
    const auto plain = bnstep_test::run_bnstep({"saliency", "layerwise-obs", "--method", "obs", "--param", "W"});
    CHECK(plain.out.find("prediction is exact") != std::string::npos);
    // L_q = E + lambda/2 ||dw||^2 under damping.
    const ObsReport r =
        compute_layerwise_obs(three_weight_layer(), ObsOptions{.param = "W", .damping = 0.5, .prune = 1});
    const ObsRemoval& s = r.steps.front();
    double norm2 = 0;
    for (double u : s.update) norm2 += u * u;
    CHECK(s.saliency == doctest::Approx(s.error_after + 0.25 * norm2).epsilon(1e-12));
}

TEST_CASE("layer-wise OBS: an x too large to square is a numeric fault, not a table of inf") {
    const Graph g = three_weight_layer("[[1e200, 0, 1], [0, 1e200, 1], [1, 1, 0], [1, 0, 0]]");
    CHECK_THROWS_AS(compute_layerwise_obs(g, ObsOptions{.param = "W"}), NumericError);
}

TEST_CASE("layer-wise OBS: the text fits 80 columns, damped or not") {
    for (const char* damping : {"0", "0.1"}) {
        const auto out = bnstep_test::run_bnstep(
            {"saliency", "layerwise-obs", "--method", "obs", "--param", "W", "--damping", damping});
        REQUIRE(out.exit_code == 0);
        bnstep_test::check_fits_80_columns(out.out);
    }
}
