// Softmax and the losses against values worked out independently: by hand
// from the formulas with std::exp and std::log, from published values, and
// the distillation example of docs/background.md. (test_ops.cpp checks every
// backward rule against finite differences.)
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bnstep/op.hpp"
#include "op_harness.hpp"

using namespace bnstep;
using namespace bnstep::testing;

namespace {

Tensor mat(std::size_t rows, std::size_t cols, std::vector<double> v) {
    return Tensor(Shape{rows, cols}, std::move(v));
}

Attrs attrs(std::initializer_list<std::pair<const char*, double>> list) {
    Attrs a;
    for (const auto& [k, v] : list) a.set(k, v);
    return a;
}

struct Applied {
    Tensor out;
    std::vector<Tensor> grads;  // per differentiable input, upstream all ones
};

// The op's forward, and its VJP for every differentiable input with an upstream of ones.
Applied apply(const char* name, const std::vector<Tensor>& inputs, Attrs a = {}) {
    const OpDef& op = op_named(name);
    a = with_defaults(op, std::move(a));
    Applied r;
    r.out = op.forward(call_for(inputs, a, nullptr));
    const Tensor ones(r.out.shape(), 1.0);
    OpCall call = call_for(inputs, a, &r.out);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        if (!op.rule(k).differentiable) continue;
        call.slot = k;
        r.grads.push_back(op.rule(k).vjp(call, ones));
    }
    return r;
}

double scalar_of(const char* name, const std::vector<Tensor>& inputs, Attrs a = {}) {
    return apply(name, inputs, std::move(a)).out[0];
}

// softmax of a row, straight from the definition.
std::vector<double> softmax_by_hand(const std::vector<double>& x, double t = 1.0) {
    double sum = 0.0;
    for (double v : x) sum += std::exp(v / t);
    std::vector<double> y;
    for (double v : x) y.push_back(std::exp(v / t) / sum);
    return y;
}

std::string error_of(const char* name, const std::vector<Tensor>& inputs) {
    try {
        apply(name, inputs);
    } catch (const ValueError& e) {
        return e.what();
    }
    return "";
}

std::string shape_error(const char* name, const std::vector<Shape>& in, Attrs a = {}) {
    const OpDef& op = op_named(name);
    try {
        op.shape(in, with_defaults(op, std::move(a)));
    } catch (const ShapeError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("softmax: [1, 2, 3] by hand, and the published values") {
    const Applied r = apply("softmax", {vec({1, 2, 3})});
    const double sum = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    const double published[] = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219};
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(r.out[i] == doctest::Approx(std::exp(double(i + 1)) / sum).epsilon(1e-14));
        CHECK(r.out[i] == doctest::Approx(published[i]).epsilon(1e-14));
    }
}

TEST_CASE("softmax: along the chosen axis, and stable for large logits") {
    // axis 0 of a 2x3 matrix: every column sums to 1.
    const Tensor x = mat(2, 3, {1, 5, -2, 3, 0, -2});
    const Tensor y = apply("softmax", {x}, attrs({{"axis", 0}})).out;
    for (std::size_t j = 0; j < 3; ++j) {
        const std::vector<double> col = softmax_by_hand({x.at({0, j}), x.at({1, j})});
        CHECK(y.at({0, j}) == doctest::Approx(col[0]).epsilon(1e-14));
        CHECK(y.at({1, j}) == doctest::Approx(col[1]).epsilon(1e-14));
    }
    CHECK(y.at({0, 2}) == doctest::Approx(0.5));  // equal logits
    // exp(1000) overflows; the shift by the largest logit does not change the result.
    const Tensor big = apply("softmax", {vec({1000, 1001})}).out;
    CHECK(big[0] == doctest::Approx(1 / (1 + std::exp(1.0))).epsilon(1e-14));
    CHECK(big[1] == doctest::Approx(std::exp(1.0) / (1 + std::exp(1.0))).epsilon(1e-14));
}

TEST_CASE("softmax: the VJP equals the upstream times the Jacobian (diag(y) - y y^T) / T") {
    const std::vector<double> x = {0.3, -1.2, 2.0, 0.5};
    const std::vector<double> g = {1.0, -0.5, 0.25, 2.0};
    for (double t : {1.0, 3.0}) {
        CAPTURE(t);
        const OpDef& op = op_named("softmax");
        const Attrs a = with_defaults(op, attrs({{"temperature", t}}));
        const std::vector<Tensor> in = {vec(x)};
        const Tensor out = op.forward(call_for(in, a, nullptr));
        const Tensor dx = op.inputs[0].vjp(call_for(in, a, &out), vec(g));
        const std::vector<double> y = softmax_by_hand(x, t);
        for (std::size_t j = 0; j < 4; ++j) {
            double expected = 0.0;
            for (std::size_t i = 0; i < 4; ++i) expected += g[i] * ((i == j ? y[i] : 0.0) - y[i] * y[j]) / t;
            CHECK(dx[j] == doctest::Approx(expected).epsilon(1e-13));
        }
    }
}

TEST_CASE("log_softmax: [1, 2, 3] is x - log(sum exp x), and its VJP is (g - softmax * sum g) / T") {
    const Applied r = apply("log_softmax", {vec({1, 2, 3})});
    const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
    const double published[] = {-2.40760596444438, -1.4076059644443801, -0.40760596444438013};
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(r.out[i] == doctest::Approx(double(i + 1) - lse).epsilon(1e-14));
        CHECK(r.out[i] == doctest::Approx(published[i]).epsilon(1e-14));
    }
    // Upstream ones: dx = 1 - softmax * 3.
    const std::vector<double> y = softmax_by_hand({1, 2, 3});
    for (std::size_t i = 0; i < 3; ++i) CHECK(r.grads[0][i] == doctest::Approx(1 - 3 * y[i]).epsilon(1e-13));
    // At temperature 2 the same as log_softmax of x/2, and the gradient divided by 2.
    const Applied warm = apply("log_softmax", {vec({1, 2, 3})}, attrs({{"temperature", 2.0}}));
    const Applied halved = apply("log_softmax", {vec({0.5, 1, 1.5})});
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(warm.out[i] == doctest::Approx(halved.out[i]).epsilon(1e-14));
        CHECK(warm.grads[0][i] == doctest::Approx(halved.grads[0][i] / 2).epsilon(1e-13));
    }
}

TEST_CASE("softmax: temperature divides the logits first") {
    const Tensor t3 = apply("softmax", {vec({2, -1, 0.5})}, attrs({{"temperature", 3.0}})).out;
    const std::vector<double> y = softmax_by_hand({2.0 / 3, -1.0 / 3, 0.5 / 3});
    for (std::size_t i = 0; i < 3; ++i) CHECK(t3[i] == doctest::Approx(y[i]).epsilon(1e-14));
    // A higher temperature flattens the distribution.
    const Tensor t1 = apply("softmax", {vec({2, -1, 0.5})}).out;
    CHECK(t3[0] < t1[0]);
    CHECK(t3[1] > t1[1]);
}

TEST_CASE("cross_entropy: a 2x3 batch by hand, as torch's cross_entropy (mean over N)") {
    const Tensor z = mat(2, 3, {2, 1, 0.1, 0.5, 2.5, 0.3});
    const Tensor labels = vec({0, 2});
    const Applied r = apply("cross_entropy", {z, labels});
    const double sum0 = std::exp(2.0) + std::exp(1.0) + std::exp(0.1);
    const double sum1 = std::exp(0.5) + std::exp(2.5) + std::exp(0.3);
    const double loss = -(std::log(std::exp(2.0) / sum0) + std::log(std::exp(0.3) / sum1)) / 2;
    REQUIRE(r.out.shape() == Shape{});
    CHECK(r.out[0] == doctest::Approx(loss).epsilon(1e-14));
    CHECK(r.out[0] == doctest::Approx(1.4185397696491857).epsilon(1e-14));
    // dz = (softmax(z) - onehot(labels)) / N
    const double expected[] = {(std::exp(2.0) / sum0 - 1) / 2, std::exp(1.0) / sum0 / 2,
                               std::exp(0.1) / sum0 / 2,       std::exp(0.5) / sum1 / 2,
                               std::exp(2.5) / sum1 / 2,       (std::exp(0.3) / sum1 - 1) / 2};
    REQUIRE(r.grads.size() == 1);  // labels get none
    for (std::size_t i = 0; i < 6; ++i) CHECK(r.grads[0][i] == doctest::Approx(expected[i]).epsilon(1e-13));
    CHECK_FALSE(op_named("cross_entropy").inputs[1].differentiable);
}

TEST_CASE("cross_entropy: one example (C,) with a scalar label is -log_softmax(z)[y]") {
    const Tensor z = vec({0.2, -0.4, 1.1, 0.0});
    const double one = scalar_of("cross_entropy", {z, Tensor::scalar(2)});
    const double lse = std::log(std::exp(0.2) + std::exp(-0.4) + std::exp(1.1) + std::exp(0.0));
    CHECK(one == doctest::Approx(lse - 1.1).epsilon(1e-14));
    // The same row as a batch of one.
    CHECK(scalar_of("cross_entropy", {mat(1, 4, z.data()), vec({2})}) == doctest::Approx(one).epsilon(1e-15));
}

TEST_CASE("cross_entropy: labels that are not integers from 0 to C-1 are a ValueError") {
    const Tensor z = mat(2, 3, {1, 2, 3, 4, 5, 6});
    CHECK(error_of("cross_entropy", {z, vec({0, 2})}).empty());
    CHECK(error_of("cross_entropy", {z, vec({0, 1.5})}) ==
          "label [1] is 1.5: a class label must be an integer from 0 to 2 (C = 3 classes)");
    CHECK(error_of("cross_entropy", {z, vec({-1, 0})}).find("label [0] is -1:") == 0);
    CHECK(error_of("cross_entropy", {z, vec({0, 3})}).find("label [1] is 3:") == 0);
    CHECK(error_of("cross_entropy", {z, vec({0, NAN})}).find("label [1] is nan:") == 0);
    CHECK(error_of("cross_entropy", {vec({1, 2}), Tensor::scalar(2)}) ==
          "the label is 2: a class label must be an integer from 0 to 1 (C = 2 classes)");
}

TEST_CASE("soft_cross_entropy: the distillation gradient (q - p) / T of docs/background.md") {
    // The teacher's soft targets for (cat, dog, horse, zebra); a student's logits.
    const std::vector<double> p = {0.7, 0.25, 0.035, 0.015};
    const std::vector<double> z = {1.2, 0.9, -0.6, -1.5};
    for (double t : {1.0, 2.0, 5.0, 10.0}) {
        CAPTURE(t);
        const Applied r = apply("soft_cross_entropy", {vec(z), vec(p)}, attrs({{"temperature", t}}));
        const std::vector<double> q = softmax_by_hand(z, t);
        double loss = 0.0;
        for (std::size_t i = 0; i < 4; ++i) loss -= p[i] * std::log(q[i]);
        CHECK(r.out[0] == doctest::Approx(loss).epsilon(1e-13));
        for (std::size_t i = 0; i < 4; ++i) {
            CHECK(r.grads[0][i] == doctest::Approx((q[i] - p[i]) / t).epsilon(1e-12));
            CHECK(r.grads[1][i] == doctest::Approx(-std::log(q[i])).epsilon(1e-13));  // d/dp
        }
    }
}

TEST_CASE("soft_cross_entropy: T^2 keeps the gradient's size as T grows (Hinton et al.)") {
    // Zero-mean logits of student z and teacher v; soft targets p = softmax(v/T).
    // For large T, (q_i - p_i)/T ~ (z_i - v_i)/(C T^2): the gradient shrinks
    // like 1/T^2, and T^2 times it tends to (z - v)/C, the error falling like 1/T.
    const std::vector<double> z = {1.5, -0.5, 0.25, -1.25};
    const std::vector<double> v = {2.0, 0.5, -1.0, -1.5};
    const double c = 4.0;
    double limit_norm = 0.0;
    for (std::size_t i = 0; i < 4; ++i) limit_norm += std::pow((z[i] - v[i]) / c, 2);
    limit_norm = std::sqrt(limit_norm);
    double previous_error = INFINITY;
    for (double t : {1.0, 2.0, 5.0, 10.0, 100.0}) {
        CAPTURE(t);
        const Applied r =
            apply("soft_cross_entropy", {vec(z), vec(softmax_by_hand(v, t))}, attrs({{"temperature", t}}));
        double error = 0.0, norm = 0.0;
        for (std::size_t i = 0; i < 4; ++i) {
            const double scaled = t * t * r.grads[0][i];
            error = std::max(error, std::fabs(scaled - (z[i] - v[i]) / c));
            norm += scaled * scaled;
        }
        norm = std::sqrt(norm);
        CHECK(error < 0.2 / t);
        CHECK(error < previous_error);
        CHECK(norm > 0.4 * limit_norm);  // comparable at every T
        CHECK(norm < 1.05 * limit_norm);
        previous_error = error;
    }
}

TEST_CASE("soft_cross_entropy: a batch averages over N, and temperature scales logits and gradient") {
    const Tensor z = mat(2, 3, {0.5, -1, 2, 1, 1, 0});
    const Tensor target = mat(2, 3, {0.2, 0.3, 0.5, 0.6, 0.1, 0.3});
    const Applied r = apply("soft_cross_entropy", {z, target}, attrs({{"temperature", 2.0}}));
    const Applied row0 =
        apply("soft_cross_entropy", {vec({0.5, -1, 2}), vec({0.2, 0.3, 0.5})}, attrs({{"temperature", 2.0}}));
    const Applied row1 =
        apply("soft_cross_entropy", {vec({1, 1, 0}), vec({0.6, 0.1, 0.3})}, attrs({{"temperature", 2.0}}));
    CHECK(r.out[0] == doctest::Approx((row0.out[0] + row1.out[0]) / 2).epsilon(1e-14));
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(r.grads[0][i] == doctest::Approx(row0.grads[0][i] / 2).epsilon(1e-13));
        CHECK(r.grads[0][3 + i] == doctest::Approx(row1.grads[0][i] / 2).epsilon(1e-13));
    }
    // soft_cross_entropy(z; T) = soft_cross_entropy(z/T; 1), and d/dz carries a factor 1/T.
    Tensor halved = z;
    for (double& x : halved.data()) x /= 2;
    const Applied cold = apply("soft_cross_entropy", {halved, target});
    CHECK(r.out[0] == doctest::Approx(cold.out[0]).epsilon(1e-14));
    for (std::size_t i = 0; i < 6; ++i) CHECK(r.grads[0][i] == doctest::Approx(cold.grads[0][i] / 2).epsilon(1e-13));
    // With one-hot targets it is cross_entropy.
    const Tensor onehot = mat(2, 3, {0, 0, 1, 1, 0, 0});
    CHECK(scalar_of("soft_cross_entropy", {z, onehot}) ==
          doctest::Approx(scalar_of("cross_entropy", {z, vec({2, 0})})).epsilon(1e-14));
}

TEST_CASE("kl_div: soft cross entropy minus the target's entropy, 0 log 0 = 0") {
    const Tensor z = mat(2, 4, {1.2, 0.9, -0.6, -1.5, 0.1, 0.2, 0.3, -0.4});
    const Tensor p = mat(2, 4, {0.7, 0.25, 0.035, 0.015, 0.5, 0.0, 0.25, 0.25});
    for (double t : {1.0, 4.0}) {
        CAPTURE(t);
        const Tensor log_q = apply("log_softmax", {z}, attrs({{"temperature", t}})).out;
        double entropy = 0.0;  // mean over the 2 rows of -sum p log p
        for (double v : p.data())
            if (v > 0) entropy -= v * std::log(v) / 2;
        const double kl = scalar_of("kl_div", {log_q, p});
        const double soft = scalar_of("soft_cross_entropy", {z, p}, attrs({{"temperature", t}}));
        CHECK(std::isfinite(kl));
        CHECK(kl == doctest::Approx(soft - entropy).epsilon(1e-13));
    }
    // Equal distributions: 0.
    const Tensor same = vec({0.1, 0.6, 0.3});
    Tensor log_same = same;
    for (double& v : log_same.data()) v = std::log(v);
    CHECK(std::fabs(scalar_of("kl_div", {log_same, same})) < 1e-15);
}

TEST_CASE("kl_div: gradients -p/N and (log p + 1 - log_q)/N, and N = 1 for one distribution") {
    const Tensor log_q = mat(2, 2, {-0.5, -1.0, -2.0, -0.2});
    const Tensor p = mat(2, 2, {0.4, 0.6, 0.0, 1.0});
    const Applied r = apply("kl_div", {log_q, p});
    CHECK(r.out[0] ==
          doctest::Approx((0.4 * (std::log(0.4) + 0.5) + 0.6 * (std::log(0.6) + 1.0) + 1.0 * 0.2) / 2).epsilon(1e-14));
    for (std::size_t i = 0; i < 4; ++i) CHECK(r.grads[0][i] == doctest::Approx(-p[i] / 2).epsilon(1e-15));
    CHECK(r.grads[1][0] == doctest::Approx((std::log(0.4) + 1 + 0.5) / 2).epsilon(1e-14));
    CHECK(r.grads[1][3] == doctest::Approx((0 + 1 + 0.2) / 2).epsilon(1e-14));
    // At p = 0 the derivative is -infinity: the executor reports it.
    CHECK(std::isinf(r.grads[1][2]));
    CHECK(r.grads[1][2] < 0);
    // A rank-1 input is one distribution: no division.
    const double one = scalar_of("kl_div", {vec({-0.5, -1.0}), vec({0.4, 0.6})});
    CHECK(one == doctest::Approx(0.4 * (std::log(0.4) + 0.5) + 0.6 * (std::log(0.6) + 1.0)).epsilon(1e-14));
}

TEST_CASE("mse: the mean of the squared differences, by hand") {
    const Tensor a = mat(2, 2, {1, 2, 3, 4});
    const Tensor b = mat(2, 2, {1.5, 2, 2, 5});
    const Applied r = apply("mse", {a, b});
    CHECK(r.out[0] == doctest::Approx((0.25 + 0 + 1 + 1) / 4).epsilon(1e-15));
    const double da[] = {-0.25, 0, 0.5, -0.5};  // 2 (a - b) / 4
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(r.grads[0][i] == doctest::Approx(da[i]).epsilon(1e-15));
        CHECK(r.grads[1][i] == doctest::Approx(-da[i]).epsilon(1e-15));
    }
    CHECK(scalar_of("mse", {Tensor::scalar(3), Tensor::scalar(1)}) == 4.0);
}

TEST_CASE("softmax and losses: shape rules reject what does not fit") {
    CHECK(shape_error("softmax", {{}}) == "softmax needs at least one axis, got a scalar");
    CHECK(shape_error("log_softmax", {{2, 3}}, attrs({{"axis", 2}})) ==
          "axis 2 is out of range for an input of shape (2, 3)");
    CHECK(shape_error("softmax", {{3}}, attrs({{"temperature", 0.0}})) ==
          "temperature must be a positive number, got 0");
    CHECK(shape_error("soft_cross_entropy", {{3}, {3}}, attrs({{"temperature", -2.0}})).find("positive") !=
          std::string::npos);
    CHECK(shape_error("cross_entropy", {{4, 3}, {3}}) == "labels must have shape (4,) for logits (4, 3), got (3,)");
    CHECK(shape_error("cross_entropy", {{3}, {1}}) == "labels must have shape () for logits (3,), got (1,)");
    CHECK(shape_error("cross_entropy", {{2, 3, 4}, {2}}) == "logits must be (N, C) or (C,), got (2, 3, 4)");
    CHECK(shape_error("soft_cross_entropy", {{2, 3}, {3}}) == "target must have the shape of logits (2, 3), got (3,)");
    CHECK(shape_error("kl_div", {{}, {}}) == "log_q must have at least 1 axis, got a scalar");
    CHECK(shape_error("kl_div", {{2, 3}, {3, 2}}) == "log_q and p must have the same shape, got (2, 3) and (3, 2)");
    CHECK(shape_error("mse", {{2, 3}, {3}}) == "a and b must have the same shape, got (2, 3) and (3,)");
    CHECK(shape_error("mse", {{2, 3}, {2, 3}}).empty());
    for (const char* loss : {"cross_entropy", "soft_cross_entropy", "kl_div", "mse"}) {
        CAPTURE(loss);
        const bool labels = std::string(loss) == "cross_entropy";
        CHECK(op_named(loss).shape({{2, 3}, labels ? Shape{2} : Shape{2, 3}}, with_defaults(op_named(loss), {})) ==
              Shape{});
    }
}
