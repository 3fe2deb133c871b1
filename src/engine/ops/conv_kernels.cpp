#include "ops/conv_kernels.hpp"

#include <algorithm>
#include <vector>

#include "ops/conv_depthwise.hpp"
#include "ops/gemm.hpp"
#include "bnstep/parallel.hpp"

namespace bnstep::ops {

std::size_t conv_out_size(std::size_t in, std::size_t kernel, std::size_t stride, std::size_t padding,
                          std::size_t dilation) {
    // Saturated: a padding or dilation too large for 64 bits gives a size above every limit, never a wrapped one.
    const std::size_t span = saturating_add(saturating_mul(dilation, kernel - 1), 1);
    const std::size_t padded = saturating_add(in, saturating_mul(2, padding));
    if (padded < span) return 0;
    if (padded == static_cast<std::size_t>(-1)) return padded;
    return (padded - span) / stride + 1;
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
                                sum += w.at({k, c, r, s}) *
                                       x.at({n, g.input_channel(k, c), (std::size_t)h, (std::size_t)v});
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
                                sum += dout.at({n, k, i, j}) *
                                       x.at({n, g.input_channel(k, c), (std::size_t)h, (std::size_t)v});
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
// Depthwise layers (one input channel per filter) take the direct loops of
// conv_depthwise.cpp instead. Images, groups and rows of dW are shared between
// threads so that each output element is computed by one thread, in the same
// order whatever the number of threads.

namespace {

std::size_t patch_rows(const ConvGeometry& g) { return g.c_per_group() * g.r * g.s; }

// A 1x1 kernel with stride 1 and no padding reads every pixel once, in order:
// the patch matrix of an image is its input planes as they are.
bool patches_are_input(const ConvGeometry& g) { return g.r == 1 && g.s == 1 && g.stride == 1 && g.padding == 0; }

const double* group_planes(const ConvGeometry& g, const double* x, std::size_t n, std::size_t group) {
    return x + (n * g.c + group * g.c_per_group()) * g.h * g.w;
}

// Which output pixels (columns of the patch matrix) a block covers: [first, last) of Ho*Wo.
struct Columns {
    std::size_t first, last;
    std::size_t width() const { return last - first; }
};

// Calls visit(column, i, j0, j1) for each stretch of columns [column, column + j1 - j0) that
// lies on output row i, from output column j0 to j1.
template <class Visit>
void for_each_output_row(const ConvGeometry& g, Columns cols, Visit visit) {
    for (std::size_t q = cols.first; q < cols.last;) {
        const std::size_t i = q / g.wo, j0 = q % g.wo, j1 = std::min(g.wo, j0 + (cols.last - q));
        visit(q - cols.first, i, j0, j1);
        q += j1 - j0;
    }
}

// Calls visit(entry, input) for every entry of rows [first, last) and columns `cols` of a
// patch matrix that reads the input rather than the padding: `entry` is its offset in the
// (last - first) x cols.width() block, `input` the offset of the x element it reads within
// its group's planes. Row (c*R + r)*S + s, column i*Wo + j reads
// x[c, i*stride + r*dilation - padding, j*stride + s*dilation - padding].
template <class Visit>
void for_each_patch_entry(const ConvGeometry& g, std::size_t first, std::size_t last, Columns cols, Visit visit) {
    const std::size_t width = cols.width();
    for (std::size_t p = first; p < last; ++p) {
        const std::size_t c = p / (g.r * g.s), r = p / g.s % g.r, s = p % g.s;
        const std::size_t row = (p - first) * width, plane = c * g.h * g.w;
        for_each_output_row(g, cols, [&](std::size_t at, std::size_t i, std::size_t j0, std::size_t j1) {
            const long long h = g.in_row(i, r);
            if (h < 0 || h >= static_cast<long long>(g.h)) return;
            for (std::size_t j = j0; j < j1; ++j) {
                const long long v = g.in_col(j, s);
                if (v >= 0 && v < static_cast<long long>(g.w))
                    visit(row + at + j - j0, plane + static_cast<std::size_t>(h) * g.w + static_cast<std::size_t>(v));
            }
        });
    }
}

// Rows [first, last) and columns `cols` of the patch matrix of image n, group g, into `columns`
// ((last - first) x cols.width()), 0 in the padding.
void im2col(const ConvGeometry& g, const double* x, std::size_t n, std::size_t group, std::size_t first,
            std::size_t last, Columns cols, double* columns) {
    std::fill(columns, columns + (last - first) * cols.width(), 0.0);
    const double* planes = group_planes(g, x, n, group);
    for_each_patch_entry(g, first, last, cols,
                         [&](std::size_t entry, std::size_t input) { columns[entry] = planes[input]; });
}

// The reverse of im2col over all rows and the columns `cols`: dx[n, ...] += each entry at the input position it came
// from.
void col2im(const ConvGeometry& g, const double* columns, Columns cols, double* dx, std::size_t n, std::size_t group) {
    double* planes = dx + (n * g.c + group * g.c_per_group()) * g.h * g.w;
    for_each_patch_entry(g, 0, patch_rows(g), cols,
                         [&](std::size_t entry, std::size_t input) { planes[input] += columns[entry]; });
}

// The patch matrix is built and consumed a block of columns at a time, so that the
// block (`rows` patch rows x its columns) stays in the second-level cache between
// im2col and the product. Block widths are multiples of `multiple`.
std::vector<Columns> column_blocks(const ConvGeometry& g, std::size_t rows, std::size_t multiple) {
    constexpr std::size_t kBlockDoubles = 1 << 17;  // 1 MiB: half a 2 MiB second-level cache
    const std::size_t plane = g.ho * g.wo;
    const std::size_t width = std::max(multiple, kBlockDoubles / std::max<std::size_t>(1, rows) / multiple * multiple);
    std::vector<Columns> blocks;
    for (std::size_t q = 0; q < plane; q += width) blocks.push_back({q, std::min(plane, q + width)});
    return blocks;
}

// The weights of group g's filters, (K/groups) x (C/groups*R*S): a contiguous block of w.
const double* group_weights(const ConvGeometry& g, const Tensor& w, std::size_t group) {
    return w.data().data() + group * g.k_per_group() * patch_rows(g);
}

void transpose_into(const double* a, std::size_t rows, std::size_t cols, double* t) {
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
}

}  // namespace

Tensor conv_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b) {
    if (is_depthwise(g)) return depthwise_forward(g, x, w, b);
    Tensor out(Shape{g.n, g.k, g.ho, g.wo});
    const std::size_t plane = g.ho * g.wo;
    const std::vector<Columns> blocks = column_blocks(g, patch_rows(g), 16);  // 16: the columns of a strip of B
    parallel_ranges(g.n * g.groups, 2.0 * g.macs(), [&](std::size_t first, std::size_t last) {
        std::vector<double> columns(patches_are_input(g) ? 0 : patch_rows(g) * blocks.front().width());
        for (std::size_t item = first; item < last; ++item) {
            const std::size_t n = item / g.groups, group = item % g.groups;
            double* o = out.data().data() + (n * g.k + group * g.k_per_group()) * plane;
            if (b)
                for (std::size_t k = 0; k < g.k_per_group(); ++k)
                    std::fill(o + k * plane, o + (k + 1) * plane, (*b)[group * g.k_per_group() + k]);
            if (patches_are_input(g)) {
                gemm_accumulate(g.k_per_group(), plane, patch_rows(g), group_weights(g, w, group),
                                group_planes(g, x.data().data(), n, group), o);
                continue;
            }
            for (const Columns& cols : blocks) {
                im2col(g, x.data().data(), n, group, 0, patch_rows(g), cols, columns.data());
                gemm_accumulate({.m = g.k_per_group(),
                                 .n = cols.width(),
                                 .k = patch_rows(g),
                                 .a = group_weights(g, w, group),
                                 .b = columns.data(),
                                 .ldb = cols.width(),
                                 .b_transposed = false,
                                 .c = o + cols.first,
                                 .ldc = plane});
            }
        }
    });
    return out;
}

Tensor conv_input_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& w) {
    if (is_depthwise(g)) return depthwise_input_grad(g, dout, w);
    Tensor dx(Shape{g.n, g.c, g.h, g.w});
    const std::size_t plane = g.ho * g.wo, block = g.k_per_group() * patch_rows(g);
    std::vector<double> wt(g.groups * block);  // W_g^T for every group
    for (std::size_t group = 0; group < g.groups; ++group)
        transpose_into(group_weights(g, w, group), g.k_per_group(), patch_rows(g), wt.data() + group * block);
    const std::vector<Columns> blocks = column_blocks(g, patch_rows(g), 16);  // 16: the columns of a strip of B
    parallel_ranges(g.n * g.groups, 2.0 * g.macs(), [&](std::size_t first, std::size_t last) {
        std::vector<double> columns(patches_are_input(g) ? 0 : patch_rows(g) * blocks.front().width());
        for (std::size_t item = first; item < last; ++item) {
            const std::size_t n = item / g.groups, group = item % g.groups;
            const double* d = dout.data().data() + (n * g.k + group * g.k_per_group()) * plane;
            const double* wt_g = wt.data() + group * block;
            if (patches_are_input(g)) {  // the column gradients are the input gradients
                double* dx_g = dx.data().data() + (n * g.c + group * g.c_per_group()) * plane;
                gemm_accumulate(patch_rows(g), plane, g.k_per_group(), wt_g, d, dx_g);
                continue;
            }
            for (const Columns& cols : blocks) {
                std::fill(columns.begin(), columns.begin() + patch_rows(g) * cols.width(), 0.0);
                gemm_accumulate({.m = patch_rows(g),
                                 .n = cols.width(),
                                 .k = g.k_per_group(),
                                 .a = wt_g,
                                 .b = d + cols.first,
                                 .ldb = plane,
                                 .b_transposed = false,
                                 .c = columns.data(),
                                 .ldc = cols.width()});
                col2im(g, columns.data(), cols, dx.data().data(), n, group);
            }
        }
    });
    return dx;
}

Tensor conv_weight_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& x) {
    if (is_depthwise(g)) return depthwise_weight_grad(g, dout, x);
    Tensor dw(Shape{g.k, g.c_per_group(), g.r, g.s});
    const std::size_t plane = g.ho * g.wo, rows = patch_rows(g), kg = g.k_per_group();
    // Work item q is row q % rows of dW_g^T for group q / rows: one thread sums it over every image.
    parallel_ranges(g.groups * rows, 2.0 * g.macs(), [&](std::size_t first, std::size_t last) {
        std::vector<double> columns, dwt;
        for (std::size_t group = first / rows; group * rows < last; ++group) {
            const std::size_t p0 = std::max(first, group * rows) - group * rows;
            const std::size_t p1 = std::min(last, (group + 1) * rows) - group * rows;
            dwt.assign((p1 - p0) * kg, 0.0);
            // The patch matrix's columns are the product's depth: blocks of whole depth blocks.
            const std::vector<Columns> blocks =
                patches_are_input(g) ? std::vector<Columns>{{0, plane}} : column_blocks(g, p1 - p0, kGemmDepthBlock);
            if (!patches_are_input(g)) columns.resize((p1 - p0) * blocks.front().width());
            for (std::size_t n = 0; n < g.n; ++n) {
                const double* d = dout.data().data() + (n * g.k + group * kg) * plane;
                for (const Columns& cols : blocks) {
                    const double* patches = columns.data();
                    if (patches_are_input(g))
                        patches = group_planes(g, x.data().data(), n, group) + p0 * plane;
                    else
                        im2col(g, x.data().data(), n, group, p0, p1, cols, columns.data());
                    // dW_g^T rows p0..p1 += patches * dout[n, g's filters, these columns]^T
                    gemm_accumulate({.m = p1 - p0,
                                     .n = kg,
                                     .k = cols.width(),
                                     .a = patches,
                                     .b = d + cols.first,
                                     .ldb = plane,
                                     .b_transposed = true,
                                     .c = dwt.data(),
                                     .ldc = kg});
                }
            }
            double* out = dw.data().data() + group * kg * rows;
            for (std::size_t p = p0; p < p1; ++p)
                for (std::size_t k = 0; k < kg; ++k) out[k * rows + p] = dwt[(p - p0) * kg + k];
        }
    });
    return dw;
}

}  // namespace bnstep::ops
