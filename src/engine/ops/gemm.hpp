#pragma once
// A small blocked matrix product for the convolution kernels, row-major:
// C (m x n) += A (m x k) * B.
#include <cstddef>

namespace bnstep::ops {

// A is dense (rows k apart). B is k x n with rows ldb apart, or, when
// b_transposed, given as its transpose (n x k, rows ldb apart). C's rows are
// ldc apart, so a product may fill a block of a larger matrix.
struct MatrixProduct {
    std::size_t m, n, k;
    const double* a;
    const double* b;
    std::size_t ldb;
    bool b_transposed;
    double* c;
    std::size_t ldc;
};

void gemm_accumulate(const MatrixProduct& product);

// k is summed in blocks of this many: a caller that splits k itself should split at multiples of it.
constexpr std::size_t kGemmDepthBlock = 192;

// All three dense: B is k x n, C is m x n.
inline void gemm_accumulate(std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b, double* c) {
    gemm_accumulate(MatrixProduct{m, n, k, a, b, n, false, c, n});
}

}  // namespace bnstep::ops
