// Binarization: sign (BinaryConnect, BNN), stochastic binarization, and
// XNOR-Net's scaled binary filters. Each is flat almost everywhere, so its
// backward is a straight-through estimator: the derivative of a surrogate.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "bnstep/rng.hpp"
#include "ops/compression.hpp"
#include "ops/explain.hpp"
#include "ops/families.hpp"
#include "ops/scalar_op.hpp"

namespace bnstep::ops {
namespace {

// sign(x0) + s(x) - s(x0), s the estimator; its pieces are hardtanh's kinks.
ScalarOp sign_op() {
    return {
        .name = "sign",
        .summary =
            "torch.sign: -1, 0 at 0, +1. Its true derivative is 0 wherever it is defined, so the backward "
            "passes the gradient through a straight-through estimator: identity (BinaryConnect) or "
            "hardtanh (BNN: only where |x| <= 1)",
        .forward = "sign({x})",
        .inputs = {{.name = "x",
                    .local = "1 (ste identity), or 1 where |{x}| <= 1, else 0 (ste hardtanh, the BNN rule)",
                    .derivative = [](const Args& v, double, const Attrs& a) { return ste_derivative(ste_of(a), v[0]); },
                    .straight_through = true,
                    .local_for = [](const Attrs& a) { return ste_local_text(ste_of(a), "{x}"); }}},
        .f = [](const Args& v, const Attrs&) { return sign_of(v[0]); },
        .attrs = {ste_attr(Ste::Identity)},
        .family = "quantization",
        .piece = [](const Args& v, const Attrs&) { return sign_piece(v[0]); },
        .surrogate =
            ScalarSurrogate{
                .name = ste_name,
                .s = [](double v, const Attrs& a) { return ste_s(ste_of(a), v); },
                .piece = [](double v, const Attrs& a) { return ste_of(a) == Ste::Hardtanh ? unit_region(v) : 0LL; }}};
}

double hard_sigmoid(double w) { return std::clamp((w + 1) / 2, 0.0, 1.0); }

// The uniform draws u of a seed: element k (flat) gets the k-th number of the
// stream, whatever the values of w, so moving w never changes its u.
std::vector<double> uniform_draws(const Attrs& attrs, std::size_t count) {
    Rng rng(static_cast<std::uint64_t>(attrs.integer("seed")));
    std::vector<double> u(count);
    for (double& v : u) v = rng.uniform();
    return u;
}

Tensor binarize_stochastic_forward(const OpCall& call) {
    const Tensor& w = call.input(0);
    const std::vector<double> u = uniform_draws(*call.attrs, w.size());
    Tensor out(w.shape());
    for (std::size_t k = 0; k < w.size(); ++k) out[k] = u[k] < hard_sigmoid(w[k]) ? 1.0 : -1.0;
    return out;
}

OpDef binarize_stochastic() {
    return {
        .name = "binarize_stochastic",
        .family = "quantization",
        .summary =
            "BinaryConnect's stochastic binarization: +1 with probability hard_sigmoid(w) = clip((w + 1)/2, 0, 1), "
            "else -1; element k compares the k-th uniform draw u of the seed (splitmix64, the same on every "
            "platform) with that probability. The backward differentiates the expectation E[out] = "
            "2*hard_sigmoid(w) - 1 = hardtanh(w)",
        .forward_formula = "+1 if u < clip(({w} + 1)/2, 0, 1) else -1",
        .inputs = {local_rule(
            "w",
            "∂{out}/∂{w}: true derivative 0 almost everywhere; straight-through estimator: 1 where |{w}| <= 1, else 0, "
            "the derivative of the expectation E[{out}] = 2*hard_sigmoid({w}) - 1 = hardtanh({w})",
            [](const OpCall& call) {
                Tensor l(call.input(0).shape());
                for (std::size_t k = 0; k < l.size(); ++k) l[k] = ste_derivative(Ste::Hardtanh, call.input(0)[k]);
                return l;
            },
            [](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
                const std::string wk = element(names.in[0], call.input(0).shape(), concrete(at));
                const double v = call.input(0).at(at);
                return LocalText{
                    "(" + ste_local_text(Ste::Hardtanh, wk) + ")",
                    {fmt::format("|{}| = {} {} 1: the estimator passes {}", wk, num(std::fabs(v)),
                                 std::fabs(v) <= 1 ? "<=" : ">", std::fabs(v) <= 1 ? "the gradient" : "nothing")}};
            },
            true)},
        .attrs = {{"seed", AttrType::Int, 1.0, "seeds the uniform draws u; element k (flat index) always gets draw k"}},
        .shape = [](const std::vector<Shape>& in, const Attrs&) { return in[0]; },
        .forward = binarize_stochastic_forward,
        .explain =
            [](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
                const Tensor& w = call.input(0);
                const std::size_t k = w.offset(at);
                const double u = uniform_draws(*call.attrs, k + 1).back();
                const std::string wk = element(names.in[0], w.shape(), concrete(at));
                Worked out;
                out.lhs = element(names.out, w.shape(), concrete(at));
                out.symbolic = fmt::format("+1 if u[{0}] < hard_sigmoid({1}) else -1", k, wk);
                out.numeric = fmt::format("+1 if {} < {} else -1", num(u), num(hard_sigmoid(w[k])));
                out.result = call.out->at(at);
                out.notes.push_back(
                    fmt::format("u[{}] = {}: draw {} of seed {}", k, num(u), k, call.attrs->integer("seed")));
                out.notes.push_back(fmt::format("hard_sigmoid({}) = clip(({} + 1)/2, 0, 1) = {}: the probability of +1",
                                                wk, num.operand(w[k]), num(hard_sigmoid(w[k]))));
                return out;
            },
        .pieces = [](const OpCall& call) { return pieces_by_element(binarize_stochastic_forward(call), sign_piece); },
        .surrogate =
            anchored_surrogate([](const Attrs&) { return std::string("hardtanh, the expectation"); },
                               binarize_stochastic_forward, [](double w, const Attrs&) { return unit_clip(w); },
                               [](const OpCall& call) { return pieces_by_element(call.input(0), unit_region); }),
        .intermediates =
            [](const OpCall& call, const Names& names) {
                const Tensor& w = call.input(0);
                Tensor p(w.shape());
                for (std::size_t k = 0; k < w.size(); ++k) p[k] = hard_sigmoid(w[k]);
                return std::vector<Intermediate>{
                    {"u", fmt::format("the uniform draws of seed {}, one per element", call.attrs->integer("seed")),
                     Tensor(w.shape(), uniform_draws(*call.attrs, w.size()))},
                    {"p",
                     fmt::format("hard_sigmoid({}) = clip(({} + 1)/2, 0, 1), the probability of +1", names.in[0],
                                 names.in[0]),
                     p}};
            }};
}

// XNOR-Net: filter k (index 0 of W) becomes alpha_k * sign(W), alpha_k = mean |W_k|.
struct Filters {
    std::size_t count = 0, size = 0;  // filters, and elements per filter (n)
    std::vector<double> alpha;
};

Filters filters_of(const Tensor& w) {
    Filters f;
    f.count = w.shape().at(0);
    f.size = w.size() / f.count;
    f.alpha.assign(f.count, 0.0);
    for (std::size_t i = 0; i < w.size(); ++i) f.alpha[i / f.size] += std::fabs(w[i]);
    for (double& a : f.alpha) a /= static_cast<double>(f.size);
    return f;
}

Tensor xnor_forward(const OpCall& call) {
    const Tensor& w = call.input(0);
    const Filters f = filters_of(w);
    Tensor out(w.shape());
    for (std::size_t i = 0; i < w.size(); ++i) out[i] = f.alpha[i / f.size] * sign_of(w[i]);
    return out;
}

// alpha(W) * sign(W0) + alpha(W0) * (s(W) - s(W0)): alpha's true derivative
// and the estimator s' for sign.
Tensor xnor_surrogate(const OpCall& call, const OpCall& base) {
    const Tensor& w = call.input(0);
    const Tensor& w0 = base.input(0);
    const Ste ste = ste_of(*call.attrs);
    const Filters f = filters_of(w), f0 = filters_of(w0);
    Tensor out(w.shape());
    for (std::size_t i = 0; i < w.size(); ++i) {
        const std::size_t k = i / f.size;
        out[i] = f.alpha[k] * sign_of(w0[i]) + f0.alpha[k] * (ste_s(ste, w[i]) - ste_s(ste, w0[i]));
    }
    return out;
}

Tensor xnor_vjp(const OpCall& call, const Tensor& up) {
    const Tensor& w = call.input(0);
    const Ste ste = ste_of(*call.attrs);
    const Filters f = filters_of(w);
    std::vector<double> through_alpha(f.count, 0.0);  // sum_j g_j sign(W_j) per filter
    for (std::size_t j = 0; j < w.size(); ++j) through_alpha[j / f.size] += up[j] * sign_of(w[j]);
    Tensor dw(w.shape());
    for (std::size_t i = 0; i < w.size(); ++i) {
        const std::size_t k = i / f.size;
        dw[i] = up[i] * f.alpha[k] * ste_derivative(ste, w[i]) +
                sign_of(w[i]) / static_cast<double>(f.size) * through_alpha[k];
    }
    return dw;
}

// "W[1,:,:,:]": filter k of W.
std::string filter_text(const std::string& name, const Shape& shape, std::size_t k) {
    std::string s = fmt::format("{}[{}", name, k);
    for (std::size_t a = 1; a < shape.size(); ++a) s += ",:";
    return s + "]";
}

std::string alpha_note(const Tensor& w, const Filters& f, std::size_t k, const std::string& name, const NumFmt& num) {
    std::vector<std::string> terms;
    for (std::size_t j = k * f.size; j < (k + 1) * f.size; ++j) terms.push_back(fmt::format("|{}|", num(w[j])));
    return fmt::format("alpha_{} = mean |{}| = (1/{}) * ({}) = {}", k, filter_text(name, w.shape(), k), f.size,
                       join_terms(terms, num), num(f.alpha[k]));
}

Worked xnor_explain_grad(const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
    const Tensor& w = call.input(0);
    const Ste ste = ste_of(*call.attrs);
    const Filters f = filters_of(w);
    const std::size_t i = w.offset(at), k = i / f.size;
    const std::string wi = element(names.in[0], w.shape(), concrete(at));
    std::vector<std::string> terms;
    double through_alpha = 0.0;
    for (std::size_t j = k * f.size; j < (k + 1) * f.size; ++j) {
        terms.push_back(fmt::format("({})({})", num(up[j]), num(sign_of(w[j]))));
        through_alpha += up[j] * sign_of(w[j]);
    }
    const double n = static_cast<double>(f.size);
    Worked out;
    out.lhs = element(names.downstream, w.shape(), concrete(at));
    out.symbolic =
        fmt::format("{} * alpha_{} * ({}) + (sign({})/{}) * sum({} * sign({}))",
                    element(names.upstream, up.shape(), concrete(at)), k, ste_local_text(ste, wi), wi, f.size,
                    filter_text(names.upstream, up.shape(), k), filter_text(names.in[0], w.shape(), k));
    out.numeric = fmt::format("({})({})({}) + ({}/{}) * ({})", num(up[i]), num(f.alpha[k]),
                              num(ste_derivative(ste, w[i])), num(sign_of(w[i])), f.size, join_terms(terms, num));
    out.result = up[i] * f.alpha[k] * ste_derivative(ste, w[i]) + sign_of(w[i]) / n * through_alpha;
    out.notes.push_back(alpha_note(w, f, k, names.in[0], num));
    out.notes.push_back(
        fmt::format("the first term goes through sign, whose true derivative is 0: the {} "
                    "straight-through estimator stands in; the second through alpha_{}, by its true "
                    "derivative sign({})/{}",
                    ste == Ste::Identity ? "identity" : "hardtanh", k, wi, f.size));
    return out;
}

// The formula of dW, ending with the straight-through estimator: `ste` follows its name.
std::string xnor_formula(const std::string& ste) {
    return "d{W}[i] = d{out}[i] * alpha_k * ste'({W}[i]) + (sign({W}[i])/{n}) * sum_{j in filter k} d{out}[j] * "
           "sign({W}[j]): through alpha_k its true derivative ∂alpha_k/∂{W}[i] = sign({W}[i])/{n}; through sign the "
           "true derivative 0 almost everywhere; straight-through estimator" +
           ste;
}

OpDef xnor_binarize() {
    return {
        .name = "xnor_binarize",
        .family = "quantization",
        .summary =
            "XNOR-Net's binary weights: each output filter k (index k of axis 0, n elements) becomes "
            "alpha_k * sign(W), alpha_k = mean |W_k|, the scale that best fits the full-precision filter. The "
            "backward goes through alpha by its true derivative and through sign by a straight-through estimator",
        .forward_formula = "alpha_k * sign({W}), alpha_k = mean |{W}[k,...]|",
        .inputs = {{.name = "W",
                    .formula =
                        xnor_formula(": ste' = 1 (ste identity), or 1 where |{W}[i]| <= 1, else 0 (ste hardtanh)"),
                    .straight_through = true,
                    .vjp = xnor_vjp,
                    .explain = xnor_explain_grad,
                    .formula_for =
                        [](const std::vector<Shape>&, const Attrs& a) {
                            return xnor_formula(ste_of(a) == Ste::Identity
                                                    ? ", ste identity: ste' = 1"
                                                    : ", ste hardtanh: ste' = 1 where |{W}[i]| <= 1, else 0");
                        }}},
        .attrs = {ste_attr(Ste::Hardtanh)},
        .shape =
            [](const std::vector<Shape>& in, const Attrs&) {
                if (in[0].empty())
                    throw ShapeError("W must have at least one axis, whose index is the output filter; got a scalar");
                return in[0];
            },
        .forward = xnor_forward,
        .explain =
            [](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
                const Tensor& w = call.input(0);
                const Filters f = filters_of(w);
                const std::size_t k = w.offset(at) / f.size;
                const std::string wi = element(names.in[0], w.shape(), concrete(at));
                Worked out;
                out.lhs = element(names.out, w.shape(), concrete(at));
                out.symbolic = fmt::format("alpha_{} * sign({})", k, wi);
                out.numeric = fmt::format("({})({})", num(f.alpha[k]), num(sign_of(w.at(at))));
                out.result = call.out->at(at);
                out.notes.push_back(alpha_note(w, f, k, names.in[0], num));
                return out;
            },
        .vars =
            [](const std::vector<Shape>& in, const Attrs&) {
                std::map<std::string, std::string> v;
                if (!in.empty() && !in[0].empty()) v["n"] = std::to_string(element_count(in[0]) / in[0][0]);
                return v;
            },
        .pieces = [](const OpCall& call) { return pieces_by_element(call.input(0), sign_piece); },
        .surrogate = Surrogate{.name = ste_name,
                               .forward = xnor_surrogate,
                               .pieces =
                                   [](const OpCall& call) {
                                       const bool hardtanh = ste_of(*call.attrs) == Ste::Hardtanh;
                                       return pieces_by_element(call.input(0), [hardtanh](double v) {
                                           return 3 * sign_piece(v) + (hardtanh ? unit_region(v) : 0);
                                       });
                                   }},
        .intermediates =
            [](const OpCall& call, const Names& names) {
                const Filters f = filters_of(call.input(0));
                return std::vector<Intermediate>{
                    {"alpha",
                     fmt::format("mean |{}[k,...]| of each filter k, over its {} elements", names.in[0], f.size),
                     Tensor(Shape{f.count}, f.alpha)}};
            }};
}

}  // namespace

void add_binarize_ops(OpTable& t) {
    t.add(build(sign_op()));
    t.add(binarize_stochastic());
    t.add(xnor_binarize());
}

}  // namespace bnstep::ops
