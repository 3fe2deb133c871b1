// Lesson variants (docs/lesson-format.md, Variants): the draw re-derived here
// from the documented algorithm (splitmix64 and FNV-1a written out again),
// variants differ and repeat, variant 0 is the lesson as written, every key
// error, each degeneracy check rejecting a crafted candidate, and the variant
// named in the outputs of the binary.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/variant.hpp"
#include "cli_support.hpp"

using namespace bnstep;

namespace {

// The documented algorithm, written out again.
std::uint64_t ref_fnv(const std::string& s) {
    std::uint64_t h = 14695981039346656037ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}
std::uint64_t ref_mix(std::uint64_t z) {
    z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31U);
}
struct RefRng {
    std::uint64_t state;
    std::uint64_t next() {
        state += 0x9E3779B97F4A7C15ULL;
        return ref_mix(state);
    }
};
// Grid k / 10^d for k in [lo, hi].
std::vector<double> ref_grid(std::uint64_t variant, std::uint64_t attempt, const std::string& leaf, long long lo,
                             long long hi, double p, std::size_t n) {
    RefRng rng{ref_mix(ref_mix(variant) ^ attempt) ^ ref_fnv(leaf)};
    std::vector<double> out;
    const auto count = static_cast<std::uint64_t>(hi - lo + 1);
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(static_cast<double>(lo + static_cast<long long>(rng.next() % count)) / p);
    return out;
}

std::string var_lesson(const std::string& leaves, const std::string& nodes, const std::string& output,
                       const std::string& extra = "") {
    return R"({"title": "t", "leaves": [)" + leaves + R"(], "nodes": [)" + nodes + R"(], "output": )" + output + extra +
           "}";
}

// x (2, 2) given by values, y = -x, upstream fill 1.
std::string neg_lesson(const std::string& x_extra = "", const std::string& extra = "") {
    return var_lesson(
        R"({"name": "x", "kind": "input", "shape": [2, 2], "values": [[0.5, -1.2], [2, 0.3]])" + x_extra + "}",
        R"({"name": "y", "op": "neg", "inputs": ["x"]})", R"({"node": "y", "upstream": {"fill": 1}})", extra);
}

Graph var_load(const std::string& text, std::uint64_t variant, const std::string& student = "") {
    LessonOptions o;
    o.variant = variant;
    o.student = student;
    return parse_lesson(text, "t.json", builtin_ops(), o);
}

std::string var_error(const std::string& text, std::uint64_t variant = 3) {
    try {
        var_load(text, variant);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::vector<double> values_of(const Graph& g, const std::string& name) { return g.nodes[*g.find(name)].value.data(); }

}  // namespace

TEST_CASE("variants: the draw is the documented one, re-derived") {
    // Default of a values input: min -1.2, max 2, 1 decimal: k in [-12, 20].
    for (std::uint64_t v : {1ULL, 7ULL, 123456789ULL, 18446744073709551615ULL}) {
        CAPTURE(v);
        const Graph g = var_load(neg_lesson(), v);
        CHECK(values_of(g, "x") == ref_grid(v, 0, "x", -12, 20, 10.0, 4));
        CHECK(g.seed.data() == std::vector<double>(4, 1.0));  // a fill is fixed
        CHECK(g.variant == v);
    }
    // An explicit grid: 2 decimals from -0.5 to 0.25.
    const Graph g = var_load(neg_lesson(R"(, "variant": {"low": -0.5, "high": 0.25, "decimals": 2})"), 9);
    CHECK(values_of(g, "x") == ref_grid(9, 0, "x", -50, 25, 100.0, 4));
    // Choices: each element one of them.
    const Graph c = var_load(neg_lesson(R"(, "variant": {"choices": [3, -4, 0.5]})"), 11);
    RefRng rng{ref_mix(ref_mix(11) ^ 0) ^ ref_fnv("x")};
    const double choices[] = {3, -4, 0.5};
    for (double x : values_of(c, "x")) CHECK(x == choices[rng.next() % 3]);
    // The upstream gradient is the leaf "output.upstream".
    const std::string up = var_lesson(R"({"name": "x", "kind": "input", "shape": [3], "values": [1, 2, 3]})",
                                      R"({"name": "y", "op": "neg", "inputs": ["x"]})",
                                      R"({"node": "y", "upstream": {"values": [0.25, -1, 1]}})");
    // Its default grid leaves out 0: 200 points, counting past 0.
    RefRng up_rng{ref_mix(ref_mix(5) ^ 0) ^ ref_fnv("output.upstream")};
    std::vector<double> expected_up;
    for (int i = 0; i < 3; ++i) {
        long long k = -100 + static_cast<long long>(up_rng.next() % 200);
        expected_up.push_back(static_cast<double>(k >= 0 ? k + 1 : k) / 100.0);
    }
    CHECK(var_load(up, 5).seed.data() == expected_up);
}

TEST_CASE("variants: two variants differ, one variant repeats, variant 0 is the lesson as written") {
    const Graph a = var_load(neg_lesson(), 1), b = var_load(neg_lesson(), 2), a2 = var_load(neg_lesson(), 1);
    CHECK(values_of(a, "x") != values_of(b, "x"));
    CHECK(values_of(a, "x") == values_of(a2, "x"));
    CHECK(values_of(var_load(neg_lesson(), 0), "x") == std::vector<double>{0.5, -1.2, 2, 0.3});
    // Hand-friendly: at most one decimal here, within the written range.
    for (double x : values_of(a, "x")) {
        CHECK(x >= -1.2);
        CHECK(x <= 2);
        CHECK(std::round(x * 10) / 10 == x);
    }
    // A fixed leaf and a const keep their values.
    CHECK(values_of(var_load(neg_lesson(R"(, "variant": "fixed")"), 4), "x") == std::vector<double>{0.5, -1.2, 2, 0.3});
}

TEST_CASE("variants: a student's name is FNV-1a 64 then the splitmix64 finalizer") {
    // Worked out independently (Python): fnv1a64("ada") = 16648611661198975291, mixed = 9024170025371316765.
    CHECK(ref_fnv("ada") == 16648611661198975291ULL);
    CHECK(student_variant("ada") == 9024170025371316765ULL);
    const Graph s = var_load(neg_lesson(), student_variant("ada"), "ada");
    CHECK(values_of(s, "x") == values_of(var_load(neg_lesson(), 9024170025371316765ULL), "x"));
    CHECK(variant_suffix(s) == ", variant 9024170025371316765 (student ada)");
}

TEST_CASE("variants: each malformed key is a one-line error at its JSON location") {
    struct Case {
        std::string text, expected;
    };
    const std::vector<Case> cases = {
        {neg_lesson(R"(, "variant": "fixd")"), "t.json: /leaves/0/variant: unknown variant 'fixd'"},
        {neg_lesson(R"(, "variant": 3)"), "t.json: /leaves/0/variant: expected \"fixed\" or an object"},
        {neg_lesson(R"(, "variant": {"lo": 1, "high": 2})"),
         "t.json: /leaves/0/variant: unknown key 'lo' (did you mean 'low'?)"},
        {neg_lesson(R"(, "variant": {"low": 2, "high": 1})"), "t.json: /leaves/0/variant: expected low < high"},
        {neg_lesson(R"(, "variant": {"low": 0, "high": 1, "decimals": 3})"),
         "t.json: /leaves/0/variant/decimals: expected 0, 1 or 2 decimals, got 3"},
        {neg_lesson(R"(, "variant": {"low": 0.1, "high": 0.15, "decimals": 1})"),
         "t.json: /leaves/0/variant: the grid from 0.1 to 0.15 with 1 decimal has 1 point; expected at least 2"},
        {neg_lesson(R"(, "variant": {"low": 0, "high": 1, "decimals": 0, "nonzero": true})"),
         "has 1 point other than 0; expected at least 2"},
        {neg_lesson(R"(, "variant": {"low": -100, "high": 100, "decimals": 2})"),
         "t.json: /leaves/0/variant: the grid from -100 to 100 with 2 decimals draws numbers of more than 4 "
         "significant digits"},
        {neg_lesson(R"(, "variant": {"choices": [1, 0.12345]})"),
         "t.json: /leaves/0/variant/choices/1: 0.12345 has more than 4 significant digits"},
        {neg_lesson(R"(, "variant": {"choices": []})"),
         "t.json: /leaves/0/variant/choices: expected at least one number"},
        {neg_lesson(R"(, "variant": {"choices": [0], "nonzero": true})"), "nonzero leaves no choice"},
        {neg_lesson(R"(, "variant": {"choices": [1], "low": 0})"),
         "t.json: /leaves/0/variant/low: 'low' does not go with choices"},
        {neg_lesson("", R"(, "variant": {"requires": []})"),
         "t.json: /variant: unknown key 'requires' (did you mean 'require'?)"},
        {neg_lesson("", R"(, "variant": {"require": [{"node": "z", "all_above": 0}]})"),
         "t.json: /variant/require/0/node: unknown node 'z'"},
        {neg_lesson("", R"(, "variant": {"require": [{"node": "y", "all_abov": 0}]})"),
         "t.json: /variant/require/0: unknown key 'all_abov' (did you mean 'all_above'?)"},
        {neg_lesson("", R"(, "variant": {"require": [{"node": "y"}]})"),
         "t.json: /variant/require/0: expected at least one test"},
        {neg_lesson("", R"(, "variant": {"notes": {"q": "text"}})"), "t.json: /variant/notes/q: unknown node 'q'"},
        {neg_lesson("", R"(, "variant": {"allow": ["kinks"]})"),
         "t.json: /variant/allow/0: unknown kind 'kinks' (did you mean 'kink'?)"},
        {neg_lesson("", R"(, "variant": {"description": 4})"), "t.json: /variant/description: expected a string"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.text);
        const std::string e = var_error(c.text, 0);  // malformed keys are errors at variant 0 too
        CHECK(e.find(c.expected) != std::string::npos);
        CHECK(e.find('\n') == std::string::npos);
    }
}

TEST_CASE("variants: a lesson no draw can keep fails after 100 draws, naming the check") {
    // Every draw: a column of zero variance.
    const std::string bn = var_lesson(
        R"({"name": "x", "kind": "input", "shape": [2, 2], "values": [[1, 2], [3, 4]], "variant": {"choices": [1.5]}},
           {"name": "g", "kind": "param", "shape": [2], "values": [1, 1]},
           {"name": "b", "kind": "param", "shape": [2], "values": [0, 0]})",
        R"({"name": "y", "op": "batchnorm", "inputs": ["x", "g", "b"]})",
        R"({"node": "y", "upstream": {"values": [[1, 2], [3, 5]]}})");
    CHECK(var_error(bn, 0).empty());
    CHECK(var_error(bn, 7) ==
          "t.json: /nodes/0: no draw of variant 7 avoids a column 0 of variance 0 (at most 10 * eps = 0.0001) at 'y' "
          "(100 draws)");
    // Every draw: a ReLU input at 0, a kink.
    const std::string relu = var_lesson(
        R"({"name": "x", "kind": "input", "shape": [2], "values": [1, -2], "variant": {"choices": [0]}})",
        R"({"name": "y", "op": "relu", "inputs": ["x"]})", R"({"node": "y", "upstream": {"values": [1, 2]}})");
    const std::string kink = var_error(relu, 7);
    CHECK(kink.find("t.json: /leaves/0: no draw of variant 7 avoids a kink: moving x[0] crosses a kink of 'y'") == 0);
    CHECK(kink.find("(100 draws)") != std::string::npos);
    // ... unless the lesson allows kinks.
    CHECK(var_error(relu.substr(0, relu.size() - 1) + R"(, "variant": {"allow": ["kink"]}})", 7).empty());
    // A required property that never holds.
    // (x as written has -1.2; the draws, from 1 and 2, never have a negative element.)
    const std::string req = neg_lesson(R"(, "variant": {"choices": [1, 2]})",
                                       R"(, "variant": {"require": [{"node": "x", "some_below": 0}]})");
    CHECK(var_error(req, 7) == "t.json: /variant/require/0: no draw of variant 7 keeps 'x' some_below 0 (100 draws)");
    // A cancellation zero: y = a + b = 0, where the lesson as written gives 3.
    const std::string add = var_lesson(
        R"({"name": "a", "kind": "input", "shape": [1], "values": [1]},
           {"name": "b", "kind": "input", "shape": [1], "values": [2], "variant": {"choices": [-1]}})",
        R"({"name": "y", "op": "add", "inputs": ["a", "b"]})", R"({"node": "y", "upstream": {"values": [1]}})");
    CHECK(var_error(add, 7) ==
          "t.json: /nodes/0: no draw of variant 7 avoids y[0] = 0 by cancellation (not 0 in both the lesson as "
          "written and the reference draw) (100 draws)");
    // The forward pass failing: log of a negative number.
    const std::string log =
        var_lesson(R"({"name": "x", "kind": "input", "shape": [1], "values": [1], "variant": {"choices": [-1]}})",
                   R"({"name": "y", "op": "log", "inputs": ["x"]})", R"({"node": "y", "upstream": {"values": [1]}})");
    CHECK(var_error(log, 7).find("t.json: /: no draw of variant 7 gets through the forward pass") == 0);
}

TEST_CASE("variants: a draw that is degenerate is drawn again, and the accepted one is not") {
    // x in {-1, 0, 1}: a draw with a 0 puts a ReLU input on its kink.
    const std::string relu = var_lesson(
        R"({"name": "x", "kind": "input", "shape": [3], "values": [1, -2, 3], "variant": {"choices": [-1, 0, 1]}})",
        R"({"name": "y", "op": "relu", "inputs": ["x"]})", R"({"node": "y", "upstream": {"values": [1, 2, 3]}})");
    std::size_t redrawn = 0;
    for (std::uint64_t v = 1; v <= 20; ++v) {
        CAPTURE(v);
        const std::vector<double> x = values_of(var_load(relu, v), "x");
        CHECK(std::count(x.begin(), x.end(), 0.0) == 0);
        const std::vector<double> first =
            draw_leaf(var_load(relu, 0).nodes[0].redraw, {3}, variant_seed(v, 0, "x")).data();
        if (std::count(first.begin(), first.end(), 0.0) > 0)
            ++redrawn;
        else
            CHECK(x == first);  // a first draw without a 0 is taken as it is
    }
    CHECK(redrawn > 0);  // 1 - (2/3)^3 of the first draws have a 0
    // b in {-1, 2}: a = 1 and b = -1 cancel; the accepted draws keep b = 2.
    const std::string add = var_lesson(
        R"({"name": "a", "kind": "input", "shape": [1], "values": [1], "variant": "fixed"},
           {"name": "b", "kind": "input", "shape": [1], "values": [2], "variant": {"choices": [-1, 2]}})",
        R"({"name": "y", "op": "add", "inputs": ["a", "b"]})", R"({"node": "y", "upstream": {"values": [1]}})");
    for (std::uint64_t v = 1; v <= 10; ++v) CHECK(values_of(var_load(add, v), "b") == std::vector<double>{2});
}

TEST_CASE("variants: the description and notes of a variant replace the lesson's") {
    const std::string text =
        neg_lesson("", R"(, "variant": {"description": "numbers of your own", "notes": {"x": "your input"}})");
    CHECK(var_load(text, 0).description.empty());
    const Graph g = var_load(text, 2);
    CHECK(g.description == "numbers of your own");
    CHECK(g.nodes[*g.find("x")].note == "your input");
}

TEST_CASE("variants: every built-in lesson loads as variants 1 to 3") {
    for (const auto& lesson : builtin_lessons())
        for (std::uint64_t v = 1; v <= 3; ++v) {
            CAPTURE(lesson.name);
            CAPTURE(v);
            LessonOptions o;
            o.variant = v;
            CHECK_NOTHROW(parse_lesson(lesson.json, "lessons/" + std::string(lesson.name) + ".json", builtin_ops(), o));
        }
}

TEST_CASE("variants: the binary names the variant and repeats it") {
    using bnstep_test::contains;
    using bnstep_test::run_bnstep;
    const auto text = run_bnstep({"run", "batchnorm", "--variant", "7"});
    REQUIRE(text.exit_code == 0);
    CHECK(contains(text.out, "lesson batchnorm (lessons/batchnorm.json), 13 nodes, variant 7\n"));
    CHECK(run_bnstep({"run", "batchnorm", "--variant", "7"}).out == text.out);
    CHECK(run_bnstep({"run", "batchnorm", "--variant", "8"}).out != text.out);
    CHECK(!contains(run_bnstep({"run", "batchnorm"}).out, "variant"));
    const auto json_out = run_bnstep({"run", "batchnorm", "--student", "ada", "--format", "json"});
    REQUIRE(json_out.exit_code == 0);
    CHECK(contains(json_out.out, "\"variant\": 9024170025371316765"));
    CHECK(contains(json_out.out, "\"student\": \"ada\""));
    const auto student = run_bnstep({"run", "batchnorm", "--student", "ada"});
    CHECK(contains(student.out, "variant 9024170025371316765 (student ada)"));
    const std::string by_number = run_bnstep({"run", "batchnorm", "--variant", "9024170025371316765"}).out;
    CHECK(by_number.substr(by_number.find("FORWARD PASS")) == student.out.substr(student.out.find("FORWARD PASS")));
    const auto dot = run_bnstep({"graph", "batchnorm", "--variant", "7"});
    REQUIRE(dot.exit_code == 0);
    CHECK(contains(dot.out, "// variant 7\n"));
    CHECK(contains(dot.out, "(variant 7)\""));
    const auto trace = run_bnstep({"trace", "batchnorm", "--node", "xhat", "--variant", "7"});
    CHECK(contains(trace.out, "in lesson batchnorm, variant 7"));
    const auto check = run_bnstep({"check-gradients", "batchnorm", "--variant", "7"});
    CHECK(check.exit_code == 0);
    CHECK(contains(check.out, "lesson batchnorm, variant 7"));
}

TEST_CASE("variants: --set resizes a literal leaf under a variant only") {
    using bnstep_test::contains;
    using bnstep_test::run_bnstep;
    const auto refused = run_bnstep({"run", "batchnorm", "--set", "x.shape=6,3"});
    CHECK(refused.exit_code == 2);
    CHECK(contains(refused.err, "only a leaf with \"random\" or \"fill\" can be resized"));
    const auto resized = run_bnstep({"run", "batchnorm", "--set", "x.shape=6,3", "--variant", "3"});
    CHECK(resized.exit_code == 0);
    CHECK(contains(resized.out, "resized with --set: x (6, 3)"));
    CHECK(contains(resized.out, "step 0  x  input (6, 3)"));
}

TEST_CASE("variants: the ops' degenerate cases, worked by hand") {
    const OpTable& ops = builtin_ops();
    auto degenerate = [&ops](const char* op, const std::vector<const Tensor*>& in, const Attrs& a) {
        OpCall call;
        call.in = in;
        call.attrs = &a;
        return ops.find(op)->degenerate(call);
    };
    // prune_mask, sparsity 0.5 of 4: the 2 smallest |W| are 0.1 and 0.2, and the third is 0.2 too.
    Attrs prune;
    prune.set("sparsity", 0.5);
    const Tensor tie(Shape{4}, {0.1, -0.2, 0.2, 0.4}), no_tie(Shape{4}, {0.1, -0.2, 0.3, 0.4});
    CHECK(degenerate("prune_mask", {&tie}, prune) == "a tie of |W| = 0.2 at the boundary of the 2 smallest");
    CHECK(degenerate("prune_mask", {&no_tie}, prune).empty());
    // ternarize, delta_factor 1: delta = mean |W| = (0.5 + 1 + 1.5 + 1) / 4 = 1, which |-1| hits.
    Attrs ternary;
    ternary.set("delta_factor", 1.0);
    const Tensor at_delta(Shape{4}, {0.5, -1, 1.5, 1});
    CHECK(degenerate("ternarize", {&at_delta}, ternary) == "a weight -1 at the threshold delta = 1");
    CHECK(degenerate("ternarize", {&no_tie}, ternary).empty());
    // pow2_quantize, n1 = 0, n2 = -2, all quantized: thresholds 2^-3 = 0.125, 3 * 2^-3 = 0.375, 3 * 2^-2 = 0.75.
    Attrs pow2;
    pow2.set_integer("n1", 0);
    pow2.set_integer("n2", -2);
    pow2.set("fraction", 1.0);
    const Tensor at_threshold(Shape{2}, {-0.375, 0.2}), off(Shape{2}, {0.3, 0.2});
    CHECK(degenerate("pow2_quantize", {&at_threshold}, pow2) ==
          "a quantized weight -0.375 at the threshold 0.375 between two powers of two");
    CHECK(degenerate("pow2_quantize", {&off}, pow2).empty());
    // kmeans_centroids, 3 clusters from [0, 5, 10]: nothing is nearest to 5.
    Attrs kmeans;
    kmeans.set_integer("clusters", 3);
    kmeans.set_integer("iterations", 10);
    const Tensor lopsided(Shape{4}, {0, 0.1, 0.2, 10}), spread(Shape{3}, {0, 5.5, 10});
    CHECK(degenerate("kmeans_centroids", {&lopsided}, kmeans) == "an empty cluster 1");
    CHECK(degenerate("kmeans_centroids", {&spread}, kmeans).empty());
    // shared_weights: 1.5 is as near to 1 as to 2.
    const Tensor w(Shape{2}, {1.5, 1.2}), c(Shape{2}, {1, 2});
    CHECK(degenerate("shared_weights", {&w, &c}, Attrs{}) == "a weight 1.5 as near to centroid 1 as to centroid 0");
    // sqrt(v + eps): v[0] = 0.00005 is at most 10 * eps = 0.0001.
    const Tensor v(Shape{2}, {0.00005, 1}), eps = Tensor::scalar(1e-5);
    CHECK(degenerate("sqrt", {&v, &eps}, Attrs{}) ==
          "a variance v[0] = 5e-05 of at most 10 * eps = 0.0001 under the square root");
    CHECK(degenerate("sqrt", {&v}, Attrs{}).empty());  // no eps: not a staged variance
}

TEST_CASE("variants: a default grid gives up decimals before it gives numbers of more than 4 digits") {
    // 150.25 with 2 decimals would draw up to 15025 hundredths (5 digits): the default takes 1 decimal.
    const std::string text =
        var_lesson(R"({"name": "x", "kind": "input", "shape": [2, 2], "values": [[150.25, -20.5], [3, 1]]})",
                   R"({"name": "y", "op": "neg", "inputs": ["x"]})", R"({"node": "y", "upstream": {"fill": 1}})", "");
    for (std::uint64_t variant = 1; variant <= 20; ++variant) {
        const Graph g = var_load(text, variant);
        for (double x : g.nodes[0].value.data()) {
            CAPTURE(x);
            CHECK(std::round(x * 10) / 10 == x);
            CHECK(std::fabs(x) <= 999.9);  // at most 4 significant digits
        }
    }
}
