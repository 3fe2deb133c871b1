// check-gradients' modes (full, sparse, directional, auto) and the floor that
// follows the round-off of L: each mode must pass the real rules and catch a
// deliberately wrong one; directional must fall back to full and name the
// wrong element.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"

using namespace bnstep;

namespace {

// The batchnorm lesson's graph with random leaves (bench/lessons), resized to rows x cols.
Graph random_batchnorm(std::size_t rows, std::size_t cols, const OpTable& ops = builtin_ops()) {
    LessonOptions o;
    o.shapes["x"] = {rows, cols};
    o.shapes["gamma"] = {cols};
    o.shapes["beta"] = {cols};
    return load_lesson(std::string(BNSTEP_SOURCE_DIR) + "/bench/lessons/batchnorm-random.json", ops, o);
}

GradcheckOptions with_mode(GradcheckMode mode) {
    GradcheckOptions o;
    o.mode = mode;
    return o;
}

const NodeCheck& check_of(const Graph& g, const GradcheckReport& r, const std::string& name) {
    for (const NodeCheck& c : r.checks)
        if (g.nodes[c.node].name == name) return c;
    FAIL("node " << name << " not checked");
    return r.checks.front();
}

// reciprocal's rule, wrong by half at one element: d(1/v)/dv * 1.5 at `bad`.
OpTable reciprocal_wrong_at(std::size_t bad) {
    OpTable ops = builtin_ops();
    ops.find_mutable("reciprocal")->inputs[0].vjp = [bad](const OpCall& call, const Tensor& up) {
        Tensor g(up.shape());
        for (std::size_t i = 0; i < g.size(); ++i) {
            const double v = call.input(0)[i];
            g[i] = -1.0 / (v * v) * up[i] * (i == bad ? 1.5 : 1.0);
        }
        return g;
    };
    return ops;
}

}  // namespace

TEST_CASE("gradcheck modes: full, sparse and directional pass the real rules") {
    const Graph g = random_batchnorm(16, 8);
    const Trace t = run(g);
    for (GradcheckMode mode : {GradcheckMode::Full, GradcheckMode::Sparse, GradcheckMode::Directional}) {
        CAPTURE(mode_name(mode));
        const GradcheckReport r = check_gradients(g, t, with_mode(mode));
        CHECK(r.passed());
        CHECK(r.mode == mode);
        for (const NodeCheck& c : r.checks) {
            CHECK(c.mode == mode);
            CHECK_FALSE(c.fell_back);
            // full and directional: every element (batch norm has no kinks); sparse: the sample (32) or
            // every element of a smaller node
            const std::size_t want = mode == GradcheckMode::Sparse ? std::min<std::size_t>(c.elements, 32) : c.elements;
            CHECK(c.compared == want);
        }
    }
}

TEST_CASE("gradcheck modes: a wrong rule is caught by sparse and directional, and directional names the element") {
    const std::size_t bad = 5;
    const OpTable ops = reciprocal_wrong_at(bad);  // the graph points into it
    const Graph g = random_batchnorm(16, 8, ops);
    const Trace t = run(g);
    // sqrtvar (8,) gets the wrong gradient at element 5; sparse samples all 8 of it.
    const GradcheckReport sparse = check_gradients(g, t, with_mode(GradcheckMode::Sparse));
    CHECK_FALSE(sparse.passed());
    CHECK_FALSE(check_of(g, sparse, "sqrtvar").passed);
    CHECK(check_of(g, sparse, "ivar").passed);

    const GradcheckReport dir = check_gradients(g, t, with_mode(GradcheckMode::Directional));
    CHECK_FALSE(dir.passed());
    const NodeCheck& c = check_of(g, dir, "sqrtvar");
    CHECK_FALSE(c.passed);
    CHECK(c.fell_back);
    CHECK(c.mode == GradcheckMode::Full);
    CHECK(c.directional_error > 1e-5);
    CHECK(c.compared == c.elements);
    CHECK(c.worst == Index{bad});
    // the nodes upstream of the bug in the backward pass pass without a fallback
    for (const char* name : {"out", "gammax", "xhat", "ivar", "gamma", "beta"}) {
        CAPTURE(name);
        CHECK(check_of(g, dir, name).passed);
        CHECK_FALSE(check_of(g, dir, name).fell_back);
    }
    // and var, sq, x, which the wrong gradient flows into, fail
    for (const char* name : {"var", "sq", "x"}) {
        CAPTURE(name);
        CHECK_FALSE(check_of(g, dir, name).passed);
    }
}

TEST_CASE("gradcheck modes: auto checks small lessons in full and large ones along directions") {
    const Graph small = random_batchnorm(4, 3);
    CHECK(check_gradients(small, run(small), GradcheckOptions{}).mode == GradcheckMode::Full);
    const Graph large = random_batchnorm(64, 64);  // 4096 elements per node, over kAutoFullElements in all
    const GradcheckReport r = check_gradients(large, run(large), GradcheckOptions{});
    CHECK(r.mode == GradcheckMode::Directional);
    CHECK(r.passed());
}

TEST_CASE("gradcheck: the floor follows the round-off of a large L, so exact zero gradients pass") {
    // out = x - mean(x) with dout = 1: L = sum(out) is 0 for every x, so dL/dx is exactly 0, but the terms of the
    // sum are large (|x| up to 1000) and the centred difference is round-off, about eps * sum|out| / h.
    const std::string lesson = R"({
      "name": "centred", "title": "t", "description": "d",
      "leaves": [{"name": "x", "kind": "input", "shape": [64, 64],
                  "random": {"seed": 5, "dist": "uniform", "low": -1000, "high": 1000}}],
      "nodes": [{"name": "mu", "op": "mean", "inputs": ["x"], "attrs": {"axis": 0}},
                {"name": "out", "op": "sub", "inputs": ["x", "mu"]}],
      "output": {"node": "out", "upstream": {"fill": 1}}
    })";
    const Graph g = parse_lesson(lesson, "centred.json");
    const Trace t = run(g);
    for (std::size_t e = 0; e < t.nodes[0].grad->size(); ++e) REQUIRE(std::fabs((*t.nodes[0].grad)[e]) < 1e-12);
    const GradcheckReport r = check_gradients(g, t, with_mode(GradcheckMode::Full));
    // eps * sum|out| / h / tolerance: sum|out| is about 64*64*500
    CHECK(r.floor > 1.0);
    CHECK(r.floor > r.options.floor);
    CHECK(r.passed());
    // the fixed floor alone would call the round-off a failure
    bool any_over = false;
    for (const NodeCheck& c : r.checks)
        any_over = any_over || relative_error(c.analytic, c.numeric, r.options.floor) > r.options.tolerance;
    CHECK(any_over);
}
