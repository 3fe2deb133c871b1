#include <doctest/doctest.h>

#include "bnstep/rng.hpp"
#include "bnstep/tensor.hpp"

using namespace bnstep;

TEST_CASE("tensor: row-major layout, offsets and unravel") {
    Tensor t(Shape{2, 3, 4});
    CHECK(t.size() == 24);
    CHECK(t.offset({1, 2, 3}) == 1 * 12 + 2 * 4 + 3);
    CHECK(t.unravel(23) == Index{1, 2, 3});
    CHECK(t.unravel(5) == Index{0, 1, 1});
    CHECK_FALSE(t.contains({2, 0, 0}));
    CHECK_FALSE(t.contains({0, 0}));
    const Tensor s = Tensor::scalar(2.5);
    CHECK(s.rank() == 0);
    CHECK(s.at({}) == 2.5);
    CHECK(shape_str(Shape{}) == "()");
    CHECK(shape_str(Shape{3}) == "(3,)");
    CHECK(shape_str(Shape{4, 3}) == "(4, 3)");
}

TEST_CASE("tensor: NumPy broadcasting rules") {
    CHECK(broadcast_shapes({4, 3}, {3}) == Shape{4, 3});
    CHECK(broadcast_shapes({4, 1}, {1, 3}) == Shape{4, 3});
    CHECK(broadcast_shapes({}, {2, 5}) == Shape{2, 5});
    CHECK(broadcast_shapes({2, 1, 4}, {3, 1}) == Shape{2, 3, 4});
    CHECK_FALSE(broadcast_shapes({4, 3}, {4}).has_value());
    CHECK_FALSE(broadcast_shapes({2, 3}, {3, 2}).has_value());
}

TEST_CASE("tensor: broadcasting reads the right source element") {
    const Tensor row(Shape{3}, std::vector<double>{1, 2, 3});
    const Tensor b = broadcast_to(row, {2, 3});
    CHECK(b.data() == std::vector<double>{1, 2, 3, 1, 2, 3});
    const Tensor col(Shape{2, 1}, std::vector<double>{10, 20});
    const Tensor sum = zip(col, row, [](double x, double y) { return x + y; });
    CHECK(sum.shape() == Shape{2, 3});
    CHECK(sum.data() == std::vector<double>{11, 12, 13, 21, 22, 23});
}

TEST_CASE("tensor: unbroadcast sums over exactly the broadcast axes") {
    const Tensor g(Shape{2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6});
    const auto to_row = unbroadcast(g, {3});
    CHECK(to_row.axes == std::vector<std::size_t>{0});
    CHECK(to_row.value.data() == std::vector<double>{5, 7, 9});
    const auto to_col = unbroadcast(g, {2, 1});
    CHECK(to_col.axes == std::vector<std::size_t>{1});
    CHECK(to_col.value.data() == std::vector<double>{6, 15});
    const auto to_scalar = unbroadcast(g, {});
    CHECK(to_scalar.axes == std::vector<std::size_t>{0, 1});
    CHECK(to_scalar.value[0] == 21);
    const auto same = unbroadcast(g, {2, 3});
    CHECK(same.axes.empty());
    CHECK(same.value.data() == g.data());
}

TEST_CASE("tensor: sum over an axis, with and without keepdims") {
    const Tensor t(Shape{2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6});
    CHECK(sum_axis(t, 0, false).shape() == Shape{3});
    CHECK(sum_axis(t, 0, false).data() == std::vector<double>{5, 7, 9});
    CHECK(sum_axis(t, 1, true).shape() == Shape{2, 1});
    CHECK(sum_axis(t, 1, true).data() == std::vector<double>{6, 15});
}

TEST_CASE("rng: splitmix64 reference outputs, identical everywhere") {
    // The published splitmix64 sequence for state 0.
    Rng rng(0);
    CHECK(rng.next() == 0xE220A8397B1DCDAFULL);
    CHECK(rng.next() == 0x6E789E6AA1B965F4ULL);
    CHECK(rng.next() == 0x06C45D188009454FULL);
    // uniform(): the top 53 bits over 2^53, computed here by hand for state 0.
    Rng u(0);
    CHECK(u.uniform() == static_cast<double>(0xE220A8397B1DCDAFULL >> 11) / 9007199254740992.0);
    Rng a(42), b(42);
    for (int i = 0; i < 100; ++i) CHECK(a.normal(0, 1) == b.normal(0, 1));
    Rng n(7);
    for (int i = 0; i < 1000; ++i) {
        const double v = n.normal(1.0, 2.0);
        CHECK(v >= 1.0 - 12.0);
        CHECK(v <= 1.0 + 12.0);
    }
}
