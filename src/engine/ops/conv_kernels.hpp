#pragma once
// The arithmetic of 2-D convolution (NCHW, weights (K, C/groups, R, S)):
// the readable reference loops, written as the index formulas read, and the
// fast kernels the op uses. Tests check one against the other.
#include <cstddef>

#include "bnstep/tensor.hpp"

namespace bnstep::ops {

struct ConvGeometry {
    std::size_t n = 0, c = 0, h = 0, w = 0;  // input
    std::size_t k = 0, r = 0, s = 0;         // filters and kernel
    std::size_t stride = 1, padding = 0, dilation = 1, groups = 1;
    std::size_t ho = 0, wo = 0;  // output

    std::size_t c_per_group() const { return c / groups; }
    std::size_t k_per_group() const { return k / groups; }
    // The input channel that filter `kk` reads as its channel `cc`.
    std::size_t input_channel(std::size_t kk, std::size_t cc) const { return kk / k_per_group() * c_per_group() + cc; }
    // The input row (column) that output row i reads at kernel row r, or -1 in the padding.
    long long in_row(std::size_t i, std::size_t rr) const {
        return static_cast<long long>(i * stride + rr * dilation) - static_cast<long long>(padding);
    }
    long long in_col(std::size_t j, std::size_t ss) const {
        return static_cast<long long>(j * stride + ss * dilation) - static_cast<long long>(padding);
    }
    double macs() const { return double(n) * double(k) * double(c_per_group()) * double(r * s) * double(ho * wo); }
};

// Output size of one axis, or 0 when the kernel does not fit.
std::size_t conv_out_size(std::size_t in, std::size_t kernel, std::size_t stride, std::size_t padding,
                          std::size_t dilation);

// out[n,k,i,j] = b[k] + sum_{c,r,s} w[k,c,r,s] * x[n, g*C/groups + c, i*stride + r*dilation - padding, ...]
Tensor conv_forward_reference(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b);
// dx[n,c,h,w] = sum over (k, r, s, i, j) whose window reads x[n,c,h,w] of dout[n,k,i,j] * w[k,c',r,s]
Tensor conv_input_grad_reference(const ConvGeometry& g, const Tensor& dout, const Tensor& w);
// dw[k,c,r,s] = sum_{n,i,j} dout[n,k,i,j] * x[n, c_in, i*stride + r*dilation - padding, ...]
Tensor conv_weight_grad_reference(const ConvGeometry& g, const Tensor& dout, const Tensor& x);

// The same sums, ordered so the innermost loop runs along a row.
Tensor conv_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b);
Tensor conv_input_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& w);
Tensor conv_weight_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& x);

}  // namespace bnstep::ops
