// The pools (max_pool2d, avg_pool2d, global_avg_pool) against values derived
// here by hand and by a direct search. The VJPs against finite differences
// are in test_ops.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "batchnorm_reference.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/op.hpp"
#include "bnstep/rng.hpp"
#include "conv_support.hpp"
#include "op_harness.hpp"

using namespace bnstep;
using namespace bnstep_conv_test;
using bnstep::testing::op_named;
using bnstep::testing::with_defaults;

// ======================================================================= pooling

TEST_CASE("conv: max_pool2d sends the gradient to the first maximum, row by row, left to right") {
    const OpDef& op = op_named("max_pool2d");
    SUBCASE("a constant image: every 2x2 window's gradient lands on its top-left element") {
        const Tensor x(Shape{1, 1, 4, 4}, 1.5);
        Attrs a;
        a.set("kernel", 2);
        a = with_defaults(op, a);
        const Tensor out = op.forward(call_of({&x}, a));
        REQUIRE(out.shape() == Shape{1, 1, 2, 2});
        CHECK(out.all_equal_to(1.5));
        const Tensor up(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
        const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), up);
        const std::vector<double> want{1, 0, 2, 0,  //
                                       0, 0, 0, 0,  //
                                       3, 0, 4, 0,  //
                                       0, 0, 0, 0};
        for (std::size_t e = 0; e < 16; ++e) CHECK(dx[e] == want[e]);
    }
    SUBCASE("row before column: a tie between (0,2) and (1,0) goes to (0,2)") {
        // 3x3 window over the whole 3x3 image: the two 5s tie. Row by row,
        // (0,2) comes first even though (1,0) is further left.
        const Tensor x(Shape{1, 1, 3, 3}, {0, 0, 5,  //
                                           5, 0, 0,  //
                                           0, 0, 0});
        Attrs a;
        a.set("kernel", 3);
        a = with_defaults(op, a);
        const Tensor out = op.forward(call_of({&x}, a));
        REQUIRE(out.shape() == Shape{1, 1, 1, 1});
        CHECK(out[0] == 5);
        const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), Tensor(Shape{1, 1, 1, 1}, 7.0));
        CHECK(dx.at({0, 0, 0, 2}) == 7);
        CHECK(dx.at({0, 0, 1, 0}) == 0);
        double total = 0;
        for (double v : dx.data()) total += v;
        CHECK(total == 7);
    }
    SUBCASE("overlapping windows add their gradients on a shared maximum; padding never wins") {
        // All values negative, so a zero from the padding would win if it counted.
        // kernel 3, stride 1, padding 1 on 3x3: nine windows.
        const Tensor x(Shape{1, 1, 3, 3}, {-5, -1, -3,  //
                                           -2, -9, -1,  //
                                           -4, -6, -8});
        Attrs a;
        a.set("kernel", 3);
        a.set("stride", 1);
        a.set("padding", 1);
        a = with_defaults(op, a);
        const Tensor out = op.forward(call_of({&x}, a));
        REQUIRE(out.shape() == Shape{1, 1, 3, 3});
        // Window (i,j) covers rows i-1..i+1 and columns j-1..j+1 of x.
        // (0,0): {-5,-1,-2,-9} -> -1 at (0,1)   (0,1): rows 0-1 all -> -1 at (0,1) first
        // (0,2): {-1,-3,-9,-1} -> -1 at (0,1)   (1,0): rows 0-2 cols 0-1 -> -1 at (0,1)
        // (1,1): all -> -1 at (0,1)             (1,2): cols 1-2 -> -1 at (0,1)
        // (2,0): rows 1-2 cols 0-1 {-2,-9,-4,-6} -> -2 at (1,0)
        // (2,1): rows 1-2 all -> -1 at (1,2)    (2,2): rows 1-2 cols 1-2 -> -1 at (1,2)
        const std::vector<double> want_out{-1, -1, -1, -1, -1, -1, -2, -1, -1};
        for (std::size_t e = 0; e < 9; ++e) CHECK(out[e] == want_out[e]);
        const Tensor up(Shape{1, 1, 3, 3}, {1, 2, 4, 8, 16, 32, 64, 128, 256});
        const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), up);
        CHECK(dx.at({0, 0, 0, 1}) == 1 + 2 + 4 + 8 + 16 + 32);
        CHECK(dx.at({0, 0, 1, 0}) == 64);
        CHECK(dx.at({0, 0, 1, 2}) == 128 + 256);
        double total = 0;
        for (double v : dx.data()) total += v;
        CHECK(total == 511);  // nothing went to the padding
    }
}

TEST_CASE("conv: max_pool2d equals a direct first-maximum search on random data with ties") {
    const OpDef& op = op_named("max_pool2d");
    struct Case {
        Shape shape;
        std::size_t kernel, stride, padding;
    };
    const std::vector<Case> cases{
        {{2, 2, 6, 7}, 2, 2, 0}, {{1, 3, 7, 5}, 3, 2, 1}, {{1, 1, 8, 8}, 3, 3, 1}, {{2, 1, 5, 6}, 2, 1, 1}};
    std::uint64_t seed = 40;
    for (const Case& c : cases) {
        // values from {-2, -1, 0, 1}: many ties
        Tensor x = random_tensor(c.shape, ++seed, -2, 2);
        for (double& v : x.data()) v = std::floor(v);
        Attrs a;
        a.set("kernel", double(c.kernel));
        a.set("stride", double(c.stride));
        a.set("padding", double(c.padding));
        a = with_defaults(op, a);
        const Tensor out = op.forward(call_of({&x}, a));
        const std::size_t ho = (c.shape[2] + 2 * c.padding - c.kernel) / c.stride + 1;
        const std::size_t wo = (c.shape[3] + 2 * c.padding - c.kernel) / c.stride + 1;
        REQUIRE(out.shape() == Shape{c.shape[0], c.shape[1], ho, wo});
        const Tensor up = random_tensor(out.shape(), ++seed);
        Tensor want_dx(c.shape);
        for (std::size_t n = 0; n < c.shape[0]; ++n)
            for (std::size_t ch = 0; ch < c.shape[1]; ++ch)
                for (std::size_t i = 0; i < ho; ++i)
                    for (std::size_t j = 0; j < wo; ++j) {
                        double best = -std::numeric_limits<double>::infinity();
                        Index where;
                        for (std::size_t r = 0; r < c.kernel; ++r)
                            for (std::size_t s = 0; s < c.kernel; ++s) {
                                const long long h = (long long)(i * c.stride + r) - (long long)c.padding;
                                const long long v = (long long)(j * c.stride + s) - (long long)c.padding;
                                if (h < 0 || v < 0 || h >= (long long)c.shape[2] || v >= (long long)c.shape[3])
                                    continue;
                                const double xv = x.at({n, ch, (std::size_t)h, (std::size_t)v});
                                if (xv > best) {
                                    best = xv;
                                    where = {n, ch, (std::size_t)h, (std::size_t)v};
                                }
                            }
                        CHECK(out.at({n, ch, i, j}) == best);
                        want_dx.at(where) += up.at({n, ch, i, j});
                    }
        check_same(op.rule(0).vjp(call_of({&x}, a, &out), up), want_dx);
    }
}

TEST_CASE("conv: avg_pool2d divides by kernel^2, padded zeros included") {
    const OpDef& op = op_named("avg_pool2d");
    // x 2x2 = [[1,2],[3,4]], kernel 2, stride 1, padding 1: nine 2x2 windows.
    const Tensor x(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
    Attrs a;
    a.set("kernel", 2);
    a.set("stride", 1);
    a.set("padding", 1);
    a = with_defaults(op, a);
    const Tensor out = op.forward(call_of({&x}, a));
    REQUIRE(out.shape() == Shape{1, 1, 3, 3});
    const std::vector<double> want{1 / 4.0, 3 / 4.0,  2 / 4.0,  //
                                   4 / 4.0, 10 / 4.0, 6 / 4.0,  //
                                   3 / 4.0, 7 / 4.0,  4 / 4.0};
    for (std::size_t e = 0; e < 9; ++e) CHECK(out[e] == want[e]);
    // Each x element is in the four windows whose top-left is one of (h,w), (h,w+1), (h+1,w), (h+1,w+1).
    const Tensor up(Shape{1, 1, 3, 3}, {1, 2, 4, 8, 16, 32, 64, 128, 256});
    const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), up);
    CHECK(dx.at({0, 0, 0, 0}) == (1 + 2 + 8 + 16) / 4.0);
    CHECK(dx.at({0, 0, 0, 1}) == (2 + 4 + 16 + 32) / 4.0);
    CHECK(dx.at({0, 0, 1, 0}) == (8 + 16 + 64 + 128) / 4.0);
    CHECK(dx.at({0, 0, 1, 1}) == (16 + 32 + 128 + 256) / 4.0);

    // kernel 3, stride 2 (default stride = kernel is not used here), padding 1 on a 4x5 image.
    const Tensor y = random_tensor({1, 2, 4, 5}, 3);
    Attrs b;
    b.set("kernel", 3);
    b.set("stride", 2);
    b.set("padding", 1);
    b = with_defaults(op, b);
    const Tensor yo = op.forward(call_of({&y}, b));
    REQUIRE(yo.shape() == Shape{1, 2, 2, 3});
    for (std::size_t c = 0; c < 2; ++c)
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t j = 0; j < 3; ++j) {
                double sum = 0;
                for (long long h = (long long)(2 * i) - 1; h <= (long long)(2 * i) + 1; ++h)
                    for (long long v = (long long)(2 * j) - 1; v <= (long long)(2 * j) + 1; ++v)
                        if (h >= 0 && v >= 0 && h < 4 && v < 5) sum += y.at({0, c, (std::size_t)h, (std::size_t)v});
                CHECK(yo.at({0, c, i, j}) == doctest::Approx(sum / 9.0).epsilon(1e-14));
            }
}

TEST_CASE("conv: the pool stride defaults to the kernel size") {
    const OpDef& op = op_named("avg_pool2d");
    const Tensor x = random_tensor({1, 1, 6, 6}, 5);
    Attrs a;
    a.set("kernel", 3);
    a = with_defaults(op, a);
    const Tensor out = op.forward(call_of({&x}, a));
    REQUIRE(out.shape() == Shape{1, 1, 2, 2});
    double sum = 0;
    for (std::size_t h = 3; h < 6; ++h)
        for (std::size_t v = 0; v < 3; ++v) sum += x.at({0, 0, h, v});
    CHECK(out.at({0, 0, 1, 0}) == doctest::Approx(sum / 9).epsilon(1e-14));
}

TEST_CASE("conv: global_avg_pool by hand") {
    const OpDef& op = op_named("global_avg_pool");
    // x (2, 2, 2, 3): channel planes 1..6, 10..60, -1..-6, 0.5 x 6
    Tensor x(Shape{2, 2, 2, 3});
    for (std::size_t e = 0; e < 6; ++e) {
        x[e] = double(e + 1);
        x[6 + e] = 10.0 * double(e + 1);
        x[12 + e] = -double(e + 1);
        x[18 + e] = 0.5;
    }
    const Attrs a = with_defaults(op, Attrs{});
    REQUIRE(op.shape({x.shape()}, a) == Shape{2, 2});
    const Tensor out = op.forward(call_of({&x}, a));
    REQUIRE(out.shape() == Shape{2, 2});
    CHECK(out.at({0, 0}) == doctest::Approx(3.5));
    CHECK(out.at({0, 1}) == doctest::Approx(35.0));
    CHECK(out.at({1, 0}) == doctest::Approx(-3.5));
    CHECK(out.at({1, 1}) == doctest::Approx(0.5));
    const Tensor up(Shape{2, 2}, {6, -12, 3, 0.6});
    const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), up);
    REQUIRE(dx.shape() == x.shape());
    for (std::size_t e = 0; e < 6; ++e) {
        CHECK(dx[e] == doctest::Approx(1.0));
        CHECK(dx[6 + e] == doctest::Approx(-2.0));
        CHECK(dx[12 + e] == doctest::Approx(0.5));
        CHECK(dx[18 + e] == doctest::Approx(0.1));
    }
}
