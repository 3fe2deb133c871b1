// batchnorm2d against spatial batch norm written directly (per-channel
// statistics over N, H, W), against ordinary batch norm of the channels as
// columns, and against the staged form built from primitives. The VJPs against
// finite differences are in test_ops.cpp.
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
#include "bnstep/rng.hpp"
#include "conv_support.hpp"
#include "op_harness.hpp"

using namespace bnstep;
using namespace bnstep_conv_test;
using bnstep::testing::op_named;
using bnstep::testing::with_defaults;

namespace {

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

}  // namespace

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
