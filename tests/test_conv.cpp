// The convolution family (conv2d, the pools, batchnorm2d) against values
// derived here, independently of src/: the convolution sum evaluated from its
// definition on an explicitly zero-padded input, dx as the full correlation of
// the (stride-dilated) upstream gradient with the flipped kernels, dW as the
// correlation of x with dout, pools and spatial batch norm by hand.
// The VJPs against finite differences are in test_ops.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "batchnorm_reference.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/op.hpp"
#include "op_harness.hpp"
#include "bnstep/rng.hpp"
#include "ops/conv_kernels.hpp"

using namespace bnstep;
using bnstep::testing::op_named;
using bnstep::testing::with_defaults;

namespace {

// ---------------------------------------------------------------- helpers

Tensor random_tensor(const Shape& shape, std::uint64_t seed, double low = -1.0, double high = 1.0) {
    Rng rng(seed);
    Tensor t(shape);
    for (double& v : t.data()) v = rng.uniform(low, high);
    return t;
}

// |got - want| <= tol * max(1, |want|), element by element, shapes equal.
void check_same(const Tensor& got, const Tensor& want, double tol = 1e-12) {
    REQUIRE(got.shape() == want.shape());
    double worst = 0;
    std::size_t where = 0;
    for (std::size_t e = 0; e < want.size(); ++e) {
        const double err = std::fabs(got[e] - want[e]) / std::max(1.0, std::fabs(want[e]));
        if (!(err <= worst)) {  // also catches NaN
            worst = err;
            where = e;
        }
    }
    INFO("worst element " << index_str(want.unravel(where)) << ": got " << got[where] << ", want " << want[where]);
    CHECK(worst <= tol);
}

OpCall call_of(const std::vector<const Tensor*>& in, const Attrs& attrs, const Tensor* out = nullptr,
               std::size_t slot = 0) {
    OpCall c;
    c.in = in;
    c.attrs = &attrs;
    c.out = out;
    c.slot = slot;
    return c;
}

// The product of the factors after the last '=' of "K*(C/groups)*R*S = 4*1*3*3".
double evaluate_product(const std::string& formula) {
    const auto eq = formula.rfind('=');
    REQUIRE(eq != std::string::npos);
    std::string rhs = formula.substr(eq + 1);
    std::replace(rhs.begin(), rhs.end(), '*', ' ');
    std::istringstream in(rhs);
    double product = 1, v = 0;
    int count = 0;
    while (in >> v) {
        product *= v;
        ++count;
    }
    REQUIRE(count > 0);
    return product;
}

// ---------------------------------------------------------------- geometry

struct Geo {
    std::size_t n, c, h, w, k, r, s, stride = 1, padding = 0, dilation = 1, groups = 1;
    bool bias = false;

    // Output size from the definition: the last window start i*stride must
    // leave room for the dilated kernel inside the padded input.
    std::size_t out_size(std::size_t in, std::size_t kernel) const {
        const std::size_t span = dilation * (kernel - 1) + 1;
        std::size_t count = 0;
        while (count * stride + span <= in + 2 * padding) ++count;
        return count;
    }
    std::size_t ho() const { return out_size(h, r); }
    std::size_t wo() const { return out_size(w, s); }
    std::size_t cg() const { return c / groups; }
    std::size_t kg() const { return k / groups; }
    Shape x_shape() const { return {n, c, h, w}; }
    Shape w_shape() const { return {k, c / groups, r, s}; }
    Shape out_shape() const { return {n, k, ho(), wo()}; }

    Attrs attrs() const {
        Attrs a;
        a.set("stride", double(stride));
        a.set("padding", double(padding));
        a.set("dilation", double(dilation));
        a.set("groups", double(groups));
        return a;
    }
    ops::ConvGeometry geometry() const {
        ops::ConvGeometry g;
        g.n = n, g.c = c, g.h = h, g.w = w, g.k = k, g.r = r, g.s = s;
        g.stride = stride, g.padding = padding, g.dilation = dilation, g.groups = groups;
        g.ho = ho(), g.wo = wo();
        return g;
    }
};

std::string describe(const Geo& g) {
    std::ostringstream os;
    os << "x " << g.n << "x" << g.c << "x" << g.h << "x" << g.w << ", w " << g.k << "x" << g.cg() << "x" << g.r << "x"
       << g.s << ", stride " << g.stride << ", padding " << g.padding << ", dilation " << g.dilation << ", groups "
       << g.groups << (g.bias ? ", bias" : "");
    return os.str();
}

// The geometries every conv2d test runs: small enough for the worked examples.
std::vector<Geo> small_geometries() {
    std::vector<Geo> v;
    v.push_back({1, 1, 5, 5, 1, 3, 3});                    // the plainest case
    v.push_back({2, 3, 5, 7, 4, 3, 2, 1, 1, 1, 1, true});  // H != W, R != S, padding 1
    v.push_back({1, 2, 7, 6, 3, 3, 3, 2, 1, 1, 1, true});  // stride 2
    v.push_back({2, 2, 8, 9, 2, 2, 3, 3, 0, 1, 1});        // stride 3, R != S
    v.push_back({1, 3, 9, 7, 2, 3, 3, 3, 2, 1, 1, true});  // stride 3, padding 2
    v.push_back({1, 2, 7, 8, 3, 3, 3, 1, 2, 2, 1, true});  // dilation 2
    v.push_back({1, 2, 9, 6, 2, 3, 2, 1, 0, 2, 1});        // dilation 2, no padding
    v.push_back({2, 4, 5, 6, 6, 3, 3, 1, 1, 1, 2, true});  // groups 2
    v.push_back({2, 3, 6, 5, 3, 3, 3, 1, 1, 1, 3});        // depthwise
    v.push_back({1, 3, 7, 6, 6, 3, 3, 2, 1, 1, 3, true});  // depthwise, 2 filters per channel, stride 2
    v.push_back({1, 4, 3, 5, 5, 1, 1, 1, 0, 1, 1, true});  // pointwise 1x1
    v.push_back({2, 4, 5, 6, 2, 1, 1, 2, 0, 1, 1});        // 1x1 with stride 2
    v.push_back({1, 4, 5, 4, 2, 3, 2, 2, 2, 2, 2});        // everything at once
    v.push_back({1, 2, 3, 4, 2, 2, 2, 1, 2, 1, 1, true});  // padding larger than the kernel reach
    v.push_back({2, 2, 4, 3, 3, 4, 3, 1, 0, 1, 1, true});  // kernel as large as the input: 1x1 output
    return v;
}

// Larger random geometries, for the fast kernels against the reference loops.
std::vector<Geo> large_geometries() {
    std::vector<Geo> v;
    v.push_back({2, 8, 13, 11, 6, 3, 3, 2, 1, 1, 2, true});
    v.push_back({2, 8, 12, 10, 8, 3, 3, 1, 1, 1, 8});
    v.push_back({3, 6, 10, 9, 4, 5, 3, 1, 2, 2, 2, true});
    v.push_back({1, 5, 17, 14, 7, 1, 1, 1, 0, 1, 1});
    v.push_back({2, 4, 15, 16, 4, 3, 5, 3, 2, 1, 4});
    return v;
}

struct ConvInputs {
    Tensor x, w, b, dout;
};

ConvInputs inputs_for(const Geo& g, std::uint64_t seed) {
    ConvInputs in;
    in.x = random_tensor(g.x_shape(), seed);
    in.w = random_tensor(g.w_shape(), seed + 1);
    in.b = random_tensor({g.k}, seed + 2);
    in.dout = random_tensor(g.out_shape(), seed + 3);
    return in;
}

// x with `pad` zeros on every side of every image: (N, C, H + 2p, W + 2p).
Tensor zero_padded(const Tensor& x, std::size_t pad) {
    const Shape& s = x.shape();
    Tensor p(Shape{s[0], s[1], s[2] + 2 * pad, s[3] + 2 * pad}, 0.0);
    for (std::size_t n = 0; n < s[0]; ++n)
        for (std::size_t c = 0; c < s[1]; ++c)
            for (std::size_t h = 0; h < s[2]; ++h)
                for (std::size_t v = 0; v < s[3]; ++v) p.at({n, c, h + pad, v + pad}) = x.at({n, c, h, v});
    return p;
}

// The convolution sum from its definition, on the zero-padded input:
// out[n,k,i,j] = b[k] + sum_{c<C/groups, r, s} w[k,c,r,s] * xp[n, group(k)*C/groups + c, i*stride + r*dil, j*stride +
// s*dil]
Tensor direct_conv(const Geo& g, const Tensor& x, const Tensor& w, const Tensor* b) {
    const Tensor xp = zero_padded(x, g.padding);
    Tensor out(g.out_shape());
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t k = 0; k < g.k; ++k) {
            const std::size_t group = k / g.kg();
            for (std::size_t i = 0; i < g.ho(); ++i)
                for (std::size_t j = 0; j < g.wo(); ++j) {
                    double sum = b ? b->at({k}) : 0.0;
                    for (std::size_t c = 0; c < g.cg(); ++c)
                        for (std::size_t r = 0; r < g.r; ++r)
                            for (std::size_t s = 0; s < g.s; ++s)
                                sum += w.at({k, c, r, s}) * xp.at({n, group * g.cg() + c, i * g.stride + r * g.dilation,
                                                                   j * g.stride + s * g.dilation});
                    out.at({n, k, i, j}) = sum;
                }
        }
    return out;
}

// dx as a full correlation: dout is spread out by the stride (zeros between
// its elements), padded by dilation*(R-1) - padding on the top (and the same
// idea on the left), and correlated with the kernels rotated by 180 degrees,
// with the roles of input and output channels swapped within each group:
//   dx[n,c,h,v] = sum_{k in group(c), r', s'} D[n,k,h + r'*dil, v + s'*dil] * w[k, c mod C/groups, R-1-r', S-1-s']
// For stride 1 D is just dout padded by dilation*(R-1) - padding.
Tensor full_correlation_dx(const Geo& g, const Tensor& dout, const Tensor& w) {
    const long long pr = (long long)(g.dilation * (g.r - 1)) - (long long)g.padding;
    const long long ps = (long long)(g.dilation * (g.s - 1)) - (long long)g.padding;
    const std::size_t dh = g.h + g.dilation * (g.r - 1), dw = g.w + g.dilation * (g.s - 1);
    Tensor d(Shape{g.n, g.k, dh, dw}, 0.0);
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t k = 0; k < g.k; ++k)
            for (std::size_t i = 0; i < g.ho(); ++i)
                for (std::size_t j = 0; j < g.wo(); ++j) {
                    const long long a = (long long)(i * g.stride) + pr, b = (long long)(j * g.stride) + ps;
                    // an output window that reads nothing but padding never reaches x
                    if (a < 0 || b < 0 || a >= (long long)dh || b >= (long long)dw) continue;
                    d.at({n, k, (std::size_t)a, (std::size_t)b}) = dout.at({n, k, i, j});
                }
    Tensor dx(g.x_shape());
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t c = 0; c < g.c; ++c) {
            const std::size_t group = c / g.cg(), cl = c % g.cg();
            for (std::size_t h = 0; h < g.h; ++h)
                for (std::size_t v = 0; v < g.w; ++v) {
                    double sum = 0;
                    for (std::size_t k = group * g.kg(); k < (group + 1) * g.kg(); ++k)
                        for (std::size_t r = 0; r < g.r; ++r)
                            for (std::size_t s = 0; s < g.s; ++s)
                                sum += d.at({n, k, h + r * g.dilation, v + s * g.dilation}) *
                                       w.at({k, cl, g.r - 1 - r, g.s - 1 - s});
                    dx.at({n, c, h, v}) = sum;
                }
        }
    return dx;
}

// dW as the correlation of the padded x with dout (dout's taps spaced by the stride):
//   dw[k,c,r,s] = sum_{n,i,j} xp[n, group(k)*C/groups + c, r*dil + i*stride, s*dil + j*stride] * dout[n,k,i,j]
Tensor correlation_dw(const Geo& g, const Tensor& x, const Tensor& dout) {
    const Tensor xp = zero_padded(x, g.padding);
    Tensor dw(g.w_shape());
    for (std::size_t k = 0; k < g.k; ++k)
        for (std::size_t c = 0; c < g.cg(); ++c)
            for (std::size_t r = 0; r < g.r; ++r)
                for (std::size_t s = 0; s < g.s; ++s) {
                    double sum = 0;
                    for (std::size_t n = 0; n < g.n; ++n)
                        for (std::size_t i = 0; i < g.ho(); ++i)
                            for (std::size_t j = 0; j < g.wo(); ++j)
                                sum += xp.at({n, k / g.kg() * g.cg() + c, r * g.dilation + i * g.stride,
                                              s * g.dilation + j * g.stride}) *
                                       dout.at({n, k, i, j});
                    dw.at({k, c, r, s}) = sum;
                }
    return dw;
}

Tensor bias_grad(const Geo& g, const Tensor& dout) {
    Tensor db(Shape{g.k});
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t k = 0; k < g.k; ++k)
            for (std::size_t i = 0; i < g.ho(); ++i)
                for (std::size_t j = 0; j < g.wo(); ++j) db.at({k}) += dout.at({n, k, i, j});
    return db;
}

// ---------------------------------------------------------------- batch norm 2d

// Spatial batch norm per channel over (n, h, w), written directly.
struct SpatialBn {
    Tensor out, xhat;
    std::vector<double> mu, var;
};

SpatialBn spatial_bn(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
    const Shape& s = x.shape();
    const double m = double(s[0] * s[2] * s[3]);
    SpatialBn r;
    r.mu.assign(s[1], 0.0);
    r.var.assign(s[1], 0.0);
    r.out = Tensor(s);
    r.xhat = Tensor(s);
    for (std::size_t c = 0; c < s[1]; ++c) {
        for (std::size_t n = 0; n < s[0]; ++n)
            for (std::size_t h = 0; h < s[2]; ++h)
                for (std::size_t w = 0; w < s[3]; ++w) r.mu[c] += x.at({n, c, h, w});
        r.mu[c] /= m;
        for (std::size_t n = 0; n < s[0]; ++n)
            for (std::size_t h = 0; h < s[2]; ++h)
                for (std::size_t w = 0; w < s[3]; ++w) r.var[c] += std::pow(x.at({n, c, h, w}) - r.mu[c], 2);
        r.var[c] /= m;
        for (std::size_t n = 0; n < s[0]; ++n)
            for (std::size_t h = 0; h < s[2]; ++h)
                for (std::size_t w = 0; w < s[3]; ++w) {
                    const double xh = (x.at({n, c, h, w}) - r.mu[c]) / std::sqrt(r.var[c] + eps);
                    r.xhat.at({n, c, h, w}) = xh;
                    r.out.at({n, c, h, w}) = gamma.at({c}) * xh + beta.at({c});
                }
    }
    return r;
}

// The (N, C, H, W) tensor as the (N*H*W, C) matrix whose columns are the
// channels: spatial batch norm is ordinary batch norm of that matrix.
std::vector<std::vector<double>> channels_as_columns(const Tensor& t) {
    const Shape& s = t.shape();
    std::vector<std::vector<double>> m;
    for (std::size_t n = 0; n < s[0]; ++n)
        for (std::size_t h = 0; h < s[2]; ++h)
            for (std::size_t w = 0; w < s[3]; ++w) {
                std::vector<double> row;
                for (std::size_t c = 0; c < s[1]; ++c) row.push_back(t.at({n, c, h, w}));
                m.push_back(row);
            }
    return m;
}

Tensor columns_as_channels(const std::vector<std::vector<double>>& m, const Shape& s) {
    Tensor t(s);
    std::size_t row = 0;
    for (std::size_t n = 0; n < s[0]; ++n)
        for (std::size_t h = 0; h < s[2]; ++h)
            for (std::size_t w = 0; w < s[3]; ++w, ++row)
                for (std::size_t c = 0; c < s[1]; ++c) t.at({n, c, h, w}) = m[row][c];
    return t;
}

const Names kNames{{"x", "w", "b"}, "y", "dy", "dx"};

}  // namespace

// ======================================================================= conv2d

TEST_CASE("conv: forward through the op equals the convolution sum from its definition") {
    const OpDef& op = op_named("conv2d");
    std::uint64_t seed = 100;
    auto geos = small_geometries();
    for (const Geo& g : large_geometries()) geos.push_back(g);
    for (const Geo& g : geos) {
        CAPTURE(describe(g));
        const ConvInputs in = inputs_for(g, seed += 10);
        const Attrs a = with_defaults(op, g.attrs());
        std::vector<Shape> shapes{g.x_shape(), g.w_shape()};
        std::vector<const Tensor*> args{&in.x, &in.w};
        if (g.bias) {
            shapes.push_back({g.k});
            args.push_back(&in.b);
        }
        REQUIRE(op.shape(shapes, a) == g.out_shape());
        const Tensor out = op.forward(call_of(args, a));
        check_same(out, direct_conv(g, in.x, in.w, g.bias ? &in.b : nullptr));
    }
}

TEST_CASE("conv: a hand-computed 3x3 convolution with padding 1") {
    // x = 1..9 as a 3x3 image, w = all ones except w[1,1] = 2, bias 0.5.
    const Tensor x(Shape{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    const Tensor w(Shape{1, 1, 3, 3}, {1, 1, 1, 1, 2, 1, 1, 1, 1});
    const Tensor b(Shape{1}, std::vector<double>{0.5});
    const OpDef& op = op_named("conv2d");
    Attrs a;
    a.set("padding", 1);
    a = with_defaults(op, a);
    const Tensor out = op.forward(call_of({&x, &w, &b}, a));
    REQUIRE(out.shape() == Shape{1, 1, 3, 3});
    // Corner (0,0): x[0,0]*2 + x[0,1] + x[1,0] + x[1,1] + 0.5 = 2 + 2 + 4 + 5 + 0.5
    CHECK(out.at({0, 0, 0, 0}) == 13.5);
    // Centre: all nine plus x[1,1] once more: 45 + 5 + 0.5
    CHECK(out.at({0, 0, 1, 1}) == 50.5);
    // Edge (0,1): rows 0-1 all columns (1+2+3+4+5+6 = 21) + x[0,1] again + 0.5
    CHECK(out.at({0, 0, 0, 1}) == 23.5);
    // Corner (2,2): 5 + 6 + 8 + 9 + 9 + 0.5
    CHECK(out.at({0, 0, 2, 2}) == 37.5);
}

TEST_CASE("conv: the fast kernels equal the reference loops (forward, input grad, weight grad)") {
    std::uint64_t seed = 500;
    auto geos = small_geometries();
    for (const Geo& g : large_geometries()) geos.push_back(g);
    for (const Geo& g : geos) {
        CAPTURE(describe(g));
        const ConvInputs in = inputs_for(g, seed += 10);
        const ops::ConvGeometry geo = g.geometry();
        REQUIRE(ops::conv_out_size(g.h, g.r, g.stride, g.padding, g.dilation) == g.ho());
        REQUIRE(ops::conv_out_size(g.w, g.s, g.stride, g.padding, g.dilation) == g.wo());
        const Tensor* b = g.bias ? &in.b : nullptr;
        check_same(ops::conv_forward(geo, in.x, in.w, b), ops::conv_forward_reference(geo, in.x, in.w, b));
        check_same(ops::conv_input_grad(geo, in.dout, in.w), ops::conv_input_grad_reference(geo, in.dout, in.w));
        check_same(ops::conv_weight_grad(geo, in.dout, in.x), ops::conv_weight_grad_reference(geo, in.dout, in.x));
        // and the reference loops against the definitions written here
        check_same(ops::conv_forward_reference(geo, in.x, in.w, b), direct_conv(g, in.x, in.w, b));
        check_same(ops::conv_input_grad_reference(geo, in.dout, in.w), full_correlation_dx(g, in.dout, in.w));
        check_same(ops::conv_weight_grad_reference(geo, in.dout, in.x), correlation_dw(g, in.x, in.dout));
    }
}

namespace {

// Geometries for the kernels that bypass im2col: the direct depthwise loops
// (one input channel per filter) and the 1x1 layers that multiply x itself.
std::vector<Geo> direct_kernel_geometries() {
    std::vector<Geo> v;
    v.push_back({2, 5, 9, 11, 5, 3, 3, 1, 1, 1, 5, true});      // depthwise 3x3, padding 1
    v.push_back({1, 4, 10, 7, 4, 3, 3, 2, 1, 1, 4});            // stride 2
    v.push_back({2, 3, 11, 12, 3, 3, 3, 3, 2, 1, 3, true});     // stride 3, padding 2
    v.push_back({1, 4, 12, 9, 4, 3, 3, 1, 2, 2, 4});            // dilation 2
    v.push_back({1, 3, 13, 14, 6, 3, 2, 2, 3, 2, 3, true});     // 2 filters per channel, stride 2, dilation 2, R != S
    v.push_back({2, 2, 6, 7, 6, 5, 3, 1, 0, 1, 2});             // 3 filters per channel, no padding
    v.push_back({1, 3, 4, 5, 3, 3, 3, 1, 4, 1, 3, true});       // padding wider than the kernel's reach
    v.push_back({1, 2, 5, 5, 2, 5, 5, 1, 0, 1, 2});             // kernel as large as the input
    v.push_back({2, 1, 8, 9, 3, 3, 3, 1, 1, 1, 1, true});       // one input channel, groups 1
    v.push_back({8, 32, 40, 40, 64, 3, 3, 1, 1, 1, 32, true});  // large enough to be shared between threads
    v.push_back({2, 6, 7, 8, 5, 1, 1, 1, 0, 1, 1, true});       // 1x1: the patches are x itself
    v.push_back({2, 8, 6, 5, 6, 1, 1, 1, 0, 1, 2});             // 1x1 with groups 2
    v.push_back({4, 16, 24, 24, 32, 3, 3, 1, 1, 1, 1, true});   // im2col + GEMM shared between threads
    v.push_back({3, 16, 20, 20, 24, 1, 1, 1, 0, 1, 2});         // 1x1, groups 2, shared between threads
    return v;
}

// The fast forward, input gradient and weight gradient against the reference loops.
void check_fast_kernels(const std::vector<Geo>& geometries, std::uint64_t seed) {
    for (const Geo& g : geometries) {
        CAPTURE(describe(g));
        const ConvInputs in = inputs_for(g, seed += 10);
        const ops::ConvGeometry geo = g.geometry();
        const Tensor* b = g.bias ? &in.b : nullptr;
        check_same(ops::conv_forward(geo, in.x, in.w, b), ops::conv_forward_reference(geo, in.x, in.w, b));
        check_same(ops::conv_input_grad(geo, in.dout, in.w), ops::conv_input_grad_reference(geo, in.dout, in.w));
        check_same(ops::conv_weight_grad(geo, in.dout, in.x), ops::conv_weight_grad_reference(geo, in.dout, in.x));
    }
}

}  // namespace

TEST_CASE("conv: the direct depthwise and 1x1 kernels equal the reference loops") {
    check_fast_kernels(direct_kernel_geometries(), 700);
}

TEST_CASE("conv: im2col and col2im in blocks of columns equal the reference loops") {
    // Enough patch rows (C/groups*R*S) that the patch matrix is built in several blocks of
    // output pixels, blocks that end in the middle of an output row, and a last block of one pixel.
    const std::vector<Geo> geometries{
        {1, 64, 30, 30, 4, 3, 3, 1, 1, 1, 1, true},   // 576 rows: 224 columns a block, 900 pixels
        {1, 48, 33, 33, 3, 3, 3, 2, 2, 2, 1},         // 432 rows: 288 a block, 289 pixels
        {2, 128, 20, 20, 6, 3, 3, 1, 1, 1, 2, true},  // groups 2, 576 rows each: 400 pixels
    };
    check_fast_kernels(geometries, 800);
}

TEST_CASE("conv: dx is the full correlation of dout with the flipped kernels (stride 1)") {
    const OpDef& op = op_named("conv2d");
    std::uint64_t seed = 900;
    std::size_t stride_one = 0;
    for (const Geo& g : small_geometries()) {
        if (g.stride != 1) continue;
        ++stride_one;
        CAPTURE(describe(g));
        const ConvInputs in = inputs_for(g, seed += 10);
        const ops::ConvGeometry geo = g.geometry();
        const Tensor want = full_correlation_dx(g, in.dout, in.w);
        check_same(ops::conv_input_grad(geo, in.dout, in.w), want);
        // and through the op's vjp for slot 0
        const Attrs a = with_defaults(op, g.attrs());
        const Tensor out = op.forward(call_of({&in.x, &in.w}, a));
        check_same(op.rule(0).vjp(call_of({&in.x, &in.w}, a, &out, 0), in.dout), want);
    }
    CHECK(stride_one >= 8);
}

TEST_CASE("conv: the flipped-kernel picture on a 1-channel 3x3 example by hand") {
    // x 3x3, w 2x2, stride 1, no padding: out is 2x2. dx = full correlation of
    // dout (padded by R-1 = 1) with w rotated by 180 degrees.
    const Tensor w(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
    const Tensor dout(Shape{1, 1, 2, 2}, {1, 10, 100, 1000});
    ops::ConvGeometry g;
    g.n = 1, g.c = 1, g.h = 3, g.w = 3, g.k = 1, g.r = 2, g.s = 2, g.ho = 2, g.wo = 2;
    const Tensor dx = ops::conv_input_grad(g, dout, w);
    // dx[h,v] = sum over windows (i,j) with h = i + r, v = j + s of dout[i,j] * w[r,s]
    const std::vector<double> want{
        1 * 1,   1 * 2 + 10 * 1,     10 * 2,  1 * 3 + 100 * 1, 1 * 4 + 10 * 3 + 100 * 2 + 1000 * 1, 10 * 4 + 1000 * 2,
        100 * 3, 100 * 4 + 1000 * 3, 1000 * 4};
    REQUIRE(dx.shape() == Shape{1, 1, 3, 3});
    for (std::size_t e = 0; e < 9; ++e) CHECK(dx[e] == want[e]);
    // dW: the correlation of x with dout
    const Tensor x(Shape{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    const Tensor dw = ops::conv_weight_grad(g, dout, x);
    // dw[r,s] = sum_{i,j} dout[i,j] * x[i+r, j+s]
    CHECK(dw.at({0, 0, 0, 0}) == 1 * 1 + 10 * 2 + 100 * 4 + 1000 * 5);
    CHECK(dw.at({0, 0, 0, 1}) == 1 * 2 + 10 * 3 + 100 * 5 + 1000 * 6);
    CHECK(dw.at({0, 0, 1, 0}) == 1 * 4 + 10 * 5 + 100 * 7 + 1000 * 8);
    CHECK(dw.at({0, 0, 1, 1}) == 1 * 5 + 10 * 6 + 100 * 8 + 1000 * 9);
}

TEST_CASE("conv: dW is the correlation of x with dout, db the sum of dout, through the op") {
    const OpDef& op = op_named("conv2d");
    std::uint64_t seed = 1300;
    for (const Geo& g : small_geometries()) {
        CAPTURE(describe(g));
        const ConvInputs in = inputs_for(g, seed += 10);
        const Attrs a = with_defaults(op, g.attrs());
        const std::vector<const Tensor*> args{&in.x, &in.w, &in.b};
        const Tensor out = op.forward(call_of(args, a));
        check_same(op.rule(1).vjp(call_of(args, a, &out, 1), in.dout), correlation_dw(g, in.x, in.dout));
        check_same(op.rule(2).vjp(call_of(args, a, &out, 2), in.dout), bias_grad(g, in.dout));
        check_same(op.rule(0).vjp(call_of(args, a, &out, 0), in.dout), full_correlation_dx(g, in.dout, in.w));
    }
}

TEST_CASE("conv: with stride 2 an input read by no window gets exactly 0, one read by four windows sums four terms") {
    // x 6x6, w 3x3 = 1..9 (w[r,s] = 3r + s + 1), stride 2, no padding: out is 2x2,
    // windows over rows/columns 0-2 and 2-4. Row 5 and column 5 are read by no window;
    // x[2,2] is read by all four windows.
    const Geo geo{1, 1, 6, 6, 1, 3, 3, 2, 0, 1, 1};
    REQUIRE(geo.ho() == 2);
    REQUIRE(geo.wo() == 2);
    const Tensor x = random_tensor(geo.x_shape(), 7);
    const Tensor w(Shape{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    const Tensor dout(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
    const OpDef& op = op_named("conv2d");
    const Attrs a = with_defaults(op, geo.attrs());
    const Tensor out = op.forward(call_of({&x, &w}, a));
    const OpCall call = call_of({&x, &w}, a, &out, 0);
    const Tensor dx = op.rule(0).vjp(call, dout);
    for (std::size_t t = 0; t < 6; ++t) {
        CHECK(dx.at({0, 0, 5, t}) == 0.0);
        CHECK(dx.at({0, 0, t, 5}) == 0.0);
    }
    // x[2,2]: window (0,0) at tap (2,2), (0,1) at (2,0), (1,0) at (0,2), (1,1) at (0,0)
    CHECK(dx.at({0, 0, 2, 2}) == 1 * 9 + 2 * 7 + 3 * 3 + 4 * 1);
    // x[2,3]: column 3 is tap 1 of window column 1 only; row 2 is tap 2 of row 0 and tap 0 of row 1
    CHECK(dx.at({0, 0, 2, 3}) == 2 * 8 + 4 * 2);
    // x[0,0]: only window (0,0), tap (0,0)
    CHECK(dx.at({0, 0, 0, 0}) == 1 * 1);
    // x[1,4]: window column 1 tap 2, window row 0 tap 1
    CHECK(dx.at({0, 0, 1, 4}) == 2 * 6);

    // The worked examples say the same.
    const NumFmt num;
    const Worked unread = op.rule(0).explain(call, dout, kNames, {0, 0, 5, 3}, num);
    CHECK(unread.result == 0.0);
    CHECK(unread.symbolic == "0");
    bool says_none = false;
    for (const std::string& note : unread.notes) says_none |= note.find("receives no gradient") != std::string::npos;
    CHECK_MESSAGE(says_none, "the notes of an unread input should say it receives no gradient");
    const Worked four = op.rule(0).explain(call, dout, kNames, {0, 0, 2, 2}, num);
    CHECK(four.result == 36.0);
    // four terms, one per window: dy[0,0,i,j]*w[0,0,r,s]
    std::size_t terms = 0;
    for (std::size_t p = four.symbolic.find("dy["); p != std::string::npos; p = four.symbolic.find("dy[", p + 1))
        ++terms;
    CHECK(terms == 4);
    CHECK(four.symbolic.find("dy[0,0,1,1]*w[0,0,0,0]") != std::string::npos);
    CHECK(four.symbolic.find("dy[0,0,0,0]*w[0,0,2,2]") != std::string::npos);
    CHECK(four.numeric.find("(4)(1)") != std::string::npos);
}

TEST_CASE("conv: the worked examples give the computed output and gradient elements") {
    const OpDef& op = op_named("conv2d");
    const NumFmt num;
    std::uint64_t seed = 1700;
    std::size_t unread = 0;
    for (Geo g : small_geometries()) {
        g.bias = true;  // so the bias rule is explained too
        CAPTURE(describe(g));
        const ConvInputs in = inputs_for(g, seed += 10);
        const Attrs a = with_defaults(op, g.attrs());
        const std::vector<const Tensor*> args{&in.x, &in.w, &in.b};
        const Tensor out = op.forward(call_of(args, a));
        const Tensor want_out = direct_conv(g, in.x, in.w, &in.b);
        const Tensor want_dx = full_correlation_dx(g, in.dout, in.w);
        const Tensor want_dw = correlation_dw(g, in.x, in.dout);
        const Tensor want_db = bias_grad(g, in.dout);
        auto close = [](double got, double want) {
            return std::fabs(got - want) <= 1e-12 * std::max(1.0, std::fabs(want));
        };
        for (std::size_t e = 0; e < out.size(); ++e) {
            const Index at = out.unravel(e);
            const Worked wk = op.explain(call_of(args, a, &out), kNames, at, num);
            CAPTURE(index_str(at));
            CHECK(close(wk.result, want_out[e]));
            CHECK(!wk.numeric.empty());
        }
        for (std::size_t e = 0; e < in.x.size(); ++e) {
            const Index at = in.x.unravel(e);
            const Worked wk = op.rule(0).explain(call_of(args, a, &out, 0), in.dout, kNames, at, num);
            CAPTURE(index_str(at));
            CHECK(close(wk.result, want_dx[e]));
            // An input no window reads: the explanation says so.
            bool read = false;
            for (std::size_t r = 0; r < g.r && !read; ++r)
                for (std::size_t s = 0; s < g.s && !read; ++s)
                    for (std::size_t i = 0; i < g.ho() && !read; ++i)
                        for (std::size_t j = 0; j < g.wo() && !read; ++j)
                            read =
                                (long long)(i * g.stride + r * g.dilation) - (long long)g.padding == (long long)at[2] &&
                                (long long)(j * g.stride + s * g.dilation) - (long long)g.padding == (long long)at[3];
            if (!read) {
                ++unread;
                CHECK(wk.result == 0.0);
                CHECK(wk.symbolic == "0");
                bool says = false;
                for (const std::string& note : wk.notes) says |= note.find("receives no gradient") != std::string::npos;
                CHECK(says);
            }
        }
        for (std::size_t e = 0; e < in.w.size(); ++e) {
            const Index at = in.w.unravel(e);
            CAPTURE(index_str(at));
            CHECK(close(op.rule(1).explain(call_of(args, a, &out, 1), in.dout, kNames, at, num).result, want_dw[e]));
        }
        for (std::size_t k = 0; k < g.k; ++k)
            CHECK(close(op.rule(2).explain(call_of(args, a, &out, 2), in.dout, kNames, {k}, num).result, want_db[k]));
    }
    CHECK(unread >= 20);  // the stride-2 and stride-3 geometries leave rows and columns unread
}

TEST_CASE("conv: the cost counts N*K*(C/groups)*R*S*Ho*Wo multiply-adds and K*(C/groups)*R*S weights") {
    const OpDef& op = op_named("conv2d");
    REQUIRE(op.cost);
    auto geos = small_geometries();
    for (const Geo& g : large_geometries()) geos.push_back(g);
    for (const Geo& g : geos) {
        CAPTURE(describe(g));
        const Attrs a = with_defaults(op, g.attrs());
        const Cost cost = op.cost({g.x_shape(), g.w_shape()}, g.out_shape(), a);
        CHECK(cost.macs == double(g.n * g.k * g.cg() * g.r * g.s * g.ho() * g.wo()));
        CHECK(evaluate_product(cost.formula) == cost.macs);
        CHECK(evaluate_product(cost.weights_formula) == double(element_count(g.w_shape())));
    }
}

TEST_CASE("conv: depthwise + pointwise needs K*K*M + M*N weights where the standard conv needs K*K*M*N") {
    const OpDef& op = op_named("conv2d");
    // MobileNets' comparison for a 3x3 layer from M = 32 to N = 64 channels on 56x56.
    const std::size_t K = 3, M = 32, N = 64, B = 2, H = 56, W = 56;
    Attrs pad1;
    pad1.set("padding", 1);
    const Attrs standard_attrs = with_defaults(op, pad1);
    Attrs dw_attrs = pad1;
    dw_attrs.set("groups", double(M));
    dw_attrs = with_defaults(op, dw_attrs);
    const Attrs pw_attrs = with_defaults(op, Attrs{});

    const Shape x{B, M, H, W};
    const Shape w_standard{N, M, K, K}, w_depthwise{M, 1, K, K}, w_pointwise{N, M, 1, 1};
    const Shape out_standard = op.shape({x, w_standard}, standard_attrs);
    const Shape mid = op.shape({x, w_depthwise}, dw_attrs);
    const Shape out_separable = op.shape({mid, w_pointwise}, pw_attrs);
    CHECK(mid == Shape{B, M, H, W});
    CHECK(out_separable == out_standard);  // the same layer shape

    const double standard = evaluate_product(op.cost({x, w_standard}, out_standard, standard_attrs).weights_formula);
    const double separable = evaluate_product(op.cost({x, w_depthwise}, mid, dw_attrs).weights_formula) +
                             evaluate_product(op.cost({mid, w_pointwise}, out_separable, pw_attrs).weights_formula);
    CHECK(standard == double(K * K * M * N));
    CHECK(separable == double(K * K * M + M * N));
    CHECK(standard == 18432);
    CHECK(separable == 288 + 2048);
    // "almost N times fewer" for a 3x3 kernel: the ratio is 1/N + 1/K^2.
    CHECK(separable / standard == doctest::Approx(1.0 / N + 1.0 / (K * K)));

    // The multiply-adds shrink by the same factor, per output position.
    const double macs_standard = op.cost({x, w_standard}, out_standard, standard_attrs).macs;
    const double macs_separable =
        op.cost({x, w_depthwise}, mid, dw_attrs).macs + op.cost({mid, w_pointwise}, out_separable, pw_attrs).macs;
    CHECK(macs_standard == double(B * H * W) * double(K * K * M * N));
    CHECK(macs_separable == double(B * H * W) * double(K * K * M + M * N));
}

TEST_CASE("conv: shape errors name the problem") {
    const OpDef& op = op_named("conv2d");
    auto message = [&](std::vector<Shape> shapes, Attrs a) {
        try {
            op.shape(shapes, with_defaults(op, a));
        } catch (const ShapeError& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    Attrs g2;
    g2.set("groups", 2);
    CHECK(message({{1, 3, 5, 5}, {4, 1, 3, 3}}, g2).find("groups") != std::string::npos);    // 2 does not divide C = 3
    CHECK(message({{1, 4, 5, 5}, {4, 4, 3, 3}}, g2).find("C/groups") != std::string::npos);  // w must have 2 channels
    CHECK(message({{1, 4, 2, 2}, {4, 4, 3, 3}}, Attrs{}).find("does not fit") != std::string::npos);
    CHECK(message({{1, 4, 5, 5}, {4, 4, 3, 3}, {3}}, Attrs{}).find("b must have shape") != std::string::npos);
    CHECK(message({{4, 5, 5}, {4, 4, 3, 3}}, Attrs{}).find("(N, C, H, W)") != std::string::npos);
    Attrs s0;
    s0.set("stride", 0);
    CHECK(message({{1, 4, 5, 5}, {4, 4, 3, 3}}, s0).find("stride") != std::string::npos);
}

// ======================================================================= pooling

TEST_CASE("conv: max_pool2d sends the gradient to the first maximum, row by row, left to right") {
    const OpDef& op = op_named("max_pool2d");
    SUBCASE("a constant image: every 2x2 window's gradient lands on its top-left element") {
        const Tensor x(Shape{1, 1, 4, 4}, 1.5);
        Attrs a;
        a.set("kernel", 2);
        a = with_defaults(op, a);
        const Tensor out = op.forward(call_of({&x}, a));
        REQUIRE(out.shape() == Shape{1, 1, 2, 2});
        CHECK(out.all_equal_to(1.5));
        const Tensor up(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
        const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), up);
        const std::vector<double> want{1, 0, 2, 0,  //
                                       0, 0, 0, 0,  //
                                       3, 0, 4, 0,  //
                                       0, 0, 0, 0};
        for (std::size_t e = 0; e < 16; ++e) CHECK(dx[e] == want[e]);
    }
    SUBCASE("row before column: a tie between (0,2) and (1,0) goes to (0,2)") {
        // 3x3 window over the whole 3x3 image: the two 5s tie. Row by row,
        // (0,2) comes first even though (1,0) is further left.
        const Tensor x(Shape{1, 1, 3, 3}, {0, 0, 5,  //
                                           5, 0, 0,  //
                                           0, 0, 0});
        Attrs a;
        a.set("kernel", 3);
        a = with_defaults(op, a);
        const Tensor out = op.forward(call_of({&x}, a));
        REQUIRE(out.shape() == Shape{1, 1, 1, 1});
        CHECK(out[0] == 5);
        const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), Tensor(Shape{1, 1, 1, 1}, 7.0));
        CHECK(dx.at({0, 0, 0, 2}) == 7);
        CHECK(dx.at({0, 0, 1, 0}) == 0);
        double total = 0;
        for (double v : dx.data()) total += v;
        CHECK(total == 7);
    }
    SUBCASE("overlapping windows add their gradients on a shared maximum; padding never wins") {
        // All values negative, so a zero from the padding would win if it counted.
        // kernel 3, stride 1, padding 1 on 3x3: nine windows.
        const Tensor x(Shape{1, 1, 3, 3}, {-5, -1, -3,  //
                                           -2, -9, -1,  //
                                           -4, -6, -8});
        Attrs a;
        a.set("kernel", 3);
        a.set("stride", 1);
        a.set("padding", 1);
        a = with_defaults(op, a);
        const Tensor out = op.forward(call_of({&x}, a));
        REQUIRE(out.shape() == Shape{1, 1, 3, 3});
        // Window (i,j) covers rows i-1..i+1 and columns j-1..j+1 of x.
        // (0,0): {-5,-1,-2,-9} -> -1 at (0,1)   (0,1): rows 0-1 all -> -1 at (0,1) first
        // (0,2): {-1,-3,-9,-1} -> -1 at (0,1)   (1,0): rows 0-2 cols 0-1 -> -1 at (0,1)
        // (1,1): all -> -1 at (0,1)             (1,2): cols 1-2 -> -1 at (0,1)
        // (2,0): rows 1-2 cols 0-1 {-2,-9,-4,-6} -> -2 at (1,0)
        // (2,1): rows 1-2 all -> -1 at (1,2)    (2,2): rows 1-2 cols 1-2 -> -1 at (1,2)
        const std::vector<double> want_out{-1, -1, -1, -1, -1, -1, -2, -1, -1};
        for (std::size_t e = 0; e < 9; ++e) CHECK(out[e] == want_out[e]);
        const Tensor up(Shape{1, 1, 3, 3}, {1, 2, 4, 8, 16, 32, 64, 128, 256});
        const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), up);
        CHECK(dx.at({0, 0, 0, 1}) == 1 + 2 + 4 + 8 + 16 + 32);
        CHECK(dx.at({0, 0, 1, 0}) == 64);
        CHECK(dx.at({0, 0, 1, 2}) == 128 + 256);
        double total = 0;
        for (double v : dx.data()) total += v;
        CHECK(total == 511);  // nothing went to the padding
    }
}

TEST_CASE("conv: max_pool2d equals a direct first-maximum search on random data with ties") {
    const OpDef& op = op_named("max_pool2d");
    struct Case {
        Shape shape;
        std::size_t kernel, stride, padding;
    };
    const std::vector<Case> cases{
        {{2, 2, 6, 7}, 2, 2, 0}, {{1, 3, 7, 5}, 3, 2, 1}, {{1, 1, 8, 8}, 3, 3, 1}, {{2, 1, 5, 6}, 2, 1, 1}};
    std::uint64_t seed = 40;
    for (const Case& c : cases) {
        // values from {-2, -1, 0, 1}: many ties
        Tensor x = random_tensor(c.shape, ++seed, -2, 2);
        for (double& v : x.data()) v = std::floor(v);
        Attrs a;
        a.set("kernel", double(c.kernel));
        a.set("stride", double(c.stride));
        a.set("padding", double(c.padding));
        a = with_defaults(op, a);
        const Tensor out = op.forward(call_of({&x}, a));
        const std::size_t ho = (c.shape[2] + 2 * c.padding - c.kernel) / c.stride + 1;
        const std::size_t wo = (c.shape[3] + 2 * c.padding - c.kernel) / c.stride + 1;
        REQUIRE(out.shape() == Shape{c.shape[0], c.shape[1], ho, wo});
        const Tensor up = random_tensor(out.shape(), ++seed);
        Tensor want_dx(c.shape);
        for (std::size_t n = 0; n < c.shape[0]; ++n)
            for (std::size_t ch = 0; ch < c.shape[1]; ++ch)
                for (std::size_t i = 0; i < ho; ++i)
                    for (std::size_t j = 0; j < wo; ++j) {
                        double best = -std::numeric_limits<double>::infinity();
                        Index where;
                        for (std::size_t r = 0; r < c.kernel; ++r)
                            for (std::size_t s = 0; s < c.kernel; ++s) {
                                const long long h = (long long)(i * c.stride + r) - (long long)c.padding;
                                const long long v = (long long)(j * c.stride + s) - (long long)c.padding;
                                if (h < 0 || v < 0 || h >= (long long)c.shape[2] || v >= (long long)c.shape[3])
                                    continue;
                                const double xv = x.at({n, ch, (std::size_t)h, (std::size_t)v});
                                if (xv > best) {
                                    best = xv;
                                    where = {n, ch, (std::size_t)h, (std::size_t)v};
                                }
                            }
                        CHECK(out.at({n, ch, i, j}) == best);
                        want_dx.at(where) += up.at({n, ch, i, j});
                    }
        check_same(op.rule(0).vjp(call_of({&x}, a, &out), up), want_dx);
    }
}

TEST_CASE("conv: avg_pool2d divides by kernel^2, padded zeros included") {
    const OpDef& op = op_named("avg_pool2d");
    // x 2x2 = [[1,2],[3,4]], kernel 2, stride 1, padding 1: nine 2x2 windows.
    const Tensor x(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
    Attrs a;
    a.set("kernel", 2);
    a.set("stride", 1);
    a.set("padding", 1);
    a = with_defaults(op, a);
    const Tensor out = op.forward(call_of({&x}, a));
    REQUIRE(out.shape() == Shape{1, 1, 3, 3});
    const std::vector<double> want{1 / 4.0, 3 / 4.0,  2 / 4.0,  //
                                   4 / 4.0, 10 / 4.0, 6 / 4.0,  //
                                   3 / 4.0, 7 / 4.0,  4 / 4.0};
    for (std::size_t e = 0; e < 9; ++e) CHECK(out[e] == want[e]);
    // Each x element is in the four windows whose top-left is one of (h,w), (h,w+1), (h+1,w), (h+1,w+1).
    const Tensor up(Shape{1, 1, 3, 3}, {1, 2, 4, 8, 16, 32, 64, 128, 256});
    const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), up);
    CHECK(dx.at({0, 0, 0, 0}) == (1 + 2 + 8 + 16) / 4.0);
    CHECK(dx.at({0, 0, 0, 1}) == (2 + 4 + 16 + 32) / 4.0);
    CHECK(dx.at({0, 0, 1, 0}) == (8 + 16 + 64 + 128) / 4.0);
    CHECK(dx.at({0, 0, 1, 1}) == (16 + 32 + 128 + 256) / 4.0);

    // kernel 3, stride 2 (default stride = kernel is not used here), padding 1 on a 4x5 image.
    const Tensor y = random_tensor({1, 2, 4, 5}, 3);
    Attrs b;
    b.set("kernel", 3);
    b.set("stride", 2);
    b.set("padding", 1);
    b = with_defaults(op, b);
    const Tensor yo = op.forward(call_of({&y}, b));
    REQUIRE(yo.shape() == Shape{1, 2, 2, 3});
    for (std::size_t c = 0; c < 2; ++c)
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t j = 0; j < 3; ++j) {
                double sum = 0;
                for (long long h = (long long)(2 * i) - 1; h <= (long long)(2 * i) + 1; ++h)
                    for (long long v = (long long)(2 * j) - 1; v <= (long long)(2 * j) + 1; ++v)
                        if (h >= 0 && v >= 0 && h < 4 && v < 5) sum += y.at({0, c, (std::size_t)h, (std::size_t)v});
                CHECK(yo.at({0, c, i, j}) == doctest::Approx(sum / 9.0).epsilon(1e-14));
            }
}

TEST_CASE("conv: the pool stride defaults to the kernel size") {
    const OpDef& op = op_named("avg_pool2d");
    const Tensor x = random_tensor({1, 1, 6, 6}, 5);
    Attrs a;
    a.set("kernel", 3);
    a = with_defaults(op, a);
    const Tensor out = op.forward(call_of({&x}, a));
    REQUIRE(out.shape() == Shape{1, 1, 2, 2});
    double sum = 0;
    for (std::size_t h = 3; h < 6; ++h)
        for (std::size_t v = 0; v < 3; ++v) sum += x.at({0, 0, h, v});
    CHECK(out.at({0, 0, 1, 0}) == doctest::Approx(sum / 9).epsilon(1e-14));
}

TEST_CASE("conv: global_avg_pool by hand") {
    const OpDef& op = op_named("global_avg_pool");
    // x (2, 2, 2, 3): channel planes 1..6, 10..60, -1..-6, 0.5 x 6
    Tensor x(Shape{2, 2, 2, 3});
    for (std::size_t e = 0; e < 6; ++e) {
        x[e] = double(e + 1);
        x[6 + e] = 10.0 * double(e + 1);
        x[12 + e] = -double(e + 1);
        x[18 + e] = 0.5;
    }
    const Attrs a = with_defaults(op, Attrs{});
    REQUIRE(op.shape({x.shape()}, a) == Shape{2, 2});
    const Tensor out = op.forward(call_of({&x}, a));
    REQUIRE(out.shape() == Shape{2, 2});
    CHECK(out.at({0, 0}) == doctest::Approx(3.5));
    CHECK(out.at({0, 1}) == doctest::Approx(35.0));
    CHECK(out.at({1, 0}) == doctest::Approx(-3.5));
    CHECK(out.at({1, 1}) == doctest::Approx(0.5));
    const Tensor up(Shape{2, 2}, {6, -12, 3, 0.6});
    const Tensor dx = op.rule(0).vjp(call_of({&x}, a, &out), up);
    REQUIRE(dx.shape() == x.shape());
    for (std::size_t e = 0; e < 6; ++e) {
        CHECK(dx[e] == doctest::Approx(1.0));
        CHECK(dx[6 + e] == doctest::Approx(-2.0));
        CHECK(dx[12 + e] == doctest::Approx(0.5));
        CHECK(dx[18 + e] == doctest::Approx(0.1));
    }
}

// ======================================================================= batchnorm2d

TEST_CASE("conv: batchnorm2d forward and closed-form gradients against per-channel statistics over N, H, W") {
    const OpDef& op = op_named("batchnorm2d");
    const Shape s{3, 4, 3, 5};
    const Tensor x = random_tensor(s, 71, -2, 3);
    const Tensor gamma = random_tensor({4}, 72, 0.5, 2);
    const Tensor beta = random_tensor({4}, 73);
    const Tensor dout = random_tensor(s, 74);
    Attrs a;
    a.set("eps", 1e-3);
    a = with_defaults(op, a);
    const std::vector<const Tensor*> args{&x, &gamma, &beta};
    REQUIRE(op.shape({s, {4}, {4}}, a) == s);
    const Tensor out = op.forward(call_of(args, a));

    // forward from the per-channel statistics
    const SpatialBn want = spatial_bn(x, gamma, beta, 1e-3);
    check_same(out, want.out);
    // each channel of the output has mean beta and variance gamma^2 * var/(var + eps)
    for (std::size_t c = 0; c < 4; ++c) {
        double m = 0, v = 0;
        for (std::size_t e = 0; e < out.size(); ++e)
            if ((e / 15) % 4 == c) m += out[e] / 45.0;
        for (std::size_t e = 0; e < out.size(); ++e)
            if ((e / 15) % 4 == c) v += (out[e] - m) * (out[e] - m) / 45.0;
        CHECK(m == doctest::Approx(beta[c]).epsilon(1e-12));
        CHECK(v == doctest::Approx(gamma[c] * gamma[c] * want.var[c] / (want.var[c] + 1e-3)).epsilon(1e-12));
    }

    // gradients: spatial batch norm is ordinary batch norm of the (N*H*W, C)
    // matrix of channels, whose staged backward docs/background.md#batch-normalization-step-by-step gives
    bnstep_test::BatchNorm bn;
    bn.x = channels_as_columns(x);
    bn.dout = channels_as_columns(dout);
    bn.gamma = gamma.data();
    bn.beta = beta.data();
    bn.eps = 1e-3;
    bn.compute();
    const Tensor dx = op.rule(0).vjp(call_of(args, a, &out, 0), dout);
    const Tensor dgamma = op.rule(1).vjp(call_of(args, a, &out, 1), dout);
    const Tensor dbeta = op.rule(2).vjp(call_of(args, a, &out, 2), dout);
    check_same(dx, columns_as_channels(bn.dx, s));
    check_same(dgamma, Tensor(Shape{4}, bn.dgamma));
    check_same(dbeta, Tensor(Shape{4}, bn.dbeta));
    check_same(out, columns_as_channels(bn.out, s));

    // dbeta and dgamma directly: per-channel sums of dout and dout * xhat
    Tensor db(Shape{4}), dg(Shape{4});
    for (std::size_t e = 0; e < dout.size(); ++e) {
        db[(e / 15) % 4] += dout[e];
        dg[(e / 15) % 4] += dout[e] * want.xhat[e];
    }
    check_same(dbeta, db);
    check_same(dgamma, dg);
    // dx sums to zero over each channel (the mean is subtracted)
    for (std::size_t c = 0; c < 4; ++c) {
        double sum = 0;
        for (std::size_t e = 0; e < dx.size(); ++e)
            if ((e / 15) % 4 == c) sum += dx[e];
        CHECK(std::fabs(sum) < 1e-12);
    }

    // the worked examples agree with the computed elements
    const NumFmt num;
    const Names names{{"x", "gamma", "beta"}, "y", "dy", "dx"};
    for (const Index& at : {Index{0, 0, 0, 0}, Index{2, 3, 2, 4}, Index{1, 2, 1, 3}}) {
        CHECK(op.explain(call_of(args, a, &out), names, at, num).result == doctest::Approx(out.at(at)).epsilon(1e-12));
        CHECK(op.rule(0).explain(call_of(args, a, &out, 0), dout, names, at, num).result ==
              doctest::Approx(dx.at(at)).epsilon(1e-12));
    }
    for (std::size_t c = 0; c < 4; ++c) {
        CHECK(op.rule(1).explain(call_of(args, a, &out, 1), dout, names, {c}, num).result ==
              doctest::Approx(dgamma[c]).epsilon(1e-12));
        CHECK(op.rule(2).explain(call_of(args, a, &out, 2), dout, names, {c}, num).result ==
              doctest::Approx(dbeta[c]).epsilon(1e-12));
    }
}

TEST_CASE("conv: batchnorm2d fused agrees with the staged form built from primitives") {
    // The same x, gamma, beta and upstream gradient, in two lessons: the
    // fused op, and the nine steps with the mean over axes 0, 2, 3 as three
    // `mean` nodes with keepdims, gamma and beta reshaped to (1, C, 1, 1).
    const std::string leaves = R"(
  "leaves": [
    {"name": "x", "kind": "input", "shape": [2, 3, 4, 5], "random": {"seed": 11, "low": -2, "high": 2}},
    {"name": "gamma", "kind": "param", "shape": [3], "random": {"seed": 12, "low": 0.5, "high": 1.5}},
    {"name": "beta", "kind": "param", "shape": [3], "random": {"seed": 13}}EPS
  ],)";
    const std::string output = R"(
  "output": {"node": "out", "upstream": {"random": {"seed": 14}}}
})";
    auto with_eps = [&](const std::string& eps) {
        std::string l = leaves;
        l.replace(l.find("EPS"), 3, eps);
        return l;
    };
    const std::string fused = R"({"name": "bn2d-fused", "title": "t", "description": "d",)" + with_eps("") + R"(
  "nodes": [
    {"name": "out", "op": "batchnorm2d", "inputs": ["x", "gamma", "beta"], "attrs": {"eps": 0.001}}
  ],)" + output;
    const std::string staged = R"({"name": "bn2d-staged", "title": "t", "description": "d",)" + with_eps(R"(,
    {"name": "eps", "kind": "const", "shape": [], "values": 0.001})") +
                               R"(
  "nodes": [
    {"name": "g4", "op": "reshape", "inputs": ["gamma"], "attrs": {"shape": [1, 3, 1, 1]}},
    {"name": "b4", "op": "reshape", "inputs": ["beta"], "attrs": {"shape": [1, 3, 1, 1]}},
    {"name": "m0", "op": "mean", "inputs": ["x"], "attrs": {"axis": 0, "keepdims": true}},
    {"name": "m2", "op": "mean", "inputs": ["m0"], "attrs": {"axis": 2, "keepdims": true}},
    {"name": "mu", "op": "mean", "inputs": ["m2"], "attrs": {"axis": 3, "keepdims": true}},
    {"name": "xmu", "op": "sub", "inputs": ["x", "mu"]},
    {"name": "sq", "op": "square", "inputs": ["xmu"]},
    {"name": "v0", "op": "mean", "inputs": ["sq"], "attrs": {"axis": 0, "keepdims": true}},
    {"name": "v2", "op": "mean", "inputs": ["v0"], "attrs": {"axis": 2, "keepdims": true}},
    {"name": "var", "op": "mean", "inputs": ["v2"], "attrs": {"axis": 3, "keepdims": true}},
    {"name": "sqrtvar", "op": "sqrt", "inputs": ["var", "eps"]},
    {"name": "ivar", "op": "reciprocal", "inputs": ["sqrtvar"]},
    {"name": "xhat", "op": "mul", "inputs": ["xmu", "ivar"]},
    {"name": "gammax", "op": "mul", "inputs": ["g4", "xhat"]},
    {"name": "out", "op": "add", "inputs": ["gammax", "b4"]}
  ],)" + output;
    const Graph gf = parse_lesson(fused, "bn2d-fused.json");
    const Graph gs = parse_lesson(staged, "bn2d-staged.json");
    const Trace tf = run(gf);
    const Trace ts = run(gs);
    auto node = [](const Trace& t, const char* name) -> const NodeState& { return t.nodes[*t.graph->find(name)]; };
    REQUIRE(node(ts, "mu").value.shape() == Shape{1, 3, 1, 1});
    check_same(node(tf, "out").value, node(ts, "out").value);
    for (const char* leaf : {"x", "gamma", "beta"}) {
        CAPTURE(leaf);
        REQUIRE(node(tf, leaf).grad.has_value());
        REQUIRE(node(ts, leaf).grad.has_value());
        check_same(*node(tf, leaf).grad, *node(ts, leaf).grad);
    }
    // and both against the direct computation
    const Tensor& x = gf.nodes[*gf.find("x")].value;
    const Tensor& gamma = gf.nodes[*gf.find("gamma")].value;
    const Tensor& beta = gf.nodes[*gf.find("beta")].value;
    check_same(node(ts, "out").value, spatial_bn(x, gamma, beta, 1e-3).out);
    check_same(node(ts, "xhat").value, spatial_bn(x, gamma, beta, 1e-3).xhat);
}
