// conv2d against values derived here, independently of src/: the convolution
// sum evaluated from its definition on an explicitly zero-padded input, dx as
// the full correlation of the (stride-dilated) upstream gradient with the
// flipped kernels, dW as the correlation of x with dout. The pools are in
// test_pool.cpp, batchnorm2d in test_batchnorm2d.cpp.
// The VJPs against finite differences are in test_ops.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "batchnorm_reference.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/op.hpp"
#include "conv_support.hpp"
#include "op_harness.hpp"
#include "sanitizer.hpp"
#include "bnstep/rng.hpp"
#include "ops/conv_kernels.hpp"

using namespace bnstep;
using namespace bnstep_conv_test;
using bnstep::testing::op_named;
using bnstep::testing::with_defaults;

namespace {

// ---------------------------------------------------------------- helpers

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
// Under the sanitizers the fast kernels run on every geometry (their memory
// accesses are what the sanitizers check) but the reference loops, an
// allocation per element, only on those of up to a million multiply-adds.
void check_fast_kernels(const std::vector<Geo>& geometries, std::uint64_t seed) {
    for (const Geo& g : geometries) {
        CAPTURE(describe(g));
        const ConvInputs in = inputs_for(g, seed += 10);
        const ops::ConvGeometry geo = g.geometry();
        const Tensor* b = g.bias ? &in.b : nullptr;
        const std::size_t macs = g.n * g.k * g.ho() * g.wo() * g.cg() * g.r * g.s;
        if (bnstep_test::kUnderSanitizer && macs > 1'000'000) {
            CHECK(ops::conv_forward(geo, in.x, in.w, b).shape() == g.out_shape());
            CHECK(ops::conv_input_grad(geo, in.dout, in.w).shape() == g.x_shape());
            CHECK(ops::conv_weight_grad(geo, in.dout, in.x).shape() == g.w_shape());
            continue;
        }
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

TEST_CASE("conv: a worked dx element counts the (filter, window) pairs per input pixel in columns, or in one line") {
    const OpDef& op = op_named("conv2d");
    const Names names{{"x", "w"}, "conv", "dconv", "dx"};
    for (const std::size_t width : {12, 56}) {
        CAPTURE(width);
        // 20 filters of 3x3, padding 1: 9 windows read an inner pixel, 4 a corner.
        const Geo g{1, 2, 6, width, 20, 3, 3, 1, 1};
        const ConvInputs in = inputs_for(g, 77);
        const Attrs a = with_defaults(op, g.attrs());
        const Tensor out = op.forward(call_of({&in.x, &in.w}, a));
        const Worked w =
            op.rule(0).explain(call_of({&in.x, &in.w}, a, &out, 0), in.dout, names, {0, 1, 2, 3}, NumFmt{});
        std::vector<std::string> rows;
        for (const std::string& note : w.notes)
            if (!note.empty() && note.front() == ' ') rows.push_back(note);
        if (width == 56) {
            CHECK(rows.empty());
            CHECK(std::find(w.notes.begin(), w.notes.end(), "80 to 180 (filter, window) pairs read each x[0,1,h,w]") !=
                  w.notes.end());
            continue;
        }
        REQUIRE(rows.size() == 6);
        std::istringstream first(rows[0]), inner(rows[2]);
        std::vector<double> corner_row{std::istream_iterator<double>(first), std::istream_iterator<double>()};
        std::vector<double> inner_row{std::istream_iterator<double>(inner), std::istream_iterator<double>()};
        REQUIRE(corner_row.size() == 12);
        CHECK(corner_row.front() == 80);
        CHECK(corner_row[1] == 120);
        CHECK(inner_row[1] == 180);
    }
}
