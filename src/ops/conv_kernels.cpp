#include "ops/conv_kernels.hpp"

#include <vector>

#include "ops/gemm.hpp"

namespace bnstep::ops {

std::size_t conv_out_size(std::size_t in, std::size_t kernel, std::size_t stride, std::size_t padding,
                          std::size_t dilation) {
    const std::size_t span = dilation * (kernel - 1) + 1;
    if (in + 2 * padding < span) return 0;
    return (in + 2 * padding - span) / stride + 1;
}

// ---- the reference: the index formulas, one loop per index ----

Tensor conv_forward_reference(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b) {
    Tensor out(Shape{g.n, g.k, g.ho, g.wo});
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t k = 0; k < g.k; ++k)
            for (std::size_t i = 0; i < g.ho; ++i)
                for (std::size_t j = 0; j < g.wo; ++j) {
                    double sum = b ? (*b)[k] : 0.0;
                    for (std::size_t c = 0; c < g.c_per_group(); ++c)
                        for (std::size_t r = 0; r < g.r; ++r)
                            for (std::size_t s = 0; s < g.s; ++s) {
                                const long long h = g.in_row(i, r), v = g.in_col(j, s);
                                if (h < 0 || v < 0 || h >= (long long)g.h || v >= (long long)g.w) continue;
                                sum += w.at({k, c, r, s}) * x.at({n, g.input_channel(k, c), (std::size_t)h, (std::size_t)v});
                            }
                    out.at({n, k, i, j}) = sum;
                }
    return out;
}

Tensor conv_input_grad_reference(const ConvGeometry& g, const Tensor& dout, const Tensor& w) {
    Tensor dx(Shape{g.n, g.c, g.h, g.w});
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t k = 0; k < g.k; ++k)
            for (std::size_t i = 0; i < g.ho; ++i)
                for (std::size_t j = 0; j < g.wo; ++j)
                    for (std::size_t c = 0; c < g.c_per_group(); ++c)
                        for (std::size_t r = 0; r < g.r; ++r)
                            for (std::size_t s = 0; s < g.s; ++s) {
                                const long long h = g.in_row(i, r), v = g.in_col(j, s);
                                if (h < 0 || v < 0 || h >= (long long)g.h || v >= (long long)g.w) continue;
                                dx.at({n, g.input_channel(k, c), (std::size_t)h, (std::size_t)v}) +=
                                    dout.at({n, k, i, j}) * w.at({k, c, r, s});
                            }
    return dx;
}

Tensor conv_weight_grad_reference(const ConvGeometry& g, const Tensor& dout, const Tensor& x) {
    Tensor dw(Shape{g.k, g.c_per_group(), g.r, g.s});
    for (std::size_t k = 0; k < g.k; ++k)
        for (std::size_t c = 0; c < g.c_per_group(); ++c)
            for (std::size_t r = 0; r < g.r; ++r)
                for (std::size_t s = 0; s < g.s; ++s) {
                    double sum = 0.0;
                    for (std::size_t n = 0; n < g.n; ++n)
                        for (std::size_t i = 0; i < g.ho; ++i)
                            for (std::size_t j = 0; j < g.wo; ++j) {
                                const long long h = g.in_row(i, r), v = g.in_col(j, s);
                                if (h < 0 || v < 0 || h >= (long long)g.h || v >= (long long)g.w) continue;
                                sum += dout.at({n, k, i, j}) * x.at({n, g.input_channel(k, c), (std::size_t)h, (std::size_t)v});
                            }
                    dw.at({k, c, r, s}) = sum;
                }
    return dw;
}

// ---- the fast kernels: im2col, then a blocked matrix product ----
//
// For image n and group g, the patches of x become the columns of a matrix
// (C/groups*R*S rows, Ho*Wo columns); the convolution is then
//   out[n, g's filters]      = W_g (K/groups x C/groups*R*S) * columns
//   d columns                = W_g^T * dout[n, g's filters]     (then scattered back: col2im)
//   dW_g^T (C/groups*R*S x K/groups) += columns * dout[n, g's filters]^T

namespace {

std::size_t patch_rows(const ConvGeometry& g) { return g.c_per_group() * g.r * g.s; }

// columns[(c*R + r)*S + s][i*Wo + j] = x[n, g*C/groups + c, i*stride + r*dilation - padding, ...], 0 in the padding.
void im2col(const ConvGeometry& g, const double* x, std::size_t n, std::size_t group, std::vector<double>& columns) {
    const std::size_t plane = g.ho * g.wo;
    columns.assign(patch_rows(g) * plane, 0.0);
    for (std::size_t c = 0; c < g.c_per_group(); ++c) {
        const double* xin = x + (n * g.c + group * g.c_per_group() + c) * g.h * g.w;
        for (std::size_t r = 0; r < g.r; ++r)
            for (std::size_t s = 0; s < g.s; ++s) {
                double* row = columns.data() + ((c * g.r + r) * g.s + s) * plane;
                for (std::size_t i = 0; i < g.ho; ++i) {
                    const long long h = g.in_row(i, r);
                    if (h < 0 || h >= static_cast<long long>(g.h)) continue;
                    for (std::size_t j = 0; j < g.wo; ++j) {
                        const long long v = g.in_col(j, s);
                        if (v >= 0 && v < static_cast<long long>(g.w)) row[i * g.wo + j] = xin[h * static_cast<long long>(g.w) + v];
                    }
                }
            }
    }
}

// The reverse of im2col: dx[n, ...] += each column entry at the input position it came from.
void col2im(const ConvGeometry& g, const std::vector<double>& columns, double* dx, std::size_t n, std::size_t group) {
    const std::size_t plane = g.ho * g.wo;
    for (std::size_t c = 0; c < g.c_per_group(); ++c) {
        double* xin = dx + (n * g.c + group * g.c_per_group() + c) * g.h * g.w;
        for (std::size_t r = 0; r < g.r; ++r)
            for (std::size_t s = 0; s < g.s; ++s) {
                const double* row = columns.data() + ((c * g.r + r) * g.s + s) * plane;
                for (std::size_t i = 0; i < g.ho; ++i) {
                    const long long h = g.in_row(i, r);
                    if (h < 0 || h >= static_cast<long long>(g.h)) continue;
                    for (std::size_t j = 0; j < g.wo; ++j) {
                        const long long v = g.in_col(j, s);
                        if (v >= 0 && v < static_cast<long long>(g.w)) xin[h * static_cast<long long>(g.w) + v] += row[i * g.wo + j];
                    }
                }
            }
    }
}

// The weights of group g's filters, (K/groups) x (C/groups*R*S): a contiguous block of w.
const double* group_weights(const ConvGeometry& g, const Tensor& w, std::size_t group) {
    return w.data().data() + group * g.k_per_group() * patch_rows(g);
}

std::vector<double> transposed(const double* a, std::size_t rows, std::size_t cols) {
    std::vector<double> t(rows * cols);
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
    return t;
}

}  // namespace

Tensor conv_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b) {
    Tensor out(Shape{g.n, g.k, g.ho, g.wo});
    const std::size_t plane = g.ho * g.wo;
    std::vector<double> columns;
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t group = 0; group < g.groups; ++group) {
            im2col(g, x.data().data(), n, group, columns);
            double* o = out.data().data() + (n * g.k + group * g.k_per_group()) * plane;
            if (b)
                for (std::size_t k = 0; k < g.k_per_group(); ++k)
                    for (std::size_t e = 0; e < plane; ++e) o[k * plane + e] = (*b)[group * g.k_per_group() + k];
            gemm_accumulate(g.k_per_group(), plane, patch_rows(g), group_weights(g, w, group), columns.data(), o);
        }
    return out;
}

Tensor conv_input_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& w) {
    Tensor dx(Shape{g.n, g.c, g.h, g.w});
    const std::size_t plane = g.ho * g.wo;
    std::vector<double> columns;
    for (std::size_t group = 0; group < g.groups; ++group) {
        const std::vector<double> wt = transposed(group_weights(g, w, group), g.k_per_group(), patch_rows(g));
        for (std::size_t n = 0; n < g.n; ++n) {
            columns.assign(patch_rows(g) * plane, 0.0);
            const double* d = dout.data().data() + (n * g.k + group * g.k_per_group()) * plane;
            gemm_accumulate(patch_rows(g), plane, g.k_per_group(), wt.data(), d, columns.data());
            col2im(g, columns, dx.data().data(), n, group);
        }
    }
    return dx;
}

Tensor conv_weight_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& x) {
    Tensor dw(Shape{g.k, g.c_per_group(), g.r, g.s});
    const std::size_t plane = g.ho * g.wo;
    std::vector<double> columns;
    for (std::size_t group = 0; group < g.groups; ++group) {
        std::vector<double> dwt(patch_rows(g) * g.k_per_group(), 0.0);  // dW_g transposed
        for (std::size_t n = 0; n < g.n; ++n) {
            im2col(g, x.data().data(), n, group, columns);
            const double* d = dout.data().data() + (n * g.k + group * g.k_per_group()) * plane;
            const std::vector<double> dt = transposed(d, g.k_per_group(), plane);
            gemm_accumulate(patch_rows(g), g.k_per_group(), plane, columns.data(), dt.data(), dwt.data());
        }
        double* out = dw.data().data() + group * g.k_per_group() * patch_rows(g);
        for (std::size_t p = 0; p < patch_rows(g); ++p)
            for (std::size_t k = 0; k < g.k_per_group(); ++k) out[k * patch_rows(g) + p] = dwt[p * g.k_per_group() + k];
    }
    return dw;
}

}  // namespace bnstep::ops
