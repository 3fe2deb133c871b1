// The ops that move numbers without changing them (concat, split, reshape,
// flatten, transpose, channel_shuffle): where each element goes, that each
// backward sends every gradient element back where its value came from, and
// the errors for bad attributes. Expected positions are derived here from
// the definitions; the VJPs against finite differences are in test_ops.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "bnstep/op.hpp"
#include "op_harness.hpp"

using namespace bnstep;
using bnstep::testing::op_named;
using bnstep::testing::with_defaults;

namespace {

Attrs one(const char* name, double v) {
    Attrs a;
    a.set(name, v);
    return a;
}

Attrs list(const char* name, std::vector<long long> v) {
    Attrs a;
    a.set_list(name, std::move(v));
    return a;
}

// A tensor whose element e holds the number e: values name their positions.
Tensor numbered(const Shape& s, double start = 0) {
    Tensor t(s);
    std::iota(t.data().begin(), t.data().end(), start);
    return t;
}

Tensor forward(const OpDef& op, const std::vector<const Tensor*>& in, const Attrs& a) {
    OpCall c;
    c.in = in;
    c.attrs = &a;
    std::vector<Shape> shapes;
    for (const Tensor* t : in) shapes.push_back(t->shape());
    const Shape want = op.shape(shapes, a);
    Tensor out = op.forward(c);
    REQUIRE(out.shape() == want);
    return out;
}

Tensor backward(const OpDef& op, const std::vector<const Tensor*>& in, const Attrs& a, const Tensor& out,
                std::size_t slot, const Tensor& up) {
    OpCall c;
    c.in = in;
    c.attrs = &a;
    c.out = &out;
    c.slot = slot;
    return op.rule(slot).vjp(c, up);
}

void check_equal(const Tensor& got, const Tensor& want) {
    REQUIRE(got.shape() == want.shape());
    std::size_t wrong = 0;
    for (std::size_t e = 0; e < want.size(); ++e) wrong += got[e] != want[e];
    CHECK_MESSAGE(wrong == 0, wrong << " of " << want.size() << " elements differ");
}

// The message of the ShapeError op.shape throws, or "" when it accepts.
std::string shape_error(const OpDef& op, const std::vector<Shape>& in, const Attrs& a) {
    try {
        op.shape(in, with_defaults(op, a));
    } catch (const ShapeError& e) {
        return e.what();
    }
    return "";
}

// The message names every fragment (the wording around them may change).
bool mentions(const std::string& message, std::initializer_list<const char*> fragments) {
    if (message.empty()) return false;
    for (const char* f : fragments)
        if (message.find(f) == std::string::npos) return false;
    return true;
}

std::vector<std::vector<std::size_t>> all_permutations(std::size_t rank) {
    std::vector<std::size_t> p(rank);
    std::iota(p.begin(), p.end(), std::size_t{0});
    std::vector<std::vector<std::size_t>> all;
    do all.push_back(p);
    while (std::next_permutation(p.begin(), p.end()));
    return all;
}

}  // namespace

// ======================================================================= channel_shuffle

TEST_CASE("shape ops: channel_shuffle reads the (groups, C/groups) grid of channels by columns") {
    const OpDef& op = op_named("channel_shuffle");
    // One value per channel: x[n,c,h,w] = 100n + 10c + (h*W + w), so each output
    // element says which channel (and image, and position) it came from.
    const Shape s{2, 6, 1, 2};
    Tensor x(s);
    for (std::size_t e = 0; e < x.size(); ++e) {
        const Index i = x.unravel(e);
        x[e] = double(100 * i[0] + 10 * i[1] + i[3]);
    }
    // groups 2: the grid [[0,1,2],[3,4,5]] read by columns -> 0,3,1,4,2,5
    // groups 3: the grid [[0,1],[2,3],[4,5]] read by columns -> 0,2,4,1,3,5
    for (const auto& [groups, order] : {std::pair{2, std::vector<std::size_t>{0, 3, 1, 4, 2, 5}},
                                        std::pair{3, std::vector<std::size_t>{0, 2, 4, 1, 3, 5}},
                                        std::pair{1, std::vector<std::size_t>{0, 1, 2, 3, 4, 5}},
                                        std::pair{6, std::vector<std::size_t>{0, 1, 2, 3, 4, 5}}}) {
        const int group_count = groups;  // (clang 14 cannot capture a structured binding)
        CAPTURE(group_count);
        const Attrs a = one("groups", groups);
        const Tensor out = forward(op, {&x}, a);
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t c = 0; c < 6; ++c)
                for (std::size_t w = 0; w < 2; ++w) CHECK(out.at({n, c, 0, w}) == double(100 * n + 10 * order[c] + w));
    }
}

TEST_CASE("shape ops: channel_shuffle is a permutation and its backward inverts it") {
    const OpDef& op = op_named("channel_shuffle");
    struct Case {
        Shape shape;
        long long groups;
    };
    for (const Case& c : {Case{{2, 6, 2, 3}, 2}, Case{{2, 6, 2, 3}, 3}, Case{{1, 12, 3, 2}, 4}, Case{{1, 12, 1, 1}, 6},
                          Case{{3, 8, 2, 2}, 8}, Case{{2, 8, 2, 2}, 1}, Case{{1, 9, 2, 1}, 3}}) {
        const std::size_t channels = c.shape[1];
        CAPTURE(shape_str(c.shape));
        CAPTURE(c.groups);
        const Tensor x = numbered(c.shape);
        const Attrs a = one("groups", double(c.groups));
        const Tensor y = forward(op, {&x}, a);

        // every input element appears exactly once
        std::vector<double> seen = y.data();
        std::sort(seen.begin(), seen.end());
        check_equal(Tensor(c.shape, seen), x);
        // and only channels move: (n, h, w) stay, and the image's plane moves whole
        for (std::size_t e = 0; e < y.size(); ++e) {
            const Index at = y.unravel(e), from = x.unravel(static_cast<std::size_t>(y[e]));
            CHECK(at[0] == from[0]);
            CHECK(at[2] == from[2]);
            CHECK(at[3] == from[3]);
        }

        // the backward of the shuffled values puts every value back: it returns x
        check_equal(backward(op, {&x}, a, y, 0, y), x);

        // shuffling with groups g and then with C/g is the identity
        const std::size_t per_group = channels / static_cast<std::size_t>(c.groups);  // exact: g divides C
        const Attrs back = one("groups", double(per_group));
        check_equal(forward(op, {&y}, back), x);
        // ... which is what the backward applies to any upstream gradient
        const Tensor up = numbered(c.shape, 0.5);
        check_equal(backward(op, {&x}, a, y, 0, up), forward(op, {&up}, back));
    }
}

// ======================================================================= transpose

TEST_CASE("shape ops: transpose moves x[i] to out[perm-ordered i], and its backward is the inverse permutation") {
    const OpDef& op = op_named("transpose");
    const std::vector<Shape> shapes{{2, 3, 4, 5}, {3, 4, 2}, {2, 5}};
    for (const Shape& s : shapes) {
        for (const auto& perm : all_permutations(s.size())) {
            std::vector<long long> p(perm.begin(), perm.end());
            CAPTURE(shape_str(s));
            CAPTURE(shape_str(Shape(perm)));
            const Tensor x = numbered(s);
            const Attrs a = list("perm", p);
            const Tensor y = forward(op, {&x}, a);
            // out axis k is x axis perm[k]
            Shape want_shape;
            for (std::size_t k = 0; k < perm.size(); ++k) want_shape.push_back(s[perm[k]]);
            REQUIRE(y.shape() == want_shape);
            std::size_t wrong = 0;
            for (std::size_t e = 0; e < y.size(); ++e) {
                const Index o = y.unravel(e);
                Index i(s.size());
                for (std::size_t k = 0; k < perm.size(); ++k) i[perm[k]] = o[k];
                wrong += y[e] != x.at(i);
            }
            CHECK(wrong == 0);

            // the inverse permutation, and the backward equals it
            std::vector<long long> inverse(perm.size());
            for (std::size_t k = 0; k < perm.size(); ++k) inverse[perm[k]] = static_cast<long long>(k);
            const Attrs inv = list("perm", inverse);
            check_equal(forward(op, {&y}, inv), x);
            check_equal(backward(op, {&x}, a, y, 0, y), x);
            const Tensor up = numbered(y.shape(), -7);
            check_equal(backward(op, {&x}, a, y, 0, up), forward(op, {&up}, inv));

            // the formula names that inverse
            REQUIRE(op.vars);
            std::string want = "[";
            for (std::size_t k = 0; k < inverse.size(); ++k) want += (k ? "," : "") + std::to_string(inverse[k]);
            CHECK(op.vars({s}, a).at("inverse") == want + "]");
        }
    }
}

TEST_CASE("shape ops: transpose accepts negative axes") {
    const OpDef& op = op_named("transpose");
    const Tensor x = numbered({2, 3, 4});
    check_equal(forward(op, {&x}, list("perm", {-1, 0, -2})), forward(op, {&x}, list("perm", {2, 0, 1})));
}

// ======================================================================= concat / split

TEST_CASE("shape ops: concat then split gives back the pieces") {
    const OpDef& cat = op_named("concat");
    const OpDef& split = op_named("split");
    for (long long axis : {0, 1, 2, 3, -1}) {
        CAPTURE(axis);
        const std::size_t ax = axis < 0 ? std::size_t(4 + axis) : std::size_t(axis);
        Shape s{2, 3, 2, 3};
        const Tensor a = numbered(s, 0), b = numbered(s, 1000), c = numbered(s, 2000);
        const Attrs ca = one("axis", double(axis));
        const Tensor joined = forward(cat, {&a, &b, &c}, ca);
        Shape want = s;
        want[ax] *= 3;
        REQUIRE(joined.shape() == want);
        const std::vector<const Tensor*> pieces{&a, &b, &c};
        for (std::size_t k = 0; k < 3; ++k) {
            Attrs sa = one("axis", double(axis));
            sa.set("parts", 3);
            sa.set("index", double(k));
            check_equal(forward(split, {&joined}, with_defaults(split, sa)), *pieces[k]);
        }
    }
}

TEST_CASE("shape ops: concat's backward splits the gradient into exactly the slices") {
    const OpDef& cat = op_named("concat");
    // pieces of 2, 1 and 3 channels along axis 1
    const Tensor a = numbered({2, 2, 3}, 0), b = numbered({2, 1, 3}, 100), c = numbered({2, 3, 3}, 200);
    const std::vector<const Tensor*> in{&a, &b, &c};
    const Attrs attrs = with_defaults(cat, one("axis", 1));
    const Tensor out = forward(cat, in, attrs);
    REQUIRE(out.shape() == Shape{2, 6, 3});
    // forward: channel j of the output comes from piece k at channel j - offset[k]
    const std::size_t offset[] = {0, 2, 3, 6};
    for (std::size_t e = 0; e < out.size(); ++e) {
        const Index at = out.unravel(e);
        std::size_t k = 0;
        while (at[1] >= offset[k + 1]) ++k;
        CHECK(out[e] == in[k]->at({at[0], at[1] - offset[k], at[2]}));
    }
    const Tensor up = numbered(out.shape(), 0.25);
    double total = 0;
    for (std::size_t k = 0; k < 3; ++k) {
        CAPTURE(k);
        const Tensor g = backward(cat, in, attrs, out, k, up);
        REQUIRE(g.shape() == in[k]->shape());
        Tensor want(in[k]->shape());
        for (std::size_t e = 0; e < want.size(); ++e) {
            const Index at = want.unravel(e);
            want[e] = up.at({at[0], at[1] + offset[k], at[2]});
        }
        check_equal(g, want);
        for (double v : g.data()) total += v;
    }
    // every upstream element went to exactly one piece
    double up_total = 0;
    for (double v : up.data()) up_total += v;
    CHECK(total == up_total);
}

TEST_CASE("shape ops: split's backward fills its piece and leaves the others zero") {
    const OpDef& split = op_named("split");
    const Tensor x = numbered({2, 6, 2});
    Attrs a = one("axis", 1);
    a.set("parts", 3);
    a.set("index", 1);
    a = with_defaults(split, a);
    const Tensor y = forward(split, {&x}, a);
    REQUIRE(y.shape() == Shape{2, 2, 2});
    const Tensor up = numbered(y.shape(), 1);
    const Tensor dx = backward(split, {&x}, a, y, 0, up);
    for (std::size_t e = 0; e < dx.size(); ++e) {
        const Index at = dx.unravel(e);
        const bool mine = at[1] >= 2 && at[1] < 4;
        CHECK(dx[e] == (mine ? up.at({at[0], at[1] - 2, at[2]}) : 0.0));
        if (mine) CHECK(y.at({at[0], at[1] - 2, at[2]}) == x[e]);
    }
}

// ======================================================================= reshape / flatten

TEST_CASE("shape ops: reshape and flatten keep the row-major order") {
    const OpDef& reshape = op_named("reshape");
    const OpDef& flatten = op_named("flatten");
    const Tensor x = numbered({2, 3, 4, 5});
    struct R {
        std::vector<long long> want;
        Shape shape;
    };
    for (const R& r : {R{{120}, {120}}, R{{6, 20}, {6, 20}}, R{{-1, 5}, {24, 5}}, R{{2, -1, 4}, {2, 15, 4}},
                       R{{5, 4, 3, 2}, {5, 4, 3, 2}}, R{{1, 120}, {1, 120}}}) {
        const Attrs a = list("shape", r.want);
        const Tensor y = forward(reshape, {&x}, a);
        CHECK(y.shape() == r.shape);
        CHECK(y.data() == x.data());
        // backward: the gradient in the input's shape, in the same order
        const Tensor up = numbered(y.shape(), 3);
        const Tensor dx = backward(reshape, {&x}, a, y, 0, up);
        CHECK(dx.shape() == x.shape());
        CHECK(dx.data() == up.data());
    }
    for (const auto& [start, shape] :
         {std::pair{0LL, Shape{120}}, std::pair{1LL, Shape{2, 60}}, std::pair{2LL, Shape{2, 3, 20}},
          std::pair{3LL, Shape{2, 3, 4, 5}}, std::pair{-2LL, Shape{2, 3, 20}}}) {
        const long long start_axis = start;  // (clang 14 cannot capture a structured binding)
        CAPTURE(start_axis);
        const Attrs a = with_defaults(flatten, one("start", double(start)));
        const Tensor y = forward(flatten, {&x}, a);
        CHECK(y.shape() == shape);
        CHECK(y.data() == x.data());
        // element (n, c, h, w) lands at (n, c*20 + h*5 + w) for start 1
        if (start == 1) CHECK(y.at({1, 2 * 20 + 3 * 5 + 4}) == x.at({1, 2, 3, 4}));
        const Tensor up = numbered(y.shape(), -1);
        const Tensor dx = backward(flatten, {&x}, a, y, 0, up);
        CHECK(dx.shape() == x.shape());
        CHECK(dx.data() == up.data());
    }
    // flatten's default start is 1: (N, C, H, W) -> (N, C*H*W)
    CHECK(flatten.shape({x.shape()}, with_defaults(flatten, Attrs{})) == Shape{2, 60});
}

// ======================================================================= errors

TEST_CASE("shape ops: bad attributes are ShapeErrors that say what is wrong") {
    const OpDef& shuffle = op_named("channel_shuffle");
    const OpDef& transpose = op_named("transpose");
    const OpDef& reshape = op_named("reshape");
    const OpDef& split = op_named("split");
    const OpDef& cat = op_named("concat");
    const OpDef& flatten = op_named("flatten");

    SUBCASE("channel_shuffle: groups must divide C") {
        CHECK(mentions(shape_error(shuffle, {{1, 6, 2, 2}}, one("groups", 4)), {"groups = 4", "divide", "6 channels"}));
        CHECK(mentions(shape_error(shuffle, {{1, 6, 2, 2}}, one("groups", 0)), {"groups = 0"}));
        CHECK(mentions(shape_error(shuffle, {{6, 2, 2}}, one("groups", 2)), {"(N, C, H, W)", "(6, 2, 2)"}));
        CHECK(shape_error(shuffle, {{1, 6, 2, 2}}, one("groups", 3)).empty());
    }
    SUBCASE("transpose: perm must name every axis once") {
        CHECK(mentions(shape_error(transpose, {{2, 3, 4, 5}}, list("perm", {0, 1, 1, 3})),
                       {"[0,1,1,3]", "axis 1", "twice"}));
        CHECK(mentions(shape_error(transpose, {{2, 3, 4}}, list("perm", {2, -1, 0})), {"axis 2", "twice"}));
        CHECK(mentions(shape_error(transpose, {{2, 3, 4}}, list("perm", {1, 0})), {"2 axes", "rank 3"}));
        CHECK(mentions(shape_error(transpose, {{2, 3}}, list("perm", {0, 2})), {"axis 2", "out of range"}));
        CHECK(shape_error(transpose, {{2, 3, 4}}, list("perm", {2, 0, 1})).empty());
    }
    SUBCASE("reshape: the sizes must multiply to the element count") {
        CHECK(
            mentions(shape_error(reshape, {{2, 3, 4}}, list("shape", {4, 5})), {"(2, 3, 4)", "24 elements", "[4,5]"}));
        CHECK(mentions(shape_error(reshape, {{2, 3, 4}}, list("shape", {-1, 5})), {"24 elements", "[-1,5]"}));
        CHECK(mentions(shape_error(reshape, {{2, 3, 4}}, list("shape", {-1, -1})), {"[-1,-1]", "-1 once"}));
        CHECK(mentions(shape_error(reshape, {{2, 3, 4}}, list("shape", {0, 24})), {"[0,24]", "at least 1"}));
        CHECK(mentions(shape_error(reshape, {{2, 3, 4}}, list("shape", {1, 2, 3, 2, 2})), {"[1,2,3,2,2]", "rank"}));
        CHECK(shape_error(reshape, {{2, 3, 4}}, list("shape", {4, -1})).empty());
    }
    SUBCASE("split and concat") {
        Attrs a = one("parts", 4);
        a.set("index", 0);
        CHECK(mentions(shape_error(split, {{2, 6}}, a), {"axis 1", "size 6", "4 equal parts"}));
        a.set("parts", 3);
        a.set("index", 3);
        CHECK(mentions(shape_error(split, {{2, 6}}, a), {"index 3", "3 parts"}));
        CHECK(mentions(shape_error(cat, {{2, 3, 4}, {2, 5, 4}, {2, 3, 5}}, one("axis", 1)),
                       {"(2, 3, 4)", "(2, 3, 5)", "axis 1"}));
        CHECK(shape_error(cat, {{2, 3, 4}, {2, 5, 4}}, one("axis", 1)).empty());
        CHECK(mentions(shape_error(cat, {{2, 3}, {2, 3}}, one("axis", 2)), {"axis 2", "out of range"}));
        CHECK(mentions(shape_error(flatten, {{2, 3}}, one("start", 5)), {"5", "out of range"}));
    }
}
