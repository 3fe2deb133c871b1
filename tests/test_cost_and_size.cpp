// The cost summary, --set (leaf shapes from the command line) and the
// summarised printing of large tensors.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bnstep/cost.hpp"
#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "cli_support.hpp"

using namespace bnstep;
using bnstep_test::contains;
using bnstep_test::run_bnstep;

namespace {

// A depthwise-separable block and the standard conv it replaces, K x K kernels, M in, N out.
std::string separable_lesson(std::size_t k, std::size_t m, std::size_t n) {
    return fmt::format(R"({{"title": "t", "leaves": [
      {{"name": "x", "kind": "input", "shape": [2, {m}, 6, 6], "random": {{"seed": 1}}}},
      {{"name": "wd", "kind": "param", "shape": [{m}, 1, {k}, {k}], "random": {{"seed": 2}}}},
      {{"name": "wp", "kind": "param", "shape": [{n}, {m}, 1, 1], "random": {{"seed": 3}}}},
      {{"name": "ws", "kind": "param", "shape": [{n}, {m}, {k}, {k}], "random": {{"seed": 4}}}}],
     "nodes": [
      {{"name": "dw", "op": "conv2d", "inputs": ["x", "wd"], "attrs": {{"groups": {m}, "padding": {p}}}}},
      {{"name": "pw", "op": "conv2d", "inputs": ["dw", "wp"]}},
      {{"name": "std", "op": "conv2d", "inputs": ["x", "ws"], "attrs": {{"padding": {p}}}}}],
     "output": {{"node": "pw", "upstream": {{"fill": 1}}}},
     "compare": [{{"label": "separable", "nodes": ["dw", "pw"]}}, {{"label": "standard", "nodes": ["std"]}}]}})",
                       fmt::arg("k", k), fmt::arg("m", m), fmt::arg("n", n), fmt::arg("p", k / 2));
}

}  // namespace

TEST_CASE("cost: weights and multiply-adds agree with docs/background.md's formulas") {
    for (const auto& [k, m, n] :
         std::vector<std::tuple<std::size_t, std::size_t, std::size_t>>{{3, 4, 8}, {3, 8, 16}, {5, 3, 7}}) {
        const std::string sizes = fmt::format("K={} M={} N={}", k, m, n);  // (clang 14: no capture of a binding)
        CAPTURE(sizes);
        const Graph g = parse_lesson(separable_lesson(k, m, n), "t.json");
        const CostReport r = cost_summary(g);
        REQUIRE(r.compare.size() == 2);
        // Weights: K*K*M + M*N against K*K*M*N.
        CHECK(r.compare[0].weights == k * k * m + m * n);
        CHECK(r.compare[1].weights == k * k * m * n);
        // Multiply-adds over the 6x6 output of a batch of 2: the same ratio.
        const double positions = 2.0 * 6 * 6;
        CHECK(r.compare[0].macs == positions * double(k * k * m + m * n));
        CHECK(r.compare[1].macs == positions * double(k * k * m * n));
        // Only the nodes that feed the output count in the total.
        CHECK(r.total_weights == k * k * m + m * n);
    }
}

TEST_CASE("cost: the depthwise-separable lesson compares the two designs") {
    const Graph g = load_lesson("depthwise-separable");
    REQUIRE(g.compare.size() == 2);
    const CostReport r = cost_summary(g);
    // Read K, M and N off the standard convolution's weights (N, M, K, K).
    const Node& std_conv = g.nodes[g.compare[1].nodes.at(0)];
    const Shape& w = g.nodes[std_conv.inputs.at(1)].shape;
    const std::size_t n = w[0], m = w[1], k = w[2];
    CHECK(r.compare[1].weights == k * k * m * n);
    CHECK(r.compare[0].weights == k * k * m + m * n);
    const auto out = run_bnstep({"run", "depthwise-separable", "--color", "never"});
    REQUIRE(out.exit_code == 0);
    CHECK(contains(out.out, "COMPARISON"));
    CHECK(contains(out.out, fmt::format("weights {} / {} = ", k * k * m * n, k * k * m + m * n)));
}

TEST_CASE("size: --set resizes random and fill leaves and the lesson still checks out") {
    const auto r = run_bnstep({"run", "conv2d", "--set", "x.shape=1,3,7,6", "--format", "json"});
    REQUIRE(r.exit_code == 0);
    const auto j = nlohmann::json::parse(r.out);
    for (const auto& node : j.at("nodes"))
        if (node.at("name") == "x") CHECK(node.at("shape") == std::vector<int>{1, 3, 7, 6});
    // (A size whose ReLU inputs stay clear of 0: kinks are not reported yet.)
    const auto check = run_bnstep({"check-gradients", "conv2d", "--set", "x.shape=1,3,6,4"});
    CHECK(check.exit_code == 0);
    CHECK(contains(check.out, "(1, 3, 6, 4)"));
    const auto text = run_bnstep({"run", "conv2d", "--set", "x.shape=1,3,7,6", "--color", "never"});
    CHECK(contains(text.out, "resized with --set: x (1, 3, 7, 6)"));
}

TEST_CASE("size: --set names what is wrong") {
    auto error = [](std::vector<std::string> args) {
        const auto r = run_bnstep(args);
        CHECK(r.exit_code == 2);
        CHECK(bnstep_test::lines_of(r.err).size() == 1);
        return r.err;
    };
    CHECK(contains(error({"run", "conv2d", "--set", "xx.shape=1,3,5,5"}), "no leaf 'xx' (did you mean 'x'?)"));
    CHECK(contains(error({"run", "conv2d", "--set", "x.shape=1,0,5"}), "at least 1"));
    CHECK(contains(error({"run", "conv2d", "--set", "x=1,3,5,5"}), "expected NAME.shape=D1,D2,..."));
    CHECK(contains(error({"run", "batchnorm", "--set", "x.shape=8,3"}),
                   "only a leaf with \"random\" or \"fill\" can be resized"));
    // A resize that breaks a shape rule is reported on the node, as in a lesson file.
    CHECK(contains(error({"run", "conv2d", "--set", "x.shape=1,4,5,5"}), "C/groups"));
}

TEST_CASE("size: large tensors print as a summary unless --full") {
    const auto summary = run_bnstep({"run", "conv2d", "--set", "x.shape=2,3,12,12", "--color", "never"});
    REQUIRE(summary.exit_code == 0);
    CHECK(contains(summary.out, "(864 values: min "));
    CHECK(contains(summary.out, "--full"));
    const auto full = run_bnstep({"run", "conv2d", "--set", "x.shape=2,3,12,12", "--full", "--color", "never"});
    REQUIRE(full.exit_code == 0);
    CHECK_FALSE(contains(full.out, "(864 values: min "));
    CHECK(full.out.size() > summary.out.size());
    for (const auto& line : bnstep_test::lines_of(summary.out)) CHECK(bnstep_test::columns(line) <= 80);
}
