// Batch normalization fused into one op, with the closed-form backward of
// docs/background.md#the-closed-form: `batchnorm` over the batch axis of an (N, D)
// input, and `batchnorm2d` (spatial) per channel of an (N, C, H, W) input,
// whose statistics run over N, H and W. The two share everything but the
// layout: which channel an element belongs to, and how indices are written.
#include <cmath>
#include <fmt/format.h>

#include "ops/batchnorm_shared.hpp"
#include "ops/explain.hpp"
#include "ops/families.hpp"
#include "ops/rules.hpp"

namespace bnstep::ops {

Stats stats_of(const Tensor& x, double eps) {
    const Layout l(x.shape());
    Stats s;
    s.mu.assign(l.channels, 0.0);
    s.var.assign(l.channels, 0.0);
    s.ivar.assign(l.channels, 0.0);
    s.xhat = Tensor(x.shape());
    const double m = static_cast<double>(l.count);
    // Every element in flat order, its channel c counted along: the sums add in the order of the elements.
    const auto each = [&](auto visit) {
        std::size_t e = 0;
        for (std::size_t n = 0; n < x.shape()[0]; ++n)
            for (std::size_t c = 0; c < l.channels; ++c)
                for (std::size_t p = 0; p < l.plane; ++p, ++e) visit(e, c);
    };
    each([&](std::size_t e, std::size_t c) { s.mu[c] += x[e]; });
    for (double& v : s.mu) v /= m;
    each([&](std::size_t e, std::size_t c) {
        const double d = x[e] - s.mu[c];
        s.var[c] += d * d;
    });
    for (std::size_t c = 0; c < l.channels; ++c) {
        s.var[c] /= m;
        s.ivar[c] = 1.0 / std::sqrt(s.var[c] + eps);
    }
    each([&](std::size_t e, std::size_t c) { s.xhat[e] = (x[e] - s.mu[c]) * s.ivar[c]; });
    return s;
}

// Per channel: sum of the upstream gradient, and of upstream * xhat.
std::pair<std::vector<double>, std::vector<double>> upstream_sums(const Layout& l, const Tensor& up,
                                                                  const Tensor& xhat) {
    std::vector<double> sum_up(l.channels, 0.0), sum_up_xhat(l.channels, 0.0);
    for (std::size_t e = 0; e < up.size(); ++e) {
        sum_up[l.channel_of(e)] += up[e];
        sum_up_xhat[l.channel_of(e)] += up[e] * xhat[e];
    }
    return {sum_up, sum_up_xhat};
}

ChannelFactor ones_factor() {
    return {.local = [](const OpCall& call) { return Tensor(call.out->shape(), 1.0); }, .name = "1", .notes = {}};
}

InputRule channel_affine_rule(std::string name, std::string formula, bool spatial, ChannelFactor factor) {
    InputRule r;
    r.name = std::move(name);
    r.formula = std::move(formula);
    if (!spatial) {
        // (D,) broadcasts against (N, D): the executor sums the (N, D) product over the batch axis.
        r.local = factor.local;
        r.vjp = upstream_times(factor.local);
    } else {
        r.vjp = [local = factor.local](const OpCall& call, const Tensor& up) {
            const Layout l(call.input(0).shape());
            const Tensor loc = local(call);
            Tensor g(Shape{l.channels});
            for (std::size_t e = 0; e < up.size(); ++e) g[l.channel_of(e)] += up[e] * loc[e];
            return g;
        };
    }
    r.explain = [factor](const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
        const Layout l(call.input(0).shape());
        const Tensor loc = factor.local(call);
        const std::size_t c = at[0];
        std::vector<std::size_t> members;
        for (std::size_t e = 0; e < up.size(); ++e)
            if (l.channel_of(e) == c) members.push_back(e);
        Worked w = sum_of_products(
            fmt::format("{}[{}]", names.downstream, c),
            fmt::format("sum_{} {} * {}", l.batch_letters(), l.element(names.upstream, c),
                        factor.name == "1" ? "1" : l.element(factor.name, c)),
            members.size(),
            [&](std::size_t k) {
                return std::pair{up[members[k]], loc[members[k]]};
            },
            num);
        if (factor.notes) w.notes = factor.notes(call, names, c, num);
        return w;
    };
    return r;
}

namespace {

Stats batch_stats(const OpCall& call) { return stats_of(call.input(0), call.attrs->number("eps")); }

// The statistics of channel c, one line each, for the worked examples.
std::vector<std::string> stats_notes(const Layout& l, const Stats& s, const std::string& x, std::size_t c,
                                     const NumFmt& num) {
    const char* over = l.batch_letters();
    return {fmt::format("mu[{}] = mean_{} {} = {}", c, over, l.element(x, c), num(s.mu[c])),
            fmt::format("var[{}] = mean_{} ({} - mu[{}])^2 = {}", c, over, l.element(x, c), c, num(s.var[c])),
            fmt::format("ivar[{c}] = 1/sqrt(var[{c}] + eps) = {v}", fmt::arg("c", c), fmt::arg("v", num(s.ivar[c])))};
}

// gamma and beta of training mode: the factor of gamma is xhat from the batch's statistics.
InputRule affine_rule(const std::string& name, bool is_gamma, bool spatial) {
    const std::string over = spatial ? "n, h and w" : "the batch";
    if (!is_gamma) return channel_affine_rule(name, "∂{out}/∂{beta} = 1, summed over " + over, spatial, ones_factor());
    return channel_affine_rule(
        name, "∂{out}/∂{gamma} = xhat = ({x} - mu) / sqrt(var + {eps}), summed over " + over, spatial,
        {.local = [](const OpCall& call) { return batch_stats(call).xhat; },
         .name = "xhat",
         .notes =
             [](const OpCall& call, const Names& names, std::size_t c, const NumFmt& num) {
                 return stats_notes(Layout(call.input(0).shape()), batch_stats(call), names.in[0], c, num);
             }});
}

std::string batchnorm_x_formula(bool spatial) {
    return "closed form: d{x} = (1/M) * {gamma} * ivar * (M * d{out} - sum d{out} - xhat * sum(d{out} * xhat)), "
           "sums per channel over " +
           std::string(spatial ? "n, h, w" : "the batch") + ", ivar = (var + {eps})^-0.5{[, M = {M}]}";
}

Tensor batchnorm_x_vjp(const OpCall& call, const Tensor& up) {
    const Layout l(call.input(0).shape());
    const Stats s = batch_stats(call);
    const auto [sum_up, sum_up_xhat] = upstream_sums(l, up, s.xhat);
    Tensor dx(call.input(0).shape());
    for (std::size_t e = 0; e < dx.size(); ++e) {
        const std::size_t c = l.channel_of(e);
        dx[e] = training_dx(l.count, call.input(1)[c], s.ivar[c], up[e], sum_up[c], s.xhat[e], sum_up_xhat[c]);
    }
    return dx;
}

Worked batchnorm_x_explain(const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                           const NumFmt& num) {
    const Layout l(call.input(0).shape());
    const Stats s = batch_stats(call);
    const auto [sum_up, sum_up_xhat] = upstream_sums(l, up, s.xhat);
    const std::size_t c = at[1];
    const double g = call.input(1)[c], u = up.at(at), xh = s.xhat.at(at);
    const std::string over = l.batch_letters();
    Worked w;
    w.lhs = names.downstream + index_str(at);
    w.symbolic = fmt::format("(1/M) * {}[{c}] * ivar[{c}] * (M * {}{} - sum_{o} {} - xhat{} * sum_{o} {} * {})",
                             names.in[1], names.upstream, index_str(at), l.element(names.upstream, c), index_str(at),
                             l.element(names.upstream, c), l.element("xhat", c), fmt::arg("c", c), fmt::arg("o", over));
    w.numeric =
        fmt::format("(1/{}) * {} * {} * ({} * {} - {} - {} * {})", l.count, num.operand(g), num.operand(s.ivar[c]),
                    l.count, num.operand(u), num.operand(sum_up[c]), num.operand(xh), num.operand(sum_up_xhat[c]));
    w.result = training_dx(l.count, g, s.ivar[c], u, sum_up[c], xh, sum_up_xhat[c]);
    w.notes = stats_notes(l, s, names.in[0], c, num);
    w.notes.push_back(fmt::format("M = {}, the elements per channel", l.count));
    w.notes.push_back(fmt::format("xhat{} = ({}{} - mu[{}]) * ivar[{}] = {}", index_str(at), names.in[0], index_str(at),
                                  c, c, num(xh)));
    return w;
}

Shape batchnorm_shape(bool spatial, const std::vector<Shape>& in) {
    if (!spatial && in[0].size() != 2)
        throw ShapeError(
            fmt::format("x must be a matrix (N, D), got {} (batchnorm2d takes (N, C, H, W))", shape_str(in[0])));
    if (spatial && in[0].size() != 4)
        throw ShapeError(fmt::format("x must be (N, C, H, W), got {} (batchnorm takes (N, D))", shape_str(in[0])));
    const Shape d{in[0][1]};
    for (std::size_t i = 1; i < 3; ++i)
        if (in[i] != d)
            throw ShapeError(fmt::format("{} must have shape {} to match x {}, got {}", i == 1 ? "gamma" : "beta",
                                         shape_str(d), shape_str(in[0]), shape_str(in[i])));
    return in[0];
}

Tensor batchnorm_forward(const OpCall& call) {
    const Layout l(call.input(0).shape());
    const Stats s = batch_stats(call);
    Tensor out(call.input(0).shape());
    for (std::size_t e = 0; e < out.size(); ++e)
        out[e] = call.input(1)[l.channel_of(e)] * s.xhat[e] + call.input(2)[l.channel_of(e)];
    return out;
}

Worked batchnorm_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const Layout l(call.input(0).shape());
    const Stats s = batch_stats(call);
    const std::size_t c = at[1];
    const auto& n = names.in;
    const std::string xi = n[0] + index_str(at);
    Worked w;
    w.lhs = names.out + index_str(at);
    w.symbolic = fmt::format("{}[{c}] * ({} - mu[{c}]) * ivar[{c}] + {}[{c}]", n[1], xi, n[2], fmt::arg("c", c));
    w.numeric = drop_double_parens(fmt::format("{} * ({} - {}) * {} + {}", num.operand(call.input(1)[c]),
                                               num.operand(call.input(0).at(at)), num.operand(s.mu[c]),
                                               num.operand(s.ivar[c]), num.operand(call.input(2)[c])));
    w.result = call.out->at(at);
    w.notes = stats_notes(l, s, n[0], c, num);
    return w;
}

// mu, var, ivar and xhat: what the forward formula and the closed form use.
std::vector<Intermediate> batchnorm_intermediates(const OpCall& call, const Names& names) {
    const Layout l(call.input(0).shape());
    const Stats s = batch_stats(call);
    const std::string& x = names.in[0];
    const std::string over = per_channel_words(l);
    return {{"mu", fmt::format("mean of {} {}", x, over), per_channel(s.mu)},
            {"var", fmt::format("mean of ({} - mu)^2 {}", x, over), per_channel(s.var)},
            {"ivar", fmt::format("1/sqrt(var + eps), eps = {}", call.attrs->number("eps")), per_channel(s.ivar)},
            {"xhat", fmt::format("({} - mu) * ivar", x), s.xhat}};
}

// The two sums of the closed form of dx.
std::vector<Intermediate> batchnorm_backward_intermediates(const OpCall& call, const Tensor& up, const Names& names) {
    const Layout l(call.input(0).shape());
    const Stats s = batch_stats(call);
    const auto [sum_up, sum_up_xhat] = upstream_sums(l, up, s.xhat);
    const std::string over = per_channel_words(l);
    return {
        {fmt::format("sum {}", names.upstream), fmt::format("sum of {} {}", names.upstream, over), per_channel(sum_up)},
        {fmt::format("sum({} * xhat)", names.upstream), fmt::format("sum of {} * xhat {}", names.upstream, over),
         per_channel(sum_up_xhat)}};
}

std::map<std::string, std::string> batchnorm_vars(bool spatial, const std::vector<Shape>& in) {
    const std::size_t rank = spatial ? 4 : 2;
    if (in[0].size() != rank) return std::map<std::string, std::string>{};
    return std::map<std::string, std::string>{{"M", std::to_string(Layout(in[0]).count)}};
}

// Statistics per channel (axis 1): an element of x reaches its channel's
// every element; gamma[c] and beta[c] reach channel c.
ReachRule batchnorm_reach() {
    return {.affects =
                [](const std::vector<Shape>&, const Shape& out, const Attrs&, std::size_t slot, const Box& changed) {
                    Box b = Box::whole(out);
                    b.lo[1] = changed.lo[slot == 0 ? 1 : 0];
                    b.hi[1] = changed.hi[slot == 0 ? 1 : 0];
                    return b;
                },
            .reads =
                [](const std::vector<Shape>& in, const Shape&, const Attrs&, const Box& out_box) {
                    Box x = Box::whole(in[0]), channels{{out_box.lo[1]}, {out_box.hi[1]}};
                    x.lo[1] = out_box.lo[1];
                    x.hi[1] = out_box.hi[1];
                    return std::vector<Box>{x, channels, channels};
                }};
}

// A channel whose variance is at most 10 * eps (0 included): eps no longer
// negligible, xhat there round-off or eps's doing.
std::string batchnorm_degenerate(const OpCall& call) {
    const double eps = call.attrs->number("eps");
    const Stats s = batch_stats(call);
    const bool spatial = call.input(0).shape().size() == 4;
    for (std::size_t c = 0; c < s.var.size(); ++c)
        if (s.var[c] <= 10 * eps)
            return fmt::format("a {} of variance {} (at most 10 * eps = {})",
                               fmt::format("{} {}", spatial ? "channel" : "column", c), s.var[c], 10 * eps);
    return {};
}

OpDef batchnorm_op(bool spatial) {
    return {.name = spatial ? "batchnorm2d" : "batchnorm",
            .family = "norm",
            .summary =
                spatial ? "spatial batch normalization of (N, C, H, W): statistics per channel over N, H and W, fused; "
                          "backward in closed form"
                        : "batch normalization of an (N, D) input over the batch axis, fused; backward in closed form",
            .forward_formula = "{gamma} * ({x} - mu) / sqrt(var + {eps}) + {beta}",
            .inputs = {{.name = "x",
                        .formula = batchnorm_x_formula(spatial),
                        .vjp = batchnorm_x_vjp,
                        .explain = batchnorm_x_explain},
                       affine_rule("gamma", true, spatial),
                       affine_rule("beta", false, spatial)},
            .attrs = {{"eps", AttrType::Number, 1e-5, "added to the variance before the square root"}},
            .shape = [spatial](const std::vector<Shape>& in, const Attrs&) { return batchnorm_shape(spatial, in); },
            .forward = batchnorm_forward,
            .explain = batchnorm_explain,
            .vars = [spatial](const std::vector<Shape>& in, const Attrs&) { return batchnorm_vars(spatial, in); },
            .reach = batchnorm_reach(),
            .degenerate = batchnorm_degenerate,
            .intermediates = batchnorm_intermediates,
            .backward_intermediates = batchnorm_backward_intermediates};
}

}  // namespace

void add_norm_ops(OpTable& t) {
    t.add(batchnorm_op(false));
    t.add(batchnorm_op(true));
}

}  // namespace bnstep::ops
