// The loader at library level: generated values and a few validation rules
// (the full catalogue of bad lessons runs through the binary in test_bad_lessons.cpp).
#include <doctest/doctest.h>

#include <cmath>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"

using namespace bnstep;

namespace {

std::string lesson_with_leaf(const std::string& leaf) {
    return R"({"title": "t", "leaves": [)" + leaf +
           R"(], "nodes": [{"name": "y", "op": "neg", "inputs": ["x"]}], "output": {"node": "y", "upstream": {"fill": 1}}})";
}

std::string error_of(const std::string& text) {
    try {
        parse_lesson(text, "t.json");
    } catch (const LessonError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("lesson: random values come from splitmix64 and exact arithmetic") {
    const Graph g = parse_lesson(
        lesson_with_leaf(
            R"({"name": "x", "kind": "input", "shape": [2], "random": {"seed": 0, "low": -1, "high": 3}})"),
        "t.json");
    // The first two splitmix64 outputs for seed 0, as 53-bit fractions.
    const double u0 = static_cast<double>(0xE220A8397B1DCDAFULL >> 11) / 9007199254740992.0;
    const double u1 = static_cast<double>(0x6E789E6AA1B965F4ULL >> 11) / 9007199254740992.0;
    const Tensor& x = g.nodes[0].value;
    CHECK(x[0] == -1 + 4 * u0);
    CHECK(x[1] == -1 + 4 * u1);

    const Graph rounded = parse_lesson(
        lesson_with_leaf(
            R"({"name": "x", "kind": "input", "shape": [2], "random": {"seed": 0, "low": -1, "high": 3, "decimals": 2}})"),
        "t.json");
    CHECK(rounded.nodes[0].value[0] == std::round((-1 + 4 * u0) * 100) / 100);
}

TEST_CASE("lesson: each distribution takes only its own parameters") {
    CHECK(error_of(
              lesson_with_leaf(R"({"name": "x", "kind": "input", "shape": [2], "random": {"seed": 1, "mean": 2}})")) ==
          "t.json: /leaves/0/random/mean: 'mean' does not apply to dist \"uniform\"; it takes low and high");
    CHECK(error_of(lesson_with_leaf(
              R"({"name": "x", "kind": "input", "shape": [2], "random": {"seed": 1, "dist": "normal", "low": 0}})")) ==
          "t.json: /leaves/0/random/low: 'low' does not apply to dist \"normal\"; it takes mean and std");
    CHECK(error_of(lesson_with_leaf(
              R"({"name": "x", "kind": "input", "shape": [2], "random": {"seed": 1, "dist": "normal", "std": 2}})")) ==
          "");
}

TEST_CASE("lesson: a number too large for a double is a lesson error, not a crash") {
    const std::string text = lesson_with_leaf(R"({"name": "x", "kind": "input", "shape": [], "fill": 1e999})");
    const std::string where = "t.json:1:" + std::to_string(text.find("1e999") + 1);
    CHECK(error_of(text) == where + ": malformed JSON: number overflow parsing '1e999' (numbers must fit a double)");
}

TEST_CASE("lesson: a duplicate key is named by its JSON pointer") {
    const std::string text = R"({"title": "t", "leaves": [{"name": "x", "kind": "input", "shape": [1], "fill": 1},
        {"name": "w", "kind": "param", "shape": [1], "fill": 2, "fill": 3}],
        "nodes": [{"name": "y", "op": "mul", "inputs": ["x", "w"]}], "output": {"node": "y", "upstream": {"fill": 1}}})";
    CHECK(error_of(text) == "t.json: /leaves/1/fill: duplicate key 'fill' in an object (only one may be given)");
}

TEST_CASE("lesson: did you mean finds close names only") {
    CHECK(did_you_mean("mull", {"mul", "matmul", "mean"}) == "mul");
    CHECK(did_you_mean("xm", {"x", "xmu", "mu"}) == "x");
    CHECK(did_you_mean("sqaure", {"square", "sqrt"}) == "square");
    CHECK(did_you_mean("nodse", {"title", "nodes", "leaves"}) == "nodes");  // a swap counts as one edit
    CHECK(did_you_mean("banana", {"mul", "add"}).empty());
}
