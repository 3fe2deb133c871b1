// Softmax and log-softmax along one axis, at a temperature T: the logits are
// divided by T first (T > 1 flattens the distribution, as knowledge
// distillation does). Both subtract the row's largest x/T before exp, as
// PyTorch does; it cancels in the result.
#include <cmath>
#include <fmt/format.h>

#include "ops/explain.hpp"
#include "ops/families.hpp"
#include "ops/reach.hpp"
#include "ops/softmax_math.hpp"

namespace bnstep::ops {
namespace {

// What the worked examples of one element need: its row and its place in it.
struct Site {
    std::size_t axis;
    double temperature;
    AxisRows rows;
    std::size_t row, k;

    Site(const OpCall& call, const Index& at)
        : axis(axis_attr(call.input(0).shape(), *call.attrs)),
          temperature(temperature_attr(*call.attrs)),
          rows(call.input(0).shape(), axis),
          row(rows.row_of(call.input(0).offset(at))),
          k(rows.k_of(call.input(0).offset(at))) {}

    // " / T", or nothing at T = 1.
    std::string over_t() const { return temperature == 1.0 ? "" : fmt::format(" / {}", temperature); }
    double sum_along(const Tensor& t) const {
        double s = 0.0;
        for (std::size_t j = 0; j < rows.len; ++j) s += t[rows.at(row, j)];
        return s;
    }
};

// sum_k up_k * y_k along the row, and its worked line.
std::pair<double, std::string> weighted_sum(const Site& s, const Tensor& up, const Tensor& y, const Names& names,
                                            const Index& at, const NumFmt& num) {
    const Worked w = sum_of_products(
        "", "", s.rows.len,
        [&](std::size_t j) {
            return std::pair{up[s.rows.at(s.row, j)], y[s.rows.at(s.row, j)]};
        },
        num);
    return {w.result, fmt::format("sum_k {} * {} = {} = {}", scaled_element(names.upstream, at, s.axis, 1.0),
                                  scaled_element(names.out, at, s.axis, 1.0), w.numeric, num(w.result))};
}

Worked softmax_explain_forward(bool log, const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const Site s(call, at);
    const SoftmaxRow r = softmax_row(call.input(0), s.rows, s.row, s.temperature);
    const std::string xs = element(names.in[0], call.input(0).shape(), concrete(at)) +
                           (s.temperature == 1.0 ? "" : fmt::format("/{}", s.temperature));
    const std::string xk = scaled_element(names.in[0], at, s.axis, s.temperature);
    std::vector<std::string> exps;
    for (double e : r.exps) exps.push_back(num(e));
    const std::string x_value = scaled_operand(call.input(0).at(at), s.temperature, num);
    Worked w;
    w.lhs = element(names.out, call.out->shape(), concrete(at));
    if (log) {
        w.symbolic = fmt::format("{} - m - log(sum_k exp({} - m))", xs, xk);
        w.numeric = fmt::format("{} - {} - log({})", x_value, num.operand(r.max), join_terms(exps, num));
        w.result = r.log_softmax(s.k);
    } else {
        w.symbolic = fmt::format("exp({} - m) / sum_k exp({} - m)", xs, xk);
        w.numeric = fmt::format("exp({} - {}) / ({})", x_value, num.operand(r.max), join_terms(exps, num));
        w.result = r.softmax(s.k);
    }
    w.notes.push_back(fmt::format("m = max_k {} = {}, subtracted for stability (it cancels)", xk, num(r.max)));
    return w;
}

// softmax: dx = y * (g - sum_k g_k y_k) / T, y the output.
Tensor softmax_vjp(const OpCall& call, const Tensor& up) {
    const Tensor& y = *call.out;
    const double t = temperature_attr(*call.attrs);
    const AxisRows rows(y.shape(), axis_attr(y.shape(), *call.attrs));
    Tensor dx(y.shape());
    for (std::size_t row = 0; row < rows.count(); ++row) {
        double dot = 0.0;
        for (std::size_t k = 0; k < rows.len; ++k) dot += up[rows.at(row, k)] * y[rows.at(row, k)];
        for (std::size_t k = 0; k < rows.len; ++k) {
            const std::size_t e = rows.at(row, k);
            dx[e] = y[e] * (up[e] - dot) / t;
        }
    }
    return dx;
}

// log_softmax: dx = (g - softmax(x/T) * sum_k g_k) / T, softmax(x/T) = exp(y).
Tensor log_softmax_vjp(const OpCall& call, const Tensor& up) {
    const Tensor& y = *call.out;
    const double t = temperature_attr(*call.attrs);
    const AxisRows rows(y.shape(), axis_attr(y.shape(), *call.attrs));
    Tensor dx(y.shape());
    for (std::size_t row = 0; row < rows.count(); ++row) {
        double total = 0.0;
        for (std::size_t k = 0; k < rows.len; ++k) total += up[rows.at(row, k)];
        for (std::size_t k = 0; k < rows.len; ++k) {
            const std::size_t e = rows.at(row, k);
            dx[e] = (up[e] - std::exp(y[e]) * total) / t;
        }
    }
    return dx;
}

Worked softmax_explain_grad(bool log, const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                            const NumFmt& num) {
    const Site s(call, at);
    const Tensor& y = *call.out;
    const Shape& shape = y.shape();
    const std::string g_at = element(names.upstream, shape, concrete(at));
    const std::string y_at = element(names.out, shape, concrete(at));
    const std::string g_k = scaled_element(names.upstream, at, s.axis, 1.0);
    const double g = up.at(at), yv = y.at(at);
    Worked w;
    w.lhs = element(names.downstream, shape, concrete(at));
    if (log) {
        const double total = s.sum_along(up), p = std::exp(yv);
        w.symbolic = fmt::format("({} - exp({}) * sum_k {}){}", g_at, y_at, g_k, s.over_t());
        w.numeric = fmt::format("({} - {} * {}){}", num(g), num.operand(p), num.operand(total), s.over_t());
        w.result = (g - p * total) / s.temperature;
        w.notes.push_back(fmt::format("exp({}) = softmax({}{}){} = {}", y_at, names.in[0],
                                      s.temperature == 1.0 ? "" : fmt::format("/{}", s.temperature), index_str(at),
                                      num(p)));
        w.notes.push_back(fmt::format("sum_k {} = {}", g_k, num(total)));
    } else {
        const auto [dot, line] = weighted_sum(s, up, y, names, at, num);
        w.symbolic = fmt::format("{} * ({} - sum_k {} * {}){}", y_at, g_at, g_k,
                                 scaled_element(names.out, at, s.axis, 1.0), s.over_t());
        w.numeric = fmt::format("{} * ({} - {}){}", num.operand(yv), num(g), num.operand(dot), s.over_t());
        w.result = yv * (g - dot) / s.temperature;
        w.notes.push_back(line);
    }
    return w;
}

// log_softmax's backward uses softmax(x/T) = exp(out).
std::vector<Intermediate> softmax_of_log_softmax(const OpCall& call, const Names& names) {
    const Tensor& x = call.input(0);
    const double t = temperature_attr(*call.attrs);
    const std::size_t axis = axis_attr(x.shape(), *call.attrs);
    const std::string arg = t == 1.0 ? names.in[0] : fmt::format("{}/{}", names.in[0], t);
    return {{fmt::format("softmax({})", arg), fmt::format("exp({}), along axis {}", names.out, axis),
             softmax_along(x, axis, t)}};
}

OpDef softmax_op(bool log) {
    return {
        .name = log ? "log_softmax" : "softmax",
        .family = "softmax",
        .summary = log ? "log of the softmax along one axis at temperature T: x/T - log(sum_k exp(x_k/T)), computed as "
                         "x/T - m - log(sum_k exp(x_k/T - m)) with m the row's largest x/T"
                       : "softmax along one axis at temperature T (T > 1 softens it, as in distillation): "
                         "exp(x/T - m) / sum_k exp(x_k/T - m), m the row's largest x/T, which cancels",
        .forward_formula = log ? "{x}{[/{temperature}]} - log(sum_k exp({x}_k{[/{temperature}]})), k along axis={axis}"
                               : "exp({x}{[/{temperature}]}) / sum_k exp({x}_k{[/{temperature}]}), k along axis={axis}",
        .inputs = {{.name = "x",
                    .domain = {Domain::Kind::Any, 4.0},
                    .formula =
                        log ? "d{x} = (d{out} - softmax({x}{[/{temperature}]}) * sum_k d{out}_k){[ / {temperature}]}, "
                              "softmax({x}{[/{temperature}]}) = exp({out}), k along axis={axis}"
                            : "d{x} = {out} * (d{out} - sum_k d{out}_k * {out}_k){[ / {temperature}]}, k along "
                              "axis={axis} (the Jacobian diag({out}) - {out} {out}^T{[, divided by {temperature}]})",
                    .vjp = log ? log_softmax_vjp : softmax_vjp,
                    .explain = [log](
                                   const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                                   const NumFmt& num) { return softmax_explain_grad(log, call, up, names, at, num); }}},
        .attrs = {{"axis", AttrType::Int, -1.0, "the axis the softmax runs along (negative counts from the end)"},
                  {"temperature",
                   AttrType::Number,
                   1.0,
                   "T > 0: the input is divided by T first",
                   {.min = 0, .above_min = true}}},
        .shape =
            [](const std::vector<Shape>& in, const Attrs& attrs) {
                axis_attr(in[0], attrs);
                temperature_attr(attrs);
                return in[0];
            },
        .forward =
            [log](const OpCall& call) {
                const Tensor& x = call.input(0);
                const std::size_t axis = axis_attr(x.shape(), *call.attrs);
                const double t = temperature_attr(*call.attrs);
                return log ? log_softmax_along(x, axis, t) : softmax_along(x, axis, t);
            },
        .explain = [log](const OpCall& call, const Names& names, const Index& at,
                         const NumFmt& num) { return softmax_explain_forward(log, call, names, at, num); },
        // A temperature of 1 leaves its terms out of the formulas ({[/{temperature}]}).
        .vars =
            [](const std::vector<Shape>&, const Attrs& attrs) {
                const double t = temperature_attr(attrs);
                return std::map<std::string, std::string>{{"temperature", t == 1.0 ? "" : fmt::format("{}", t)}};
            },
        .reach = along_axes_reach(
            [](const Shape& x, const Attrs& attrs) { return std::vector<std::size_t>{axis_attr(x, attrs)}; }),
        .intermediates = log ? softmax_of_log_softmax : IntermediatesFn{}};
}

}  // namespace

void add_softmax_ops(OpTable& t) {
    t.add(softmax_op(false));
    t.add(softmax_op(true));
}

}  // namespace bnstep::ops
