#include "ops/conv_depthwise.hpp"

#include <algorithm>

#include "bnstep/parallel.hpp"
#include "ops/vector_clones.hpp"

namespace bnstep::ops {
namespace {

// The output positions o in [begin, end) whose input position o*stride + offset
// lies inside [0, in), for a kernel tap whose offset is tap*dilation - padding.
struct Span {
    std::size_t begin = 0, end = 0;
    long long offset = 0;
};

Span valid_span(std::size_t out, std::size_t in, std::size_t tap, const ConvGeometry& g) {
    Span sp;
    sp.offset = static_cast<long long>(tap * g.dilation) - static_cast<long long>(g.padding);
    const auto stride = static_cast<long long>(g.stride);
    const long long first = sp.offset >= 0 ? 0 : (-sp.offset + stride - 1) / stride;
    const long long last_in = static_cast<long long>(in) - 1 - sp.offset;  // o*stride <= last_in
    sp.end = last_in < 0 ? 0 : std::min(out, static_cast<std::size_t>(last_in / stride) + 1);
    sp.begin = std::min(static_cast<std::size_t>(first), sp.end);
    return sp;
}

}  // namespace

// out planes [first, last) of the flattened (n, k): out[n,k,i,j] = b[k] + sum_{r,s} w[k,0,r,s] * x[n, c(k), ...]
BNSTEP_VECTOR_CLONES void depthwise_forward_planes(const ConvGeometry& g, const double* x, const double* w,
                                                   const double* b, double* out, std::size_t first, std::size_t last) {
    const std::size_t plane = g.ho * g.wo;
    for (std::size_t q = first; q < last; ++q) {
        const std::size_t n = q / g.k, k = q % g.k;
        const double* xin = x + (n * g.c + g.input_channel(k, 0)) * g.h * g.w;
        const double* wk = w + k * g.r * g.s;
        double* o = out + q * plane;
        std::fill(o, o + plane, b ? b[k] : 0.0);
        for (std::size_t r = 0; r < g.r; ++r) {
            const Span rows = valid_span(g.ho, g.h, r, g);
            for (std::size_t i = rows.begin; i < rows.end; ++i) {
                const double* xrow =
                    xin + (static_cast<long long>(i * g.stride) + rows.offset) * static_cast<long long>(g.w);
                double* orow = o + i * g.wo;
                for (std::size_t s = 0; s < g.s; ++s) {
                    const Span cols = valid_span(g.wo, g.w, s, g);
                    const double wv = wk[r * g.s + s];
                    const double* xs = xrow + cols.offset;
                    if (g.stride == 1)
                        for (std::size_t j = cols.begin; j < cols.end; ++j) orow[j] += wv * xs[j];
                    else
                        for (std::size_t j = cols.begin; j < cols.end; ++j) orow[j] += wv * xs[j * g.stride];
                }
            }
        }
    }
}

// dx planes [first, last) of the flattened (n, c): every filter reading channel c sends dout * w back to the pixels it
// read.
BNSTEP_VECTOR_CLONES void depthwise_input_grad_planes(const ConvGeometry& g, const double* dout, const double* w,
                                                      double* dx, std::size_t first, std::size_t last) {
    const std::size_t plane = g.ho * g.wo, per_channel = g.k_per_group();
    for (std::size_t q = first; q < last; ++q) {
        const std::size_t n = q / g.c, c = q % g.c;
        double* xin = dx + q * g.h * g.w;
        for (std::size_t k = c * per_channel; k < (c + 1) * per_channel; ++k) {
            const double* d = dout + (n * g.k + k) * plane;
            const double* wk = w + k * g.r * g.s;
            for (std::size_t r = 0; r < g.r; ++r) {
                const Span rows = valid_span(g.ho, g.h, r, g);
                for (std::size_t i = rows.begin; i < rows.end; ++i) {
                    double* xrow =
                        xin + (static_cast<long long>(i * g.stride) + rows.offset) * static_cast<long long>(g.w);
                    const double* drow = d + i * g.wo;
                    for (std::size_t s = 0; s < g.s; ++s) {
                        const Span cols = valid_span(g.wo, g.w, s, g);
                        const double wv = wk[r * g.s + s];
                        double* xs = xrow + cols.offset;
                        if (g.stride == 1)
                            for (std::size_t j = cols.begin; j < cols.end; ++j) xs[j] += wv * drow[j];
                        else
                            for (std::size_t j = cols.begin; j < cols.end; ++j) xs[j * g.stride] += wv * drow[j];
                    }
                }
            }
        }
    }
}

// dw for filters [first, last): dw[k,0,r,s] = sum_{n,i,j} dout[n,k,i,j] * x[n, c(k), ...]
BNSTEP_VECTOR_CLONES void depthwise_weight_grad_filters(const ConvGeometry& g, const double* dout, const double* x,
                                                        double* dw, std::size_t first, std::size_t last) {
    const std::size_t plane = g.ho * g.wo;
    for (std::size_t k = first; k < last; ++k)
        for (std::size_t r = 0; r < g.r; ++r) {
            const Span rows = valid_span(g.ho, g.h, r, g);
            for (std::size_t s = 0; s < g.s; ++s) {
                const Span cols = valid_span(g.wo, g.w, s, g);
                // Four running sums, so the row products can go four at a time.
                double part[4] = {0.0, 0.0, 0.0, 0.0};
                for (std::size_t n = 0; n < g.n; ++n) {
                    const double* d = dout + (n * g.k + k) * plane;
                    const double* xin = x + (n * g.c + g.input_channel(k, 0)) * g.h * g.w;
                    for (std::size_t i = rows.begin; i < rows.end; ++i) {
                        const double* xs =
                            xin + (static_cast<long long>(i * g.stride) + rows.offset) * static_cast<long long>(g.w) +
                            cols.offset;
                        const double* drow = d + i * g.wo;
                        std::size_t j = cols.begin;
                        if (g.stride == 1)
                            for (; j + 4 <= cols.end; j += 4)
                                for (std::size_t l = 0; l < 4; ++l) part[l] += drow[j + l] * xs[j + l];
                        for (; j < cols.end; ++j) part[j % 4] += drow[j] * xs[j * g.stride];
                    }
                }
                dw[(k * g.r + r) * g.s + s] = (part[0] + part[1]) + (part[2] + part[3]);
            }
        }
}

bool is_depthwise(const ConvGeometry& g) { return g.c_per_group() == 1; }

Tensor depthwise_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b) {
    Tensor out(Shape{g.n, g.k, g.ho, g.wo});
    const double* bias = b ? b->data().data() : nullptr;
    parallel_ranges(g.n * g.k, 2.0 * g.macs(), [&](std::size_t first, std::size_t last) {
        depthwise_forward_planes(g, x.data().data(), w.data().data(), bias, out.data().data(), first, last);
    });
    return out;
}

Tensor depthwise_input_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& w) {
    Tensor dx(Shape{g.n, g.c, g.h, g.w});
    parallel_ranges(g.n * g.c, 2.0 * g.macs(), [&](std::size_t first, std::size_t last) {
        depthwise_input_grad_planes(g, dout.data().data(), w.data().data(), dx.data().data(), first, last);
    });
    return dx;
}

Tensor depthwise_weight_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& x) {
    Tensor dw(Shape{g.k, 1, g.r, g.s});
    parallel_ranges(g.k, 2.0 * g.macs(), [&](std::size_t first, std::size_t last) {
        depthwise_weight_grad_filters(g, dout.data().data(), x.data().data(), dw.data().data(), first, last);
    });
    return dw;
}

}  // namespace bnstep::ops
