// The executor: order, accumulation, gradient reset, scalar losses.
#include <doctest/doctest.h>

#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"

using namespace bnstep;

namespace {

Graph lesson(
    const std::string& nodes, const std::string& output,
    const std::string& leaves = R"([{"name": "x", "kind": "input", "shape": [3], "values": [1.0, -2.0, 3.0]}])") {
    return parse_lesson(
        R"({"title": "t", "leaves": )" + leaves + R"(, "nodes": )" + nodes + R"(, "output": )" + output + "}",
        "test.json");
}

}  // namespace

TEST_CASE("executor: topological order follows declaration order on ties") {
    // c is declared before b but reads it; a and d are independent of each other.
    const Graph g = lesson(R"([{"name": "a", "op": "neg", "inputs": ["x"]},
                               {"name": "c", "op": "mul", "inputs": ["b", "a"]},
                               {"name": "b", "op": "exp", "inputs": ["x"]},
                               {"name": "d", "op": "square", "inputs": ["x"]},
                               {"name": "e", "op": "add", "inputs": ["c", "d"]}])",
                           R"({"node": "e", "upstream": {"fill": 1}})");
    std::vector<std::string> order;
    for (const Node& n : g.nodes) order.push_back(n.name);
    CHECK(order == std::vector<std::string>{"x", "a", "b", "c", "d", "e"});
}

TEST_CASE("executor: a value used twice by one node collects both contributions") {
    const Graph g = lesson(R"([{"name": "y", "op": "mul", "inputs": ["x", "x"]}])",
                           R"({"node": "y", "upstream": {"values": [1.0, 2.0, 0.5]}})");
    const Trace t = run(g);
    const NodeState& x = t.nodes[0];
    REQUIRE(x.received.size() == 2);
    CHECK(t.edge(x.received[0]).name == "dx1");
    CHECK(t.edge(x.received[1]).name == "dx2");
    // d(x*x)/dx = 2x, times the upstream.
    CHECK(x.grad->data() == std::vector<double>{2.0, -8.0, 3.0});
}

TEST_CASE("executor: gradients start from zero on every run") {
    const Graph g = load_lesson("batchnorm");
    const Trace first = run(g);
    const Trace second = run(g);
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        CAPTURE(g.nodes[i].name);
        CHECK(first.nodes[i].grad.has_value() == second.nodes[i].grad.has_value());
        if (first.nodes[i].grad) CHECK(first.nodes[i].grad->data() == second.nodes[i].grad->data());
    }
}

TEST_CASE("executor: a scalar output is a loss with seed 1") {
    const Graph g = lesson(R"([{"name": "sq", "op": "square", "inputs": ["x"]},
                               {"name": "loss", "op": "sum", "inputs": ["sq"], "attrs": {"axis": 0}}])",
                           R"({"node": "loss"})");
    CHECK(g.scalar_loss);
    const Trace t = run(g);
    CHECK(t.nodes[g.output].value[0] == 14.0);
    CHECK(t.nodes[0].grad->data() == std::vector<double>{2.0, -4.0, 6.0});
}

TEST_CASE("executor: nodes off the path to the output get no gradient") {
    const Graph g = lesson(R"([{"name": "used", "op": "exp", "inputs": ["x"]},
                               {"name": "unused", "op": "neg", "inputs": ["x"]}])",
                           R"({"node": "used", "upstream": {"fill": 1}})");
    const Trace t = run(g);
    CHECK_FALSE(t.nodes[*g.find("unused")].grad.has_value());
    CHECK(t.nodes[*g.find("used")].grad.has_value());
    REQUIRE(t.nodes[0].received.size() == 1);
    CHECK(t.edge(t.nodes[0].received[0]).name == "dx");
}

TEST_CASE("executor: every gradient has exactly its value's shape") {
    for (const auto& l : builtin_lessons()) {
        const Graph g = load_lesson(std::string(l.name));
        const Trace t = run(g);
        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            CAPTURE(g.nodes[i].name);
            CHECK(t.nodes[i].value.shape() == g.nodes[i].shape);
            if (t.nodes[i].grad) CHECK(t.nodes[i].grad->shape() == g.nodes[i].shape);
        }
    }
}

TEST_CASE("executor: a NaN in the forward pass is reported with its node and operands") {
    const Graph g = lesson(R"([{"name": "y", "step": 3, "op": "log", "inputs": ["x"]}])",
                           R"({"node": "y", "upstream": {"fill": 1}})");
    try {
        run(g);
        FAIL("expected a NumericError");
    } catch (const NumericError& e) {
        const std::string msg = e.what();
        CHECK(msg.find("test.json: step 3 (y)") == 0);
        CHECK(msg.find("log(x[1])") != std::string::npos);
        CHECK(msg.find("log(-2)") != std::string::npos);
    }
}

TEST_CASE("executor: an input reaching the output only through a non-differentiable slot gets no gradient") {
    // Class labels given as an input leaf: cross_entropy does not differentiate
    // them, so they get no gradient, and the gradient check leaves them whole.
    const Graph g = parse_lesson(R"({"title": "t",
        "leaves": [{"name": "z", "kind": "param", "shape": [2, 3], "values": [[1, 2, 3], [0.5, -1, 0]]},
                   {"name": "labels", "kind": "input", "shape": [2], "values": [2, 0]}],
        "nodes": [{"name": "loss", "op": "cross_entropy", "inputs": ["z", "labels"]}],
        "output": {"node": "loss"}})",
                                 "test.json");
    const std::vector<bool> gets = g.gets_gradient();
    CHECK(gets[*g.find("z")]);
    CHECK_FALSE(gets[*g.find("labels")]);
    const Trace t = run(g);
    CHECK_FALSE(t.nodes[*g.find("labels")].grad);
    CHECK(t.nodes[*g.find("loss")].edges[1].status == EdgeGrad::Status::NotDifferentiable);
}
