// Batch norm at inference (the lesson batchnorm-inference and its ops)
// against values computed here with plain loops from the formulas of
// docs/background.md#batch-norm-at-inference, and against the training-mode
// lesson batchnorm-closed-form, which shares its input, parameters and upstream.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "op_harness.hpp"

using namespace bnstep;
using namespace bnstep::testing;

namespace {

const Tensor& node_value(const Trace& t, const char* name) { return t.nodes[*t.graph->find(name)].value; }
const Tensor& node_grad(const Trace& t, const char* name) { return *t.nodes[*t.graph->find(name)].grad; }

// (running mean, running var) after one torch.nn.BatchNorm1d training step on x (rows = examples).
std::pair<std::vector<double>, std::vector<double>> torch_step(const Tensor& x, std::vector<double> mean,
                                                               std::vector<double> var, double momentum) {
    const std::size_t n = x.shape()[0], d = x.shape()[1];
    for (std::size_t j = 0; j < d; ++j) {
        double mu = 0;
        for (std::size_t i = 0; i < n; ++i) mu += x[i * d + j] / double(n);
        double ss = 0;
        for (std::size_t i = 0; i < n; ++i) ss += (x[i * d + j] - mu) * (x[i * d + j] - mu);
        mean[j] = (1 - momentum) * mean[j] + momentum * mu;
        var[j] = (1 - momentum) * var[j] + momentum * ss / double(n - 1);
    }
    return {mean, var};
}

}  // namespace

TEST_CASE("batchnorm inference: the running statistics follow torch.nn.BatchNorm's update") {
    const Graph g = load_lesson("batchnorm-inference");
    const Trace t = run(g);
    // By hand, column 0 of batch 1 (0.5, 2.5, -1, 1.5): mean 0.875, squared deviations
    // 0.140625 + 2.640625 + 3.515625 + 0.390625 = 6.6875, unbiased variance 6.6875 / 3.
    CHECK(node_value(t, "mean1")[0] == doctest::Approx(0.0875).epsilon(1e-15));
    CHECK(node_value(t, "var1")[0] == doctest::Approx(0.9 + 0.1 * 6.6875 / 3).epsilon(1e-15));
    std::vector<double> mean(3, 0.0), var(3, 1.0);
    for (const char* batch : {"x1", "x2", "x3"}) std::tie(mean, var) = torch_step(node_value(t, batch), mean, var, 0.1);
    for (std::size_t j = 0; j < 3; ++j) {
        CHECK(node_value(t, "mean3")[j] == doctest::Approx(mean[j]).epsilon(1e-14));
        CHECK(node_value(t, "var3")[j] == doctest::Approx(var[j]).epsilon(1e-14));
    }
    // Buffers: no gradient reaches them or the training batches.
    for (const char* name : {"mean3", "var3", "x1", "x2", "x3"}) CHECK_FALSE(t.nodes[*t.graph->find(name)].grad);
}

TEST_CASE("batchnorm inference: forward and backward are the affine map of the running statistics") {
    const Graph g = load_lesson("batchnorm-inference");
    const Trace t = run(g);
    const Tensor &x = node_value(t, "x"), &mean = node_value(t, "mean3"), &var = node_value(t, "var3");
    const Tensor &gamma = node_value(t, "gamma"), &beta = node_value(t, "beta");
    const Tensor& dout = t.graph->seed;
    std::vector<double> dgamma(3, 0.0), dbeta(3, 0.0);
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
            const std::size_t e = i * 3 + j;
            const double scale = 1.0 / std::sqrt(var[j] + 1e-5), xhat = (x[e] - mean[j]) * scale;
            CHECK(node_value(t, "out")[e] == doctest::Approx(gamma[j] * xhat + beta[j]).epsilon(1e-14));
            CHECK(node_grad(t, "x")[e] == doctest::Approx(dout[e] * gamma[j] * scale).epsilon(1e-14));
            dgamma[j] += dout[e] * xhat;
            dbeta[j] += dout[e];
        }
    for (std::size_t j = 0; j < 3; ++j) {
        CHECK(node_grad(t, "gamma")[j] == doctest::Approx(dgamma[j]).epsilon(1e-13));
        CHECK(node_grad(t, "beta")[j] == doctest::Approx(dbeta[j]).epsilon(1e-13));
    }
}

TEST_CASE("batchnorm inference: with the batch's own statistics the forward is training mode's, the dx is not") {
    const Graph g = load_lesson("batchnorm-closed-form");
    const Trace train = run(g);
    const Tensor& x = node_value(train, "x");
    Tensor mu(Shape{3}), var(Shape{3});
    for (std::size_t j = 0; j < 3; ++j) {
        for (std::size_t i = 0; i < 4; ++i) mu[j] += x[i * 3 + j] / 4;
        for (std::size_t i = 0; i < 4; ++i) var[j] += (x[i * 3 + j] - mu[j]) * (x[i * 3 + j] - mu[j]) / 4;
    }
    const OpDef& op = op_named("batchnorm_inference");
    const Attrs attrs = with_defaults(op, {});
    const std::vector<Tensor> in{x, mu, var, node_value(train, "gamma"), node_value(train, "beta")};
    const Tensor out = op.forward(call_for(in, attrs, nullptr));
    OpCall call = call_for(in, attrs, &out);
    const Tensor dx = op.inputs[0].vjp(call, train.graph->seed);
    std::size_t differ = 0;
    for (std::size_t e = 0; e < out.size(); ++e) {
        CHECK(out[e] == doctest::Approx(node_value(train, "out")[e]).epsilon(1e-13));
        if (std::abs(dx[e] - node_grad(train, "x")[e]) > 1e-3) ++differ;
    }
    CHECK(differ == out.size());  // the paths through mu and var change every element

    // The worked element names training mode's gradient of the same element.
    const Worked w = op.inputs[0].explain(
        call, train.graph->seed, {{"x", "mu", "var", "gamma", "beta"}, "out", "dout", "dx"}, Index{1, 2}, NumFmt{12});
    std::string note;
    for (const std::string& n : w.notes)
        if (n.find("training mode") != std::string::npos) note = n;
    REQUIRE_FALSE(note.empty());
    const std::size_t eq = note.rfind("= ");
    CHECK(std::stod(note.substr(eq + 2)) == doctest::Approx(node_grad(train, "x")[1 * 3 + 2]).epsilon(1e-10));
    CHECK(w.result == doctest::Approx(dx[1 * 3 + 2]).epsilon(1e-15));
}

TEST_CASE("batchnorm inference: shape errors say what is expected") {
    auto error_of = [](const char* name, const std::vector<Shape>& in) {
        const OpDef& op = op_named(name);
        try {
            op.shape(in, with_defaults(op, {}));
        } catch (const ShapeError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of("running_var", {{1, 3}, {3}}).find("unbiased variance divides by M - 1 = 0") != std::string::npos);
    CHECK(error_of("running_mean", {{4, 3}, {2}}) ==
          "running must have shape (3,), one value per channel of x (4, 3), got (2,)");
    CHECK(error_of("running_mean", {{4, 3, 2}, {3}}).find("x must be (N, D) or (N, C, H, W)") == 0);
    CHECK(error_of("batchnorm_inference", {{4, 3}, {3}, {2}, {3}, {3}}).find("running_var must have shape (3,)") == 0);
    CHECK(error_of("batchnorm2d_inference", {{4, 3}, {3}, {3}, {3}, {3}}).find("x must be (N, C, H, W)") == 0);
}
