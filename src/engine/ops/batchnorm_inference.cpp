// Batch normalization at inference: the running statistics that training
// keeps (`running_mean`, `running_var`, updated with momentum from each
// training batch, as torch.nn.BatchNorm does), and the forward pass with them
// in place of the batch's own statistics (`batchnorm_inference`, and
// `batchnorm2d_inference` per channel of (N, C, H, W)). The running
// statistics are constants there, so the backward pass is an affine map:
// dx = dout * gamma / sqrt(running_var + eps), with no paths through mu and var.
#include <cmath>
#include <fmt/format.h>

#include "ops/batchnorm_shared.hpp"
#include "ops/compression.hpp"
#include "ops/explain.hpp"
#include "ops/families.hpp"
#include "ops/rules.hpp"

namespace bnstep::ops {
namespace {

// The input x of a running statistic: (N, D) or (N, C, H, W).
void check_batch_shape(const Shape& x, const std::string& op) {
    if (x.size() != 2 && x.size() != 4)
        throw ShapeError(fmt::format("x must be (N, D) or (N, C, H, W), got {}", shape_str(x)));
    if (op == "running_var" && Layout(x).count < 2)
        throw ShapeError(
            fmt::format("x {} has one element per channel: its unbiased variance divides by M - 1 = 0", shape_str(x)));
}

Shape running_stat_shape(const std::vector<Shape>& in, const std::string& op) {
    check_batch_shape(in[0], op);
    Shape c{in[0][1]};
    if (in[1] != c)
        throw ShapeError(fmt::format("running must have shape {}, one value per channel of x {}, got {}", shape_str(c),
                                     shape_str(in[0]), shape_str(in[1])));
    return c;
}

// The batch statistic a running statistic moves towards: the mean, or the
// unbiased variance sum (x - mu)^2 / (M - 1), as torch.nn.BatchNorm keeps it.
std::vector<double> batch_statistic(const Tensor& x, bool variance) {
    const Stats s = stats_of(x, 0.0);
    if (!variance) return s.mu;
    const double m = static_cast<double>(Layout(x.shape()).count);
    std::vector<double> unbiased = s.var;
    for (double& v : unbiased) v *= m / (m - 1.0);
    return unbiased;
}

Tensor running_stat_forward(const OpCall& call, bool variance) {
    const double momentum = call.attrs->number("momentum");
    const std::vector<double> stat = batch_statistic(call.input(0), variance);
    Tensor out(call.input(1).shape());
    for (std::size_t c = 0; c < out.size(); ++c) out[c] = (1.0 - momentum) * call.input(1)[c] + momentum * stat[c];
    return out;
}

Worked running_stat_explain(const OpCall& call, const Names& names, const Index& at, bool variance, const NumFmt& num) {
    const Layout l(call.input(0).shape());
    const std::size_t c = at[0];
    const double momentum = call.attrs->number("momentum");
    const std::vector<double> stat = batch_statistic(call.input(0), variance);
    const std::string x = l.element(names.in[0], c), over = l.batch_letters();
    const std::string stat_name = variance ? "var_unbiased" : "mu";
    Worked w;
    w.lhs = fmt::format("{}[{}]", names.out, c);
    w.symbolic = fmt::format("(1 - momentum) * {}[{c}] + momentum * {}[{c}]", names.in[1], stat_name, fmt::arg("c", c));
    w.numeric = fmt::format("(1 - {m}) * {} + {m} * {}", num.operand(call.input(1)[c]), num.operand(stat[c]),
                            fmt::arg("m", num(momentum)));
    w.result = call.out->at(at);
    const double mu = batch_statistic(call.input(0), false)[c];
    w.notes.push_back(fmt::format("mu[{}] = mean_{} {} = {}", c, over, x, num(mu)));
    if (variance)
        w.notes.push_back(fmt::format("var_unbiased[{}] = sum_{} ({} - mu[{}])^2 / (M - 1) = {}, M = {}", c, over, x, c,
                                      num(stat[c]), l.count));
    return w;
}

InputRule buffer_rule(const std::string& name, const std::string& meaning, Domain domain) {
    return {.name = name,
            .differentiable = false,
            .domain = domain,
            .formula = "none: {" + name + "} is " + meaning + ", a buffer that no gradient trains"};
}

OpDef running_stat_op(bool variance) {
    const std::string name = variance ? "running_var" : "running_mean";
    const std::string stat = variance ? "the batch's unbiased variance sum (x - mu)^2 / (M - 1)" : "the batch's mean";
    return {
        .name = name,
        .family = "norm",
        .summary = "the running " + std::string(variance ? "variance" : "mean") +
                   " of batch normalization, one training step: (1 - momentum) * running + momentum * " + "(" + stat +
                   ", per channel: axis 1 of an (N, D) or (N, C, H, W) x), as torch.nn.BatchNorm " +
                   "updates it (its buffers start at " + (variance ? "1" : "0") + "); no gradient reaches either input",
        .forward_formula =
            "(1 - {momentum}) * {running} + {momentum} * " + std::string(variance ? "var_unbiased({x})" : "mean({x})"),
        .inputs = {buffer_rule("x", "a training batch, read for its statistics only", {}),
                   buffer_rule("running", "the statistic before this step",
                               variance ? Domain{Domain::Kind::Positive} : Domain{})},
        .attrs = {{"momentum",
                   AttrType::Number,
                   0.1,
                   "the weight of the new batch's statistic (PyTorch's default 0.1)",
                   {.min = 0, .max = 1}}},
        .shape =
            [name](const std::vector<Shape>& in, const Attrs& a) {
                check_fraction(a, "momentum");
                return running_stat_shape(in, name);
            },
        .forward = [variance](const OpCall& call) { return running_stat_forward(call, variance); },
        .explain = [variance](const OpCall& call, const Names& names, const Index& at,
                              const NumFmt& num) { return running_stat_explain(call, names, at, variance, num); },
        .intermediates =
            [variance](const OpCall& call, const Names& names) {
                const Layout l(call.input(0).shape());
                std::vector<Intermediate> q{{"mu", fmt::format("mean of {} {}", names.in[0], per_channel_words(l)),
                                             per_channel(batch_statistic(call.input(0), false))}};
                if (variance)
                    q.push_back({"var_unbiased",
                                 fmt::format("sum of ({} - mu)^2 {}, divided by M - 1 = {}", names.in[0],
                                             per_channel_words(l), l.count - 1),
                                 per_channel(batch_statistic(call.input(0), true))});
                return q;
            }};
}

// 1/sqrt(running_var + eps) per channel.
std::vector<double> running_ivar(const OpCall& call) {
    std::vector<double> r(call.input(2).size());
    for (std::size_t c = 0; c < r.size(); ++c) r[c] = 1.0 / std::sqrt(call.input(2)[c] + call.attrs->number("eps"));
    return r;
}

// xhat with the running statistics: (x - running_mean) / sqrt(running_var + eps).
Tensor running_xhat(const OpCall& call) {
    const Layout l(call.input(0).shape());
    const std::vector<double> r = running_ivar(call);
    Tensor xhat(call.input(0).shape());
    for (std::size_t e = 0; e < xhat.size(); ++e) {
        const std::size_t c = l.channel_of(e);
        xhat[e] = (call.input(0)[e] - call.input(1)[c]) * r[c];
    }
    return xhat;
}

std::string running_ivar_note(const OpCall& call, const Names& names, std::size_t c, const NumFmt& num) {
    return fmt::format("rivar[{c}] = 1/sqrt({}[{c}] + eps) = {}", names.in[2], num(running_ivar(call)[c]),
                       fmt::arg("c", c));
}

// d out / d x: gamma * rivar at every element of the channel.
Tensor inference_x_local(const OpCall& call) {
    const Layout l(call.input(0).shape());
    const std::vector<double> r = running_ivar(call);
    Tensor local(call.input(0).shape());
    for (std::size_t e = 0; e < local.size(); ++e) local[e] = call.input(3)[l.channel_of(e)] * r[l.channel_of(e)];
    return local;
}

// What the same element's gradient would be in training mode (the op
// batchnorm, with the batch's own mu and var): the paths through them add
// the two sums of the closed form.
std::string training_mode_note(const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                               const NumFmt& num) {
    const Layout l(call.input(0).shape());
    const Stats s = stats_of(call.input(0), call.attrs->number("eps"));
    const auto [sum_up, sum_up_xhat] = upstream_sums(l, up, s.xhat);
    const std::size_t c = at[1];
    const double train =
        training_dx(l.count, call.input(3)[c], s.ivar[c], up.at(at), sum_up[c], s.xhat.at(at), sum_up_xhat[c]);
    return fmt::format(
        "training mode (op batchnorm, the batch's own mu and var) would give {}{} = (1/M) * gamma * ivar * (M * {} "
        "- sum {} - xhat * sum({} * xhat)) = {}, its last two terms the paths through mu and var",
        names.downstream, index_str(at), names.upstream, names.upstream, names.upstream, num(train));
}

InputRule inference_x_rule() {
    InputRule r{.name = "x",
                .formula =
                    "∂{out}/∂{x} = {gamma} / sqrt({running_var} + {eps}), per channel: the running statistics "
                    "are constants, so no path runs through mu and var",
                .local = inference_x_local};
    r.vjp = upstream_times(r.local);
    r.explain = [](const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
        const std::size_t c = at[1];
        const double local = inference_x_local(call).at(at);
        Worked w;
        w.lhs = names.downstream + index_str(at);
        w.symbolic =
            fmt::format("{}{} * {}[{c}] * rivar[{c}]", names.upstream, index_str(at), names.in[3], fmt::arg("c", c));
        w.numeric = fmt::format("{} * {} * {}", num.operand(up.at(at)), num.operand(call.input(3)[c]),
                                num.operand(running_ivar(call)[c]));
        w.result = up.at(at) * local;
        w.notes = {running_ivar_note(call, names, c, num), training_mode_note(call, up, names, at, num)};
        return w;
    };
    return r;
}

Shape inference_shape(bool spatial, const std::vector<Shape>& in) {
    const std::size_t rank = spatial ? 4 : 2;
    if (in[0].size() != rank)
        throw ShapeError(
            fmt::format("x must be {}, got {}", spatial ? "(N, C, H, W)" : "a matrix (N, D)", shape_str(in[0])));
    const Shape d{in[0][1]};
    static const char* names[] = {"x", "running_mean", "running_var", "gamma", "beta"};
    for (std::size_t i = 1; i < 5; ++i)
        if (in[i] != d)
            throw ShapeError(fmt::format("{} must have shape {}, one value per channel of x {}, got {}", names[i],
                                         shape_str(d), shape_str(in[0]), shape_str(in[i])));
    return in[0];
}

Tensor inference_forward(const OpCall& call) {
    const Layout l(call.input(0).shape());
    const Tensor xhat = running_xhat(call);
    Tensor out(xhat.shape());
    for (std::size_t e = 0; e < out.size(); ++e)
        out[e] = call.input(3)[l.channel_of(e)] * xhat[e] + call.input(4)[l.channel_of(e)];
    return out;
}

Worked inference_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const std::size_t c = at[1];
    const auto& n = names.in;
    Worked w;
    w.lhs = names.out + index_str(at);
    w.symbolic = fmt::format("{}[{c}] * ({}{} - {}[{c}]) * rivar[{c}] + {}[{c}]", n[3], n[0], index_str(at), n[1], n[4],
                             fmt::arg("c", c));
    w.numeric = drop_double_parens(fmt::format("{} * ({} - {}) * {} + {}", num.operand(call.input(3)[c]),
                                               num.operand(call.input(0).at(at)), num.operand(call.input(1)[c]),
                                               num.operand(running_ivar(call)[c]), num.operand(call.input(4)[c])));
    w.result = call.out->at(at);
    w.notes = {running_ivar_note(call, names, c, num)};
    return w;
}

OpDef inference_op(bool spatial) {
    const std::string over = spatial ? "n, h and w" : "the batch";
    return {.name = spatial ? "batchnorm2d_inference" : "batchnorm_inference",
            .family = "norm",
            .summary = std::string(spatial ? "spatial batch normalization of (N, C, H, W)"
                                           : "batch normalization of an (N, D) input") +
                       " at inference (torch's F.batch_norm with training=False): the running statistics in place of "
                       "the batch's; the running mean and variance are buffers and get no gradient",
            .forward_formula = "{gamma} * ({x} - {running_mean}) / sqrt({running_var} + {eps}) + {beta}",
            .inputs = {inference_x_rule(), buffer_rule("running_mean", "the mean kept during training", {}),
                       buffer_rule("running_var", "the variance kept during training", {Domain::Kind::Positive}),
                       channel_affine_rule(
                           "gamma",
                           "∂{out}/∂{gamma} = xhat = ({x} - {running_mean}) / sqrt({running_var} + "
                           "{eps}), summed over " +
                               over,
                           spatial,
                           {.local = running_xhat,
                            .name = "xhat",
                            .notes =
                                [](const OpCall& call, const Names& names, std::size_t c, const NumFmt& num) {
                                    return std::vector<std::string>{running_ivar_note(call, names, c, num)};
                                }}),
                       channel_affine_rule("beta", "∂{out}/∂{beta} = 1, summed over " + over, spatial, ones_factor())},
            .attrs = {{"eps", AttrType::Number, 1e-5, "added to the running variance before the square root"}},
            .shape = [spatial](const std::vector<Shape>& in, const Attrs&) { return inference_shape(spatial, in); },
            .forward = inference_forward,
            .explain = inference_explain,
            .intermediates =
                [](const OpCall& call, const Names& names) {
                    return std::vector<Intermediate>{
                        {"rivar", fmt::format("1/sqrt({} + eps), eps = {}", names.in[2], call.attrs->number("eps")),
                         per_channel(running_ivar(call))},
                        {"xhat", fmt::format("({} - {}) * rivar", names.in[0], names.in[1]), running_xhat(call)}};
                }};
}

}  // namespace

void add_norm_inference_ops(OpTable& t) {
    t.add(running_stat_op(false));
    t.add(running_stat_op(true));
    t.add(inference_op(false));
    t.add(inference_op(true));
}

}  // namespace bnstep::ops
