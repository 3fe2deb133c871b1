// Mimic learning (Ba and Caruana) beside distillation (Hinton et al.): the L2
// gradient on a student logit, (z - v)/C, against T^2 times the soft
// cross-entropy's (q - p)/T, computed through bnstep's ops and compared with
// the same quantities from std::exp, and the high-temperature limit with its
// first correction worked out from the Taylor expansion of softmax.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "bnstep/executor.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/op.hpp"
#include "op_harness.hpp"

using namespace bnstep;
using namespace bnstep::testing;

namespace {

// The lesson's logits: the distillation lesson's, each shifted to mean zero.
const std::vector<double> kTeacher = {7.86838182465, 3.74990415595, -4.11454726955, -7.50373871105};
const std::vector<double> kStudent = {1.5, 1.0, -1.0, -1.5};
constexpr double kClasses = 4.0;

std::vector<double> mimic_softmax(const std::vector<double>& x, double t) {
    double sum = 0.0;
    for (double v : x) sum += std::exp(v / t);
    std::vector<double> y;
    for (double v : x) y.push_back(std::exp(v / t) / sum);
    return y;
}

// d/dz of 0.5 * mse(z, v): the mimic loss 1/(2C) * sum (z - v)^2, through the op table.
Tensor mimic_gradient() {
    const std::vector<Tensor> in = {vec(kStudent), vec(kTeacher)};
    const Attrs none;
    const OpDef& mse = op_named("mse");
    const Tensor out = mse.forward(call_for(in, none, nullptr));
    return mse.inputs[0].vjp(call_for(in, none, &out), Tensor(out.shape(), 0.5));
}

// d/dz of T^2 * soft_cross_entropy(z, softmax(v/T); T), through the op table.
Tensor distillation_gradient(double t) {
    Attrs a;
    a.set("temperature", t);
    const OpDef& softmax = op_named("softmax");
    const std::vector<Tensor> teacher = {vec(kTeacher)};
    const Tensor p = softmax.forward(call_for(teacher, with_defaults(softmax, a), nullptr));
    const std::vector<Tensor> in = {vec(kStudent), p};
    const OpDef& soft = op_named("soft_cross_entropy");
    const Attrs attrs = with_defaults(soft, a);
    const Tensor out = soft.forward(call_for(in, attrs, nullptr));
    return soft.inputs[0].vjp(call_for(in, attrs, &out), Tensor(out.shape(), t * t));
}

}  // namespace

TEST_CASE("mimic learning: the L2 gradient is (z - v)/C, distillation's T^2 (q - p)/T, in the lesson") {
    const Graph g = load_lesson("mimic-learning");
    const Trace t = run(g);
    const std::size_t z = *g.find("z");
    const NodeState& sq = t.nodes[*g.find("sq")];
    const NodeState& soft = t.nodes[*g.find("soft")];
    REQUIRE(sq.edges.at(0).input == z);
    REQUIRE(soft.edges.at(0).input == z);
    const std::vector<double> q = mimic_softmax(kStudent, 4.0), p = mimic_softmax(kTeacher, 4.0);
    // By hand: (1.5 - 7.86838182465)/4 = -1.5920954562, ...; 4 * (q - p) with q, p from std::exp.
    const std::vector<double> mimic_by_hand = {-1.5920954561625, -0.6874760389875, 0.7786368173875, 1.5009346777625};
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(sq.edges[0].contribution[i] == doctest::Approx(mimic_by_hand[i]).epsilon(1e-12));
        CHECK(soft.edges[0].contribution[i] == doctest::Approx(16.0 * (q[i] - p[i]) / 4.0).epsilon(1e-12));
    }
    // The soft targets are the distillation lesson's: shifting v does not change softmax(v/T).
    CHECK(p[0] == doctest::Approx(0.7).epsilon(1e-10));
    CHECK(p[3] == doctest::Approx(0.015).epsilon(1e-9));
    const GradcheckReport r = check_gradients(g, t, GradcheckOptions{});
    CHECK(r.passed());
}

TEST_CASE("mimic learning: at high T, T^2 times the distillation gradient tends to the mimic gradient") {
    const Tensor mimic = mimic_gradient();
    for (std::size_t i = 0; i < 4; ++i) CHECK(mimic[i] == doctest::Approx((kStudent[i] - kTeacher[i]) / kClasses));
    // softmax(x/T)_i = (1 + x_i/T + x_i^2/(2T^2) + ...) / (C + sum x^2/(2T^2) + ...) for zero-mean x, so
    // T (q_i - p_i) = (z_i - v_i)/C + e_i/T + O(1/T^2), e_i = ((z_i^2 - v_i^2) - mean(z^2 - v^2)) / (2C).
    std::vector<double> first_order(4);
    double mean_d = 0.0;
    for (std::size_t i = 0; i < 4; ++i) mean_d += (kStudent[i] * kStudent[i] - kTeacher[i] * kTeacher[i]) / kClasses;
    for (std::size_t i = 0; i < 4; ++i)
        first_order[i] = (kStudent[i] * kStudent[i] - kTeacher[i] * kTeacher[i] - mean_d) / (2 * kClasses);
    double previous = INFINITY;
    for (double t : {5.0, 20.0, 100.0, 1000.0}) {
        CAPTURE(t);
        const Tensor distill = distillation_gradient(t);
        double error = 0.0;
        for (std::size_t i = 0; i < 4; ++i) {
            const double gap = distill[i] - mimic[i];
            error = std::max(error, std::fabs(gap));
            CHECK(std::fabs(gap - first_order[i] / t) < 20.0 / (t * t));
        }
        CHECK(error < 4.0 / t);
        CHECK(error < previous);
        previous = error;
    }
}

TEST_CASE("mimic learning: docs/distillation.md's table of T^2 (q - p)/T") {
    // The rows of the table, computed from softmax's formula outside bnstep (4 decimals).
    const std::vector<std::pair<double, std::vector<double>>> rows = {
        {1.0, {-0.4087, 0.3329, 0.0472, 0.0286}},
        {4.0, {-1.4160, 0.2214, 0.6008, 0.5938}},
        {20.0, {-1.6966, -0.5127, 0.8603, 1.3489}},
        {100.0, {-1.6204, -0.6577, 0.8017, 1.4763}},
    };
    for (const auto& row : rows) {
        const double t = row.first;
        CAPTURE(t);
        const Tensor distill = distillation_gradient(t);
        for (std::size_t i = 0; i < 4; ++i) CHECK(std::fabs(distill[i] - row.second[i]) < 5e-5);
    }
}
