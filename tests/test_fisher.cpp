// Fisher pruning: the empirical Fisher diagonal from per-example gradients.
// On a least-squares layer each example's gradient is known in closed form,
// dL_n/dw_i = 2 (x_n . w - t_n) x_ni; on the softmax classifier of the
// fisher-pruning lesson it is x_ni (p_nj - [j = y_n]), with p computed here.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "bnstep/error.hpp"
#include "bnstep/fisher.hpp"
#include "bnstep/lesson.hpp"
#include "cli_support.hpp"

using namespace bnstep;

namespace {

constexpr std::array<std::array<double, 2>, 3> kFisherX{{{1.0, -2.0}, {0.5, 1.5}, {-1.0, 0.25}}};
constexpr std::array<double, 2> kFisherW{0.3, -0.8};
constexpr std::array<double, 3> kFisherT{1.0, 0.0, 0.5};

Graph least_squares_column(const std::string& x_kind = "input") {
    return parse_lesson(R"({"title": "one column",
        "leaves": [{"name": "x", "kind": ")" +
                            x_kind + R"(", "shape": [3, 2], "values": [[1.0, -2.0], [0.5, 1.5], [-1.0, 0.25]]},
                   {"name": "W", "kind": "param", "shape": [2, 1], "values": [[0.3], [-0.8]]},
                   {"name": "t", "kind": "const", "shape": [3, 1], "values": [[1.0], [0.0], [0.5]]}],
        "nodes": [{"name": "h", "op": "matmul", "inputs": ["x", "W"]},
                  {"name": "loss", "op": "mse", "inputs": ["h", "t"]}],
        "output": {"node": "loss"}})",
                        "column.json");
}

double residual(std::size_t n) { return kFisherX[n][0] * kFisherW[0] + kFisherX[n][1] * kFisherW[1] - kFisherT[n]; }

const FisherWeight& weight_at(const FisherReport& r, const Index& at) {
    for (const FisherWeight& f : r.weights)
        if (r.obd.weights[f.obd].at == at) return f;
    throw std::logic_error("no such weight");
}

}  // namespace

TEST_CASE("fisher: F_kk, the example's gradient and the saliency match the closed form of least squares") {
    const Graph g = least_squares_column();
    const FisherReport r = compute_fisher(g, FisherOptions{.saliency = {}, .example = 1});
    CHECK(r.batch == 3);
    CHECK(r.sliced == std::vector<std::string>{"x", "t"});
    REQUIRE(r.weights.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        CAPTURE(i);
        const FisherWeight& f = weight_at(r, {i, 0});
        double fisher = 0, mean = 0;
        for (std::size_t n = 0; n < 3; ++n) {
            const double gn = 2 * residual(n) * kFisherX[n][i];
            fisher += gn * gn / 3;
            mean += gn / 3;
        }
        CHECK(f.fisher == doctest::Approx(fisher).epsilon(1e-13));
        CHECK(f.mean_gradient == doctest::Approx(mean).epsilon(1e-13));
        CHECK(f.example_gradient == doctest::Approx(2 * residual(1) * kFisherX[1][i]).epsilon(1e-13));
        CHECK(f.saliency == doctest::Approx(0.5 * fisher * kFisherW[i] * kFisherW[i]).epsilon(1e-13));
        // The mse's Hessian diagonal, (2/3) sum_n x_ni^2, beside it.
        const double h =
            2.0 / 3.0 * (1.0 * 1.0 + 0.5 * 0.5 + 1.0) * (i == 0) + 2.0 / 3.0 * (4.0 + 2.25 + 0.0625) * (i == 1);
        CHECK(r.obd.weights[f.obd].hessian == doctest::Approx(h).epsilon(1e-7));
    }
    CHECK(r.example_loss == doctest::Approx(residual(1) * residual(1)).epsilon(1e-13));
    CHECK(r.max_mean_gradient_gap < 1e-14);
    CHECK(r.loss_is_mean);
    // The worked weight's per-example gradients, every n.
    const std::size_t worked = r.obd.weights[r.weights.front().obd].at[0];
    REQUIRE(r.worked_gradients.size() == 3);
    for (std::size_t n = 0; n < 3; ++n)
        CHECK(r.worked_gradients[n] == doctest::Approx(2 * residual(n) * kFisherX[n][worked]).epsilon(1e-13));
    // K = a quarter of 2, at least 1: the least Fisher-salient weight set to 0, L recomputed by hand.
    double pruned = 0;
    for (std::size_t n = 0; n < 3; ++n) {
        const double e = residual(n) - kFisherX[n][worked] * kFisherW[worked];
        pruned += e * e / 3;
    }
    CHECK(r.loss_pruned_by_fisher == doctest::Approx(pruned).epsilon(1e-13));
}

TEST_CASE("fisher: at the minimum of the fisher-pruning lesson, F_kk is the Hessian's diagonal, and on obd-saliency not") {
    const Graph g = load_lesson("fisher-pruning");
    const FisherReport r = compute_fisher(g, FisherOptions{});
    CHECK(r.batch == 18);
    CHECK(r.gradient_norm < 1e-12);
    CHECK(r.max_fisher_hessian_gap < 1e-6);
    // F_kk from the softmax probabilities computed here: (1/N) sum_n x_ni^2 (p_nj - [j = y_n])^2.
    const Tensor& x = g.nodes[*g.find("x")].value;
    const Tensor& w = g.nodes[*g.find("W")].value;
    const Tensor& y = g.nodes[*g.find("y")].value;
    std::array<std::array<double, 3>, 3> fisher{};
    for (std::size_t n = 0; n < 18; ++n) {
        std::array<double, 3> p{};
        double total = 0;
        for (std::size_t j = 0; j < 3; ++j) {
            double z = 0;
            for (std::size_t i = 0; i < 3; ++i) z += x.at({n, i}) * w.at({i, j});
            p[j] = std::exp(z);
            total += p[j];
        }
        for (std::size_t i = 0; i < 3; ++i)
            for (std::size_t j = 0; j < 3; ++j) {
                const double gn = x.at({n, i}) * (p[j] / total - (static_cast<double>(j) == y[n] ? 1.0 : 0.0));
                fisher[i][j] += gn * gn / 18;
            }
    }
    for (const FisherWeight& f : r.weights) {
        const Index& at = r.obd.weights[f.obd].at;
        CHECK(f.fisher == doctest::Approx(fisher[at[0]][at[1]]).epsilon(1e-12));
    }
    // The same Fisher saliency order as OBD's, weight for weight.
    for (std::size_t k = 0; k < r.weights.size(); ++k) CHECK(r.weights[k].obd_rank == k + 1);

    const FisherReport away = compute_fisher(load_lesson("obd-saliency"), FisherOptions{});
    CHECK(away.gradient_norm > 0.1);
    CHECK(away.max_fisher_hessian_gap > 0.5);
    CHECK(away.max_mean_gradient_gap < 1e-14);
}

TEST_CASE("fisher: a loss that is not the mean of the per-example losses is said so") {
    // Centring h over the batch couples the examples: on one example h - mean(h) is 0.
    const Graph g = parse_lesson(R"({"title": "coupled",
        "leaves": [{"name": "x", "kind": "input", "shape": [3, 2], "values": [[1.0, -2.0], [0.5, 1.5], [-1.0, 0.25]]},
                   {"name": "W", "kind": "param", "shape": [2, 1], "values": [[0.3], [-0.8]]},
                   {"name": "t", "kind": "const", "shape": [3, 1], "values": [[1.0], [0.0], [0.5]]}],
        "nodes": [{"name": "h", "op": "matmul", "inputs": ["x", "W"]},
                  {"name": "m", "op": "mean", "inputs": ["h"], "attrs": {"axis": 0, "keepdims": true}},
                  {"name": "c", "op": "sub", "inputs": ["h", "m"]},
                  {"name": "loss", "op": "mse", "inputs": ["c", "t"]}],
        "output": {"node": "loss"}})",
                                 "coupled.json");
    const FisherReport r = compute_fisher(g, FisherOptions{});
    CHECK_FALSE(r.loss_is_mean);
    // Every example alone has h - mean(h) = 0, so no gradient reaches W.
    for (const FisherWeight& f : r.weights) CHECK(f.fisher == 0.0);
}

TEST_CASE("fisher: a lesson without a batch, an example out of range and an unknown param are usage errors") {
    CHECK_THROWS_AS(compute_fisher(least_squares_column("const"), FisherOptions{}), UsageError);
    CHECK_THROWS_WITH_AS(compute_fisher(least_squares_column(),
                                        FisherOptions{.saliency = {}, .example = 3, .example_name = "--example"}),
                         doctest::Contains("--example 3: lesson"), UsageError);
    FisherOptions o;
    o.saliency.prune = 3;
    o.saliency.prune_name = "--prune";
    CHECK_THROWS_WITH_AS(compute_fisher(least_squares_column(), o), doctest::Contains("--prune 3: lesson"), UsageError);
    o.saliency.prune = 2;
    CHECK(compute_fisher(least_squares_column(), o).obd.prune == 2);
    o.saliency.params = {"nope"};
    CHECK_THROWS_AS(compute_fisher(least_squares_column(), o), UsageError);
    o.saliency.params = {};
    o.saliency.max_work = 5;
    CHECK_THROWS_AS(compute_fisher(least_squares_column(), o), UsageError);
}

TEST_CASE("fisher: the command, text and JSON, and its option errors") {
    const auto text = bnstep_test::run_bnstep({"saliency", "fisher-pruning", "--method", "fisher"});
    CHECK(text.exit_code == 0);
    CHECK(text.out.find("Fisher pruning in lesson fisher-pruning") != std::string::npos);
    CHECK(text.out.find("F_kk = (1/N) sum_n (dL_n/dw_k)^2 = (1/18) (") != std::string::npos);
    const auto json = bnstep_test::run_bnstep(
        {"saliency", "obd-saliency", "--method", "fisher", "--example", "2", "--format", "json"});
    REQUIRE(json.exit_code == 0);
    const nlohmann::json j = nlohmann::json::parse(json.out);
    CHECK(j["method"] == "fisher");
    CHECK(j["example"] == 2);
    CHECK(j["weights"].size() == 24);
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"saliency", "obd-saliency", "--method", "fisher", "--example", "6"},
                                               {"saliency", "obd-saliency", "--example", "1"},
                                               {"saliency", "obd-saliency", "--method", "fisher", "--prune", "25"},
                                               {"saliency", "obd-saliency", "--prune", "25"},
                                               {"saliency", "obd-saliency", "--method", "fisher", "--param", "y"}}) {
        const auto bad = bnstep_test::run_bnstep(args);
        CAPTURE(args.back());
        CHECK(bad.exit_code == 2);
        CHECK(bad.err.find('\n') == bad.err.size() - 1);
    }
}

TEST_CASE("fisher: an input leaf named by --param is a usage error, not an internal one") {
    FisherOptions o;
    o.saliency.params = {"x"};
    o.saliency.params_name = "--param";
    CHECK_THROWS_WITH_AS(compute_fisher(least_squares_column(), o),
                         doctest::Contains("--param x: Fisher pruning cuts x"), UsageError);
    for (const char* lesson : {"fisher-pruning", "obd-saliency", "layerwise-obs"}) {
        const auto bad = bnstep_test::run_bnstep({"saliency", lesson, "--method", "fisher", "--param", "x"});
        CAPTURE(lesson);
        CHECK(bad.exit_code == 2);
        CHECK(bad.err.find("--param x: Fisher pruning cuts x into examples") != std::string::npos);
    }
    // OBD ranks an input leaf as before.
    CHECK(bnstep_test::run_bnstep({"saliency", "obd-saliency", "--param", "x"}).exit_code == 0);
}

TEST_CASE("fisher: --example and --prune out of range name their real range") {
    const auto example =
        bnstep_test::run_bnstep({"saliency", "fisher-pruning", "--method", "fisher", "--example", "-1"});
    CHECK(example.exit_code == 2);
    CHECK(example.err.find("--example: must be a whole number from 0 to N-1") != std::string::npos);
    const auto prune = bnstep_test::run_bnstep({"saliency", "fisher-pruning", "--prune", "0"});
    CHECK(prune.exit_code == 2);
    CHECK(prune.err.find("--prune: must be a whole number from 1 to the number of weights, got '0'") !=
          std::string::npos);
    CHECK(prune.err.find("9223372036854775808") == std::string::npos);
}

TEST_CASE("fisher: 20,000 examples are refused by the default work limit before the work, in one line") {
    // The reviewer's f_big20k: a 10 x 10 layer and cross_entropy over 20,000 examples took 29 s.
    const Graph g = parse_lesson(R"({"name": "fbig", "title": "t",
        "leaves": [{"name": "x", "kind": "input", "shape": [20000, 10],
                    "random": {"seed": 1, "dist": "normal", "mean": 0, "std": 1}},
                   {"name": "W", "kind": "param", "shape": [10, 10],
                    "random": {"seed": 2, "dist": "normal", "mean": 0, "std": 1}},
                   {"name": "y", "kind": "const", "shape": [20000],
                    "random": {"seed": 3, "dist": "uniform", "low": 0, "high": 9, "decimals": 0}}],
        "nodes": [{"name": "z", "op": "matmul", "inputs": ["x", "W"]},
                  {"name": "l", "op": "cross_entropy", "inputs": ["z", "y"]}],
        "output": {"node": "l"}})",
                                 "fbig.json");
    FisherOptions o;
    o.saliency.max_work_name = "--max-work";
    CHECK_THROWS_WITH_AS(compute_fisher(g, o), doctest::Contains("(--max-work)"), UsageError);
}

TEST_CASE("fisher: the text fits 80 columns on its lessons") {
    for (const char* lesson : {"fisher-pruning", "obd-saliency"}) {
        const auto out = bnstep_test::run_bnstep({"saliency", lesson, "--method", "fisher"});
        REQUIRE(out.exit_code == 0);
        bnstep_test::check_fits_80_columns(out.out);
    }
}
