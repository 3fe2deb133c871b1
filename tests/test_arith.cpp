// The evaluator of printed arithmetic (bnstep/arith.hpp), the settling of a
// worked element's digits, and the display step that prints exact zeros as 0:
// values worked out by hand.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bnstep/arith.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/print.hpp"

using namespace bnstep;

TEST_CASE("arith: juxtaposed factors multiply, an elided part reads as its number") {
    CHECK(eval_formula("(0.5)(-1)", {}) == -0.5);
    CHECK(eval_formula("2(1/4)", {}) == 0.5);
    CHECK(eval_formula("(0.5)(-1) + 2(1/4) + (3)(2)(0.5)", {}) == 3);
    CHECK(eval_formula("(0.1)(2) + [19 more terms: 0.25] + (-0.5)", {}) == doctest::Approx(-0.05).epsilon(1e-15));
    CHECK(eval_formula("[3 more terms: -0.5] * 2", {}) == -1);
    // Only a '(' right after the factor multiplies: "2 (ste identity)" is a number and prose.
    CHECK(eval_prefix("2 (ste identity)", {}).end == 1);
    CHECK(eval_formula("round_half_even(2.5) + round_half_even(-1.5) + round_half_even(3.5) + nearbyint(0.5)", {}) ==
          4);  // 2 - 2 + 4 + 0
    CHECK_THROWS_AS(eval_formula("[no number]", {}), FormulaError);
}

TEST_CASE("arith: the scale is the magnitude of the terms") {
    CHECK(eval_whole("2 * 3 - 4", {}).scale == 10);             // |6| + |4|
    CHECK(eval_whole("(0.5)(-1) + 2(1/4)", {}).scale == 1);     // 0.5 + 0.5, value 0
    CHECK(eval_whole("6/(-3)", {}).scale == 2);                 // |6| / |-3|
    CHECK(eval_whole("-(0.25) + |(-0.5)|", {}).scale == 0.75);  // signs and |x| keep their operand's
    CHECK(eval_whole("1 - 0.75", {}).scale == 1.75);            // the bracket of the closed form
    CHECK(eval_whole("0.5 + [2 more terms: -0.25]", {}).scale == 0.75);
    CHECK(eval_whole("sqrt(4) + 1", {}).scale == 3);  // a function: |its value|
}

TEST_CASE("arith: the chains of a note and the number that starts a text") {
    const auto chains = arithmetic_chains("local gradient at [1]: -1/sqrtvar[1]^2 = -1/1.118^2 = -0.8");
    REQUIRE(chains.size() == 1);
    CHECK(chains[0].expr == "-1/1.118^2");
    CHECK(chains[0].printed == "-0.8");
    const auto two = arithmetic_chains("(q - zero_point) * scale = (4 - 0) * 0.5 = 2, then 2/4 = 0.5 (exact)");
    CHECK(two.size() == 1);                             // "2, then 2/4" is not arithmetic
    CHECK(arithmetic_chains("x = 0.5 = 0.5").empty());  // a number alone is no chain
    CHECK(arithmetic_chains("M = 4, the elements per channel").empty());
    CHECK(leading_number("-0.8 (clipped)") == std::optional<std::string>("-0.8"));
    CHECK(leading_number("1e-05, then") == std::optional<std::string>("1e-05"));
    CHECK(!leading_number("x1"));
    CHECK(!leading_number("2(1/4)"));
}

TEST_CASE("settle: the operands get the digits the line needs, and an exact zero prints 0") {
    // dxmu[3,1] of the lesson batchnorm: -1/sqrt(500) + 0.8/sqrt(500) * ... as two doubles.
    const double a = -0.044721359549995794, b = 0.035777087639996635;
    auto sum_of = [](std::vector<double> terms) {
        return [terms](const NumFmt& num) {
            Worked w;
            w.lhs = "d";
            for (double t : terms) {
                w.numeric += (w.numeric.empty() ? "" : " + ") + num.operand(t);
                w.result += t;
            }
            return w;
        };
    };
    // At 4 digits, (-0.04472) + 0.03578 = -0.00894, but the result prints -0.008944.
    const Worked w = settle_worked(sum_of({a, b}), NumFmt{4});
    CHECK(w.numeric == "(-0.044721) + 0.035777");
    CHECK(NumFmt{4}(w.result) == "-0.008944");
    CHECK(w.scale == doctest::Approx(0.044721 + 0.035777).epsilon(1e-15));
    CHECK(worked_reproduces(w, 4, 5));
    CHECK(!worked_reproduces(sum_of({a, b})(NumFmt{4}), 4, 4));

    // 0.1 + 0.2 - 0.3 is 5.55e-17 in doubles: it prints 0, and 0.1 + 0.2 + (-0.3) evaluates to 0.
    const Worked zero = settle_worked(sum_of({0.1, 0.2, -0.3}), NumFmt{4});
    CHECK(zero.result == 0.0);
    CHECK(zero.numeric == "0.1 + 0.2 + (-0.3)");
    CHECK(zero.notes.empty());
    // 1/3 three times less 1: printed 0.3333 three times, the pencil leaves -0.0001.
    const Worked thirds = settle_worked(sum_of({1.0 / 3, 1.0 / 3, 1.0 / 3, -1.0}), NumFmt{4});
    CHECK(thirds.result == 0.0);
    CHECK(thirds.numeric == "0.3333 + 0.3333 + 0.3333 + (-1)");
    REQUIRE(thirds.notes.size() == 1);
    CHECK(thirds.notes[0] == "the exact result is 0: the printed terms, rounded to 4 digits, leave -0.0001");
}

namespace {

double largest(const Tensor& t) {
    double m = 0;
    for (std::size_t k = 0; k < t.size(); ++k) m = std::max(m, std::fabs(t[k]));
    return m;
}

// Nonzero elements below 1e-12 of `scale`.
std::size_t tiny(const Tensor& t, double scale) {
    std::size_t n = 0;
    for (std::size_t k = 0; k < t.size(); ++k) n += t[k] != 0.0 && std::fabs(t[k]) < 1e-12 * scale;
    return n;
}

// The tiny numbers of a trace: values against the node's and its inputs'
// largest value, gradients against the largest gradient of the run.
std::size_t tiny_numbers(const Trace& t) {
    const Graph& g = *t.graph;
    double grads = largest(g.seed);
    for (const NodeState& n : t.nodes) {
        if (n.grad) grads = std::max(grads, largest(*n.grad));
        for (const EdgeGrad& e : n.edges) grads = std::max(grads, largest(e.contribution));
    }
    std::size_t count = 0;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const NodeState& n = t.nodes[i];
        double values = largest(n.value);
        for (std::size_t in : g.nodes[i].inputs) values = std::max(values, largest(t.nodes[in].value));
        count += tiny(n.value, values);
        if (n.grad) count += tiny(*n.grad, grads);
        for (const EdgeGrad& e : n.edges) count += tiny(e.contribution, grads) + tiny(e.unreduced, grads);
    }
    return count;
}

}  // namespace

TEST_CASE("display: no built-in lesson prints round-off where the exact value is 0") {
    std::size_t raw = 0;
    for (const BuiltinLesson& l : builtin_lessons()) {
        const Graph g = load_lesson(std::string(l.name));
        raw += tiny_numbers(run(g));
        const Trace t = run_for_display(g);
        CHECK_MESSAGE(tiny_numbers(t) == 0, l.name);
        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            if (!t.nodes[i].grad) continue;
            for (const EdgeGrad& e : t.nodes[i].edges) {
                if (e.status != EdgeGrad::Status::Flows) continue;
                const Worked w = worked_gradient(t, i, e.slot, default_index(g.nodes[e.input].shape), NumFmt{4});
                CHECK_MESSAGE((w.result == 0.0 || std::fabs(w.result) >= 1e-12 * w.scale), l.name, " ", w.lhs);
            }
        }
    }
    CHECK(raw > 0);  // the raw runs have them (batchnorm's dmu[1], affine-bn-relu's db ...)
}

TEST_CASE("display: batchnorm's dmu[1] and affine-bn-relu's db print 0, and JSON keeps the raw double") {
    const Graph bn = load_lesson("batchnorm");
    std::ostringstream text;
    print_run_text(text, run_for_display(bn), PrintOptions{});
    CHECK(text.str().find("            [-0.4811        0  -0.3578]\n") != std::string::npos);
    CHECK(text.str().find("dmu[1] is 0: column 1 of dxmu * local sums to 0 exactly") != std::string::npos);
    CHECK(text.str().find("             [ -0.1203         0  -0.08944]\n") != std::string::npos);  // dx2 = dmu / 4
    const nlohmann::json raw = run_json(run(bn));
    CHECK(raw.dump().find("6.938893903907228e-18") != std::string::npos);
    const nlohmann::json dmu_zero = {{"tensor", "dmu"}, {"index", {1}}, {"value", 6.938893903907228e-18}};
    CHECK(std::find(raw["exact_zeros"].begin(), raw["exact_zeros"].end(), dmu_zero) != raw["exact_zeros"].end());

    const Trace t = run_for_display(bn);
    std::size_t xmu = 0;
    while (bn.nodes[xmu].name != "xmu") ++xmu;
    const Worked dmu = worked_gradient(t, xmu, 1, {1}, NumFmt{4});
    CHECK(dmu.lhs == "dmu[1]");
    CHECK(dmu.result == 0.0);  // -(-0.02683 - 0.06261 + 0.09839 - 0.008945) by hand: 0

    const Graph abr = load_lesson("affine-bn-relu");
    std::ostringstream affine;
    print_run_text(affine, run_for_display(abr), PrintOptions{});
    CHECK(affine.str().find("\ndb (2,)\n        [0  0]\n") != std::string::npos);
}
