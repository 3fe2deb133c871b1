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
    ScalarOp op{"relu",
                "max(a, 0); at a = 0 the gradient is 0 (the convention PyTorch uses)",
                "max({a}, 0)",
                {in(
                    "a", "1 if {a} > 0 else 0", [](const Args& x, double, auto&) { return x[0] > 0 ? 1.0 : 0.0; },
                    false, " (at {a} = 0 the gradient is 0, as in PyTorch)")},
                [](const Args& x, auto&) { return x[0] > 0 ? x[0] : 0.0; }};
    op.piece = [](const Args& x, const Attrs&) { return x[0] > 0 ? 1LL : x[0] < 0 ? -1LL : 0LL; };
    return op;
}

// PyTorch's hardtanh_backward passes the gradient strictly inside the bounds.
ScalarOp hardtanh() {
    ScalarOp op{
        "hardtanh",
        "x clipped to [min, max]; the gradient is 1 strictly inside and 0 at the bounds and beyond, as PyTorch's "
        "hardtanh (compare clip)",
        "hardtanh({x}, {min}, {max})",
        {in(
            "x", "1 if {min} < {x} < {max} else 0",
            [](const Args& x, double, const Attrs& a) {
                return a.number("min") < x[0] && x[0] < a.number("max") ? 1.0 : 0.0;
            },
            false, " (0 at {x} = {min} and at {x} = {max}, as PyTorch's hardtanh)")},
        clamp_to,
        bounds(-1.0, 1.0)};
    op.piece = [](const Args& x, const Attrs& a) { return bound_piece(x[0], a.number("min"), a.number("max")); };
    op.check_attrs = check_bounds;
    return op;
}

// PyTorch's clamp backward passes the gradient at the bounds too.
ScalarOp clip() {
    ScalarOp op{"clip",
                "x clamped to [min, max] as torch.clamp; the gradient is 1 from min to max, bounds included, and 0 "
                "beyond (hardtanh gives 0 at the bounds)",
                "clip({x}, {min}, {max})",
                {in(
                    "x", "1 if {min} <= {x} <= {max} else 0",
                    [](const Args& x, double, const Attrs& a) {
                        return a.number("min") <= x[0] && x[0] <= a.number("max") ? 1.0 : 0.0;
                    },
                    false, " (1 at {x} = {min} and at {x} = {max}, as torch.clamp; hardtanh gives 0 there)")},
                clamp_to,
                bounds(std::nullopt, std::nullopt)};
    op.piece = [](const Args& x, const Attrs& a) { return bound_piece(x[0], a.number("min"), a.number("max")); };
    op.check_attrs = check_bounds;
    return op;
}

}  // namespace

void add_elementwise_ops(OpTable& t) {
    const std::vector<ScalarOp> ops = {
        {"add",
         "a + b, broadcast",
         "{a} + {b}",
         {in("a", "1", [](auto&, double, auto&) { return 1.0; }),
          in("b", "1", [](auto&, double, auto&) { return 1.0; })},
         [](const Args& x, auto&) { return x[0] + x[1]; }},
        {"sub",
         "a - b, broadcast",
         "{a} - {b}",
         {in("a", "1", [](auto&, double, auto&) { return 1.0; }),
          in("b", "-1", [](auto&, double, auto&) { return -1.0; })},
         [](const Args& x, auto&) { return x[0] - x[1]; }},
        {"mul",
         "a * b, broadcast; each input's local gradient is the other input",
         "{a} * {b}",
         {in("a", "{b}", [](const Args& x, double, auto&) { return x[1]; }),
          in("b", "{a}", [](const Args& x, double, auto&) { return x[0]; })},
         [](const Args& x, auto&) { return x[0] * x[1]; }},
        {"div",
         "a / b, broadcast",
         "{a} / {b}",
         {in("a", "1/{b}", [](const Args& x, double, auto&) { return 1.0 / x[1]; }),
          in("b", "-{a}/{b}^2", [](const Args& x, double, auto&) { return -x[0] / (x[1] * x[1]); })},
         [](const Args& x, auto&) { return x[0] / x[1]; }},
        {"neg",
         "-a",
         "-{a}",
         {in("a", "-1", [](auto&, double, auto&) { return -1.0; })},
         [](const Args& x, auto&) { return -x[0]; }},
        {"pow",
         "a^p for a constant exponent p",
         "{a}^{p}",
         {in("a", "{p}*{a}^({p}-1)",
             [](const Args& x, double, const Attrs& at) {
                 return at.number("p") == 0 ? 0.0 : at.number("p") * std::pow(x[0], at.number("p") - 1);
             })},
         [](const Args& x, const Attrs& at) { return std::pow(x[0], at.number("p")); },
         {{"p", AttrType::Number, std::nullopt, "the constant exponent"}}},
        {"square",
         "a^2",
         "{a}^2",
         {in("a", "2*{a}", [](const Args& x, double, auto&) { return 2 * x[0]; })},
         [](const Args& x, auto&) { return x[0] * x[0]; }},
        {"sqrt",
         "sqrt(v + eps), eps an optional second input (e.g. a const)",
         "sqrt({v}{[ + {eps}]})",
         {in("v", "0.5/sqrt({v}{[ + {eps}]})", [](auto&, double y, auto&) { return 0.5 / y; }),
          in(
              "eps", "0.5/sqrt({v}{[ + {eps}]})", [](auto&, double y, auto&) { return 0.5 / y; }, true)},
         [](const Args& x, auto&) { return std::sqrt(x[0] + x[1]); }},
        {"reciprocal",
         "1/v",
         "1/{v}",
         {in("v", "-1/{v}^2", [](const Args& x, double, auto&) { return -1 / (x[0] * x[0]); })},
         [](const Args& x, auto&) { return 1 / x[0]; }},
        {"exp",
         "e^a",
         "exp({a})",
         {in("a", "exp({a})", [](auto&, double y, auto&) { return y; })},
         [](const Args& x, auto&) { return std::exp(x[0]); }},
        {"log",
         "natural logarithm",
         "log({a})",
         {in("a", "1/{a}", [](const Args& x, double, auto&) { return 1 / x[0]; })},
         [](const Args& x, auto&) { return std::log(x[0]); }},
    };
    for (const auto& s : ops) t.add(build(s));
    for (const ScalarOp& s : {relu(), hardtanh(), clip()}) t.add(build(s));
}

}  // namespace bnstep::ops
