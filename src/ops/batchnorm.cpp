// Batch normalization as one fused op over the batch axis of an (N, D)
// input; its backward is the closed form of BACKGROUND.md section 1.
#include <cmath>
#include <fmt/format.h>

#include "ops/explain.hpp"
#include "ops/families.hpp"

namespace bnstep::ops {
namespace {

struct Stats {
    std::size_t n = 0, d = 0;
    std::vector<double> mu, var, ivar;
    Tensor xhat;
};

Stats stats_of(const Tensor& x, double eps) {
    Stats s;
    s.n = x.shape()[0];
    s.d = x.shape()[1];
    s.mu.assign(s.d, 0.0);
    s.var.assign(s.d, 0.0);
    s.ivar.assign(s.d, 0.0);
    s.xhat = Tensor(x.shape());
    const double inv_n = 1.0 / static_cast<double>(s.n);
    for (std::size_t j = 0; j < s.d; ++j) {
        for (std::size_t i = 0; i < s.n; ++i) s.mu[j] += x[i * s.d + j];
        s.mu[j] *= inv_n;
        for (std::size_t i = 0; i < s.n; ++i) s.var[j] += (x[i * s.d + j] - s.mu[j]) * (x[i * s.d + j] - s.mu[j]);
        s.var[j] *= inv_n;
        s.ivar[j] = 1.0 / std::sqrt(s.var[j] + eps);
        for (std::size_t i = 0; i < s.n; ++i) s.xhat[i * s.d + j] = (x[i * s.d + j] - s.mu[j]) * s.ivar[j];
    }
    return s;
}

Stats stats_of(const OpCall& call) { return stats_of(call.input(0), call.attrs->number("eps")); }

// The batch statistics of column j, one line each, for the worked examples.
std::vector<std::string> stats_notes(const Stats& s, const std::string& x, std::size_t j, const NumFmt& num) {
    return {fmt::format("mu[{}] = mean_k {}[k,{}] = {}", j, x, j, num(s.mu[j])),
            fmt::format("var[{j}] = mean_k ({x}[k,{j}] - mu[{j}])^2 = {v}", fmt::arg("j", j), fmt::arg("x", x),
                        fmt::arg("v", num(s.var[j]))),
            fmt::format("ivar[{j}] = 1/sqrt(var[{j}] + eps) = {v}", fmt::arg("j", j), fmt::arg("v", num(s.ivar[j])))};
}

// gamma and beta: elementwise after broadcasting over the batch; the
// executor sums their (N, D) contributions over axis 0.
InputRule affine_rule(const std::string& name, bool is_gamma) {
    InputRule r;
    r.name = name;
    r.formula = is_gamma ? "d{out}/d{gamma} = xhat = ({x} - mu) / sqrt(var + {eps}), summed over the batch"
                         : "d{out}/d{beta} = 1, summed over the batch";
    r.local = [is_gamma](const OpCall& call) { return is_gamma ? stats_of(call).xhat : Tensor(call.out->shape(), 1.0); };
    r.vjp = [local = r.local](const OpCall& call, const Tensor& up) {
        Tensor g = local(call);
        for (std::size_t i = 0; i < g.size(); ++i) g[i] *= up[i];
        return g;
    };
    r.explain = [is_gamma](const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
        const Stats s = stats_of(call);
        const std::size_t j = at[0];
        Worked w = sum_of_products(
            fmt::format("{}[{}]", names.downstream, j),
            fmt::format("sum_k {}[k,{}] * {}", names.upstream, j, is_gamma ? fmt::format("xhat[k,{}]", j) : "1"), s.n,
            [&](std::size_t k) { return std::pair{up[k * s.d + j], is_gamma ? s.xhat[k * s.d + j] : 1.0}; }, num);
        if (is_gamma) w.notes = stats_notes(s, names.in[0], j, num);
        return w;
    };
    return r;
}

}  // namespace

void add_norm_ops(OpTable& t) {
    OpDef op;
    op.name = "batchnorm";
    op.family = "norm";
    op.summary = "batch normalization of an (N, D) input over the batch axis, fused; backward in closed form";
    op.forward_formula = "{gamma} * ({x} - mu) / sqrt(var + {eps}) + {beta}";
    op.attrs = {{"eps", AttrType::Number, 1e-5, "added to the variance before the square root"}};
    op.vars = [](const std::vector<Shape>& in, const Attrs&) {
        return std::map<std::string, std::string>{{"N", std::to_string(in[0].at(0))}};
    };
    op.shape = [](const std::vector<Shape>& in, const Attrs&) {
        if (in[0].size() != 2)
            throw ShapeError(fmt::format("x must be a matrix (N, D), got {}", shape_str(in[0])));
        const Shape d{in[0][1]};
        for (std::size_t i = 1; i < 3; ++i)
            if (in[i] != d)
                throw ShapeError(fmt::format("{} must have shape {} to match x {}, got {}", i == 1 ? "gamma" : "beta",
                                             shape_str(d), shape_str(in[0]), shape_str(in[i])));
        return in[0];
    };
    op.forward = [](const OpCall& call) {
        const Stats s = stats_of(call);
        Tensor out(call.input(0).shape());
        for (std::size_t i = 0; i < out.size(); ++i)
            out[i] = call.input(1)[i % s.d] * s.xhat[i] + call.input(2)[i % s.d];
        return out;
    };
    op.explain = [](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
        const Stats s = stats_of(call);
        const std::size_t i = at[0], j = at[1];
        const auto& n = names.in;
        Worked w;
        w.lhs = fmt::format("{}[{},{}]", names.out, i, j);
        w.symbolic = fmt::format("{}[{j}] * ({}[{i},{j}] - mu[{j}]) * ivar[{j}] + {}[{j}]", n[1], n[0], n[2],
                                 fmt::arg("i", i), fmt::arg("j", j));
        w.numeric = drop_double_parens(fmt::format("{} * ({} - {}) * {} + {}", num.operand(call.input(1)[j]),
                                                   num.operand(call.input(0).at(at)), num.operand(s.mu[j]),
                                                   num.operand(s.ivar[j]), num.operand(call.input(2)[j])));
        w.result = call.out->at(at);
        w.notes = stats_notes(s, n[0], j, num);
        return w;
    };

    InputRule rx;
    rx.name = "x";
    rx.formula =
        "closed form: d{x} = (1/N) * {gamma} * ivar * (N * d{out} - sum_N d{out} - xhat * sum_N(d{out} * xhat)), "
        "ivar = (var + {eps})^-0.5{[, N = {N}]}";
    rx.vjp = [](const OpCall& call, const Tensor& up) {
        const Stats s = stats_of(call);
        const Tensor& gamma = call.input(1);
        Tensor dx(call.input(0).shape());
        const double n = static_cast<double>(s.n);
        for (std::size_t j = 0; j < s.d; ++j) {
            double sum_up = 0, sum_up_xhat = 0;
            for (std::size_t k = 0; k < s.n; ++k) {
                sum_up += up[k * s.d + j];
                sum_up_xhat += up[k * s.d + j] * s.xhat[k * s.d + j];
            }
            for (std::size_t i = 0; i < s.n; ++i)
                dx[i * s.d + j] = (1.0 / n) * gamma[j] * s.ivar[j] *
                                  (n * up[i * s.d + j] - sum_up - s.xhat[i * s.d + j] * sum_up_xhat);
        }
        return dx;
    };
    rx.explain = [](const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
        const Stats s = stats_of(call);
        const std::size_t i = at[0], j = at[1];
        double sum_up = 0, sum_up_xhat = 0;
        for (std::size_t k = 0; k < s.n; ++k) {
            sum_up += up[k * s.d + j];
            sum_up_xhat += up[k * s.d + j] * s.xhat[k * s.d + j];
        }
        const double n = static_cast<double>(s.n);
        const double g = call.input(1)[j], u = up.at(at), xh = s.xhat.at(at);
        Worked w;
        w.lhs = fmt::format("{}[{},{}]", names.downstream, i, j);
        w.symbolic = fmt::format(
            "(1/N) * {g}[{j}] * ivar[{j}] * (N * {u}[{i},{j}] - sum_k {u}[k,{j}] - xhat[{i},{j}] * sum_k {u}[k,{j}] * "
            "xhat[k,{j}])",
            fmt::arg("g", names.in[1]), fmt::arg("u", names.upstream), fmt::arg("i", i), fmt::arg("j", j));
        w.numeric = fmt::format("(1/{}) * {} * {} * ({} * {} - {} - {} * {})", s.n, num.operand(g), num.operand(s.ivar[j]),
                                s.n, num.operand(u), num.operand(sum_up), num.operand(xh), num.operand(sum_up_xhat));
        w.result = (1.0 / n) * g * s.ivar[j] * (n * u - sum_up - xh * sum_up_xhat);
        w.notes = stats_notes(s, names.in[0], j, num);
        w.notes.push_back(fmt::format("xhat[{i},{j}] = ({x}[{i},{j}] - mu[{j}]) * ivar[{j}] = {v}", fmt::arg("i", i),
                                      fmt::arg("j", j), fmt::arg("x", names.in[0]), fmt::arg("v", num(xh))));
        return w;
    };
    op.inputs = {std::move(rx), affine_rule("gamma", true), affine_rule("beta", false)};
    t.add(std::move(op));
}

}  // namespace bnstep::ops
