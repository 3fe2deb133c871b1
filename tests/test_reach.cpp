// The reach rules of the op table (OpDef::reach), against the whole op: on
// random graphs, moving one input element changes no output element outside
// the box `affects` gives, and the op evaluated on the slices `reads` gives
// equals that box of the whole output, for single elements and for hulls of
// two. Then the gradient check that relies on them: the full check of batch
// norm agrees with centred differences recomputed in full, and directional
// mode stays directional across ReLU kinks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <set>

#include "bnstep/executor.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/region.hpp"
#include "bnstep/rng.hpp"
#include "random_graphs.hpp"

using namespace bnstep;

namespace {

std::vector<Shape> shapes_of(const std::vector<const Tensor*>& in) {
    std::vector<Shape> s;
    for (const Tensor* t : in) s.push_back(t->shape());
    return s;
}

Tensor whole_forward(const OpDef& op, const std::vector<const Tensor*>& in, const Attrs& attrs) {
    OpCall call;
    call.in = in;
    call.attrs = &attrs;
    return op.forward(call);
}

// The op on the slices its reach reads for `box`, with the sliced attributes.
Tensor sliced_forward(const OpDef& op, const std::vector<const Tensor*>& in, const Attrs& attrs, const Shape& out,
                      const Box& box) {
    const std::vector<Shape> shapes = shapes_of(in);
    const std::vector<Box> reads = op.reach->reads(shapes, out, attrs, box);
    REQUIRE(reads.size() == in.size());
    std::vector<Tensor> slices;
    for (std::size_t s = 0; s < in.size(); ++s) slices.push_back(slice(*in[s], reads[s], op.reach->pad));
    std::vector<const Tensor*> ptrs;
    for (const Tensor& t : slices) ptrs.push_back(&t);
    const Attrs sliced = op.reach->sliced_attrs ? op.reach->sliced_attrs(attrs, shapes, box) : attrs;
    return whole_forward(op, ptrs, sliced);
}

// "" when the slice evaluation equals the box of `full`, else where it differs.
std::string box_mismatch(const Tensor& full, const Box& box, const Tensor& sliced) {
    if (sliced.shape() != box.shape())
        return fmt::format("shape {} for a box of shape {}", shape_str(sliced.shape()), shape_str(box.shape()));
    std::string bad;
    for_each_in(box, full.shape(), [&](std::size_t offset, std::size_t k) {
        const double a = full[offset], b = sliced[k];
        const bool same =
            a == b || std::fabs(a - b) <= 1e-12 * std::max(1.0, std::fabs(a)) || (std::isnan(a) && std::isnan(b));
        if (bad.empty() && !same)
            bad = fmt::format("at {}: whole {} vs sliced {}", index_str(full.unravel(offset)), a, b);
    });
    return bad;
}

bool inside(const Box& box, const Index& at) {
    for (std::size_t a = 0; a < at.size(); ++a)
        if (static_cast<long long>(at[a]) < box.lo[a] || static_cast<long long>(at[a]) >= box.hi[a]) return false;
    return true;
}

struct ReachStats {
    std::map<std::string, std::size_t> ops;  // op -> elements moved
    std::size_t narrower = 0;                // moves whose box was smaller than the whole output
};

// Moves elements of each input of node j and checks the op's reach.
void check_node_reach(const Graph& g, const Trace& t, std::size_t j, Rng& rng, ReachStats& stats) {
    const Node& node = g.nodes[j];
    const OpDef& op = *node.op;
    std::vector<const Tensor*> in;
    for (std::size_t m : node.inputs) in.push_back(&t.nodes[m].value);
    const Shape& out = t.nodes[j].value.shape();
    const Tensor base = whole_forward(op, in, node.attrs);
    for (std::size_t s = 0; s < in.size(); ++s) {
        const Tensor& input = *in[s];
        for (int trial = 0; trial < 3; ++trial) {
            // one element, then a second one with it: the hull of their boxes
            const std::size_t e1 = rng.next() % input.size(), e2 = rng.next() % input.size();
            Tensor moved = input;
            moved[e1] += 0.25 + 0.1 * std::fabs(moved[e1]);
            std::vector<const Tensor*> moved_in = in;
            moved_in[s] = &moved;
            const Tensor changed = whole_forward(op, moved_in, node.attrs);
            const Box box1 = op.reach->affects(shapes_of(in), out, node.attrs, s, Box::element(input.shape(), e1));
            CAPTURE(node.name);
            CAPTURE(op.name);
            CAPTURE(s);
            CAPTURE(index_str(input.unravel(e1)));
            for (std::size_t k = 0; k < changed.size(); ++k)
                if (!(changed[k] == base[k]) && !(std::isnan(changed[k]) && std::isnan(base[k])))
                    CHECK_MESSAGE(inside(box1, changed.unravel(k)), "output ", index_str(changed.unravel(k)),
                                  " changed outside the reach");
            if (box1.empty()) continue;
            CHECK(box_mismatch(changed, box1, sliced_forward(op, moved_in, node.attrs, out, box1)) == "");
            moved[e2] -= 0.5;
            const Box box2 = op.reach->affects(shapes_of(in), out, node.attrs, s, Box::element(input.shape(), e2));
            const Box both = box2.empty() ? box1 : hull(box1, box2);
            const Tensor changed2 = whole_forward(op, moved_in, node.attrs);
            CHECK(box_mismatch(changed2, both, sliced_forward(op, moved_in, node.attrs, out, both)) == "");
            ++stats.ops[op.name];
            if (box1.count() < base.size()) ++stats.narrower;
        }
    }
}

}  // namespace

TEST_CASE("reach: on random graphs, a move changes nothing outside an op's reach, and its slices give the box") {
    ReachStats stats;
    Rng rng(2024);
    for (std::uint64_t seed = 1; seed <= 150; ++seed) {
        const fuzz::GeneratedLesson lesson = fuzz::generate_lesson(seed);
        const Graph g = parse_lesson(lesson.json, "random.json");
        const Trace t = run(g);
        for (std::size_t j = 0; j < g.nodes.size(); ++j)
            if (!g.nodes[j].is_leaf() && g.nodes[j].op->reach) check_node_reach(g, t, j, rng, stats);
    }
    // every op that declares a reach was exercised, and most moves reached less than the whole output
    for (const OpDef& op : builtin_ops().all())
        if (op.reach) {
            CAPTURE(op.name);
            CHECK(stats.ops[op.name] > 0);
        }
    std::size_t moves = 0;
    for (const auto& [op, n] : stats.ops) moves += n;
    CHECK(stats.narrower * 2 > moves);
}

TEST_CASE("reach: the rules of the families the issue names are declared") {
    for (const char* name : {"add", "mul", "relu", "sqrt", "sum", "mean", "matmul", "batchnorm", "batchnorm2d",
                             "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool", "softmax", "log_softmax"}) {
        CAPTURE(name);
        REQUIRE(builtin_ops().find(name) != nullptr);
        CHECK(builtin_ops().find(name)->reach.has_value());
    }
    // straight-through ops are recomputed whole: their surrogate is anchored at the whole forward input
    for (const OpDef& op : builtin_ops().all())
        if (op.surrogate) {
            CAPTURE(op.name);
            CHECK_FALSE(op.reach.has_value());
        }
}

TEST_CASE("reach: a convolution's box reads its windows over the padding, in whole groups") {
    const OpDef& conv = *builtin_ops().find("conv2d");
    Attrs a;
    a.set_integer("stride", 2);
    a.set_integer("padding", 1);
    a.set_integer("dilation", 1);
    a.set_integer("groups", 2);
    const std::vector<Shape> in{{2, 4, 7, 7}, {6, 2, 3, 3}, {6}};
    const Shape out{2, 6, 4, 4};
    // x[1, 3, 0, 6]: batch 1; channel 3 is in group 1, filters 3..5; output row i reads rows 2i-1..2i+1, so
    // input row 0 is read by output row 0 only, and input column 6 by output column 3 only (columns 5..7)
    const Box b = conv.reach->affects(in, out, a, 0, Box::element(in[0], ((1 * 4 + 3) * 7 + 0) * 7 + 6));
    CHECK(b == Box{{1, 3, 0, 3}, {2, 6, 1, 4}});
    // w[4, ...] reaches all of group 1's filters, every position
    CHECK(conv.reach->affects(in, out, a, 1, Box::element(in[1], std::size_t{4} * 18)) ==
          Box{{0, 3, 0, 0}, {2, 6, 4, 4}});
    const std::vector<Box> reads = conv.reach->reads(in, out, a, b);
    CHECK(reads[0] == Box{{1, 2, -1, 5}, {2, 4, 2, 8}});  // channels of group 1, rows -1..1, columns 5..7
    CHECK(reads[1] == Box{{3, 0, 0, 0}, {6, 2, 3, 3}});
    CHECK(reads[2] == Box{{3}, {6}});
    const Attrs sliced = conv.reach->sliced_attrs(a, in, b);
    CHECK(sliced.integer("padding") == 0);
    CHECK(sliced.integer("groups") == 1);
}

namespace {

// The centred difference of L = sum(out * seed) at element e of node i, every node downstream recomputed whole.
double brute_force(const Graph& g, const Trace& t, std::size_t i, std::size_t e, double h) {
    const auto loss = [&](double v) {
        std::vector<Tensor> values;
        for (const NodeState& s : t.nodes) values.push_back(s.value);
        values[i][e] = v;
        for (std::size_t j = i + 1; j < g.nodes.size(); ++j)
            if (!g.nodes[j].is_leaf()) values[j] = forward_as_checked(g, t, values, j, false);
        double l = 0.0;
        for (std::size_t k = 0; k < values[g.output].size(); ++k) l += values[g.output][k] * g.seed[k];
        return l;
    };
    const double v = t.nodes[i].value[e];
    return (loss(v + h) - loss(v - h)) / (2 * h);
}

std::size_t node_named(const Graph& g, const std::string& name) {
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].name == name) return i;
    FAIL("no node " << name);
    return 0;
}

}  // namespace

TEST_CASE("gradcheck: the full check through the reach agrees with differences recomputed whole") {
    const std::string lesson = R"({
      "name": "bn", "title": "t", "description": "d",
      "leaves": [{"name": "x", "kind": "input", "shape": [16, 8], "random": {"seed": 3, "dist": "uniform", "low": -1, "high": 1}},
                 {"name": "w", "kind": "param", "shape": [8, 5], "random": {"seed": 4, "dist": "uniform", "low": -1, "high": 1}}],
      "nodes": [{"name": "mu", "op": "mean", "inputs": ["x"], "attrs": {"axis": 0}},
                {"name": "xmu", "op": "sub", "inputs": ["x", "mu"]},
                {"name": "sq", "op": "square", "inputs": ["xmu"]},
                {"name": "var", "op": "mean", "inputs": ["sq"], "attrs": {"axis": 0}},
                {"name": "sd", "op": "sqrt", "inputs": ["var"]},
                {"name": "xhat", "op": "div", "inputs": ["xmu", "sd"]},
                {"name": "y", "op": "matmul", "inputs": ["xhat", "w"]},
                {"name": "p", "op": "softmax", "inputs": ["y"], "attrs": {"axis": 1}}],
      "output": {"node": "p", "upstream": {"random": {"seed": 5, "dist": "uniform", "low": -1, "high": 1}}}
    })";
    const Graph g = parse_lesson(lesson, "bn.json");
    const Trace t = run(g);
    const GradcheckOptions o{.mode = GradcheckMode::Full};
    const GradcheckReport r = check_gradients(g, t, o);
    CHECK(r.passed());
    for (const NodeCheck& c : r.checks) {
        CAPTURE(g.nodes[c.node].name);
        CHECK(c.compared == c.elements);
        const double whole = brute_force(g, t, c.node, t.nodes[c.node].value.offset(c.worst), o.step);
        CHECK(std::fabs(c.numeric - whole) <= 1e-8 * std::max(1.0, std::fabs(whole)));
    }
}

TEST_CASE("gradcheck: directional mode takes the elements at a kink out of the direction, and does not fall back") {
    // relu(x @ w) with rows of x that make some products exactly 0: the ReLU's kink
    const std::string lesson = R"({
      "name": "kinks", "title": "t", "description": "d",
      "leaves": [{"name": "x", "kind": "input", "shape": [4, 3],
                  "values": [[1, 2, 0.5], [0, 0, 0], [-1, 0.5, 2], [0.25, -0.5, 1.5]]},
                 {"name": "w", "kind": "param", "shape": [3, 2], "values": [[0.5, -1], [1, 0.5], [-0.25, 2]]}],
      "nodes": [{"name": "y", "op": "matmul", "inputs": ["x", "w"]},
                {"name": "out", "op": "relu", "inputs": ["y"]}],
      "output": {"node": "out", "upstream": {"values": [[1, -2], [0.5, 1], [-1, 0.25], [2, 1]]}}
    })";
    const Graph g = parse_lesson(lesson, "kinks.json");
    const Trace t = run(g);
    const GradcheckReport r = check_gradients(g, t, GradcheckOptions{.mode = GradcheckMode::Directional});
    CHECK(r.passed());
    const NodeCheck* y = nullptr;
    const NodeCheck* x = nullptr;
    for (const NodeCheck& c : r.checks) {
        CAPTURE(g.nodes[c.node].name);
        CHECK(c.mode == GradcheckMode::Directional);
        CHECK_FALSE(c.fell_back);
        if (c.node == node_named(g, "y")) y = &c;
        if (c.node == node_named(g, "x")) x = &c;
    }
    REQUIRE(y != nullptr);
    REQUIRE(x != nullptr);
    // y's row 1 is exactly 0: its two elements sit on the kink and are left out; the other 6 are compared
    CHECK(y->kinks == 2);
    CHECK(y->compared == 6);
    REQUIRE(y->first_kink.has_value());
    CHECK(y->first_kink->at == Index{1, 0});
    // x's row 1 reaches y's row 1 only (a matmul's row): 3 elements out, 9 compared
    CHECK(x->kinks == 3);
    CHECK(x->compared == 9);
    CHECK(x->directional_error <= 1e-5);
}
