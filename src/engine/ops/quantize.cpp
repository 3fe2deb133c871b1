// Quantization to a few levels: linear fake quantization (QNN, 8-bit) and
// ternary weights (TWN). Both are flat almost everywhere; the backward is a
// straight-through estimator.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "ops/compression.hpp"
#include "ops/explain.hpp"
#include "ops/families.hpp"

namespace bnstep::ops {
namespace {

// The integer grid of quantize: [qmin, qmax], x/scale rounded, zero_point added.
struct Grid {
    double qmin = 0, qmax = 0, scale = 1, zero_point = 0;
    double level(double x) const { return std::nearbyint(x / scale) + zero_point; }  // halves to even
    double q(double x) const { return std::clamp(level(x), qmin, qmax); }
    double out(double x) const { return (q(x) - zero_point) * scale; }
    bool passes(double x) const { return qmin <= level(x) && level(x) <= qmax; }
    // The surrogate clip(x, lo, hi) whose derivative is `passes`.
    double lo() const { return (qmin - zero_point - 0.5) * scale; }
    double hi() const { return (qmax - zero_point + 0.5) * scale; }
};

Grid grid_of(const Attrs& a) {
    const long long bits = a.integer("bits");
    if (bits < 1 || bits > 16) throw AttrError(fmt::format("bits must be from 1 to 16, got {}", bits));
    Grid g;
    g.qmin = a.flag("signed") ? -std::ldexp(1.0, static_cast<int>(bits) - 1) : 0.0;
    g.qmax = a.flag("signed") ? std::ldexp(1.0, static_cast<int>(bits) - 1) - 1
                              : std::ldexp(1.0, static_cast<int>(bits)) - 1;
    g.scale = a.number("scale");
    g.zero_point = static_cast<double>(a.integer("zero_point"));
    if (!(g.scale > 0)) throw AttrError(fmt::format("scale must be above 0, got {}", g.scale));
    if (g.zero_point < g.qmin || g.zero_point > g.qmax)
        throw AttrError(fmt::format("zero_point must be from qmin {} to qmax {} ({} bits{}), got {}", g.qmin, g.qmax,
                                    bits, a.flag("signed") ? ", signed" : "", g.zero_point));
    return g;
}

Tensor quantize_forward(const OpCall& call) {
    const Grid g = grid_of(*call.attrs);
    Tensor out(call.input(0).shape());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = g.out(call.input(0)[i]);
    return out;
}

Tensor quantize_local(const OpCall& call) {
    const Grid g = grid_of(*call.attrs);
    Tensor l(call.input(0).shape());
    for (std::size_t i = 0; i < l.size(); ++i) l[i] = g.passes(call.input(0)[i]) ? 1.0 : 0.0;
    return l;
}

// " + zero_point" and " - zero_point" in worked lines, left out when the zero point is 0.
std::string zero_point_term(const Grid& g, const char* sign) {
    return g.zero_point == 0 ? std::string() : fmt::format(" {} {}", sign, g.zero_point);
}

LocalText quantize_local_text(const OpCall& call, const Names& names, const Index& at, const NumFmt&) {
    const Grid g = grid_of(*call.attrs);
    const double x = call.input(0).at(at);
    const std::string xi = element(names.in[0], call.input(0).shape(), concrete(at));
    const std::string zp = zero_point_term(g, "+");
    return LocalText{
        fmt::format("(1 if {} <= round_half_even({}/{}){} <= {} else 0)", g.qmin, xi, g.scale, zp, g.qmax),
        {fmt::format("round_half_even({}/{}){} = {} is {} [{}, {}]: {}", xi, g.scale, zp, g.level(x),
                     g.passes(x) ? "within" : "outside", g.qmin, g.qmax,
                     g.passes(x) ? "the estimator passes the gradient" : "clamped, so no gradient passes")}};
}

Shape quantize_shape(const std::vector<Shape>& in, const Attrs& a) {
    grid_of(a);
    return in[0];
}

Worked quantize_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const Grid g = grid_of(*call.attrs);
    const double x = call.input(0).at(at);
    const std::string xi = element(names.in[0], call.input(0).shape(), concrete(at));
    const std::string plus = zero_point_term(g, "+"), minus = zero_point_term(g, "-");
    Worked w;
    w.lhs = element(names.out, call.out->shape(), concrete(at));
    if (g.zero_point == 0) {
        w.symbolic = fmt::format("clamp(round_half_even({}/{}), {}, {}) * {}", xi, g.scale, g.qmin, g.qmax, g.scale);
        w.numeric = fmt::format("{} * {}", g.q(x), g.scale);
    } else {
        w.symbolic = fmt::format("(clamp(round_half_even({}/{}){}, {}, {}){}) * {}", xi, g.scale, plus, g.qmin, g.qmax,
                                 minus, g.scale);
        w.numeric = fmt::format("({}{}) * {}", g.q(x), minus, g.scale);
    }
    w.result = call.out->at(at);
    w.notes.push_back(fmt::format("{}/scale = {}/{} = {}", xi, num.operand(x), g.scale, num(x / g.scale)));
    if (g.zero_point == 0)
        w.notes.push_back(fmt::format("rounded half to even: {}", g.level(x)));
    else
        w.notes.push_back(fmt::format("rounded half to even: {}; plus zero_point {}: {}", std::nearbyint(x / g.scale),
                                      g.zero_point, g.level(x)));
    w.notes.push_back(
        fmt::format("clamped to [{}, {}]: q = {}{}", g.qmin, g.qmax, g.q(x), g.passes(x) ? "" : " (saturated)"));
    if (g.zero_point == 0)
        w.notes.push_back(fmt::format("dequantized: q * scale = {} * {} = {}", g.q(x), g.scale, num(g.out(x))));
    else
        w.notes.push_back(fmt::format("dequantized: (q - zero_point) * scale = ({}{}) * {} = {}", g.q(x), minus,
                                      g.scale, num(g.out(x))));
    return w;
}

// The integer level of each element, and the range and step it lies on.
std::vector<Intermediate> quantize_intermediates(const OpCall& call, const Names& names) {
    const Grid g = grid_of(*call.attrs);
    const Tensor& x = call.input(0);
    Tensor q(x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) q[i] = g.q(x[i]);
    const std::string level = fmt::format("round_half_even({}/{}){}", names.in[0], g.scale, zero_point_term(g, "+"));
    return {{"q",
             fmt::format("clamp({}, {}, {}): the integer level of each element, {}/{} rounded half to even (scale {}, "
                         "levels {} to {})",
                         level, g.qmin, g.qmax, names.in[0], g.scale, g.scale, g.qmin, g.qmax),
             q}};
}

std::map<std::string, std::string> quantize_vars(const std::vector<Shape>&, const Attrs& a) {
    const Grid g = grid_of(a);
    // A zero point of 0 leaves its terms out of the formulas ({[ + {zero_point}]}).
    return std::map<std::string, std::string>{{"qmin", fmt::format("{}", g.qmin)},
                                              {"qmax", fmt::format("{}", g.qmax)},
                                              {"zero_point", g.zero_point == 0 ? "" : fmt::format("{}", g.zero_point)}};
}

// The level, with qmin - 1 and qmax + 1 for values clamped: where the
// level changes the output jumps, where clamping starts the gradient stops.
std::vector<long long> quantize_pieces(const OpCall& call) {
    const Grid g = grid_of(*call.attrs);
    return pieces_by_element(call.input(0), [&g](double x) {
        return static_cast<long long>(std::clamp(g.level(x), g.qmin - 1, g.qmax + 1));
    });
}

// The straight-through estimator as the derivative of clip(x, lo, hi).
Surrogate quantize_surrogate() {
    return anchored_surrogate(
        [](const Attrs& a) {
            const Grid g = grid_of(a);
            return fmt::format("clip(x, {}, {})", g.lo(), g.hi());
        },
        quantize_forward,
        [](double x, const Attrs& a) {
            const Grid g = grid_of(a);
            return std::clamp(x, g.lo(), g.hi());
        },
        [](const OpCall& call) {
            const Grid g = grid_of(*call.attrs);
            return pieces_by_element(call.input(0), [&g](double x) {
                return x < g.lo() ? -1LL : x > g.hi() ? 1LL : 0LL;
            });
        });
}

OpDef quantize() {
    return {
        .name = "quantize",
        .family = "quantization",
        .summary =
            "fake (simulated) linear quantization, as torch.fake_quantize_per_tensor_affine: x/scale rounded half to "
            "even, round_half_even (to the nearest integer, a half to the even one), plus zero_point, clamped to [qmin, qmax] = [0, 2^bits - 1], or "
            "[-2^(bits-1), 2^(bits-1) - 1] when signed, then mapped back to (q - zero_point) * scale. The backward "
            "is PyTorch's: the gradient passes where the level was not clamped",
        .forward_formula =
            "(clamp(round_half_even({x}/{scale}){[ + {zero_point}]}, {qmin}, {qmax}){[ - {zero_point}]}) * {scale}",
        .inputs = {local_rule(
            "x",
            "∂{out}/∂{x}: true derivative 0 almost everywhere; straight-through estimator: 1 where {qmin} <= "
            "round_half_even({x}/{scale}){[ + {zero_point}]} <= {qmax}, else 0 (identity inside the range, 0 where the level is clamped, "
            "as PyTorch's fake quantization)",
            quantize_local, quantize_local_text, true)},
        .attrs = {{"bits", AttrType::Int, 8.0, "bits per level, 1 to 16", {.min = 1, .max = 16}},
                  {"scale",
                   AttrType::Number,
                   std::nullopt,
                   "the step between levels, above 0",
                   {.min = 0, .above_min = true}},
                  {"zero_point", AttrType::Int, 0.0, "the level that stands for 0, from qmin to qmax"},
                  {"signed", AttrType::Bool, 0.0, "levels from -2^(bits-1) instead of from 0"}},
        .shape = quantize_shape,
        .forward = quantize_forward,
        .explain = quantize_explain,
        .vars = quantize_vars,
        .pieces = quantize_pieces,
        .surrogate = quantize_surrogate(),
        .intermediates = quantize_intermediates};
}

// TWN: t = -1 below -delta, 0 within [-delta, delta], +1 above delta;
// delta = delta_factor * mean|W|, alpha = mean |W_i| over the nonzero t_i.
struct Ternary {
    double mean_abs = 0, delta = 0, alpha = 0;
    std::size_t kept = 0;  // how many t_i are nonzero
    double t(double w) const { return w > delta ? 1.0 : w < -delta ? -1.0 : 0.0; }
};

Ternary ternary_of(const Tensor& w, const Attrs& a) {
    Ternary r;
    double sum = 0;
    for (double v : w.data()) sum += std::fabs(v);
    r.mean_abs = sum / static_cast<double>(w.size());
    r.delta = a.number("delta_factor") * r.mean_abs;
    double kept_sum = 0;
    for (double v : w.data())
        if (r.t(v) != 0) {
            kept_sum += std::fabs(v);
            ++r.kept;
        }
    r.alpha = r.kept == 0 ? 0.0 : kept_sum / static_cast<double>(r.kept);
    return r;
}

Tensor ternarize_forward(const OpCall& call) {
    const Tensor& w = call.input(0);
    const Ternary r = ternary_of(w, *call.attrs);
    Tensor out(w.shape());
    for (std::size_t i = 0; i < w.size(); ++i) out[i] = r.alpha * r.t(w[i]);
    return out;
}

// delta, alpha and the class t of each weight.
std::vector<Intermediate> ternary_intermediates(const OpCall& call, const Names& names) {
    const Tensor& w = call.input(0);
    const Ternary r = ternary_of(w, *call.attrs);
    const std::string& wn = names.in[0];
    Tensor t(w.shape());
    for (std::size_t i = 0; i < w.size(); ++i) t[i] = r.t(w[i]);
    return {{fmt::format("mean |{}|", wn), fmt::format("the mean of |{}| over its {} elements", wn, w.size()),
             Tensor::scalar(r.mean_abs)},
            {"delta", fmt::format("{} * mean |{}|", call.attrs->number("delta_factor"), wn), Tensor::scalar(r.delta)},
            {"t", fmt::format("+1 where {} > delta, -1 where {} < -delta, else 0", wn, wn), t},
            {"alpha", fmt::format("mean |{}| over the {} weights with t != 0", wn, r.kept), Tensor::scalar(r.alpha)}};
}

OpDef ternarize() {
    return {
        .name = "ternarize",
        .family = "quantization",
        .summary =
            "ternary weight networks (TWN) over the whole tensor: delta = delta_factor * mean |W|; t = -1 below "
            "-delta, 0 within [-delta, delta], +1 above delta; alpha = the mean |W| of the weights with t != 0 (0 "
            "if none); out = alpha * t. The backward holds delta and alpha constant and passes the gradient straight "
            "to W",
        .forward_formula = "alpha * t({W}), t in {-1, 0, +1} by comparing {W} with +-delta",
        .inputs = {local_rule(
            "W",
            "∂{out}/∂{W}: t({W}) has true derivative 0 almost everywhere; straight-through estimator: 1 (identity, as TWN: "
            "delta and alpha are held constant and d{out} passes straight to {W}, leaving out alpha's own derivative)",
            [](const OpCall& call) { return Tensor(call.input(0).shape(), 1.0); },
            [](const OpCall&, const Names&, const Index&, const NumFmt&) {
                return LocalText{"1", {"the straight-through estimator (identity): the gradient passes unchanged"}};
            },
            true)},
        .attrs = {{"delta_factor", AttrType::Number, 0.7, "delta as a multiple of mean |W| (TWN: 0.7)", {.min = 0}}},
        .shape =
            [](const std::vector<Shape>& in, const Attrs& a) {
                if (!(a.number("delta_factor") >= 0))
                    throw AttrError(fmt::format("delta_factor must be at least 0, got {}", a.number("delta_factor")));
                return in[0];
            },
        .forward = ternarize_forward,
        .explain =
            [](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
                const Tensor& w = call.input(0);
                const Ternary r = ternary_of(w, *call.attrs);
                const double v = w.at(at);
                const std::string wi = element(names.in[0], w.shape(), concrete(at));
                Worked out;
                out.lhs = element(names.out, w.shape(), concrete(at));
                out.symbolic = fmt::format("alpha * t({})", wi);
                out.numeric = fmt::format("({})({})", num(r.alpha), num(r.t(v)));
                out.result = call.out->at(at);
                out.notes.push_back(fmt::format("delta = {} * mean |{}| = {} * {} = {}",
                                                call.attrs->number("delta_factor"), names.in[0],
                                                call.attrs->number("delta_factor"), num(r.mean_abs), num(r.delta)));
                out.notes.push_back(r.kept == 0
                                        ? std::string("alpha = 0: no weight lies beyond +-delta")
                                        : fmt::format("alpha = mean |{}| over the {} weights beyond +-delta = {}",
                                                      names.in[0], r.kept, num(r.alpha)));
                const std::string cls = r.t(v) > 0   ? fmt::format("{} = {} > delta: t = +1", wi, num(v))
                                        : r.t(v) < 0 ? fmt::format("{} = {} < -delta: t = -1", wi, num(v))
                                                     : fmt::format("|{}| = {} <= delta: t = 0", wi, num(std::fabs(v)));
                out.notes.push_back(cls);
                return out;
            },
        // The class of each weight; delta and alpha move with W, but smoothly
        // while no weight changes class.
        .pieces =
            [](const OpCall& call) {
                const Ternary r = ternary_of(call.input(0), *call.attrs);
                return pieces_by_element(call.input(0), [&r](double v) { return static_cast<long long>(r.t(v)); });
            },
        // A weight exactly at +-delta: which class it falls in is the comparison's tie-break.
        .degenerate =
            [](const OpCall& call) {
                const Ternary r = ternary_of(call.input(0), *call.attrs);
                for (double v : call.input(0).data())
                    if (hits(std::fabs(v), r.delta))
                        return fmt::format("a weight {} at the threshold delta = {}", v, r.delta);
                return std::string();
            },
        .surrogate = anchored_surrogate([](const Attrs&) { return std::string("identity"); }, ternarize_forward,
                                        [](double v, const Attrs&) { return v; }, {}),
        .intermediates = ternary_intermediates};
}

}  // namespace

void add_quantize_ops(OpTable& t) {
    t.add(ternarize());
    t.add(quantize());
}

}  // namespace bnstep::ops
