// Elementwise ops. Each is declared by its scalar function and, per input,
// the scalar local derivative with its formula; the builder (scalar_op.hpp)
// turns that into shape rule, forward, local gradient, VJP and worked examples.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "ops/families.hpp"
#include "ops/scalar_op.hpp"

namespace bnstep::ops {
namespace {

// Where x lies against [lo, hi], each bound a piece of its own: -2 below,
// -1 at lo, 0 inside, 1 at hi, 2 above.
long long bound_piece(double x, double lo, double hi) {
    if (x < lo) return -2;
    if (x == lo) return -1;
    if (x < hi) return 0;
    if (x == hi) return 1;
    return 2;
}

std::vector<AttrSpec> bounds(std::optional<double> lo, std::optional<double> hi) {
    return {{"min", AttrType::Number, lo, "the lower bound"}, {"max", AttrType::Number, hi, "the upper bound"}};
}

void check_bounds(const Attrs& a) {
    if (a.number("min") > a.number("max"))
        throw AttrError(fmt::format("min ({}) must not exceed max ({})", a.number("min"), a.number("max")));
}

double clamp_to(const Args& x, const Attrs& a) { return std::min(std::max(x[0], a.number("min")), a.number("max")); }

// The piece is the side of 0, so that 0 itself differs from both neighbours.
ScalarOp relu() {
    return {.name = "relu",
            .summary = "max(a, 0); at a = 0 the gradient is 0 (the convention PyTorch uses)",
            .forward = "max({a}, 0)",
            .inputs = {{.name = "a",
                        .local = "1 if {a} > 0 else 0",
                        .derivative = [](const Args& x, double, auto&) { return x[0] > 0 ? 1.0 : 0.0; },
                        .note = " (at {a} = 0 the gradient is 0, as in PyTorch)"}},
            .f = [](const Args& x, auto&) { return x[0] > 0 ? x[0] : 0.0; },
            .piece = [](const Args& x, const Attrs&) { return x[0] > 0   ? 1LL
                                                              : x[0] < 0 ? -1LL
                                                                         : 0LL; }};
}

// PyTorch's hardtanh_backward passes the gradient strictly inside the bounds.
ScalarOp hardtanh() {
    return {.name = "hardtanh",
            .summary =
                "x clipped to [min, max]; the gradient is 1 strictly inside and 0 at the bounds and beyond, as "
                "PyTorch's hardtanh (compare clip)",
            .forward = "hardtanh({x}, {min}, {max})",
            .inputs = {{.name = "x",
                        .local = "1 if {min} < {x} < {max} else 0",
                        .derivative =
                            [](const Args& x, double, const Attrs& a) {
                                return a.number("min") < x[0] && x[0] < a.number("max") ? 1.0 : 0.0;
                            },
                        .note = " (0 at {x} = {min} and at {x} = {max}, as PyTorch's hardtanh)"}},
            .f = clamp_to,
            .attrs = bounds(-1.0, 1.0),
            .piece = [](const Args& x, const Attrs& a) { return bound_piece(x[0], a.number("min"), a.number("max")); },
            .check_attrs = check_bounds};
}

// PyTorch's clamp backward passes the gradient at the bounds too.
ScalarOp clip() {
    return {.name = "clip",
            .summary =
                "x clamped to [min, max] as torch.clamp; the gradient is 1 from min to max, bounds included, "
                "and 0 beyond (hardtanh gives 0 at the bounds)",
            .forward = "clip({x}, {min}, {max})",
            .inputs = {{.name = "x",
                        .local = "1 if {min} <= {x} <= {max} else 0",
                        .derivative =
                            [](const Args& x, double, const Attrs& a) {
                                return a.number("min") <= x[0] && x[0] <= a.number("max") ? 1.0 : 0.0;
                            },
                        .note = " (1 at {x} = {min} and at {x} = {max}, as torch.clamp; hardtanh gives 0 there)"}},
            .f = clamp_to,
            .attrs = bounds(std::nullopt, std::nullopt),
            .piece = [](const Args& x, const Attrs& a) { return bound_piece(x[0], a.number("min"), a.number("max")); },
            .check_attrs = check_bounds};
}

using K = Domain::Kind;

// a + b, a - b, a * b, a / b, -a.
std::vector<ScalarOp> arithmetic() {
    const auto one = [](auto&, double, auto&) { return 1.0; };
    return {
        {.name = "add",
         .summary = "a + b, broadcast",
         .forward = "{a} + {b}",
         .inputs = {{.name = "a", .local = "1", .derivative = one}, {.name = "b", .local = "1", .derivative = one}},
         .f = [](const Args& x, auto&) { return x[0] + x[1]; }},
        {.name = "sub",
         .summary = "a - b, broadcast",
         .forward = "{a} - {b}",
         .inputs = {{.name = "a", .local = "1", .derivative = one},
                    {.name = "b", .local = "-1", .derivative = [](auto&, double, auto&) { return -1.0; }}},
         .f = [](const Args& x, auto&) { return x[0] - x[1]; }},
        {.name = "mul",
         .summary = "a * b, broadcast; each input's local gradient is the other input",
         .forward = "{a} * {b}",
         .inputs = {{.name = "a", .local = "{b}", .derivative = [](const Args& x, double, auto&) { return x[1]; }},
                    {.name = "b", .local = "{a}", .derivative = [](const Args& x, double, auto&) { return x[0]; }}},
         .f = [](const Args& x, auto&) { return x[0] * x[1]; }},
        {.name = "div",
         .summary = "a / b, broadcast",
         .forward = "{a} / {b}",
         .inputs = {{.name = "a",
                     .local = "1/{b}",
                     .derivative = [](const Args& x, double, auto&) { return 1.0 / x[1]; }},
                    {.name = "b",
                     .local = "-{a}/{b}^2",
                     .derivative = [](const Args& x, double, auto&) { return -x[0] / (x[1] * x[1]); },
                     .domain = {K::Positive}}},
         .f = [](const Args& x, auto&) { return x[0] / x[1]; }},
        {.name = "neg",
         .summary = "-a",
         .forward = "-{a}",
         .inputs = {{.name = "a", .local = "-1", .derivative = [](auto&, double, auto&) { return -1.0; }}},
         .f = [](const Args& x, auto&) { return -x[0]; }},
    };
}

// a^p, a^2, sqrt, 1/v, exp, log.
std::vector<ScalarOp> functions() {
    return {
        {.name = "pow",
         .summary = "a^p for a constant exponent p",
         .forward = "{a}^{p}",
         .inputs = {{.name = "a",
                     .local = "{p}*{a}^({p}-1)",
                     .derivative =
                         [](const Args& x, double, const Attrs& at) {
                             return at.number("p") == 0 ? 0.0 : at.number("p") * std::pow(x[0], at.number("p") - 1);
                         },
                     // A whole exponent p >= 0 takes any base; other exponents a positive one.
                     .domain_of =
                         [](const Attrs& at) {
                             const double p = at.number("p");
                             return p >= 0 && p == std::floor(p) ? Domain{K::Any, 2.0} : Domain{K::Positive};
                         }}},
         .f = [](const Args& x, const Attrs& at) { return std::pow(x[0], at.number("p")); },
         .attrs = {{"p", AttrType::Number, std::nullopt, "the constant exponent"}}},
        {.name = "square",
         .summary = "a^2",
         .forward = "{a}^2",
         .inputs = {{.name = "a",
                     .local = "2*{a}",
                     .derivative = [](const Args& x, double, auto&) { return 2 * x[0]; }}},
         .f = [](const Args& x, auto&) { return x[0] * x[0]; }},
        {.name = "sqrt",
         .summary = "sqrt(v + eps), eps an optional second input (e.g. a const)",
         .forward = "sqrt({v}{[ + {eps}]})",
         .inputs = {{.name = "v",
                     .local = "0.5/sqrt({v}{[ + {eps}]})",
                     .derivative = [](auto&, double y, auto&) { return 0.5 / y; },
                     .domain = {K::Positive}},
                    {.name = "eps",
                     .local = "0.5/sqrt({v}{[ + {eps}]})",
                     .derivative = [](auto&, double y, auto&) { return 0.5 / y; },
                     .optional = true,
                     .domain = {K::Positive}}},
         .f = [](const Args& x, auto&) { return std::sqrt(x[0] + x[1]); }},
        {.name = "reciprocal",
         .summary = "1/v",
         .forward = "1/{v}",
         .inputs = {{.name = "v",
                     .local = "-1/{v}^2",
                     .derivative = [](const Args& x, double, auto&) { return -1 / (x[0] * x[0]); },
                     .domain = {K::Positive}}},
         .f = [](const Args& x, auto&) { return 1 / x[0]; }},
        {.name = "exp",
         .summary = "e^a",
         .forward = "exp({a})",
         .inputs = {{.name = "a",
                     .local = "exp({a})",
                     .derivative = [](auto&, double y, auto&) { return y; },
                     .domain = {K::Any, 2.0}}},
         .f = [](const Args& x, auto&) { return std::exp(x[0]); }},
        {.name = "log",
         .summary = "natural logarithm",
         .forward = "log({a})",
         .inputs = {{.name = "a",
                     .local = "1/{a}",
                     .derivative = [](const Args& x, double, auto&) { return 1 / x[0]; },
                     .domain = {K::Positive}}},
         .f = [](const Args& x, auto&) { return std::log(x[0]); }},
        {.name = "sigmoid",
         .summary = "the logistic function 1/(1 + e^-a); its local gradient reuses the output",
         .forward = "1/(1 + exp(-{a}))",
         .inputs = {{.name = "a",
                     .local = "{out}*(1 - {out})",
                     .derivative = [](auto&, double y, auto&) { return y * (1 - y); }}},
         .f = [](const Args& x, auto&) { return 1 / (1 + std::exp(-x[0])); }},
    };
}

}  // namespace

void add_elementwise_ops(OpTable& t) {
    for (const auto& s : arithmetic()) t.add(build(s));
    for (const auto& s : functions()) t.add(build(s));
    for (const ScalarOp& s : {relu(), hardtanh(), clip()}) t.add(build(s));
    // sqrt(v + eps) of a staged variance: a v of at most 10 * eps is a column of (almost) zero variance.
    t.find_mutable("sqrt")->degenerate = [](const OpCall& call) {
        if (!call.has_input(1)) return std::string();
        const Tensor& v = call.input(0);
        const Tensor& eps = call.input(1);
        if (eps.size() != 1 && eps.shape() != v.shape()) return std::string();
        for (std::size_t k = 0; k < v.size(); ++k) {
            const double e = eps.size() == 1 ? eps[0] : eps[k];
            if (v[k] <= 10 * e)
                return fmt::format("a variance {}{} = {} of at most 10 * eps = {} under the square root", "v",
                                   index_str(v.unravel(k)), v[k], 10 * e);
        }
        return std::string();
    };
}

}  // namespace bnstep::ops
