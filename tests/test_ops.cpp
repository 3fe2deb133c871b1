// Every op's backward against finite differences, broadcasting included,
// and the op table checked for completeness.
#include <doctest/doctest.h>

#include <set>

#include "bnstep/op.hpp"
#include "op_harness.hpp"
#include "surrogate_harness.hpp"

using namespace bnstep;
using namespace bnstep::testing;

namespace {

Attrs attrs(std::initializer_list<std::pair<const char*, double>> list) {
    Attrs a;
    for (const auto& [k, v] : list) a.set(k, v);
    return a;
}

Attrs list_attr(const char* name, std::vector<long long> value) {
    Attrs a;
    a.set_list(name, std::move(value));
    return a;
}

// Each op of the table with the cases its numeric test runs; shapes that
// broadcast in every way the op allows.
std::vector<OpCase> cases() {
    std::vector<OpCase> c;
    for (const char* op : {"add", "sub", "mul"}) {
        c.push_back({op, {{4, 3}, {4, 3}}});
        c.push_back({op, {{4, 3}, {3}}});
        c.push_back({op, {{4, 1}, {1, 3}}});
        c.push_back({op, {{2, 3}, {}}});
        c.push_back({op, {{3}, {2, 2, 3}}});
    }
    c.push_back({"div", {{4, 3}, {3}}});
    c.push_back({"div", {{2, 1}, {2, 3}}});
    c.push_back({"div", {{}, {2, 3}}});
    c.push_back({"neg", {{3, 4}}});
    c.push_back({"square", {{3, 4}}});
    c.push_back({"pow", {{3, 4}}, attrs({{"p", 3.0}})});
    c.push_back({"pow", {{5}}, attrs({{"p", -0.5}})});
    c.push_back({"sqrt", {{3, 4}}});
    c.push_back({"sqrt", {{3, 4}, {}}});
    c.push_back({"sqrt", {{3, 4}, {4}}});
    c.push_back({"reciprocal", {{3, 4}}, {}, -2.0, 2.0, true});
    c.push_back({"exp", {{3, 4}}});
    c.push_back({"log", {{3, 4}}});
    c.push_back({"sigmoid", {{3, 4}}, {}, -6.0, 6.0});
    c.push_back({"relu", {{4, 5}}, {}, -2.0, 2.0, true});
    c.push_back({"sum", {{4, 3}}, attrs({{"axis", 0}, {"keepdims", 0}})});
    c.push_back({"sum", {{4, 3}}, attrs({{"axis", 1}, {"keepdims", 1}})});
    c.push_back({"sum", {{2, 3, 4}}, attrs({{"axis", -2}, {"keepdims", 0}})});
    c.push_back({"sum", {{5}}, attrs({{"axis", 0}, {"keepdims", 0}})});
    c.push_back({"mean", {{4, 3}}, attrs({{"axis", 0}, {"keepdims", 0}})});
    c.push_back({"mean", {{4, 3}}, attrs({{"axis", 1}, {"keepdims", 1}})});
    c.push_back({"mean", {{2, 3, 4, 2}}, attrs({{"axis", 2}, {"keepdims", 0}})});
    c.push_back({"matmul", {{4, 3}, {3, 2}}});
    c.push_back({"matmul", {{1, 5}, {5, 1}}});
    c.push_back({"batchnorm", {{5, 3}, {3}, {3}}, attrs({{"eps", 1e-5}})});
    c.push_back({"batchnorm", {{2, 4}, {4}, {4}}, attrs({{"eps", 1e-3}})});
    c.push_back({"batchnorm2d", {{2, 3, 3, 3}, {3}, {3}}, attrs({{"eps", 1e-5}})});
    c.push_back({"batchnorm2d", {{1, 2, 2, 5}, {2}, {2}}, attrs({{"eps", 1e-3}})});
    c.push_back({"running_mean", {{5, 3}, {3}}, attrs({{"momentum", 0.1}})});
    c.push_back({"running_var", {{2, 2, 2, 3}, {2}}, attrs({{"momentum", 0.3}})});
    c.push_back({"batchnorm_inference", {{5, 3}, {3}, {3}, {3}, {3}}, attrs({{"eps", 1e-5}})});
    c.push_back({"batchnorm2d_inference", {{2, 3, 2, 2}, {3}, {3}, {3}, {3}}, attrs({{"eps", 1e-3}})});
    // Convolution: padding, stride, dilation, groups, depthwise, 1x1, uneven sizes, with and without bias.
    c.push_back({"conv2d", {{2, 3, 5, 5}, {2, 3, 3, 3}, {2}}, attrs({{"padding", 1}})});
    c.push_back({"conv2d", {{1, 2, 6, 7}, {3, 2, 3, 2}}, attrs({{"stride", 2}, {"padding", 1}})});
    c.push_back({"conv2d", {{1, 2, 7, 6}, {2, 2, 2, 3}, {2}}, attrs({{"dilation", 2}})});
    c.push_back({"conv2d", {{1, 4, 5, 5}, {6, 2, 3, 3}, {6}}, attrs({{"groups", 2}, {"padding", 1}})});
    c.push_back({"conv2d", {{2, 3, 4, 4}, {3, 1, 3, 3}}, attrs({{"groups", 3}, {"padding", 1}})});
    c.push_back({"conv2d", {{1, 4, 3, 3}, {5, 4, 1, 1}, {5}}});
    c.push_back({"conv2d",
                 {{1, 2, 5, 4}, {2, 1, 3, 2}},
                 attrs({{"groups", 2}, {"stride", 2}, {"padding", 2}, {"dilation", 2}})});
    // Pooling (random values: no ties within h).
    c.push_back({"max_pool2d", {{1, 2, 4, 4}}, attrs({{"kernel", 2}})});
    c.push_back({"max_pool2d", {{1, 1, 5, 6}}, attrs({{"kernel", 3}, {"stride", 2}, {"padding", 1}})});
    c.push_back({"avg_pool2d", {{1, 2, 4, 4}}, attrs({{"kernel", 2}, {"stride", 1}})});
    c.push_back({"avg_pool2d", {{1, 2, 5, 6}}, attrs({{"kernel", 3}, {"stride", 2}, {"padding", 1}})});
    c.push_back({"global_avg_pool", {{2, 3, 3, 4}}});
    // Moving numbers around.
    c.push_back({"concat", {{1, 2, 3, 3}, {1, 3, 3, 3}}, attrs({{"axis", 1}})});
    c.push_back({"concat", {{2, 3}, {1, 3}, {3, 3}}, attrs({{"axis", 0}})});
    {
        OpCase split{"split", {{2, 6, 2, 2}}, attrs({{"axis", 1}, {"parts", 3}, {"index", 1}})};
        c.push_back(split);
    }
    c.push_back({"reshape", {{2, 3, 4}}, list_attr("shape", {4, -1})});
    c.push_back({"flatten", {{2, 3, 2, 2}}});
    c.push_back({"transpose", {{2, 3, 4}}, list_attr("perm", {2, 0, 1})});
    c.push_back({"channel_shuffle", {{2, 6, 2, 2}}, attrs({{"groups", 2}})});
    c.push_back({"channel_shuffle", {{1, 6, 1, 3}}, attrs({{"groups", 3}})});
    // Softmax and losses; targets, class labels and masks drawn from their domains.
    c.push_back({"softmax", {{3, 4}}});
    c.push_back({"softmax", {{2, 3, 2}}, attrs({{"axis", 1}, {"temperature", 2.5}})});
    c.push_back({"softmax", {{5}}, attrs({{"temperature", 0.5}})});
    c.push_back({"log_softmax", {{3, 4}}});
    c.push_back({"log_softmax", {{4, 3}}, attrs({{"axis", 0}, {"temperature", 3.0}})});
    c.push_back({"log_softmax", {{2, 2, 3}}, attrs({{"axis", -2}, {"temperature", 0.7}})});
    c.push_back({"cross_entropy", {{4, 3}, {4}}});
    c.push_back({"cross_entropy", {{5}, {}}});
    c.push_back({"soft_cross_entropy", {{3, 4}, {3, 4}}});
    c.push_back({"soft_cross_entropy", {{3, 4}, {3, 4}}, attrs({{"temperature", 4.0}}), -2.0, 2.0});
    c.push_back({"soft_cross_entropy", {{5}, {5}}, attrs({{"temperature", 0.5}})});
    c.push_back({"kl_div", {{3, 4}, {3, 4}}});
    c.push_back({"kl_div", {{6}, {6}}});
    c.push_back({"kl_div", {{2, 2, 3}, {2, 2, 3}}});
    c.push_back({"mse", {{3, 4}, {3, 4}}});
    c.push_back({"mse", {{7}, {7}}});
    c.push_back({"mse", {{}, {}}});
    // Clipping, quantization and pruning, with inputs kept off their kinks (the
    // bounds, 0 for sign and |.|); straight-through ops are checked against
    // their surrogates.
    c.push_back({"hardtanh", {{4, 5}}, {}, -0.9, 0.9});
    c.push_back({"hardtanh", {{3, 4}}, attrs({{"min", -0.5}, {"max", 1.5}}), -1.0, 2.0});
    c.push_back({"clip", {{3, 4}}, attrs({{"min", -1.0}, {"max", 0.5}})});
    c.push_back({"clip", {{2, 3}}, attrs({{"min", -3.0}, {"max", 3.0}})});
    c.push_back({"sign", {{3, 4}}, {}, -2.0, 2.0, true});
    c.push_back({"sign", {{2, 5}}, attrs({{"ste", 1}}), -0.9, 0.9, true});
    c.push_back({"sign", {{4}}, attrs({{"ste", 1}}), 1.1, 3.0});
    c.push_back({"binarize_stochastic", {{3, 4}}, {}, -0.9, 0.9});
    c.push_back({"binarize_stochastic", {{2, 3}}, attrs({{"seed", 7}}), 1.1, 2.0});
    c.push_back({"xnor_binarize", {{2, 3, 2, 2}}, {}, -2.0, 2.0, true});
    c.push_back({"xnor_binarize", {{3, 4}}, attrs({{"ste", 0}}), -2.0, 2.0, true});
    c.push_back({"xnor_binarize", {{5}}, {}, -0.9, 0.9, true});
    c.push_back({"ternarize", {{3, 4}}});
    c.push_back({"ternarize", {{2, 2, 3}}, attrs({{"delta_factor", 0.5}})});
    c.push_back({"quantize", {{3, 4}}, attrs({{"scale", 0.02}, {"zero_point", 100}})});
    c.push_back({"quantize", {{2, 3}}, attrs({{"scale", 0.25}, {"bits", 3}, {"signed", 1}})});
    c.push_back({"pow2_quantize", {{3, 4}}, attrs({{"n1", 0}, {"n2", -3}})});
    c.push_back({"pow2_quantize", {{2, 5}}, attrs({{"n1", 1}, {"n2", -1}, {"fraction", 0.3}})});
    c.push_back({"pow2_quantize", {{2, 3}, {2, 3}}, attrs({{"n1", 0}, {"n2", -2}})});
    c.push_back({"prune_mask", {{4, 3}}});
    c.push_back({"prune_mask", {{7}}, attrs({{"sparsity", 0.3}})});
    c.push_back({"prune_mask", {{2, 2}, {2, 2}}});
    c.push_back({"kmeans_centroids", {{4, 4}}});
    c.push_back({"kmeans_centroids", {{3, 5}}, attrs({{"clusters", 3}})});
    c.push_back({"kmeans_centroids", {{2, 3}}, attrs({{"clusters", 8}})});  // empty clusters keep their start
    c.push_back({"kmeans_centroids", {{12}}, attrs({{"clusters", 3}, {"iterations", 1}})});
    c.push_back({"shared_weights", {{4, 4}, {4}}});
    c.push_back({"shared_weights", {{2, 3, 2}, {3}}});
    return c;
}

std::string describe(const OpCase& oc) {
    std::string s = oc.op + "(";
    for (const auto& shape : oc.shapes) s += shape_str(shape) + " ";
    return s + ")";
}

}  // namespace

TEST_CASE("ops: every backward rule matches finite differences, broadcasting included") {
    for (const OpCase& oc : cases()) {
        CAPTURE(describe(oc));
        const OpDef* op = builtin_ops().find(oc.op);
        REQUIRE(op != nullptr);
        for (std::uint64_t seed : {1, 2, 3}) {
            const OpRun r = run_op(*op, oc, seed);
            const std::vector<Tensor> numeric = reference_gradients(*op, r, completed(*op, oc).attrs);
            for (std::size_t k = 0; k < r.inputs.size(); ++k) {
                CAPTURE(k);
                REQUIRE(r.analytic[k].shape() == r.inputs[k].shape());
                CHECK(max_relative_error(r.analytic[k], numeric[k]) < 1e-6);
            }
        }
    }
}

TEST_CASE("ops: elementwise forward reads each input's broadcast source element") {
    // Against broadcast_to (tensor.cpp), which walks a multi-index per element.
    const std::vector<std::pair<Shape, Shape>> pairs{{{2, 3, 4}, {3, 1}},    {{2, 1, 4}, {3, 1}},   {{4}, {2, 3, 4}},
                                                     {{2, 3, 1}, {1, 1, 5}}, {{}, {2, 3}},          {{3, 1}, {1}},
                                                     {{1, 4}, {3, 1}},       {{2, 3, 4}, {2, 3, 4}}};
    const std::vector<std::pair<const char*, double (*)(double, double)>> ops{
        {"add", [](double a, double b) { return a + b; }},
        {"sub", [](double a, double b) { return a - b; }},
        {"mul", [](double a, double b) { return a * b; }},
        {"div", [](double a, double b) { return a / b; }}};
    std::uint64_t seed = 1;
    // Named copies, not structured bindings: clang 14 cannot capture those in doctest's message lambda.
    for (const auto& op : ops) {
        const std::string name = op.first;
        const auto f = op.second;
        for (const auto& pair : pairs) {
            const Shape sa = pair.first, sb = pair.second;
            const std::vector<Tensor> in = random_inputs(OpCase{name, {sa, sb}, {}, 0.5, 2.0}, seed++);
            const Attrs a;
            const Tensor out = op_named(name.c_str()).forward(call_for(in, a, nullptr));
            const Shape shape = *broadcast_shapes(sa, sb);
            REQUIRE(out.shape() == shape);
            const Tensor ba = broadcast_to(in[0], shape), bb = broadcast_to(in[1], shape);
            for (std::size_t i = 0; i < out.size(); ++i)
                CHECK_MESSAGE(out[i] == f(ba[i], bb[i]), name, " ", shape_str(sa), " with ", shape_str(sb), " at ", i);
        }
    }
}

TEST_CASE("ops: the table is complete and every op is tested") {
    std::set<std::string> tested;
    for (const OpCase& oc : cases()) tested.insert(oc.op);
    const std::set<std::string> required = {"add",
                                            "sub",
                                            "mul",
                                            "div",
                                            "neg",
                                            "pow",
                                            "square",
                                            "sqrt",
                                            "reciprocal",
                                            "exp",
                                            "log",
                                            "sigmoid",
                                            "relu",
                                            "sum",
                                            "mean",
                                            "matmul",
                                            "batchnorm",
                                            "batchnorm2d",
                                            "running_mean",
                                            "running_var",
                                            "batchnorm_inference",
                                            "batchnorm2d_inference",
                                            "conv2d",
                                            "max_pool2d",
                                            "avg_pool2d",
                                            "global_avg_pool",
                                            "concat",
                                            "split",
                                            "reshape",
                                            "flatten",
                                            "transpose",
                                            "channel_shuffle",
                                            "softmax",
                                            "log_softmax",
                                            "cross_entropy",
                                            "soft_cross_entropy",
                                            "kl_div",
                                            "mse",
                                            "hardtanh",
                                            "clip",
                                            "sign",
                                            "binarize_stochastic",
                                            "xnor_binarize",
                                            "ternarize",
                                            "quantize",
                                            "pow2_quantize",
                                            "prune_mask"};
    for (const OpDef& op : builtin_ops().all()) {
        CAPTURE(op.name);
        CHECK(tested.count(op.name) == 1);
        CHECK_FALSE(op.summary.empty());
        CHECK_FALSE(op.forward_formula.empty());
        CHECK(op.shape);
        CHECK(op.forward);
        CHECK(op.explain);
        CHECK_FALSE(op.inputs.empty());
        for (const InputRule& in : op.inputs) {
            CAPTURE(in.name);
            CHECK_FALSE(in.name.empty());
            if (!in.differentiable) continue;
            CHECK((in.formula.find("∂") != std::string::npos || in.formula.find('d') != std::string::npos));
            CHECK(in.vjp);
            CHECK(in.explain);
        }
        for (const AttrSpec& a : op.attrs) CHECK_FALSE(a.help.empty());
    }
    for (const auto& name : required) CHECK_MESSAGE(builtin_ops().find(name) != nullptr, name);
}

TEST_CASE("ops: elementwise local gradients equal the numeric derivative of the forward rule") {
    for (const OpCase& oc : cases()) {
        const OpDef* op = builtin_ops().find(oc.op);
        if (op->family != "elementwise") continue;
        bool same_shapes = true;
        for (const auto& s : oc.shapes) same_shapes = same_shapes && s == oc.shapes.front();
        if (!same_shapes) continue;
        CAPTURE(describe(oc));
        std::vector<Tensor> inputs = random_inputs(oc, 5);
        if (!oc.attrs.all().empty() || !op->attrs.empty()) continue;  // (elementwise ops with attributes: pow)
        const Tensor out = op->forward(call_for(inputs, oc.attrs, nullptr));
        for (std::size_t k = 0; k < inputs.size(); ++k) {
            REQUIRE(op->inputs[k].local);
            const Tensor local = op->inputs[k].local(call_for(inputs, oc.attrs, &out));
            for (std::size_t e = 0; e < out.size(); ++e) {
                const double h = 1e-6, x = inputs[k][e];
                inputs[k][e] = x + h;
                const double plus = op->forward(call_for(inputs, oc.attrs, nullptr))[e];
                inputs[k][e] = x - h;
                const double minus = op->forward(call_for(inputs, oc.attrs, nullptr))[e];
                inputs[k][e] = x;
                CHECK(local[e] == doctest::Approx((plus - minus) / (2 * h)).epsilon(1e-6));
            }
        }
    }
}

TEST_CASE("ops: worked examples add up to the computed values") {
    const NumFmt num{6};
    for (const OpCase& raw : cases()) {
        CAPTURE(describe(raw));
        const OpDef* op = builtin_ops().find(raw.op);
        const OpCase oc = completed(*op, raw);
        const OpRun r = run_op(*op, oc, 4);
        OpCall call = call_for(r.inputs, oc.attrs, &r.out);
        Names names;
        for (std::size_t k = 0; k < r.inputs.size(); ++k) names.in.push_back("in" + std::to_string(k));
        names.out = "y";
        names.upstream = "dy";
        for (std::size_t e = 0; e < r.out.size(); ++e) {
            const Worked w = op->explain(call, names, r.out.unravel(e), num);
            CHECK(w.result == doctest::Approx(r.out[e]).epsilon(1e-12));
            CHECK(w.lhs.find('y') == 0);
        }
        for (std::size_t k = 0; k < r.inputs.size(); ++k) {
            if (!op->rule(k).differentiable) continue;
            names.downstream = "din" + std::to_string(k);
            call.slot = k;
            for (std::size_t e = 0; e < r.inputs[k].size(); ++e) {
                const Worked w = op->rule(k).explain(call, r.upstream, names, r.inputs[k].unravel(e), num);
                CHECK(w.result == doctest::Approx(r.analytic[k][e]).epsilon(1e-12));
                CHECK(w.lhs.find(names.downstream) == 0);
                CHECK_FALSE(w.symbolic.empty());
            }
        }
    }
}

TEST_CASE("ops: formulas name the gradient rules of docs/background.md") {
    auto formula = [](const char* op, std::size_t input) {
        return render(builtin_ops().find(op)->inputs[input].formula,
                      [](std::string_view key) -> std::optional<std::string> { return std::string(key); });
    };
    CHECK(formula("reciprocal", 0) == "∂(1/v)/∂v = -1/v^2");
    CHECK(formula("mul", 0) == "∂(a * b)/∂a = b");
    CHECK(formula("add", 1) == "∂(a + b)/∂b = 1");
    CHECK(formula("sqrt", 0) == "∂(sqrt(v + eps))/∂v = 0.5/sqrt(v + eps)");
    CHECK(formula("relu", 0).find("at a = 0 the gradient is 0") != std::string::npos);
    CHECK(formula("mean", 0).find("1/N") != std::string::npos);
}

TEST_CASE("ops: relu at exactly 0 passes no gradient") {
    const OpDef* relu = builtin_ops().find("relu");
    const Tensor x(Shape{3}, std::vector<double>{-1.0, 0.0, 2.0});
    const Attrs none;
    const Tensor y = relu->forward(call_for({x}, none, nullptr));
    const Tensor local = relu->inputs[0].local(call_for({x}, none, &y));
    CHECK(local.data() == std::vector<double>{0.0, 0.0, 1.0});
}

TEST_CASE("ops: sigmoid by hand: 1/(1 + e^0) = 0.5 with slope 0.25, and at ln 3, 0.75 with slope 0.1875") {
    const OpDef* sigmoid = builtin_ops().find("sigmoid");
    REQUIRE(sigmoid != nullptr);
    const Tensor x(Shape{2}, std::vector<double>{0.0, std::log(3.0)});
    const Attrs none;
    const Tensor y = sigmoid->forward(call_for({x}, none, nullptr));
    const Tensor local = sigmoid->inputs[0].local(call_for({x}, none, &y));
    CHECK(y[0] == 0.5);
    CHECK(y[1] == doctest::Approx(0.75).epsilon(1e-15));
    CHECK(local[0] == 0.25);
    CHECK(local[1] == doctest::Approx(0.1875).epsilon(1e-15));
}

TEST_CASE("ops: shape rules reject what does not fit, with a clear message") {
    auto shape_error = [](const char* op, std::vector<Shape> in, Attrs a = {}) {
        const OpDef* def = builtin_ops().find(op);
        for (const auto& spec : def->attrs)
            if (!a.has(spec.name) && spec.fallback) a.set(spec.name, *spec.fallback);
        try {
            def->shape(in, a);
        } catch (const ShapeError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(shape_error("add", {{4, 3}, {4}}) == "shapes (4, 3) and (4,) do not broadcast");
    CHECK(shape_error("matmul", {{4, 3}, {2, 5}}).find("inner dimensions differ: (4, 3) @ (2, 5)") == 0);
    CHECK(shape_error("matmul", {{3}, {3, 2}}).find("rank 2") != std::string::npos);
    CHECK(shape_error("mean", {{4, 3}}, attrs({{"axis", 2}})) == "axis 2 is out of range for an input of shape (4, 3)");
    CHECK(shape_error("sum", {{}}).find("scalar") != std::string::npos);
    CHECK(shape_error("batchnorm", {{4, 3}, {2}, {3}}).find("gamma must have shape (3,)") == 0);
    CHECK(shape_error("mul", {{4, 3}, {3}}).empty());
}
