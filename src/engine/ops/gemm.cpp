#include "ops/gemm.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace bnstep::ops {
namespace {

// The blocking of Goto and van de Geijn: kKc rows of B at a time, kNr columns
// wide, are copied into a contiguous strip that stays in the first-level cache;
// the matching kKc columns of A are copied kMr rows at a time, column by column;
// the micro-kernel holds a kMr x kNr tile of C in vector registers and adds kKc
// rank-1 updates to it. Every element of C sums its k products in the same order
// (block after block of kKc, in order) whatever the caller splits, so results
// do not depend on how the rows of C are shared between threads.
constexpr std::size_t kKc = kGemmDepthBlock;

// Vectors of doubles: GCC and Clang compile arithmetic on them to the widest
// instructions the enclosing function's target allows.
typedef double v8 __attribute__((vector_size(64)));
typedef double v4 __attribute__((vector_size(32)));
typedef double v2 __attribute__((vector_size(16)));

std::size_t round_up(std::size_t v, std::size_t to) { return (v + to - 1) / to * to; }

// rows x kc of A from (row0, col0) as kMr-row panels: panel[p * Mr + r] = A[row0 + r][col0 + p], zero-padded.
template <std::size_t Mr>
[[gnu::always_inline]] inline void pack_a(const double* a, std::size_t lda, std::size_t rows, std::size_t kc,
                                          double* out) {
    for (std::size_t i = 0; i < rows; i += Mr) {
        const std::size_t live = std::min(Mr, rows - i);
        double* panel = out + i * kc;
        for (std::size_t p = 0; p < kc; ++p)
            for (std::size_t r = 0; r < Mr; ++r) panel[p * Mr + r] = r < live ? a[(i + r) * lda + p] : 0.0;
    }
}

// kc x cols of B as one strip: strip[p * Nr + j] = B[p][j], zero-padded to Nr columns.
template <std::size_t Nr>
[[gnu::always_inline]] inline void pack_b(const double* b, std::size_t ldb, std::size_t kc, std::size_t cols,
                                          double* strip) {
    for (std::size_t p = 0; p < kc; ++p) {
        std::memcpy(strip + p * Nr, b + p * ldb, cols * sizeof(double));
        std::fill(strip + p * Nr + cols, strip + (p + 1) * Nr, 0.0);
    }
}

// The same strip when B is given transposed (bt is n x k): strip[p * Nr + j] = bt[j][p].
template <std::size_t Nr>
[[gnu::always_inline]] inline void pack_bt(const double* bt, std::size_t ldbt, std::size_t kc, std::size_t cols,
                                           double* strip) {
    for (std::size_t j = 0; j < cols; ++j)
        for (std::size_t p = 0; p < kc; ++p) strip[p * Nr + j] = bt[j * ldbt + p];
    for (std::size_t j = cols; j < Nr; ++j)
        for (std::size_t p = 0; p < kc; ++p) strip[p * Nr + j] = 0.0;
}

// C[0..rows, 0..cols] += (packed A panel) * (packed B strip) over kc.
template <class V, std::size_t Mr, std::size_t Nv>
[[gnu::always_inline]] inline void micro_kernel(std::size_t kc, const double* ap, const double* bp, double* c,
                                                std::size_t ldc, std::size_t rows, std::size_t cols) {
    constexpr std::size_t lanes = sizeof(V) / sizeof(double), Nr = Nv * lanes;
    V acc[Mr][Nv];
    for (std::size_t r = 0; r < Mr; ++r)
        for (std::size_t v = 0; v < Nv; ++v) acc[r][v] = V{};
    for (std::size_t p = 0; p < kc; ++p) {
        V bv[Nv];
        for (std::size_t v = 0; v < Nv; ++v) std::memcpy(&bv[v], bp + p * Nr + v * lanes, sizeof(V));
        for (std::size_t r = 0; r < Mr; ++r) {
            const double av = ap[p * Mr + r];
            for (std::size_t v = 0; v < Nv; ++v) acc[r][v] += av * bv[v];
        }
    }
    if (rows == Mr && cols == Nr) {
        for (std::size_t r = 0; r < Mr; ++r)
            for (std::size_t v = 0; v < Nv; ++v) {
                V cv;
                std::memcpy(&cv, c + r * ldc + v * lanes, sizeof(V));
                cv += acc[r][v];
                std::memcpy(c + r * ldc + v * lanes, &cv, sizeof(V));
            }
        return;
    }
    double tile[Mr][Nr];
    for (std::size_t r = 0; r < Mr; ++r)
        for (std::size_t v = 0; v < Nv; ++v) std::memcpy(&tile[r][v * lanes], &acc[r][v], sizeof(V));
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < cols; ++j) c[r * ldc + j] += tile[r][j];
}

template <class V, std::size_t Mr, std::size_t Nv>
[[gnu::always_inline]] inline void gemm_blocked(const MatrixProduct& pr) {
    const auto [m, n, k, a, b, ldb, b_transposed, c, ldc] = pr;
    constexpr std::size_t Nr = Nv * sizeof(V) / sizeof(double);
    std::vector<double> a_packed(round_up(m, Mr) * std::min(k, kKc)), b_strip(std::min(k, kKc) * Nr);
    for (std::size_t p0 = 0; p0 < k; p0 += kKc) {
        const std::size_t kc = std::min(kKc, k - p0);
        pack_a<Mr>(a + p0, k, m, kc, a_packed.data());
        for (std::size_t j = 0; j < n; j += Nr) {
            const std::size_t cols = std::min(Nr, n - j);
            if (b_transposed)
                pack_bt<Nr>(b + j * ldb + p0, ldb, kc, cols, b_strip.data());
            else
                pack_b<Nr>(b + p0 * ldb + j, ldb, kc, cols, b_strip.data());
            for (std::size_t i = 0; i < m; i += Mr)
                micro_kernel<V, Mr, Nv>(kc, a_packed.data() + i * kc, b_strip.data(), c + i * ldc + j, ldc,
                                        std::min(Mr, m - i), cols);
        }
    }
}

// One instance per instruction set, each compiled for its own target and
// picked at run time: AVX-512 has 32 vector registers (an 8 x 16 tile of C
// uses 16 of them), AVX2 16 (a 4 x 12 tile uses 12).
void gemm_generic(const MatrixProduct& p) { gemm_blocked<v2, 4, 3>(p); }

using GemmFn = void (*)(const MatrixProduct&);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2,fma"))) void gemm_avx2(const MatrixProduct& p) { gemm_blocked<v4, 4, 3>(p); }

__attribute__((target("avx512f,fma"))) void gemm_avx512(const MatrixProduct& p) { gemm_blocked<v8, 8, 2>(p); }

GemmFn pick_gemm() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return gemm_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return gemm_avx2;
    return gemm_generic;
}
#else
GemmFn pick_gemm() { return gemm_generic; }
#endif

}  // namespace

void gemm_accumulate(const MatrixProduct& product) {
    if (product.m == 0 || product.n == 0 || product.k == 0) return;
    static const GemmFn chosen = pick_gemm();
    chosen(product);
}

}  // namespace bnstep::ops
