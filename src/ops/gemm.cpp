#include "ops/gemm.hpp"

namespace bnstep::ops {
namespace {

// On x86-64 with GCC the product is compiled twice, for AVX2 + FMA machines
// (x86-64-v3) and for any x86-64, and the loader picks one. Everything the hot
// loop needs is written inside it: a function of another target would not inline.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BNSTEP_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define BNSTEP_VECTOR_CLONES
#endif

// Four doubles, loaded from any address: GCC and Clang turn arithmetic on it
// into vector instructions (AVX2 in the x86-64-v3 clone, SSE2 pairs otherwise).
typedef double v4 __attribute__((vector_size(32), aligned(8)));

constexpr std::size_t kRows = 4;  // rows of C held in registers at a time
constexpr std::size_t kCols = 8;  // columns of C held in registers at a time (two v4)

}  // namespace

BNSTEP_VECTOR_CLONES void gemm_accumulate(std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b,
                                          double* c) {
    const std::size_t m_tiles = m / kRows * kRows, n_tiles = n / kCols * kCols;
    // Each k x kCols strip of B stays in the first-level cache while every row block of A passes over it;
    // the kRows x kCols tile of C stays in registers over all of k.
    for (std::size_t j = 0; j < n_tiles; j += kCols)
        for (std::size_t i = 0; i < m_tiles; i += kRows) {
            const double* ai = a + i * k;
            double* ci = c + i * n + j;
            v4 acc[kRows][2];
            for (std::size_t r = 0; r < kRows; ++r) {
                acc[r][0] = *reinterpret_cast<const v4*>(ci + r * n);
                acc[r][1] = *reinterpret_cast<const v4*>(ci + r * n + 4);
            }
            for (std::size_t p = 0; p < k; ++p) {
                const v4 b0 = *reinterpret_cast<const v4*>(b + p * n + j);
                const v4 b1 = *reinterpret_cast<const v4*>(b + p * n + j + 4);
                for (std::size_t r = 0; r < kRows; ++r) {
                    const double av = ai[r * k + p];
                    acc[r][0] += av * b0;
                    acc[r][1] += av * b1;
                }
            }
            for (std::size_t r = 0; r < kRows; ++r) {
                *reinterpret_cast<v4*>(ci + r * n) = acc[r][0];
                *reinterpret_cast<v4*>(ci + r * n + 4) = acc[r][1];
            }
        }
    // The edges: the rows below the last full block, then the columns right of the last full tile.
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t p = 0; p < k; ++p) {
            const double av = a[i * k + p];
            for (std::size_t jj = i < m_tiles ? n_tiles : 0; jj < n; ++jj) c[i * n + jj] += av * b[p * n + jj];
        }
}

}  // namespace bnstep::ops
