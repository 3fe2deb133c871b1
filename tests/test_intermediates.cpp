// The quantities a node's formulas use (issue 14, item 3): each op's
// intermediates against values worked out by hand, and run printing them
// before the formulas that use them.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "cli_test_support.hpp"
#include "op_harness.hpp"

using namespace bnstep;
using namespace bnstep::testing;
using bnstep_cli_test::ok_output;

namespace {

struct Computed {
    std::map<std::string, Tensor> forward, backward;
};

// Op `name` on inputs given by hand: its intermediates by name (input names x, y, ...; out "out"; upstream "dout").
Computed intermediates_of(const char* name, const std::vector<Tensor>& in,
                          std::initializer_list<std::pair<const char*, double>> attrs = {},
                          const Tensor* upstream = nullptr) {
    const OpDef& op = op_named(name);
    Attrs a;
    for (const auto& [k, v] : attrs) a.set(k, v);
    a = with_defaults(op, a);
    const Tensor out = op.forward(call_for(in, a, nullptr));
    const OpCall call = call_for(in, a, &out);
    Names names;
    for (std::size_t i = 0; i < in.size(); ++i) names.in.push_back(op.inputs.at(i).name);
    names.out = "out";
    names.upstream = "dout";
    Computed c;
    REQUIRE(op.intermediates);
    for (const Intermediate& q : op.intermediates(call, names)) c.forward.emplace(q.name, q.value);
    if (upstream) {
        REQUIRE(op.backward_intermediates);
        for (const Intermediate& q : op.backward_intermediates(call, *upstream, names))
            c.backward.emplace(q.name, q.value);
    }
    return c;
}

void check_values(const std::map<std::string, Tensor>& got, const std::string& name, const std::vector<double>& want) {
    CAPTURE(name);
    REQUIRE(got.count(name) == 1);
    const Tensor& t = got.at(name);
    REQUIRE(t.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(t[i] == doctest::Approx(want[i]).epsilon(1e-12));
}

}  // namespace

TEST_CASE("intermediates: batch norm's mu, var, ivar, xhat and the two sums of its closed form, by hand") {
    // x = [[1, 2], [3, 6]]: mu = [2, 4], var = [1, 4], xhat = [[-1, -1], [1, 1]] * ivar.
    const Tensor x(Shape{2, 2}, {1, 2, 3, 6}), up(Shape{2, 2}, {1, 2, 3, 4});
    const double i0 = 1 / std::sqrt(1 + 1e-5), i1 = 1 / std::sqrt(4 + 1e-5);
    const Computed c = intermediates_of("batchnorm", {x, vec({1, 1}), vec({0, 0})}, {}, &up);
    check_values(c.forward, "mu", {2, 4});
    check_values(c.forward, "var", {1, 4});
    check_values(c.forward, "ivar", {i0, i1});
    check_values(c.forward, "xhat", {-i0, -2 * i1, i0, 2 * i1});
    // sum dout = [1 + 3, 2 + 4]; sum(dout * xhat) = [-1 + 3, -2*2 + 4*2] * ivar.
    check_values(c.backward, "sum dout", {4, 6});
    check_values(c.backward, "sum(dout * xhat)", {2 * i0, 4 * i1});
}

TEST_CASE("intermediates: inference and running statistics, by hand") {
    // running_var [3, 0.25]: rivar = 1/sqrt(var + eps); xhat = (x - running_mean) * rivar.
    const Tensor x(Shape{1, 2}, {5, 1});
    const Computed c =
        intermediates_of("batchnorm_inference", {x, vec({2, 2}), vec({3, 0.25}), vec({1, 1}), vec({0, 0})});
    const double r0 = 1 / std::sqrt(3 + 1e-5), r1 = 1 / std::sqrt(0.25 + 1e-5);
    check_values(c.forward, "rivar", {r0, r1});
    check_values(c.forward, "xhat", {3 * r0, -r1});
    // x = [1, 2, 6] in one channel: mu = 3, unbiased variance (4 + 1 + 9)/2 = 7.
    const Computed v = intermediates_of("running_var", {Tensor(Shape{3, 1}, {1, 2, 6}), vec({1})});
    check_values(v.forward, "mu", {3});
    check_values(v.forward, "var_unbiased", {7});
}

TEST_CASE("intermediates: XNOR-Net's alpha per filter, TWN's delta and alpha, quantize's levels, by hand") {
    // Filters [1, -3] and [0.5, 0.5]: alpha = mean |W_k| = [2, 0.5].
    check_values(intermediates_of("xnor_binarize", {Tensor(Shape{2, 2}, {1, -3, 0.5, 0.5})}).forward, "alpha",
                 {2, 0.5});
    // mean |W| = 2.2/6; delta = 0.7 of it; t = [1, 0, 1, -1, 0, 0]; alpha = (0.9 + 0.4 + 0.6)/3.
    const Computed t = intermediates_of("ternarize", {vec({0.9, -0.1, 0.4, -0.6, 0.0, 0.2})});
    check_values(t.forward, "mean |W|", {2.2 / 6});
    check_values(t.forward, "delta", {0.7 * 2.2 / 6});
    check_values(t.forward, "t", {1, 0, 1, -1, 0, 0});
    check_values(t.forward, "alpha", {1.9 / 3});
    // scale 0.25, 8 bits unsigned: 2.37/0.25 = 9.48 -> 9; -0.3/0.25 = -1.2 -> -1, clamped to 0; 400 -> 255;
    // 0.625/0.25 = 2.5 -> 2 (half to even).
    check_values(intermediates_of("quantize", {vec({2.37, -0.3, 100, 0.625})}, {{"scale", 0.25}}).forward, "q",
                 {9, 0, 255, 2});
    // BinaryConnect's stochastic binarization: p = clip((w + 1)/2, 0, 1).
    check_values(intermediates_of("binarize_stochastic", {vec({0.4, -3, 2})}).forward, "p", {0.7, 0, 1});
}

TEST_CASE("intermediates: pruning's mask, INQ's powers of two, k-means clusters, shared weights' indices, by hand") {
    // sparsity 0.5 of 4 weights: the 2 of smallest |W| (0.1 and -0.2) are pruned.
    check_values(intermediates_of("prune_mask", {vec({0.1, -0.9, -0.2, 0.5})}, {{"sparsity", 0.5}}).forward, "m",
                 {0, 1, 0, 1});
    // P = {0, 2^-2, 2^-1, 2^0} (n1 0, n2 -2): |W| = 0.9 lies in [3*2^-2, inf) -> 1; 0.3 in [2^-3, 3*2^-3) -> 2^-2;
    // 0.4 in [3*2^-3, 3*2^-2) -> 2^-1; 0.05 below 2^-3 -> 0. fraction 0.5 quantizes the 2 largest, 0.9 and 0.4.
    const Computed p =
        intermediates_of("pow2_quantize", {vec({0.9, -0.3, 0.4, 0.05})}, {{"n1", 0}, {"n2", -2}, {"fraction", 0.5}});
    check_values(p.forward, "beta", {1, 0.25, 0.5, 0});
    check_values(p.forward, "quantized", {1, 0, 1, 0});
    // Two clusters of [0, 0.1, 1, 1.1]: linspace(0, 1.1, 2) = [0, 1.1]; the means 0.05 and 1.05, two weights each.
    const Computed k = intermediates_of("kmeans_centroids", {vec({0, 0.1, 1, 1.1})}, {{"clusters", 2}});
    check_values(k.forward, "initial", {0, 1.1});
    check_values(k.forward, "idx", {0, 0, 1, 1});
    check_values(k.forward, "n", {2, 2});
    // Centroids [-1, 0.5]: 0.2 is nearer 0.5, -0.3 nearer -1 (0.7 against 0.8).
    check_values(intermediates_of("shared_weights", {vec({0.2, -0.3, -2}), vec({-1, 0.5})}).forward, "idx", {1, 0, 0});
}

TEST_CASE("intermediates: which windows a max pool's maximum wins, by hand") {
    // A 3 x 3 plane, kernel 2, stride 1: four windows; the 9 is the maximum of all four.
    const Tensor x(Shape{1, 1, 3, 3}, {1, 2, 3, 4, 9, 5, 6, 7, 8});
    check_values(intermediates_of("max_pool2d", {x}, {{"kernel", 2}, {"stride", 1}}).forward, "wins",
                 {0, 0, 0, 0, 4, 0, 0, 0, 0});
}

TEST_CASE("intermediates: softmax at temperature T for distillation and cross entropy, by hand") {
    // z = [0, 2 ln 3] at T = 2: z/T = [0, ln 3], softmax = [1/4, 3/4].
    const Tensor z(Shape{1, 2}, {0, 2 * std::log(3.0)});
    const Computed s =
        intermediates_of("soft_cross_entropy", {z, Tensor(Shape{1, 2}, {0.5, 0.5})}, {{"temperature", 2}});
    check_values(s.forward, "softmax(logits/2)", {0.25, 0.75});
    check_values(s.forward, "log_softmax(logits/2)", {std::log(0.25), std::log(0.75)});
    const Computed ce = intermediates_of("cross_entropy", {Tensor(Shape{1, 2}, {0, std::log(3.0)}), vec({1})});
    check_values(ce.forward, "softmax(logits)", {0.25, 0.75});
    check_values(intermediates_of("log_softmax", {z}, {{"temperature", 2}}).forward, "softmax(x/2)", {0.25, 0.75});
}

TEST_CASE("intermediates: run prints them before the formulas use them, and JSON carries them") {
    const std::string out = ok_output({"run", "batchnorm-closed-form", "--color", "never"});
    const auto at = [&](const std::string& s) {
        CAPTURE(s);
        const auto p = out.find(s);
        REQUIRE(p != std::string::npos);
        return p;
    };
    // Forward: the statistics (mu [1 0.5 1] and var [3.5 1.25 1.25] of the lesson's x, by hand) come before the value.
    CHECK(at("mu = mean of x over the batch, per column   (3,)\n            [  1  0.5    1]") < at("out:\n"));
    CHECK(at("var = mean of (x - mu)^2 over the batch, per column   (3,)\n            [ 3.5  1.25  1.25]") <
          at("out:\n"));
    CHECK(at("ivar = 1/sqrt(var + eps)") < at("out:\n"));
    // Backward: sum dout (column sums of the lesson's dout: 0.6, 0, 0.2) before the closed form uses it.
    CHECK(at("sum dout = sum of dout over the batch, per column   (3,)\n            [0.6    0  0.2]") <
          at("to x:  closed form"));
    CHECK(at("sum(dout * xhat) = ") < at("to x:  closed form"));
    const nlohmann::json j = nlohmann::json::parse(ok_output({"run", "batchnorm-closed-form", "--format", "json"}));
    const auto& node = j.at("nodes").at(3);
    REQUIRE(node.at("name") == "out");
    CHECK(node.at("intermediates").at(0).at("name") == "mu");
    CHECK(node.at("intermediates").at(0).at("value") == nlohmann::json({1.0, 0.5, 1.0}));
    CHECK(node.at("backward_intermediates").at(0).at("name") == "sum dout");
    // trace: the alpha of each XNOR filter before the output, in the FORWARD section.
    const std::string trace = ok_output({"trace", "xnor-net", "--node", "Wx", "--color", "never"});
    CHECK(trace.find("alpha = mean |W[k,...]| of each filter k") < trace.find("output Wx"));
}
