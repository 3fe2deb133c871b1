// check_gradients must pass the real rules and catch a wrong one.
#include <doctest/doctest.h>

#include <cmath>

#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"

using namespace bnstep;

TEST_CASE("gradcheck: every built-in lesson passes with the default options") {
    for (const auto& l : builtin_lessons()) {
        CAPTURE(l.name);
        const Graph g = load_lesson(std::string(l.name));
        const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
        CHECK(r.passed());
        // Every node that gets a gradient is checked, every element of it.
        std::size_t expected = 0;
        for (bool gets : g.gets_gradient()) expected += gets;
        CHECK(r.checks.size() == expected);
        for (const NodeCheck& c : r.checks) CHECK(c.elements == element_count(g.nodes[c.node].shape));
    }
}

TEST_CASE("gradcheck: a deliberately wrong backward rule is caught where it acts") {
    // The classic slip: d(1/v)/dv written as -1/v instead of -1/v^2.
    OpTable ops = builtin_ops();
    ops.find_mutable("reciprocal")->inputs[0].vjp = [](const OpCall& call, const Tensor& up) {
        Tensor g(up.shape());
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = -1.0 / call.input(0)[i] * up[i];
        return g;
    };
    const Graph g = load_lesson("batchnorm", ops);
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    CHECK_FALSE(r.passed());
    auto verdict = [&](const char* name) {
        for (const NodeCheck& c : r.checks)
            if (g.nodes[c.node].name == name) return c.passed;
        FAIL("node not checked");
        return true;
    };
    // Nodes after step 6 in the backward pass are untouched by the bug ...
    CHECK(verdict("out"));
    CHECK(verdict("xhat"));
    CHECK(verdict("ivar"));
    CHECK(verdict("gamma"));
    CHECK(verdict("beta"));
    // ... and everything the wrong dsqrtvar flows into fails.
    CHECK_FALSE(verdict("sqrtvar"));
    CHECK_FALSE(verdict("var"));
    CHECK_FALSE(verdict("sq"));
    CHECK_FALSE(verdict("x"));
}

TEST_CASE("gradcheck: a wrong broadcast reduction is caught too") {
    // mul's gradient for b forgets the other factor: local 1 instead of a.
    OpTable ops = builtin_ops();
    ops.find_mutable("mul")->inputs[1].vjp = [](const OpCall&, const Tensor& up) { return up; };
    const Graph g = load_lesson("batchnorm", ops);
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    CHECK_FALSE(r.passed());
    CHECK(r.failures() >= 2);
}

TEST_CASE("gradcheck: the relative error uses the floor for gradients near zero") {
    CHECK(relative_error(1.0, 1.0, 1e-4) == 0.0);
    CHECK(relative_error(2.0, 1.0, 1e-4) == doctest::Approx(0.5));
    CHECK(relative_error(0.0, 1e-9, 1e-4) == doctest::Approx(1e-5));
    CHECK(relative_error(-1.0, 1.0, 1e-4) == doctest::Approx(2.0));
    CHECK(std::isnan(relative_error(NAN, 1.0, 1e-4)));
}
