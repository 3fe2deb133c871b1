// check_gradients through straight-through estimators (it differentiates the
// declared surrogate and reports the plain difference beside it) and across
// kinks (elements whose +-h changes an op's piece are reported, not compared).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/print.hpp"
#include "cli_support.hpp"

using namespace bnstep;

namespace {

// y = op(x) on a [n] input, then L = sum(y * seed) with the seed all 1 unless given.
Graph one_op(const std::string& op, const std::string& attrs, const std::string& x_values, std::size_t n,
             const OpTable& ops = builtin_ops(), const std::string& seed = "") {
    const std::string upstream = seed.empty() ? R"({"fill": 1})" : R"({"values": )" + seed + "}";
    return parse_lesson(R"({"title": "t", "leaves": [{"name": "x", "kind": "input", "shape": [)" + std::to_string(n) +
                            R"(], "values": )" + x_values + R"(}], "nodes": [{"name": "y", "op": ")" + op +
                            R"(", "inputs": ["x"], "attrs": )" + attrs + R"(}], "output": {"node": "y", "upstream": )" +
                            upstream + "}}",
                        "test.json", ops);
}

const NodeCheck& check_of(const Graph& g, const GradcheckReport& r, const std::string& name) {
    for (const NodeCheck& c : r.checks)
        if (g.nodes[c.node].name == name) return c;
    FAIL("node not checked: " << name);
    return r.checks.front();
}

// x -> sign (STE) -> square: the check of x goes through the surrogate.
Graph sign_then_square(const std::string& ste, const OpTable& ops = builtin_ops()) {
    return parse_lesson(R"({"title": "t",
        "leaves": [{"name": "x", "kind": "input", "shape": [4], "values": [0.3, -0.7, 1.5, -2.0]}],
        "nodes": [{"name": "b", "op": "sign", "inputs": ["x"], "attrs": {"ste": ")" +
                            ste + R"("}},
                  {"name": "y", "op": "mul", "inputs": ["b", "x"]}],
        "output": {"node": "y", "upstream": {"values": [0.5, -1.0, 2.0, 0.25]}}})",
                        "test.json", ops);
}

}  // namespace

TEST_CASE("gradcheck: a check through an STE differentiates its surrogate and says so") {
    for (const std::string ste : {"identity", "hardtanh"}) {
        CAPTURE(ste);
        const Graph g = sign_then_square(ste);
        const Trace t = run(g);
        const GradcheckReport r = check_gradients(g, t, GradcheckOptions{});
        CHECK(r.passed());
        const NodeCheck& x = check_of(g, r, "x");
        REQUIRE(x.surrogates.size() == 1);
        CHECK(g.nodes[x.surrogates[0]].name == "b");
        CHECK(x.compared == 4);
        CHECK(x.max_error < 1e-8);
        // The plain difference sees sign's true derivative, 0: through b it
        // contributes nothing, so it disagrees wherever the STE passes a gradient.
        CHECK(x.plain_max_error > 0.1);
        // dy/dx = seed * (sign(x) + x * ste'(x)): the second factor, then b through the STE.
        const double seed[] = {0.5, -1.0, 2.0, 0.25}, xs[] = {0.3, -0.7, 1.5, -2.0};
        for (std::size_t i = 0; i < 4; ++i) {
            const double pass = ste == "identity" || std::fabs(xs[i]) <= 1 ? 1.0 : 0.0;
            const double expected = seed[i] * ((xs[i] > 0 ? 1.0 : -1.0) + xs[i] * pass);
            CHECK((*t.nodes[0].grad)[i] == doctest::Approx(expected).epsilon(1e-12));
        }
        // b itself is upstream of nothing with an STE: a plain check.
        CHECK(check_of(g, r, "b").surrogates.empty());
    }
}

TEST_CASE("gradcheck: an STE backward that disagrees with its declared surrogate fails") {
    // The backward of sign written as its true derivative, 0: no longer the identity STE.
    OpTable ops = builtin_ops();
    ops.find_mutable("sign")->inputs[0].vjp = [](const OpCall&, const Tensor& up) { return Tensor(up.shape()); };
    const Graph g = sign_then_square("identity", ops);
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    CHECK_FALSE(check_of(g, r, "x").passed);
    // ... and the plain difference would have called it right: that is why
    // bnstep checks against the surrogate.
    CHECK(check_of(g, r, "x").plain_max_error < 1e-6);
}

TEST_CASE("gradcheck: ReLU exactly at 0 is reported as a kink, with its one-sided differences") {
    const Graph g = one_op("relu", "{}", "[0.0, 0.5, -0.5]", 3);
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    const NodeCheck& x = check_of(g, r, "x");
    CHECK(x.passed);
    CHECK(x.kinks == 1);
    CHECK(x.compared == 2);
    REQUIRE(x.first_kink);
    CHECK(x.first_kink->at == Index{0});
    CHECK(g.nodes[x.first_kink->where].name == "y");
    CHECK(x.first_kink->left == doctest::Approx(0.0));
    CHECK(x.first_kink->right == doctest::Approx(1.0));
    CHECK(x.first_kink->analytic == 0.0);  // PyTorch's convention: relu'(0) = 0
    CHECK(x.first_kink->matches == "left");
    CHECK(check_verdict(x) == "ok");
}

TEST_CASE("gradcheck: without the kink detection the ReLU at 0 would fail mysteriously") {
    OpTable ops = builtin_ops();
    ops.find_mutable("relu")->pieces = nullptr;
    const Graph g = one_op("relu", "{}", "[0.0, 0.5, -0.5]", 3, ops);
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    CHECK_FALSE(check_of(g, r, "x").passed);  // numeric 0.5 against analytic 0
}

TEST_CASE("gradcheck: boundary points of hardtanh, clip and the hardtanh STE") {
    struct Case {
        const char* op;
        const char* attrs;
        double analytic;      // the gradient at x = 1 exactly, with upstream 1
        const char* matches;  // which one-sided difference that is
    };
    // hardtanh passes the gradient only strictly inside (PyTorch's hardtanh_backward), clamp
    // inclusively (PyTorch's clamp backward), and BNN's STE inclusively (1 where |x| <= 1).
    for (const Case& c : {Case{"hardtanh", "{}", 0.0, "right"}, Case{"clip", R"({"min": -1, "max": 1})", 1.0, "left"},
                          Case{"sign", R"({"ste": "hardtanh"})", 1.0, "left"}}) {
        CAPTURE(c.op);
        const Graph g = one_op(c.op, c.attrs, "[1.0, 0.25]", 2);
        const Trace t = run(g);
        CHECK((*t.nodes[0].grad)[0] == c.analytic);
        const GradcheckReport r = check_gradients(g, t, GradcheckOptions{});
        const NodeCheck& x = check_of(g, r, "x");
        CHECK(x.passed);
        CHECK(x.kinks == 1);
        REQUIRE(x.first_kink);
        CHECK(x.first_kink->at == Index{0});
        CHECK(x.first_kink->matches == std::string(c.matches));
    }
}

TEST_CASE("gradcheck: a max-pool tie is a kink") {
    const Graph g = parse_lesson(R"({"title": "t",
        "leaves": [{"name": "x", "kind": "input", "shape": [1, 1, 2, 2], "values": [[[[1.0, 3.0], [3.0, 0.5]]]]}],
        "nodes": [{"name": "y", "op": "max_pool2d", "inputs": ["x"], "attrs": {"kernel": 2}}],
        "output": {"node": "y", "upstream": {"fill": 1}}})",
                                 "test.json");
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    const NodeCheck& x = check_of(g, r, "x");
    CHECK(x.passed);
    // Moving either 3.0 by +-h changes which element is the maximum.
    CHECK(x.kinks == 2);
    CHECK(x.compared == 2);
}

TEST_CASE("gradcheck: a weight on a power-of-two threshold is a kink, and elsewhere the frozen weights check as 0") {
    // INQ with n1 = -1, n2 = -2: levels 0, 0.25, 0.5. A quantized weight of 0.375 lies
    // on the threshold between 0.25 and 0.5 ((0.25 + 0.5) / 2).
    const Graph g = one_op("pow2_quantize", R"({"n1": -1, "n2": -2, "fraction": 0.5})", "[0.375, 0.1, 0.45, 0.05]", 4);
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    const NodeCheck& x = check_of(g, r, "x");
    CHECK(x.passed);
    CHECK(x.kinks == 1);
    REQUIRE(x.first_kink);
    CHECK(x.first_kink->at == Index{0});
}

TEST_CASE("gradcheck: every new compression lesson passes, naming its surrogates") {
    for (const char* name : {"binaryconnect", "bnn", "xnor-net", "ternary", "quantize-8bit", "qnn-kbit"}) {
        CAPTURE(name);
        const Graph g = load_lesson(name);
        const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
        CHECK(r.passed());
        std::size_t through = 0;
        for (const NodeCheck& c : r.checks) through += c.surrogates.empty() ? 0 : 1;
        CHECK(through > 0);
    }
    for (const char* name : {"inq", "magnitude-pruning", "obd-saliency", "distillation", "fitnets-hint", "net-trim"}) {
        CAPTURE(name);
        const Graph g = load_lesson(name);
        const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
        CHECK(r.passed());
        for (const NodeCheck& c : r.checks) CHECK(c.surrogates.empty());
    }
}

TEST_CASE("gradcheck: the command labels surrogate checks in text and JSON, and run labels surrogate gradients") {
    const auto text = bnstep_test::run_bnstep({"check-gradients", "binaryconnect"});
    CHECK(text.exit_code == 0);
    CHECK(text.out.find("ok (surrogate)") != std::string::npos);
    CHECK(text.out.find(
              "surrogate: differentiated through the straight-through estimator of step 1 (Wb) sign (identity)") !=
          std::string::npos);
    CHECK(text.out.find("1 through a surrogate") != std::string::npos);

    const auto json = bnstep_test::run_bnstep({"check-gradients", "binaryconnect", "--format", "json"});
    CHECK(json.exit_code == 0);
    CHECK(json.out.find("\"verdict\": \"ok (surrogate)\"") != std::string::npos);
    CHECK(json.out.find("\"surrogates\": [\n            \"Wb\"") != std::string::npos);

    const auto run_text = bnstep_test::run_bnstep({"run", "binaryconnect"});
    CHECK(run_text.out.find("a surrogate gradient: Wb uses a straight-through estimator, not its") !=
          std::string::npos);
    CHECK(run_text.out.find("a surrogate gradient: it passed through the straight-through estimator") !=
          std::string::npos);
    const auto run_json = bnstep_test::run_bnstep({"run", "binaryconnect", "--format", "json"});
    CHECK(run_json.out.find("\"straight_through\": true") != std::string::npos);
    CHECK(run_json.out.find("\"surrogate_via\": [\n        \"Wb\"") != std::string::npos);
}
