// Clipping, quantization and pruning ops: forward values worked out by hand,
// the backward of straight-through ops against finite differences of their
// surrogates (and not of the flat true forward), the conventions at bounds,
// thresholds and ties, and the pieces that tell the gradient checker that a
// finite difference crossed a kink.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bnstep/op.hpp"
#include "bnstep/rng.hpp"
#include "ops/compression.hpp"
#include "op_harness.hpp"
#include "surrogate_harness.hpp"

using namespace bnstep;
using namespace bnstep::testing;

namespace {

// One op applied to inputs given by hand.
struct Eval {
    const OpDef& op;
    std::vector<Tensor> inputs;
    Attrs attrs;

    Eval(const char* name, std::vector<Tensor> in, std::initializer_list<std::pair<const char*, double>> list = {})
        : op(op_named(name)), inputs(std::move(in)) {
        for (const auto& [k, v] : list) attrs.set(k, v);
        attrs = with_defaults(op, attrs);
    }
    OpCall call(const Tensor* out = nullptr) const { return call_for(inputs, attrs, out); }
    Tensor forward() const { return op.forward(call()); }
    Tensor local(std::size_t slot = 0) const {
        const Tensor out = forward();
        return op.inputs[slot].local(call(&out));
    }
    Tensor vjp(const Tensor& upstream, std::size_t slot = 0) const {
        const Tensor out = forward();
        OpCall c = call(&out);
        c.slot = slot;
        return op.rule(slot).vjp(c, upstream);
    }
    Tensor surrogate_at_base() const { return op.surrogate->forward(call(), call()); }
    // The pieces with element i of input 0 moved to `value`: of the op, or of its surrogate.
    std::vector<long long> pieces_with(std::size_t i, double value, bool surrogate = false) const {
        std::vector<Tensor> moved = inputs;
        moved[0][i] = value;
        const OpCall c = call_for(moved, attrs, nullptr);
        const PiecesFn& pieces = surrogate ? op.surrogate->pieces : op.pieces;
        return pieces ? pieces(c) : std::vector<long long>{};  // no pieces: smooth
    }
    bool crosses_kink(std::size_t i, double h, bool surrogate = false) const {
        const double x = inputs[0][i];
        return pieces_with(i, x + h, surrogate) != pieces_with(i, x - h, surrogate);
    }
    // The plain centred difference of sum(upstream * op(x)) in element i of input 0.
    double plain_numeric(const Tensor& upstream, std::size_t i, double h) const {
        auto loss = [&](double value) {
            std::vector<Tensor> moved = inputs;
            moved[0][i] = value;
            const Tensor y = op.forward(call_for(moved, attrs, nullptr));
            double l = 0;
            for (std::size_t k = 0; k < y.size(); ++k) l += y[k] * upstream[k];
            return l;
        };
        return (loss(inputs[0][i] + h) - loss(inputs[0][i] - h)) / (2 * h);
    }
};

Tensor random_like(const Tensor& t, std::uint64_t seed) {
    Rng rng(seed);
    Tensor r(t.shape());
    for (double& v : r.data()) v = rng.uniform(-1, 1);
    return r;
}

void check_close(const Tensor& got, const std::vector<double>& expected, double eps = 1e-12) {
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i] == doctest::Approx(expected[i]).epsilon(eps));
    }
}

std::string shape_error(const Eval& e, std::vector<Shape> shapes) {
    try {
        e.op.shape(shapes, e.attrs);
    } catch (const ShapeError& err) {
        return err.what();
    }
    return "";
}

std::string value_error(const Eval& e) {
    try {
        e.forward();
    } catch (const ValueError& err) {
        return err.what();
    }
    return "";
}

// Inputs off every kink: 0, +-1 and the clip range of the quantize grid below.
const std::vector<double> kValues = {-2.3, -1.7, -0.95, -0.3, 0.2, 0.55, 0.8, 1.3, 2.5};

}  // namespace

TEST_CASE("straight-through ops: the backward is the derivative of the surrogate anchored at the forward input") {
    const Tensor x = vec(kValues);
    const std::vector<Eval> ops = {
        Eval("sign", {x}),
        Eval("sign", {x}, {{"ste", 1}}),
        Eval("binarize_stochastic", {x}, {{"seed", 3}}),
        Eval("ternarize", {x}),
        Eval("ternarize", {x}, {{"delta_factor", 1.2}}),
        Eval("quantize", {x}, {{"scale", 0.25}, {"bits", 3}, {"signed", 1}}),
        Eval("quantize", {x}, {{"scale", 0.1}, {"bits", 5}, {"zero_point", 7}}),
        Eval("xnor_binarize", {Tensor(Shape{3, 3}, kValues)}),
        Eval("xnor_binarize", {Tensor(Shape{3, 3}, kValues)}, {{"ste", 0}}),
        Eval("xnor_binarize", {Tensor(Shape{3, 1, 3}, kValues)}),
    };
    for (const Eval& e : ops) {
        CAPTURE(e.op.name);
        REQUIRE(e.op.surrogate.has_value());
        CHECK(e.op.inputs[0].straight_through);
        const Tensor up = random_like(e.inputs[0], 17);
        const Tensor analytic = e.vjp(up);
        const Tensor numeric = surrogate_numeric(e.op, e.inputs, e.attrs, up, 0, 1e-6);
        CHECK(max_relative_error(analytic, numeric) < 1e-7);
        // The surrogate is the op itself at the base point, to the last bit.
        CHECK(e.surrogate_at_base().data() == e.forward().data());
        for (std::size_t i = 0; i < x.size(); ++i) CHECK_FALSE(e.crosses_kink(i, 1e-6, true));
    }
}

TEST_CASE("straight-through ops: plain finite differences of the true forward disagree with the backward") {
    const Tensor up = vec({1.0});
    // sign is flat: the plain difference is 0, the estimator passes 1.
    const Eval sign("sign", {vec({0.3})});
    CHECK(sign.plain_numeric(up, 0, 1e-6) == 0.0);
    CHECK(sign.vjp(up)[0] == 1.0);
    CHECK(surrogate_numeric(sign.op, sign.inputs, sign.attrs, up, 0)[0] == doctest::Approx(1.0));
    // quantize between levels: flat; across a rounding threshold (0.375 / 0.25 = 1.5): a jump of one step.
    const Eval flat("quantize", {vec({0.3})}, {{"scale", 0.25}});
    CHECK(flat.plain_numeric(up, 0, 1e-6) == 0.0);
    CHECK(flat.vjp(up)[0] == 1.0);
    const Eval jump("quantize", {vec({0.375})}, {{"scale", 0.25}});
    CHECK(jump.plain_numeric(up, 0, 1e-6) == doctest::Approx(0.25 / 2e-6));
    CHECK(jump.vjp(up)[0] == 1.0);
    CHECK(surrogate_numeric(jump.op, jump.inputs, jump.attrs, up, 0)[0] == doctest::Approx(1.0));
    CHECK(jump.crosses_kink(0, 1e-6));
    CHECK_FALSE(jump.crosses_kink(0, 1e-6, true));
    // xnor: the plain difference sees only alpha's derivative, sign(W_i)/n * sum_j g_j sign(W_j).
    const Eval xnor("xnor_binarize", {Tensor(Shape{1, 2}, std::vector<double>{0.5, -0.25})});
    const Tensor g = Tensor(Shape{1, 2}, std::vector<double>{1.0, 3.0});
    CHECK(xnor.plain_numeric(g, 0, 1e-6) == doctest::Approx(0.5 * (1.0 - 3.0)));
    CHECK(xnor.vjp(g)[0] == doctest::Approx(1.0 * 0.375 + 0.5 * (1.0 - 3.0)));
}

TEST_CASE("hardtanh, clip and sign's hardtanh estimator at exactly +-1") {
    const Tensor x = vec({-1.0, 1.0, -0.999, 0.999, 1.001, -1.001});
    const Eval hardtanh("hardtanh", {x});
    const Eval clip("clip", {x}, {{"min", -1.0}, {"max", 1.0}});
    const Eval sign("sign", {x}, {{"ste", 1}});
    check_close(hardtanh.forward(), {-1, 1, -0.999, 0.999, 1, -1});
    check_close(clip.forward(), {-1, 1, -0.999, 0.999, 1, -1});
    check_close(sign.forward(), {-1, 1, -1, 1, 1, -1});
    // PyTorch: hardtanh_backward passes strictly inside, clamp's backward at the bounds too, BNN's 1_{|x| <= 1}.
    check_close(hardtanh.local(), {0, 0, 1, 1, 0, 0});
    check_close(clip.local(), {1, 1, 1, 1, 0, 0});
    check_close(sign.local(), {1, 1, 1, 1, 0, 0});
    for (std::size_t i : {0, 1}) {
        CHECK(hardtanh.crosses_kink(i, 1e-6));
        CHECK(clip.crosses_kink(i, 1e-6));
        CHECK(sign.crosses_kink(i, 1e-6, true));
        CHECK_FALSE(sign.crosses_kink(i, 1e-6));  // sign itself is flat at +-1
    }
    // Bounds of one's own: the same conventions at min and max.
    const Tensor y = vec({-0.5, 2.0, 0.7});
    check_close(Eval("hardtanh", {y}, {{"min", -0.5}, {"max", 2.0}}).local(), {0, 0, 1});
    check_close(Eval("clip", {y}, {{"min", -0.5}, {"max", 2.0}}).local(), {1, 1, 1});
    check_close(Eval("clip", {y}, {{"min", 0.0}, {"max", 0.5}}).forward(), {0, 0.5, 0.5});
    CHECK(shape_error(Eval("clip", {y}, {{"min", 1.0}, {"max", 0.0}}), {{3}}) == "min (1) must not exceed max (0)");
    CHECK(shape_error(Eval("hardtanh", {y}, {{"min", 2.0}}), {{3}}) == "min (2) must not exceed max (1)");
}

TEST_CASE("sign: torch.sign with sign(0) = 0, and the identity estimator passes everything") {
    const Eval sign("sign", {vec({-3.0, -0.0, 0.0, 1e-300, 5.0})});
    check_close(sign.forward(), {-1, 0, 0, 1, 1});
    check_close(sign.local(), {1, 1, 1, 1, 1});
    CHECK(Eval("sign", {vec({0.0})}).crosses_kink(0, 1e-9));
}

TEST_CASE("quantize: values worked out by hand, PyTorch's fake quantization") {
    // 8 bits unsigned, scale 0.25 (exact in binary): levels 0..255.
    const Eval u8("quantize", {vec({0.625, 0.875, -0.125, -0.3, 70.0, 63.8, 1.1})}, {{"scale", 0.25}});
    // 0.625/0.25 = 2.5 -> 2 (halves to even); 3.5 -> 4; -0.5 -> -0 -> 0; -1.2 -> -1 -> clamped 0;
    // 280 -> 255; 255.2 -> 255; 4.4 -> 4.
    check_close(u8.forward(), {0.5, 1.0, 0.0, 0.0, 63.75, 63.75, 1.0});
    check_close(u8.local(), {1, 1, 1, 0, 0, 1, 1});
    // 4 bits signed: levels -8..7.
    const Eval s4("quantize", {vec({1.9, 1.8, -2.1, -2.2})}, {{"scale", 0.25}, {"bits", 4}, {"signed", 1}});
    check_close(s4.forward(), {1.75, 1.75, -2.0, -2.0});  // 7.6 -> 8 -> 7; 7.2 -> 7; -8.4 -> -8; -8.8 -> -9 -> -8
    check_close(s4.local(), {0, 1, 1, 0});
    // zero point 10, scale 0.5: x = -3 -> -6 + 10 = 4 -> (4 - 10) * 0.5 = -3; x = -6 -> -2 -> 0 -> -5.
    const Eval zp("quantize", {vec({-3.0, -6.0, 122.0, 123.0})}, {{"scale", 0.5}, {"zero_point", 10}});
    check_close(zp.forward(), {-3.0, -5.0, 122.0, 122.5});  // 244 + 10 = 254; 246 + 10 = 256 -> 255 -> 122.5
    check_close(zp.local(), {1, 0, 1, 0});
    // 1 bit: levels 0 and 1.
    check_close(Eval("quantize", {vec({0.2, 0.8, 3.0})}, {{"scale", 1.0}, {"bits", 1}}).forward(), {0, 1, 1});
}

TEST_CASE("quantize: pieces are the level and the surrogate's clip range") {
    const Eval q("quantize", {vec({0.625, 0.7, 63.875, -0.125})}, {{"scale", 0.25}});
    CHECK(q.crosses_kink(0, 1e-6));              // 2.5: the rounding threshold between levels 2 and 3
    CHECK_FALSE(q.crosses_kink(1, 1e-6));        // 2.8: inside level 3
    CHECK_FALSE(q.crosses_kink(0, 1e-6, true));  // the estimator is smooth across a threshold
    CHECK(q.crosses_kink(2, 1e-6, true));        // (255 + 0.5) * 0.25: where clamping starts
    CHECK(q.crosses_kink(3, 1e-6, true));        // (0 - 0.5) * 0.25
    CHECK(q.crosses_kink(2, 1e-6));              // the level goes from 255 to clamped
}

TEST_CASE("quantize: attributes it cannot take") {
    const Tensor x = vec({1.0});
    CHECK(shape_error(Eval("quantize", {x}, {{"scale", 0.1}, {"bits", 0}}), {{1}}) ==
          "bits must be from 1 to 16, got 0");
    CHECK(shape_error(Eval("quantize", {x}, {{"scale", 0.1}, {"bits", 17}}), {{1}}) ==
          "bits must be from 1 to 16, got 17");
    CHECK(shape_error(Eval("quantize", {x}, {{"scale", 0.0}}), {{1}}) == "scale must be above 0, got 0");
    CHECK(shape_error(Eval("quantize", {x}, {{"scale", -1.0}}), {{1}}) == "scale must be above 0, got -1");
    CHECK(shape_error(Eval("quantize", {x}, {{"scale", 0.1}, {"zero_point", 256}}), {{1}}) ==
          "zero_point must be from qmin 0 to qmax 255 (8 bits), got 256");
    CHECK(shape_error(Eval("quantize", {x}, {{"scale", 0.1}, {"bits", 4}, {"signed", 1}, {"zero_point", -9}}), {{1}}) ==
          "zero_point must be from qmin -8 to qmax 7 (4 bits, signed), got -9");
    CHECK(shape_error(Eval("quantize", {x}, {{"scale", 0.1}, {"bits", 16}}), {{1}}).empty());
}

TEST_CASE("xnor_binarize: alpha per filter and the backward by hand") {
    const Tensor w(Shape{2, 3}, std::vector<double>{0.5, -1.5, 1.0, -0.2, 0.4, 0.0});
    const Tensor g(Shape{2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6});
    // alpha_0 = (0.5 + 1.5 + 1.0)/3 = 1, alpha_1 = (0.2 + 0.4 + 0)/3 = 0.2.
    const Eval hard("xnor_binarize", {w});
    check_close(hard.forward(), {1, -1, 1, -0.2, 0.2, 0});
    // dW_i = g_i alpha_k ste'(W_i) + sign(W_i)/3 * S_k, S_0 = 1 - 2 + 3 = 2, S_1 = -4 + 5 + 0 = 1;
    // hardtanh: ste'(-1.5) = 0, ste'(1.0) = 1 (the bound included).
    check_close(hard.vjp(g), {1 + 2.0 / 3, -2.0 / 3, 3 + 2.0 / 3, 0.8 - 1.0 / 3, 1 + 1.0 / 3, 1.2});
    const Eval identity("xnor_binarize", {w}, {{"ste", 0}});
    check_close(identity.vjp(g), {1 + 2.0 / 3, 2 - 2.0 / 3, 3 + 2.0 / 3, 0.8 - 1.0 / 3, 1 + 1.0 / 3, 1.2});
    // One weight per filter: alpha = |W|, out = W.
    check_close(Eval("xnor_binarize", {vec({-0.7, 2.0})}).forward(), {-0.7, 2.0});
    CHECK(shape_error(Eval("xnor_binarize", {Tensor::scalar(1.0)}), {{}}).find("at least one axis") !=
          std::string::npos);
    // Crossing 0 changes alpha's |.| piece, crossing +-1 the hardtanh estimator's.
    CHECK(hard.crosses_kink(5, 1e-6));
    CHECK(hard.crosses_kink(5, 1e-6, true));
    CHECK(hard.crosses_kink(2, 1e-6, true));
    CHECK_FALSE(identity.crosses_kink(2, 1e-6, true));
}

TEST_CASE("ternarize: delta, alpha and the classes by hand") {
    const Eval t("ternarize", {vec({0.9, -0.1, 0.4, -0.6, 0.0, 0.2})});
    // mean |W| = 2.2/6, delta = 0.7 * 2.2/6 = 0.25667; t = (1, 0, 1, -1, 0, 0); alpha = (0.9 + 0.4 + 0.6)/3.
    const double alpha = (0.9 + 0.4 + 0.6) / 3;
    check_close(t.forward(), {alpha, 0, alpha, -alpha, 0, 0});
    check_close(t.local(), {1, 1, 1, 1, 1, 1});
    const Tensor g = vec({1, 2, 3, 4, 5, 6});
    check_close(t.vjp(g), {1, 2, 3, 4, 5, 6});
    // No weight beyond +-delta: alpha = 0.
    check_close(Eval("ternarize", {vec({0.5, -0.5})}, {{"delta_factor", 1.0}}).forward(), {0, 0});
    check_close(Eval("ternarize", {vec({0.0, 0.0})}).forward(), {0, 0});
    // The class is the piece. delta moves with W: W_1 = v of (1, v) leaves class 0 where
    // v = 0.7 * (1 + v)/2, at v = 0.35/0.65.
    const Eval edge("ternarize", {vec({1.0, 0.35})});
    CHECK_FALSE(edge.crosses_kink(1, 1e-6));
    const double v = 0.35 / 0.65;
    CHECK(edge.pieces_with(1, v + 1e-6) != edge.pieces_with(1, v - 1e-6));
    CHECK(edge.pieces_with(1, v - 1e-6) == edge.pieces_with(1, 0.35));
    CHECK(shape_error(Eval("ternarize", {vec({1.0})}, {{"delta_factor", -0.1}}), {{1}}) ==
          "delta_factor must be at least 0, got -0.1");
}

TEST_CASE("pow2_quantize: INQ's eq. 4 by hand, at the bin edges and against a direct reading of the rule") {
    // n1 = 0, n2 = -2: P = {0, 1/4, 1/2, 1}; bins [0, 1/8) -> 0, [1/8, 3/8) -> 1/4, [3/8, 3/4) -> 1/2, [3/4, inf) -> 1.
    const Tensor all = Tensor(Shape{8}, 1.0);
    const Eval q("pow2_quantize", {vec({0.1, -0.2, 0.4, -0.8, 2.0, 0.74, 0.375, -0.125}), all},
                 {{"n1", 0}, {"n2", -2}});
    check_close(q.forward(), {0, -0.25, 0.5, -1, 1, 0.5, 0.5, -0.25});
    check_close(q.local(), {0, 0, 0, 0, 0, 0, 0, 0});
    CHECK(q.crosses_kink(6, 1e-9));  // 3/8: between 1/4 and 1/2
    CHECK(q.crosses_kink(7, 1e-9));  // 1/8: between 0 and 1/4
    CHECK_FALSE(q.crosses_kink(2, 1e-6));

    // Eq. 4 read directly: beta in P (sorted ascending, alpha the element below) with
    // (alpha + beta)/2 <= |w| < 3*beta/2, else 0; for |w| below 3*2^n1/2, the range the paper's n1 covers.
    const int n1 = 1, n2 = -3;
    std::vector<double> p = {0.0};
    for (int k = n2; k <= n1; ++k) p.push_back(std::ldexp(1.0, k));
    Rng rng(5);
    Tensor w(Shape{200});
    for (double& v : w.data()) v = rng.uniform(-3.0, 3.0);  // 3*2^1/2 = 3
    const Eval many("pow2_quantize", {w, Tensor(Shape{200}, 1.0)}, {{"n1", n1}, {"n2", n2}});
    const Tensor out = many.forward();
    for (std::size_t i = 0; i < w.size(); ++i) {
        double expected = 0;
        for (std::size_t b = 1; b < p.size(); ++b)
            if ((p[b - 1] + p[b]) / 2 <= std::fabs(w[i]) && std::fabs(w[i]) < 1.5 * p[b])
                expected = p[b] * (w[i] > 0 ? 1 : -1);
        CAPTURE(w[i]);
        CHECK(out[i] == expected);
    }
}

TEST_CASE("pow2_quantize: the largest |W| by fraction, ties to the lower index, the rest trained on") {
    // fraction 0.5 of 6: the 3 largest |W| (2.0, 0.8, 0.74) are quantized, the others pass unchanged.
    const Eval q("pow2_quantize", {vec({0.1, -0.2, 0.4, -0.8, 2.0, 0.74})}, {{"n1", 0}, {"n2", -2}});
    check_close(q.forward(), {0.1, -0.2, 0.4, -1, 1, 0.5});
    check_close(q.local(), {1, 1, 1, 0, 0, 0});
    // A tie at |W| = 0.3: indices 0 and 1 are quantized before 2.
    const Eval tie("pow2_quantize", {vec({0.3, -0.3, 0.3, 0.1})}, {{"n1", 0}, {"n2", -2}});
    check_close(tie.forward(), {0.25, -0.25, 0.3, 0.1});
    CHECK(tie.crosses_kink(2, 1e-6));      // 0.3 + h joins the quantized set
    CHECK_FALSE(q.crosses_kink(0, 1e-6));  // 0.1 stays out of it
    // A mask instead: 1 = quantized.
    const Eval masked("pow2_quantize", {vec({0.3, 0.3, 3.0}), vec({0, 1, 0})}, {{"n1", 0}, {"n2", -2}});
    check_close(masked.forward(), {0.3, 0.25, 3.0});
    check_close(masked.local(), {1, 0, 1});
    CHECK(value_error(Eval("pow2_quantize", {vec({0.3, 0.3}), vec({1, 2})}, {{"n1", 0}, {"n2", -2}})) ==
          "mask[1] is 2: a mask holds only 0 and 1 (1 = quantized)");
    CHECK(shape_error(masked, {{3}, {2}}) == "mask must have the shape of W, (3,), got (2,)");
    CHECK(shape_error(Eval("pow2_quantize", {vec({1.0})}, {{"n1", -1}, {"n2", 0}}), {{1}}) ==
          "n2 (0) must not exceed n1 (-1)");
    CHECK(shape_error(Eval("pow2_quantize", {vec({1.0})}, {{"n1", 0}, {"n2", 0}, {"fraction", 1.5}}), {{1}}) ==
          "fraction must be from 0 to 1, got 1.5");
    CHECK(shape_error(Eval("pow2_quantize", {vec({1.0})}, {{"n1", 61}, {"n2", 0}}), {{1}}) ==
          "n1 must be from -60 to 60, got 61");
}

TEST_CASE("magnitude choice: the first k of a stable sort by |W|, on many ties, for both ends") {
    std::mt19937 gen(7);
    std::uniform_int_distribution<int> level(-3, 3), length(1, 24);
    for (int trial = 0; trial < 300; ++trial) {
        const std::size_t n = static_cast<std::size_t>(length(gen));
        Tensor w(Shape{n});
        for (std::size_t i = 0; i < n; ++i) w[i] = 0.5 * level(gen);  // seven levels: ties everywhere
        for (const bool largest : {false, true})
            for (std::size_t k = 0; k <= n + 1; ++k) {
                std::vector<std::size_t> order(n);
                std::iota(order.begin(), order.end(), std::size_t{0});
                std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
                    return largest ? std::fabs(w[a]) > std::fabs(w[b]) : std::fabs(w[a]) < std::fabs(w[b]);
                });
                std::vector<bool> want(n, false);
                for (std::size_t i = 0; i < k && i < n; ++i) want[order[i]] = true;
                CAPTURE(trial);
                CAPTURE(k);
                CAPTURE(largest);
                CHECK(ops::by_magnitude(w, k, largest) == want);
            }
    }
}

TEST_CASE("prune_mask: the smallest |W| pruned, ties to the lower index, pruned weights get no gradient") {
    // sparsity 0.5 of 6: 3 pruned: 0.1 (index 2), then of the tie at 0.2 indices 1 and 3; index 4 is kept.
    const Eval p("prune_mask", {vec({0.5, -0.2, 0.1, 0.2, -0.2, 2.0})});
    check_close(p.forward(), {0.5, 0, 0, 0, -0.2, 2.0});
    check_close(p.local(), {1, 0, 0, 0, 1, 1});
    check_close(p.vjp(vec({1, 2, 3, 4, 5, 6})), {1, 0, 0, 0, 5, 6});
    CHECK(p.crosses_kink(4, 1e-6));  // -0.2 -+ h decides whether index 4 or 3 is pruned
    CHECK_FALSE(p.crosses_kink(5, 1e-6));
    // round(0.5 * 5) = 3 (halves up); sparsity 0 and 1.
    check_close(Eval("prune_mask", {vec({5, 4, 3, 2, 1})}).forward(), {5, 4, 0, 0, 0});
    check_close(Eval("prune_mask", {vec({5, -4})}, {{"sparsity", 0.0}}).forward(), {5, -4});
    check_close(Eval("prune_mask", {vec({5, -4})}, {{"sparsity", 1.0}}).forward(), {0, 0});
    // An explicit mask, 1 = kept.
    const Eval masked("prune_mask", {vec({0.5, 0.01, 3.0}), vec({0, 1, 1})});
    check_close(masked.forward(), {0, 0.01, 3.0});
    check_close(masked.local(), {0, 1, 1});
    CHECK(value_error(Eval("prune_mask", {vec({1, 2}), vec({0.5, 1})})) ==
          "mask[0] is 0.5: a mask holds only 0 and 1 (1 = kept)");
    CHECK(shape_error(masked, {{3}, {1, 3}}) == "mask must have the shape of W, (3,), got (1, 3)");
    CHECK(shape_error(Eval("prune_mask", {vec({1.0})}, {{"sparsity", -0.5}}), {{1}}) ==
          "sparsity must be from 0 to 1, got -0.5");
}

TEST_CASE("binarize_stochastic: the draws come from the seed, and the mean is hardtanh(w)") {
    const Tensor w = vec({-1.5, -0.5, 0.0, 0.3, 0.9, 1.2});
    const Eval b("binarize_stochastic", {w}, {{"seed", 42}});
    // Element k compares the k-th uniform of Rng(seed) with hard_sigmoid(w) = clip((w + 1)/2, 0, 1).
    Rng rng(42);
    const Tensor out = b.forward();
    for (std::size_t k = 0; k < w.size(); ++k) {
        const double u = rng.uniform();
        const double p = std::min(1.0, std::max(0.0, (w[k] + 1) / 2));
        CHECK(out[k] == (u < p ? 1.0 : -1.0));
    }
    CHECK(b.forward().data() == out.data());
    CHECK(Eval("binarize_stochastic", {w}, {{"seed", 43}}).forward().data() != out.data());
    // Moving w a little keeps every u: the outcome moves only where w crosses 2u - 1.
    Tensor nudged = w;
    for (double& v : nudged.data()) v += 1e-9;
    CHECK(Eval("binarize_stochastic", {nudged}, {{"seed", 42}}).forward().data() == out.data());
    const double u0 = Rng(42).uniform();
    const Eval at_threshold("binarize_stochastic", {vec({2 * u0 - 1})}, {{"seed", 42}});
    CHECK(at_threshold.crosses_kink(0, 1e-6));
    CHECK_FALSE(at_threshold.crosses_kink(0, 1e-6, true));
    check_close(b.local(), {0, 1, 1, 1, 1, 0});
    // Over many seeds the mean of each element approaches E = 2*hard_sigmoid(w) - 1 = hardtanh(w).
    const int seeds = 20000;
    std::vector<double> mean(w.size(), 0.0);
    for (int s = 1; s <= seeds; ++s) {
        const Tensor y = Eval("binarize_stochastic", {w}, {{"seed", double(s)}}).forward();
        for (std::size_t k = 0; k < w.size(); ++k) mean[k] += y[k] / seeds;
    }
    for (std::size_t k = 0; k < w.size(); ++k) {
        CAPTURE(w[k]);
        CHECK(std::fabs(mean[k] - std::min(1.0, std::max(-1.0, w[k]))) < 0.03);  // 4 standard errors at most
    }
}

TEST_CASE("pieces: relu at 0 and a max-pool tie are kinks") {
    const Eval relu("relu", {vec({0.0, 0.5, -0.5})});
    CHECK(relu.crosses_kink(0, 1e-6));
    CHECK_FALSE(relu.crosses_kink(1, 1e-6));
    CHECK_FALSE(relu.crosses_kink(2, 1e-6));
    CHECK(relu.pieces_with(0, 0.0) != relu.pieces_with(0, 1e-6));
    CHECK(relu.pieces_with(0, 0.0) != relu.pieces_with(0, -1e-6));
    // A 2x2 window whose two largest values tie: moving either moves the argmax.
    const Eval pool("max_pool2d", {Tensor(Shape{1, 1, 2, 2}, std::vector<double>{1.0, 1.0, 0.0, -1.0})},
                    {{"kernel", 2}});
    CHECK(pool.crosses_kink(0, 1e-6));
    CHECK(pool.crosses_kink(1, 1e-6));
    CHECK_FALSE(pool.crosses_kink(2, 1e-6));
    CHECK(pool.pieces_with(0, 1.0) == std::vector<long long>{0});
    CHECK(pool.pieces_with(1, 1.5) == std::vector<long long>{1});
}

TEST_CASE("formulas: straight-through inputs say so, the others give the true derivative") {
    const std::string phrase = "true derivative 0 almost everywhere; straight-through estimator: ";
    for (const char* name : {"sign", "binarize_stochastic", "xnor_binarize", "ternarize", "quantize"}) {
        CAPTURE(name);
        const OpDef& op = op_named(name);
        CHECK(op.surrogate.has_value());
        CHECK(op.pieces);
        CHECK(op.family == "quantization");
        CHECK(op.inputs[0].straight_through);
        CHECK(op.inputs[0].formula.find(phrase) != std::string::npos);
    }
    for (const char* name : {"hardtanh", "clip", "pow2_quantize", "prune_mask", "relu", "max_pool2d"}) {
        CAPTURE(name);
        const OpDef& op = op_named(name);
        CHECK_FALSE(op.surrogate.has_value());
        CHECK(op.pieces);
        for (const InputRule& in : op.inputs) CHECK_FALSE(in.straight_through);
    }
    CHECK(op_named("sign").inputs[0].formula.find("1 where |{x}| <= 1, else 0 (ste hardtanh") != std::string::npos);
    CHECK(op_named("clip").inputs[0].formula.find("hardtanh gives 0 there") != std::string::npos);
    CHECK(op_named("prune_mask").family == "pruning");
    CHECK_FALSE(op_named("prune_mask").inputs[1].differentiable);
    CHECK_FALSE(op_named("pow2_quantize").inputs[1].differentiable);
    CHECK(op_named("sign").surrogate->name(with_defaults(op_named("sign"), {})) == "identity");
}

TEST_CASE("worked examples show the steps: level and rounding, delta and alpha, u and hard_sigmoid") {
    const NumFmt num{6};
    Names names{{"x"}, "y", "dy", "dx"};
    auto notes = [&](const Eval& e, std::size_t i) {
        const Tensor out = e.forward();
        const Worked w = e.op.explain(e.call(&out), names, out.unravel(i), num);
        std::string all = w.symbolic + " = " + w.numeric;
        for (const auto& n : w.notes) all += "\n" + n;
        CHECK(w.result == out[i]);
        return all;
    };
    const std::string q = notes(Eval("quantize", {vec({2.37})}, {{"scale", 0.25}}), 0);
    CHECK(q.find("x[0]/scale = 2.37/0.25 = 9.48") != std::string::npos);
    // A zero point of 0 adds no term: 2.37/0.25 = 9.48 rounds to 9, and 9 * 0.25 = 2.25.
    CHECK(q.find("clamp(round_half_even(x[0]/0.25), 0, 255) * 0.25 = 9 * 0.25") != std::string::npos);
    CHECK(q.find("rounded half to even: 9") != std::string::npos);
    CHECK(q.find("dequantized: q * scale = 9 * 0.25 = 2.25") != std::string::npos);
    CHECK(q.find("+ 0") == std::string::npos);
    CHECK(q.find("- 0") == std::string::npos);
    // zero point 3: level 9 + 3 = 12, and (12 - 3) * 0.25 = 2.25.
    const std::string z = notes(Eval("quantize", {vec({2.37})}, {{"scale", 0.25}, {"zero_point", 3}}), 0);
    CHECK(z.find("(clamp(round_half_even(x[0]/0.25) + 3, 0, 255) - 3) * 0.25 = (12 - 3) * 0.25") != std::string::npos);
    CHECK(z.find("rounded half to even: 9; plus zero_point 3: 12") != std::string::npos);
    CHECK(z.find("dequantized: (q - zero_point) * scale = (12 - 3) * 0.25 = 2.25") != std::string::npos);
    const std::string t = notes(Eval("ternarize", {vec({0.9, -0.1, 0.4, -0.6, 0.0, 0.2})}), 1);
    CHECK(t.find("delta = 0.7 * mean |x| = 0.7 * 0.366667 = 0.256667") != std::string::npos);
    CHECK(t.find("alpha = mean |x| over the 3 weights beyond +-delta = 0.633333") != std::string::npos);
    CHECK(t.find("|x[1]| = 0.1 <= delta: t = 0") != std::string::npos);
    const std::string b = notes(Eval("binarize_stochastic", {vec({0.4})}), 0);
    CHECK(b.find("hard_sigmoid(x[0]) = clip((0.4 + 1)/2, 0, 1) = 0.7") != std::string::npos);
    CHECK(b.find("u[0] = " + num(Rng(1).uniform())) != std::string::npos);
    const std::string p = notes(Eval("pow2_quantize", {vec({0.6, 0.1})}, {{"n1", 0}, {"n2", -3}}), 0);
    CHECK(p.find("|x[0]| = 0.6 lies in [3*2^-3, 3*2^-2) = [0.375, 0.75): 2^-1 = 0.5") != std::string::npos);
    const std::string x = notes(Eval("xnor_binarize", {Tensor(Shape{1, 2}, std::vector<double>{0.5, -0.25})}), 1);
    CHECK(x.find("alpha_0 = mean |x[0,:]| = (1/2) * (|0.5| + |-0.25|) = 0.375") != std::string::npos);
}
