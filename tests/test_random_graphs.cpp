// Random graphs from the op table (tests/random_graphs.hpp): every generated
// lesson loads, runs, gives the generator's forward values and passes the
// gradient check, and the generator reaches every op of the table.
// tools/graph_fuzz.cpp runs the same check on many more seeds.
#include <doctest/doctest.h>

#include <algorithm>

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "bnstep/lesson.hpp"
#include "bnstep/op.hpp"
#include "random_graphs.hpp"

using namespace bnstep;

namespace {
constexpr std::uint64_t kFirstSeed = 1;
constexpr std::uint64_t kGraphs = 300;
}  // namespace

TEST_CASE("random graphs: every generated lesson loads, runs and passes check_gradients") {
    std::map<std::string, std::size_t> exercised, generated;
    std::size_t skipped = 0;
    for (std::uint64_t seed = kFirstSeed; seed < kFirstSeed + kGraphs; ++seed) {
        fuzz::GeneratedLesson lesson;
        REQUIRE_NOTHROW(lesson = fuzz::generate_lesson(seed));
        const fuzz::CheckResult r = fuzz::check_lesson(lesson, GradcheckOptions{});
        if (r.verdict == fuzz::Verdict::KinkSkipped || r.verdict == fuzz::Verdict::RoundoffSkipped ||
            r.verdict == fuzz::Verdict::TruncationSkipped) {
            ++skipped;
            continue;
        }
        INFO("seed ", seed, ": ", fuzz::verdict_name(r.verdict), "\n", r.message, "\n", lesson.json);
        CHECK(r.verdict == fuzz::Verdict::Passed);
        for (const std::string& op : r.exercised) ++exercised[op];
        for (const std::string& op : lesson.ops) ++generated[op];
    }
    // A check that crosses a kink (relu, max pool, clip, a rounding step), or
    // that passes with a step 10x larger or smaller, is a finite-difference
    // artefact, not a bug; the generator keeps inputs away from kinks and
    // values small, so it must stay rare.
    CHECK(skipped <= kGraphs / 100);

    // Every op of the table has its backward rule checked at least once: an op
    // added to the table without generator support fails here.
    // An op no gradient passes through (running_mean: every input a buffer)
    // has no backward rule: its forward runs in the lessons that use it.
    for (const OpDef& op : builtin_ops().all()) {
        CAPTURE(op.name);
        const bool has_backward =
            std::any_of(op.inputs.begin(), op.inputs.end(), [](const InputRule& rule) { return rule.differentiable; });
        CHECK((has_backward ? exercised[op.name] : generated[op.name]) > 0);
    }
}

TEST_CASE("random graphs: the generator is deterministic and its lessons name their seed") {
    for (std::uint64_t seed : {0ULL, 7ULL, 123456789ULL}) {
        const fuzz::GeneratedLesson a = fuzz::generate_lesson(seed), b = fuzz::generate_lesson(seed);
        CHECK(a.json == b.json);
        CHECK(a.json.find("--seed " + std::to_string(seed)) != std::string::npos);
    }
    CHECK(fuzz::generate_lesson(1).json != fuzz::generate_lesson(2).json);
}

TEST_CASE("random graphs: the check catches a wrong backward rule, and does not excuse it as an artefact") {
    // exp's gradient with a slip, the local gradient 1 instead of exp(a).
    OpTable ops = builtin_ops();
    ops.find_mutable("exp")->inputs[0].vjp = [](const OpCall&, const Tensor& up) { return up; };
    std::size_t failed = 0;
    for (std::uint64_t seed = kFirstSeed; seed < kFirstSeed + 100; ++seed) {
        const fuzz::GeneratedLesson lesson = fuzz::generate_lesson(seed);
        const fuzz::CheckResult r = fuzz::check_lesson(lesson, GradcheckOptions{}, ops);
        bool exp_checked = false;
        for (const std::string& op : r.exercised) exp_checked = exp_checked || op == "exp";
        CAPTURE(seed);
        // A lesson passes only where exp gets no gradient (or a zero one, through
        // a batchnorm that sums it away, say); none fails as an "artefact".
        if (exp_checked)
            CHECK((r.verdict == fuzz::Verdict::Failed || r.verdict == fuzz::Verdict::Passed));
        else
            CHECK(r.verdict == fuzz::Verdict::Passed);
        failed += r.verdict == fuzz::Verdict::Failed;
    }
    CHECK(failed >= 10);
}

TEST_CASE("random graphs: the check catches a wrong straight-through rule, and does not excuse it as an artefact") {
    // Half the gradient a straight-through op sends: the check differentiates
    // the op's surrogate, and so must the classification of failing elements.
    for (const char* name : {"sign", "binarize_stochastic", "xnor_binarize", "ternarize", "quantize"}) {
        CAPTURE(name);
        OpTable ops = builtin_ops();
        auto& rule = ops.find_mutable(name)->inputs[0];
        rule.vjp = [right = rule.vjp](const OpCall& call, const Tensor& up) {
            Tensor g = right(call, up);
            for (double& v : g.data()) v *= 0.5;
            return g;
        };
        std::size_t failed = 0;
        for (std::uint64_t seed = kFirstSeed; seed < kFirstSeed + 300; ++seed) {
            const fuzz::CheckResult r = fuzz::check_lesson(fuzz::generate_lesson(seed), GradcheckOptions{}, ops);
            CAPTURE(seed);
            CHECK((r.verdict == fuzz::Verdict::Failed || r.verdict == fuzz::Verdict::Passed));
            failed += r.verdict == fuzz::Verdict::Failed;
        }
        CHECK(failed >= 8);  // each of the quantization family's ops is drawn in a few dozen of the 300 lessons
    }
}

TEST_CASE("random graphs: the check catches a worked example that disagrees with the gradient") {
    // neg's worked gradient example with the sign forgotten.
    OpTable ops = builtin_ops();
    auto& rule = ops.find_mutable("neg")->inputs[0];
    rule.explain = [original = rule.explain](const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                                             const NumFmt& num) {
        Worked w = original(call, up, names, at, num);
        w.result = -w.result;
        return w;
    };
    std::size_t caught = 0;
    for (std::uint64_t seed = kFirstSeed; seed < kFirstSeed + 60; ++seed) {
        const fuzz::CheckResult r = fuzz::check_lesson(fuzz::generate_lesson(seed), GradcheckOptions{}, ops);
        if (r.verdict == fuzz::Verdict::ExplainMismatch) {
            CHECK(r.message.find("neg") != std::string::npos);
            ++caught;
        }
    }
    CHECK(caught > 0);
}

TEST_CASE("random graphs: max_pool_min_gap finds the closest pair in a window") {
    Tensor x(Shape{1, 1, 2, 2}, std::vector<double>{1.0, 3.0, 2.5, -1.0});
    CHECK(fuzz::max_pool_min_gap(x, 2, 0, 0) == doctest::Approx(0.5));
    CHECK(fuzz::max_pool_min_gap(x, 1, 0, 0) == std::numeric_limits<double>::infinity());
}

TEST_CASE("random graphs: regression: pow with p = 0 at a = 0 sends gradient 0, not NaN") {
    // Found by bnstep_graph_fuzz (a relu's exact zeros fed pow(p=0)): the local
    // gradient p*a^(p-1) was 0 * 0^-1 = 0 * inf = NaN, a numeric fault; a^0 is
    // the constant 1, so its gradient is 0 everywhere (as in PyTorch).
    const Graph g = parse_lesson(R"({"title": "pow p=0 at 0",
        "leaves": [{"name": "x", "kind": "input", "shape": [3], "values": [-1.0, 0.0, 2.0]}],
        "nodes": [{"name": "r", "op": "relu", "inputs": ["x"]},
                  {"name": "y", "op": "pow", "inputs": ["r"], "attrs": {"p": 0}}],
        "output": {"node": "y", "upstream": {"values": [1.0, 1.0, 1.0]}}})",
                                 "pow0.json");
    const Trace t = run(g);
    const Tensor& dr = *t.nodes[*g.find("r")].grad;
    for (std::size_t i = 0; i < dr.size(); ++i) CHECK(dr[i] == 0.0);
    CHECK(check_gradients(g, t, GradcheckOptions{}).passed());
}
