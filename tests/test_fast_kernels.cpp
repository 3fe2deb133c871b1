// The building blocks of the fast convolution: the blocked matrix product
// against the triple loop of its definition, and the loop sharing between
// threads (every index handled exactly once).
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include "bnstep/rng.hpp"
#include "ops/gemm.hpp"
#include "bnstep/parallel.hpp"

using namespace bnstep;

TEST_CASE(
    "gemm: C += A*B (B as is, or given transposed) equals the sum of products, at sizes off every block boundary") {
    Rng rng(42);
    struct Size {
        std::size_t m, n, k;
    };
    // 1s, sizes below, at and past the register tiles (4/8 rows, 8/12/16 columns) and the k block (192)
    const std::vector<Size> sizes{{1, 1, 1},     {3, 5, 7},    {8, 16, 192}, {9, 17, 193},
                                  {13, 29, 401}, {64, 24, 36}, {2, 100, 3},  {31, 3, 250}};
    for (const Size& z : sizes) {
        CAPTURE(z.m);
        CAPTURE(z.n);
        CAPTURE(z.k);
        std::vector<double> a(z.m * z.k), b(z.k * z.n), c(z.m * z.n);
        for (double& v : a) v = rng.uniform(-1, 1);
        for (double& v : b) v = rng.uniform(-1, 1);
        for (double& v : c) v = rng.uniform(-1, 1);
        std::vector<double> want = c;
        for (std::size_t i = 0; i < z.m; ++i)
            for (std::size_t j = 0; j < z.n; ++j)
                for (std::size_t p = 0; p < z.k; ++p) want[i * z.n + j] += a[i * z.k + p] * b[p * z.n + j];
        std::vector<double> bt(z.n * z.k), c_bt = c;  // B given transposed
        for (std::size_t p = 0; p < z.k; ++p)
            for (std::size_t j = 0; j < z.n; ++j) bt[j * z.k + p] = b[p * z.n + j];
        ops::gemm_accumulate(z.m, z.n, z.k, a.data(), b.data(), c.data());
        ops::gemm_accumulate({.m = z.m,
                              .n = z.n,
                              .k = z.k,
                              .a = a.data(),
                              .b = bt.data(),
                              .ldb = z.k,
                              .b_transposed = true,
                              .c = c_bt.data(),
                              .ldc = z.n});
        double worst = 0;
        for (std::size_t e = 0; e < c.size(); ++e) worst = std::max(worst, std::fabs(c[e] - want[e]));
        CHECK(worst <= 1e-12 * double(z.k));
        CHECK(c_bt == c);  // the same products, summed in the same order
    }
}

TEST_CASE("parallel_ranges: every index once, small loops on the calling thread, errors rethrown") {
    for (std::size_t count : {0u, 1u, 2u, 3u, 17u, 1000u}) {
        CAPTURE(count);
        std::vector<std::atomic<int>> seen(count);
        parallel_ranges(count, 1e12, [&](std::size_t first, std::size_t last) {
            CHECK(first <= last);
            for (std::size_t i = first; i < last; ++i) ++seen[i];
        });
        for (std::size_t i = 0; i < count; ++i) CHECK(seen[i].load() == 1);
    }
    int calls = 0;
    parallel_ranges(100, 10.0, [&](std::size_t first, std::size_t last) {
        ++calls;
        CHECK(first == 0);
        CHECK(last == 100);
    });
    CHECK(calls == 1);
    CHECK_THROWS_AS(parallel_ranges(8, 1e12,
                                    [](std::size_t first, std::size_t) {
                                        if (first > 0 || bnstep::worker_count() == 1)
                                            throw std::runtime_error("a range failed");
                                    }),
                    std::runtime_error);
}
