// Variants keep what is the lesson's own and nothing that is a coincidence of
// its written numbers (docs/lesson-format.md, Variants): a 0 is exempt from
// the cancellation check only when the lesson as written and the reference
// draw both have it; the upstream gradient's default grid leaves out 0; a
// require the lesson as written breaks, or that contradicts itself, is an
// error when the lesson loads; and graph's comment quotes the variant option.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/variant.hpp"
#include "cli_support.hpp"

using namespace bnstep;

namespace {

Graph rules_load(const std::string& text, std::uint64_t variant) {
    LessonOptions o;
    o.variant = variant;
    return parse_lesson(text, "t.json", builtin_ops(), o);
}

std::string rules_error(const std::string& text, std::uint64_t variant) {
    try {
        rules_load(text, variant);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// y = a - c: c fixed at [2, 2]; a as written `a_values` ([2, 1]: y[0] = 0 by coincidence) with `a_variant`.
std::string sub_lesson(const std::string& a_variant, const std::string& a_values = "[2, 1]") {
    return R"({"title": "t", "leaves": [
        {"name": "a", "kind": "input", "shape": [2], "values": )" +
           a_values + R"(, "variant": )" + a_variant + R"(},
        {"name": "c", "kind": "const", "shape": [2], "values": [2, 2]}],
      "nodes": [{"name": "y", "op": "sub", "inputs": ["a", "c"]}],
      "output": {"node": "y", "upstream": {"values": [1, 1]}}})";
}

Graph with_a(Graph g, std::vector<double> a) {
    Node& n = g.nodes[*g.find("a")];
    n.value = Tensor(n.shape, std::move(a));
    return g;
}

}  // namespace

TEST_CASE("variant rules: batchnorm --variant 14 no longer has dbeta[1] = 0 by cancellation") {
    const Graph written = load_lesson("batchnorm");
    const Trace w = run(written);
    // The premise: the lesson as written has dbeta[1] = 0, its dout column 1 summing to 0 by coincidence.
    REQUIRE((*w.nodes[*written.find("beta")].grad)[1] == 0.0);
    LessonOptions o;
    o.variant = 14;
    const Graph g = load_lesson("batchnorm", builtin_ops(), o);
    const Trace t = run(g);
    const Tensor& dbeta = *t.nodes[*g.find("beta")].grad;
    for (std::size_t k = 0; k < dbeta.size(); ++k) {
        CAPTURE(k);
        CHECK(dbeta[k] != 0.0);
    }
    // No column of the upstream gradient sums to 0.
    const Tensor& dout = g.seed;
    for (std::size_t c = 0; c < dout.shape()[1]; ++c) {
        double sum = 0.0;
        for (std::size_t r = 0; r < dout.shape()[0]; ++r) sum += dout[r * dout.shape()[1] + c];
        CHECK(sum != 0.0);
    }
}

TEST_CASE("variant rules: a 0 is structural only when the lesson as written and the reference draw both have it") {
    // a always [2, 2]: y = 0 as written, in every draw and in the reference: structural, accepted.
    const std::string always = sub_lesson(R"({"choices": [2]})", "[2, 2]");
    const Graph written_always = rules_load(always, 0);
    CHECK(!variant_problem(with_a(written_always, {2, 2}), &written_always));
    CHECK(rules_error(always, 5).empty());
    // a from 1 to 3: the written y[0] = 0 is a coincidence. The reference draw is the first attempt of
    // kReferenceVariant; with a[0] != 2 there, a candidate with y[0] = 0 is rejected.
    const std::string grid = sub_lesson(R"({"low": 1, "high": 3, "decimals": 0})");
    const Graph written = rules_load(grid, 0);
    Graph ref = written;
    ref.variant = kReferenceVariant;
    const Graph reference = draw_candidate(ref, 0);
    REQUIRE(reference.nodes[*reference.find("a")].value[0] != 2.0);  // the premise: not a structural 0
    const auto problem = variant_problem(with_a(written, {2, 3}), &written);
    REQUIRE(problem);
    CHECK(problem->check == "cancellation");
    CHECK(problem->what ==
          "avoids y[0] = 0 by cancellation (not 0 in both the lesson as written and the reference draw)");
    // A 0 where the lesson as written is not 0 is rejected as before.
    CHECK(variant_problem(with_a(written, {3, 2}), &written));
    CHECK(!variant_problem(with_a(written, {3, 3}), &written));
    // No variant of the lesson lands on y = 0.
    for (std::uint64_t v = 1; v <= 50; ++v) {
        CAPTURE(v);
        const Graph g = rules_load(grid, v);
        const Tensor& a = g.nodes[*g.find("a")].value;
        CHECK(a[0] != 2.0);
        CHECK(a[1] != 2.0);
    }
}

TEST_CASE("variant rules: the upstream gradient's default grid leaves out 0") {
    LessonOptions o;
    for (std::uint64_t v = 1; v <= 60; ++v) {
        CAPTURE(v);
        o.variant = v;
        const Graph g = load_lesson("batchnorm", builtin_ops(), o);
        const auto& d = g.seed.data();
        CHECK(std::none_of(d.begin(), d.end(), [](double x) { return x == 0.0; }));
        CHECK(std::all_of(d.begin(), d.end(), [](double x) { return x >= -0.5 && x <= 0.4; }));
    }
    // Variant 7 drew a row of dout all 0 when 0 was on the grid.
    o.variant = 7;
    const Graph seven = load_lesson("batchnorm", builtin_ops(), o);
    for (std::size_t r = 0; r < 4; ++r) {
        CAPTURE(r);
        CHECK((seven.seed[r * 3] != 0.0 || seven.seed[r * 3 + 1] != 0.0 || seven.seed[r * 3 + 2] != 0.0));
    }
    // An upstream with its own "variant" key draws 0 when the key allows it.
    const std::string own =
        R"({"title": "t", "leaves": [{"name": "x", "kind": "input", "shape": [4], "values": [1, 2, 3, 4]}],
      "nodes": [{"name": "y", "op": "neg", "inputs": ["x"]}],
      "output": {"node": "y", "upstream": {"values": [1, 2, 1, 2], "variant": {"choices": [0, 1, 2]}}}})";
    bool zero = false;
    for (std::uint64_t v = 1; v <= 20 && !zero; ++v) {
        const Graph g = rules_load(own, v);
        const auto& d = g.seed.data();
        zero = std::any_of(d.begin(), d.end(), [](double x) { return x == 0.0; });
    }
    CHECK(zero);
}

TEST_CASE("variant rules: a require the lesson as written breaks, or that contradicts itself, fails at load") {
    const std::string base = R"({"title": "t", "leaves": [
        {"name": "x", "kind": "input", "shape": [2, 2], "values": [[0.5, -1.2], [2, 0.3]]}],
      "nodes": [{"name": "y", "op": "neg", "inputs": ["x"]}],
      "output": {"node": "y", "upstream": {"fill": 1}}, "variant": {"require": )";
    // y = [[-0.5, 1.2], [-2, -0.3]] keeps some_above 1 and some_below 0.
    CHECK(rules_error(base + R"([{"node": "y", "some_above": 1, "some_below": 0}]}})", 0).empty());
    const std::string broken = base + R"([{"node": "y", "some_below": 0}, {"node": "y", "all_below": 1}]}})";
    const std::string expected =
        "t.json: /variant/require/1: the lesson as written breaks it: it does not keep 'y' all_below 1; a variant "
        "keeps only what the lesson as written has";
    CHECK(rules_error(broken, 0) == expected);  // variant or not
    CHECK(rules_error(broken, 7) == expected);
    const std::string contradiction = base + R"([{"node": "y", "all_above": 1}, {"node": "y", "all_below": 0}]}})";
    CHECK(rules_error(contradiction, 0) ==
          "t.json: /variant/require/1: 'y' all_below 0 contradicts all_above 1 at /variant/require/0: no tensor "
          "keeps both");
    CHECK(rules_error(base + R"([{"node": "y", "all_below": 0, "some_above": 0.5}]}})", 0) ==
          "t.json: /variant/require/0: 'y' some_above 0.5 contradicts all_below 0: no tensor keeps both");
    // The binary: one line, exit 2.
    const auto r =
        bnstep_test::run_bnstep({"run", "tests/bad_lessons/variant_require_broken.json"}, bnstep_test::source_dir());
    CHECK(r.exit_code == 2);
    CHECK(r.err ==
          "bnstep: error: tests/bad_lessons/variant_require_broken.json: /variant/require/0: the lesson as written "
          "breaks it: it does not keep 'y' all_above 0; a variant keeps only what the lesson as written has\n");
}

TEST_CASE("variant rules: graph's comment quotes the variant or the student") {
    using bnstep_test::contains;
    using bnstep_test::run_bnstep;
    const auto dot = run_bnstep({"graph", "batchnorm", "--variant", "7"});
    REQUIRE(dot.exit_code == 0);
    CHECK(contains(dot.out, "// bnstep graph batchnorm --format dot --variant 7\n"));
    const auto mermaid = run_bnstep({"graph", "batchnorm", "--format", "mermaid", "--student", "ada lovelace"});
    REQUIRE(mermaid.exit_code == 0);
    CHECK(contains(mermaid.out, "%% bnstep graph batchnorm --format mermaid --student 'ada lovelace'\n"));
    CHECK(contains(run_bnstep({"graph", "batchnorm"}).out, "// bnstep graph batchnorm --format dot\n"));
}
