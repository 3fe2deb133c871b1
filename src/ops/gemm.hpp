#pragma once
// A small blocked matrix product for the convolution kernels:
// C (m x n) += A (m x k) * B (k x n), all row-major and dense.
#include <cstddef>

namespace bnstep::ops {

void gemm_accumulate(std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b, double* c);

// C (m x n) += A (m x k) * Bt^T, with Bt (n x k) row-major: B given transposed.
void gemm_accumulate_bt(std::size_t m, std::size_t n, std::size_t k, const double* a, const double* bt, double* c);

}  // namespace bnstep::ops
