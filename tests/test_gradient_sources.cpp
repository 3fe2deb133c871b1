// gradient_sources: which elements of a node's gradient each element of a
// contribution came from (the cells `bnstep html` marks). Checked against the
// forward rule by finite differences on random graphs and the built-in
// lessons (every output element a move of the input changes is a source), and
// against the sets the rules give by hand on small cases.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "random_graphs.hpp"

using namespace bnstep;

namespace {

// Every output element that a small move of input element `j` changes is among its sources.
void check_sources_cover_the_forward(const Trace& t, std::size_t node, std::size_t slot, std::size_t& pairs) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[node];
    const std::vector<std::vector<std::size_t>> sources = gradient_sources(t, node, slot);
    const Tensor& x = t.nodes[n.inputs[slot]].value;
    REQUIRE(sources.size() == x.size());
    const Tensor& y = t.nodes[node].value;
    double scale = 0;
    for (std::size_t i = 0; i < y.size(); ++i) scale = std::max(scale, std::fabs(y[i]));
    const std::size_t stride = std::max<std::size_t>(1, x.size() / 12);
    for (std::size_t j = 0; j < x.size(); j += stride) {
        Tensor moved = x;
        const double h = 1e-6 * std::max(1.0, std::fabs(x[j]));
        moved[j] += h;
        OpCall call = t.call(node, slot);
        // The node may read the same input in several slots: move each of them.
        for (std::size_t s = 0; s < n.inputs.size(); ++s)
            if (n.inputs[s] == n.inputs[slot]) call.in[s] = &moved;
        const Tensor after = n.op->forward(call);
        const std::set<std::size_t> from(sources[j].begin(), sources[j].end());
        for (std::size_t i = 0; i < y.size(); ++i)
            if (std::fabs(after[i] - y[i]) > 1e-9 * std::max(1.0, scale)) {
                CAPTURE(n.name);
                CAPTURE(slot);
                CAPTURE(j);
                CAPTURE(i);
                CHECK(from.count(i) == 1);
                ++pairs;
            }
    }
}

void check_graph(const Graph& g, std::size_t& pairs) {
    const Trace t = run(g);
    for (std::size_t node = 0; node < g.nodes.size(); ++node) {
        const Node& n = g.nodes[node];
        if (n.is_leaf() || !t.nodes[node].grad) continue;
        for (const EdgeGrad& e : t.nodes[node].edges) {
            // A straight-through estimator's backward is not the forward's derivative, by design.
            if (e.status != EdgeGrad::Status::Flows || n.op->rule(e.slot).straight_through) continue;
            check_sources_cover_the_forward(t, node, e.slot, pairs);
        }
    }
}

std::vector<std::vector<std::size_t>> sources_in(const std::string& lesson, const std::string& node, std::size_t slot) {
    static std::vector<std::unique_ptr<Graph>> graphs;  // the trace points into its graph
    graphs.push_back(std::make_unique<Graph>(parse_lesson(lesson, "sources.json")));
    const Graph& g = *graphs.back();
    const Trace t = run(g);
    return gradient_sources(t, *g.find(node), slot);
}

}  // namespace

TEST_CASE("gradient sources: every output element an input moves is a source, on random graphs and every lesson") {
    std::size_t pairs = 0;
    for (std::uint64_t seed = 1; seed <= 60; ++seed) {
        CAPTURE(seed);
        check_graph(parse_lesson(fuzz::generate_lesson(seed).json, "random.json"), pairs);
    }
    for (const BuiltinLesson& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        check_graph(load_lesson(std::string(lesson.name)), pairs);
    }
    CHECK(pairs > 1000);
}

TEST_CASE("gradient sources: a broadcast input, a matmul and a sum, by their rules") {
    const std::string lesson = R"({"name": "s", "title": "sources", "leaves": [
        {"name": "x", "kind": "input", "shape": [2, 3], "values": [[1, 0, -2], [0.5, 3, 0]]},
        {"name": "b", "kind": "param", "shape": [3], "values": [0, 1, 2]},
        {"name": "w", "kind": "param", "shape": [3, 2], "values": [[1, 0], [0, 2], [1, 1]]}],
      "nodes": [
        {"name": "h", "op": "add", "inputs": ["x", "b"]},
        {"name": "y", "op": "matmul", "inputs": ["h", "w"]},
        {"name": "s", "op": "sum", "inputs": ["y"], "attrs": {"axis": 0}}],
      "output": {"node": "s", "upstream": {"values": [1, -1]}}})";
    using Sets = std::vector<std::vector<std::size_t>>;
    // h = x + b: x[i,j] from h[i,j]; b[j] from its column, h[0,j] and h[1,j].
    CHECK(sources_in(lesson, "h", 0) == Sets{{0}, {1}, {2}, {3}, {4}, {5}});
    CHECK(sources_in(lesson, "h", 1) == Sets{{0, 3}, {1, 4}, {2, 5}});
    // y = h w: dh[i,k] from row i of dy, zeros of w included; dw[k,j] from column j.
    CHECK(sources_in(lesson, "y", 0) == Sets{{0, 1}, {0, 1}, {0, 1}, {2, 3}, {2, 3}, {2, 3}});
    CHECK(sources_in(lesson, "y", 1) == Sets{{0, 2}, {1, 3}, {0, 2}, {1, 3}, {0, 2}, {1, 3}});
    // s = sum over axis 0: y[i,j] from s[j].
    CHECK(sources_in(lesson, "s", 0) == Sets{{0}, {1}, {0}, {1}});
}
