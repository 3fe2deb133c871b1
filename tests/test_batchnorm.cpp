// The batch-norm lessons against values computed here, independently, from
// the formulas of docs/background.md#batch-normalization-step-by-step (staged and closed form).
#include <doctest/doctest.h>

#include <cmath>

#include "bnstep/executor.hpp"
#include "batchnorm_reference.hpp"
#include "bnstep/lesson.hpp"

using namespace bnstep;

namespace {

using Matrix = std::vector<std::vector<double>>;
using Vector = std::vector<double>;

using bnstep_test::BatchNorm;

Matrix as_matrix(const Tensor& t) {
    Matrix m(t.shape()[0], Vector(t.shape()[1]));
    for (std::size_t i = 0; i < t.size(); ++i) m[i / t.shape()[1]][i % t.shape()[1]] = t[i];
    return m;
}

void check_close(const Tensor& got, const Vector& want) {
    REQUIRE(got.shape() == Shape{want.size()});
    for (std::size_t j = 0; j < want.size(); ++j) CHECK(got[j] == doctest::Approx(want[j]).epsilon(1e-12).scale(1));
}

void check_close(const Tensor& got, const Matrix& want) {
    REQUIRE(got.shape() == Shape{want.size(), want[0].size()});
    for (std::size_t i = 0; i < got.size(); ++i)
        CHECK(got[i] == doctest::Approx(want[i / want[0].size()][i % want[0].size()]).epsilon(1e-12).scale(1));
}

const Tensor& value(const Trace& t, const char* name) { return t.nodes[*t.graph->find(name)].value; }
const Tensor& grad(const Trace& t, const char* name) { return *t.nodes[*t.graph->find(name)].grad; }

// The contribution `consumer` sent to `input`.
const EdgeGrad& edge(const Trace& t, const char* consumer, const char* input) {
    const std::size_t c = *t.graph->find(consumer);
    for (const EdgeGrad& e : t.nodes[c].edges)
        if (t.graph->nodes[e.input].name == input) return e;
    FAIL("no edge");
    throw;
}

BatchNorm reference_for(const Graph& g) {
    const Tensor& x = g.nodes[*g.find("x")].value;
    const Tensor& gamma = g.nodes[*g.find("gamma")].value;
    const Tensor& beta = g.nodes[*g.find("beta")].value;
    const auto eps_node = g.find("eps");
    const double eps = eps_node ? g.nodes[*eps_node].value[0] : g.nodes[*g.find("out")].attrs.number("eps");
    BatchNorm r;
    r.x = as_matrix(x);
    r.gamma = gamma.data();
    r.beta = beta.data();
    r.eps = eps;
    r.dout = as_matrix(g.seed);
    r.compute();
    return r;
}

}  // namespace

TEST_CASE("batchnorm: the staged lesson has docs/background.md's nodes and steps") {
    const Graph g = load_lesson("batchnorm");
    const std::vector<std::pair<const char*, int>> steps = {{"x", 0},      {"mu", 1},      {"xmu", 2},  {"sq", 3},
                                                            {"var", 4},    {"sqrtvar", 5}, {"ivar", 6}, {"xhat", 7},
                                                            {"gammax", 8}, {"out", 9}};
    for (const auto& entry : steps) {
        const char* name = entry.first;  // (CAPTURE takes a reference: no structured binding with clang 14)
        const int step = entry.second;
        CAPTURE(name);
        REQUIRE(g.find(name));
        CHECK(g.nodes[*g.find(name)].step == step);
    }
    for (const char* leaf : {"gamma", "beta", "eps"}) CHECK(g.nodes[*g.find(leaf)].is_leaf());
    CHECK(g.nodes.size() == 13);
    CHECK(g.nodes[g.output].name == "out");
    CHECK(g.nodes[*g.find("x")].shape == Shape{4, 3});
}

TEST_CASE("batchnorm: staged forward values and every gradient match the formulas") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    const BatchNorm r = reference_for(g);
    check_close(value(t, "mu"), r.mu);
    check_close(value(t, "xmu"), r.xmu);
    check_close(value(t, "sq"), r.sq);
    check_close(value(t, "var"), r.var);
    check_close(value(t, "sqrtvar"), r.sqrtvar);
    check_close(value(t, "ivar"), r.ivar);
    check_close(value(t, "xhat"), r.xhat);
    check_close(value(t, "gammax"), r.gammax);
    check_close(value(t, "out"), r.out);

    check_close(grad(t, "beta"), r.dbeta);
    check_close(grad(t, "gamma"), r.dgamma);
    check_close(grad(t, "xhat"), r.dxhat);
    check_close(grad(t, "ivar"), r.divar);
    check_close(grad(t, "sqrtvar"), r.dsqrtvar);
    check_close(grad(t, "var"), r.dvar);
    check_close(grad(t, "sq"), r.dsq);
    check_close(grad(t, "mu"), r.dmu);
    check_close(grad(t, "x"), r.dx);

    // The two branches into xmu and into x, named and numbered as in docs/background.md.
    const EdgeGrad& dxmu1 = edge(t, "xhat", "xmu");
    const EdgeGrad& dxmu2 = edge(t, "sq", "xmu");
    CHECK(dxmu1.name == "dxmu1");
    CHECK(dxmu2.name == "dxmu2");
    check_close(dxmu1.contribution, r.dxmu1);
    check_close(dxmu2.contribution, r.dxmu2);
    const EdgeGrad& dx1 = edge(t, "xmu", "x");
    const EdgeGrad& dx2 = edge(t, "mu", "x");
    CHECK(dx1.name == "dx1");
    CHECK(dx2.name == "dx2");
    check_close(dx1.contribution, r.dx1);
    check_close(dx2.contribution, r.dx2);
    CHECK(edge(t, "ivar", "sqrtvar").name == "dsqrtvar");
    CHECK(edge(t, "xhat", "ivar").name == "divar");

    // Broadcast inputs are reduced over the batch axis, and that is recorded.
    CHECK(edge(t, "out", "beta").reduced_axes == std::vector<std::size_t>{0});
    CHECK(edge(t, "gammax", "gamma").reduced_axes == std::vector<std::size_t>{0});
    CHECK(edge(t, "xhat", "ivar").reduced_axes == std::vector<std::size_t>{0});
    CHECK(edge(t, "xmu", "mu").reduced_axes == std::vector<std::size_t>{0});
    CHECK(edge(t, "xhat", "xmu").reduced_axes.empty());
    // eps is a constant: no gradient.
    CHECK_FALSE(t.nodes[*g.find("eps")].grad.has_value());
    CHECK(edge(t, "sqrtvar", "eps").status == EdgeGrad::Status::ConstInput);
}

TEST_CASE("batchnorm: the closed form agrees with the staged backward to rounding") {
    const Graph staged = load_lesson("batchnorm");
    const Graph fused = load_lesson("batchnorm-closed-form");
    const Trace ts = run(staged);
    const Trace tf = run(fused);
    const BatchNorm r = reference_for(fused);
    check_close(value(tf, "out"), r.out);
    check_close(grad(tf, "x"), r.dx_closed);
    check_close(grad(tf, "gamma"), r.dgamma);
    check_close(grad(tf, "beta"), r.dbeta);
    // The staged and closed forms give the same dx, dgamma, dbeta.
    for (const char* name : {"x", "gamma", "beta"}) {
        CAPTURE(name);
        const Tensor& a = grad(ts, name);
        const Tensor& b = grad(tf, name);
        REQUIRE(a.shape() == b.shape());
        for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-12).scale(1));
    }
    // and the closed form on paper equals the staged one at a wider batch too.
    Matrix x(7, Vector(2));
    Matrix dout(7, Vector(2));
    for (std::size_t i = 0; i < 7; ++i)
        for (std::size_t j = 0; j < 2; ++j) {
            x[i][j] = std::sin(1.0 + i * 3.0 + j);
            dout[i][j] = std::cos(2.0 * i + j);
        }
    BatchNorm wide;
    wide.x = x;
    wide.gamma = {0.7, -1.3};
    wide.beta = {0.1, 0.2};
    wide.eps = 1e-5;
    wide.dout = dout;
    wide.compute();
    for (std::size_t i = 0; i < 7; ++i)
        for (std::size_t j = 0; j < 2; ++j)
            CHECK(wide.dx[i][j] == doctest::Approx(wide.dx_closed[i][j]).epsilon(1e-10));
}

TEST_CASE("batchnorm: affine-bn-relu computes h = X W + b, and b gets zero gradient") {
    const Graph g = load_lesson("affine-bn-relu");
    const Trace t = run(g);
    const Tensor& X = value(t, "X");
    const Tensor& W = value(t, "W");
    const Tensor& b = value(t, "b");
    const Tensor& h = value(t, "h");
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 2; ++j) {
            double s = b[j];
            for (std::size_t k = 0; k < 3; ++k) s += X[i * 3 + k] * W[k * 2 + j];
            CHECK(h[i * 2 + j] == doctest::Approx(s).epsilon(1e-14));
        }
    for (double v : grad(t, "b").data()) CHECK(std::fabs(v) < 1e-12);
    const Tensor& y = value(t, "y");
    const Tensor& dy = grad(t, "y");
    for (std::size_t i = 0; i < y.size(); ++i)
        if (y[i] <= 0)
            CHECK(dy[i] == 0.0);
        else
            CHECK(dy[i] == g.seed[i]);
}
