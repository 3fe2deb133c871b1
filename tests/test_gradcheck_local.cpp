// Local mode: each node moved through its consumers only, against
// L_i = sum_j <out_j, dout_j>. It must pass where the gradients are right,
// catch a wrong backward rule where it acts, and be what auto mode picks for
// a long graph.
#include <doctest/doctest.h>

#include <string>

#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"

using namespace bnstep;

namespace {

// x -> op -> op -> ... (count nodes), then a sum per row: a long chain.
std::string chain(const std::string& op, int count, const std::string& x = "[0.5, -1.25, 2]") {
    std::string nodes;
    for (int k = 1; k <= count; ++k)
        nodes += (k > 1 ? "," : "") + std::string(R"({"name": "n)") + std::to_string(k) + R"(", "op": ")" + op +
                 R"(", "inputs": [")" + (k == 1 ? std::string("x") : "n" + std::to_string(k - 1)) + R"("]})";
    return R"({"title": "chain", "leaves": [{"name": "x", "kind": "param", "shape": [3], "values": )" + x + R"(}],
              "nodes": [)" +
           nodes + R"(], "output": {"node": "n)" + std::to_string(count) +
           R"(", "upstream": {"values": [1, -2, 0.5]}}})";
}

}  // namespace

TEST_CASE("gradcheck local: auto mode checks a long chain locally, and every gradient passes") {
    const Graph g = parse_lesson(chain("neg", 800), "chain.json");
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    CHECK(r.mode == GradcheckMode::Local);
    CHECK(r.checks.size() == 801);
    CHECK(r.passed());
    // A short graph stays with the full check.
    const Graph short_chain = parse_lesson(chain("neg", 20), "short.json");
    CHECK(check_gradients(short_chain, run(short_chain), GradcheckOptions{}).mode == GradcheckMode::Full);
}

TEST_CASE("gradcheck local: a wrong backward rule fails at every node it feeds, in a chain and in batch norm") {
    OpTable ops = builtin_ops();
    // d(a^2)/da written as a instead of 2a.
    ops.find_mutable("square")->inputs[0].vjp = [](const OpCall& call, const Tensor& up) {
        Tensor g(up.shape());
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = call.input(0)[i] * up[i];
        return g;
    };
    const Graph g = parse_lesson(chain("square", 600, "[1, -1, 1]"), "chain.json", ops);
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    CHECK(r.mode == GradcheckMode::Local);
    // The output's own check is exact (its seed); every node below reads a square.
    CHECK(r.failures() == 600);

    GradcheckOptions local;
    local.mode = GradcheckMode::Local;
    const Graph bn = load_lesson("batchnorm", ops);
    const GradcheckReport b = check_gradients(bn, run(bn), local);
    CHECK_FALSE(b.passed());
    for (const NodeCheck& c : b.checks)
        if (bn.nodes[c.node].name == "xmu") CHECK_FALSE(c.passed);  // xmu feeds sq = square(xmu)
}

TEST_CASE("gradcheck local: every built-in lesson passes, and a node read by two consumers sums both") {
    GradcheckOptions local;
    local.mode = GradcheckMode::Local;
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const GradcheckReport r = check_gradients(g, run(g), local);
        CHECK(r.passed());
        CHECK(r.mode == GradcheckMode::Local);
    }
}
