// Incremental network quantization (INQ, Zhou et al. 2017): a portion of the
// weights becomes 0 or a signed power of two and is frozen; the rest stay
// full precision and keep training.
#include <cmath>
#include <fmt/format.h>

#include "ops/compression.hpp"
#include "ops/explain.hpp"
#include "ops/families.hpp"

namespace bnstep::ops {
namespace {

constexpr long long kMaxExponent = 60;

// P = {0, 2^n2, ..., 2^n1}. With beta in P and alpha the element below it,
// |w| in [(alpha + beta)/2, 3*beta/2) becomes beta (eq. 4 of the paper):
// 2^k for |w| in [3*2^(k-2), 3*2^(k-1)), from 2^(n2-1) for k = n2; below
// 2^(n2-1) it becomes 0, and from 3*2^(n1-2) on it stays 2^n1.
struct PowerGrid {
    int n1 = 0, n2 = 0;
    // 0 for the zero bin, else 1 + k - n2 for the bin of 2^k.
    long long bin(double w) const {
        const double a = std::fabs(w);
        if (a < std::ldexp(1.0, n2 - 1)) return 0;
        int k = n2;
        while (k < n1 && a >= std::ldexp(3.0, k - 1)) ++k;
        return 1 + k - n2;
    }
    double value(long long b) const { return b == 0 ? 0.0 : std::ldexp(1.0, n2 + static_cast<int>(b) - 1); }
    double quantize(double w) const { return value(bin(w)) * sign_of(w); }
    long long bins() const { return 1 + n1 - n2; }  // nonzero bins
    // [lower, upper) of a bin's |w|.
    std::string range(long long b, const NumFmt& num) const {
        if (b == 0) return fmt::format("[0, 2^{}) = [0, {})", n2 - 1, num(std::ldexp(1.0, n2 - 1)));
        const int k = n2 + static_cast<int>(b) - 1;
        const double lower = k == n2 ? std::ldexp(1.0, n2 - 1) : std::ldexp(3.0, k - 2);
        const std::string lower_text = k == n2 ? fmt::format("2^{}", n2 - 1) : fmt::format("3*2^{}", k - 2);
        if (k == n1) return fmt::format("[{}, inf) = [{}, inf)", lower_text, num(lower));
        return fmt::format("[{}, 3*2^{}) = [{}, {})", lower_text, k - 1, num(lower), num(std::ldexp(3.0, k - 1)));
    }
};

PowerGrid power_grid_of(const Attrs& a) {
    const long long n1 = a.integer("n1"), n2 = a.integer("n2");
    for (const auto& [name, n] : {std::pair{"n1", n1}, std::pair{"n2", n2}})
        if (n < -kMaxExponent || n > kMaxExponent)
            throw AttrError(fmt::format("{} must be from {} to {}, got {}", name, -kMaxExponent, kMaxExponent, n));
    if (n2 > n1) throw AttrError(fmt::format("n2 ({}) must not exceed n1 ({})", n2, n1));
    return {static_cast<int>(n1), static_cast<int>(n2)};
}

// Which weights are quantized: the mask, or the `fraction` of largest |W|.
std::vector<bool> quantized_of(const OpCall& call) {
    if (call.has_input(1)) return read_mask(call.input(1), "quantized");
    const Tensor& w = call.input(0);
    return by_magnitude(w, count_of(call.attrs->number("fraction"), w.size()), true);
}

Tensor pow2_forward(const OpCall& call) {
    const PowerGrid g = power_grid_of(*call.attrs);
    const Tensor& w = call.input(0);
    const std::vector<bool> quantized = quantized_of(call);
    Tensor out(w.shape());
    for (std::size_t i = 0; i < w.size(); ++i) out[i] = quantized[i] ? g.quantize(w[i]) : w[i];
    return out;
}

std::string why_quantized(const OpCall& call, const std::string& wi, const Index& at, bool quantized) {
    if (call.has_input(1))
        return fmt::format("mask{} = {}: {}", index_str(at), quantized ? 1 : 0,
                           quantized ? "quantized" : "not yet quantized, it stays full precision");
    const std::size_t n = call.input(0).size(), count = count_of(call.attrs->number("fraction"), n);
    return fmt::format("|{}| is {} the {} largest of {} (fraction {}): {}", wi, quantized ? "among" : "not among",
                       count, n, call.attrs->number("fraction"),
                       quantized ? "quantized" : "not yet quantized, it stays full precision");
}

// The bin of a quantized weight, signed, and one more id for a weight that
// is not quantized: a weight entering or leaving the quantized set changes piece.
std::vector<long long> pow2_pieces(const OpCall& call) {
    const PowerGrid g = power_grid_of(*call.attrs);
    const Tensor& w = call.input(0);
    const std::vector<bool> quantized = quantized_of(call);
    std::vector<long long> p(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) p[i] = quantized[i] ? sign_piece(w[i]) * g.bin(w[i]) : g.bins() + 1;
    return p;
}

Worked pow2_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const PowerGrid g = power_grid_of(*call.attrs);
    const Tensor& w = call.input(0);
    const std::size_t i = w.offset(at);
    const bool quantized = quantized_of(call)[i];
    const std::string wi = element(names.in[0], w.shape(), concrete(at));
    Worked out;
    out.lhs = element(names.out, w.shape(), concrete(at));
    out.result = call.out->at(at);
    out.notes.push_back(why_quantized(call, wi, at, quantized));
    if (!quantized) {
        out.symbolic = wi;
        out.numeric = num(w[i]);
        return out;
    }
    const long long b = g.bin(w[i]);
    out.symbolic = fmt::format("{} * sign({})", b == 0 ? std::string("0") : fmt::format("2^{}", g.n2 + b - 1), wi);
    out.numeric = fmt::format("({})({})", num(g.value(b)), num(sign_of(w[i])));
    out.notes.push_back(
        fmt::format("|{}| = {} lies in {}: {}", wi, num(std::fabs(w[i])), g.range(b, num),
                    b == 0 ? std::string("0") : fmt::format("2^{} = {}", g.n2 + b - 1, num(g.value(b)))));
    return out;
}

InputRule pow2_weights_rule() {
    return local_rule(
        "W",
        "∂{out}/∂{W} = 0 where {W} is quantized (frozen at its power of two), 1 where it is not yet (it passes "
        "unchanged); the true derivative",
        [](const OpCall& call) { return flags_as(call.input(0).shape(), quantized_of(call), false); },
        [](const OpCall& call, const Names& names, const Index& at, const NumFmt&) {
            const bool quantized = quantized_of(call)[call.input(0).offset(at)];
            const std::string wi = element(names.in[0], call.input(0).shape(), concrete(at));
            return LocalText{quantized ? "0" : "1",
                             {why_quantized(call, wi, at, quantized) +
                              (quantized ? ", so frozen: no gradient" : ", so the gradient passes")}};
        });
}

// Which weights are quantized, and the power of two each would take.
std::vector<Intermediate> pow2_intermediates(const OpCall& call, const Names& names) {
    const PowerGrid g = power_grid_of(*call.attrs);
    const Tensor& w = call.input(0);
    const std::vector<bool> quantized = quantized_of(call);
    Tensor mask(w.shape()), beta(w.shape());
    for (std::size_t i = 0; i < w.size(); ++i) {
        mask[i] = quantized[i] ? 1.0 : 0.0;
        beta[i] = g.value(g.bin(w[i]));
    }
    const std::string which = call.has_input(1)
                                  ? fmt::format("the mask {}", names.in[1])
                                  : fmt::format("1 for the {} weights of largest |{}| (fraction {}), else 0",
                                                count_of(call.attrs->number("fraction"), w.size()), names.in[0],
                                                call.attrs->number("fraction"));
    return {{"quantized", which, mask},
            {"beta", fmt::format("the element of P = {{0, 2^{}, ..., 2^{}}} for |{}|", g.n2, g.n1, names.in[0]), beta}};
}

// A tie of |W| at the boundary of the quantized fraction, or a weight exactly at
// a bin's threshold 3 * 2^(k-2).
std::string pow2_degenerate(const OpCall& call) {
    const Tensor& w = call.input(0);
    if (!call.has_input(1)) {
        std::string tie = magnitude_tie(w, count_of(call.attrs->number("fraction"), w.size()), true);
        if (!tie.empty()) return tie;
    }
    const PowerGrid g = power_grid_of(*call.attrs);
    const std::vector<bool> quantized = quantized_of(call);
    std::vector<double> thresholds{std::ldexp(1.0, g.n2 - 1)};
    for (int k = g.n2; k < g.n1; ++k) thresholds.push_back(std::ldexp(3.0, k - 1));
    for (std::size_t i = 0; i < w.size(); ++i)
        for (double t : thresholds)
            if (quantized[i] && hits(std::fabs(w[i]), t))
                return fmt::format("a quantized weight {} at the threshold {} between two powers of two", w[i], t);
    return {};
}

OpDef pow2_quantize() {
    return {.name = "pow2_quantize",
            .family = "quantization",
            .summary =
                "incremental network quantization (INQ, Zhou et al. 2017, eq. 4): a quantized weight becomes "
                "beta * sign(W), beta in P = {0, 2^n2, ..., 2^n1} being the value with (alpha + beta)/2 <= |W| < "
                "3*beta/2, alpha the element of P below beta: 2^k for |W| in [3*2^(k-2), 3*2^(k-1)) (from 2^(n2-1) "
                "for k = n2), 0 below 2^(n2-1), and 2^n1 from 3*2^(n1-2) on (the paper picks n1 so that no weight is "
                "larger). The quantized weights are those where the optional const input mask is 1, or else the "
                "round(fraction * size) of largest |W| (on a tie the lower index first); the others pass unchanged. "
                "Quantized weights are frozen: they get no gradient",
            .forward_formula = "beta(|{W}|) * sign({W}) where quantized, else {W}",
            .inputs = {pow2_weights_rule(),
                       {.name = "mask",
                        .optional = true,
                        .differentiable = false,
                        .domain = {Domain::Kind::Mask},
                        .formula = "none: {mask} says which weights are quantized (1) and which are not yet (0)"}},
            .attrs = {{"n1",
                       AttrType::Int,
                       std::nullopt,
                       "the largest exponent: 2^n1 is the largest magnitude",
                       {.min = -kMaxExponent, .max = kMaxExponent}},
                      {"n2",
                       AttrType::Int,
                       std::nullopt,
                       "the smallest exponent, n2 <= n1",
                       {.min = -kMaxExponent, .max = kMaxExponent}},
                      {"fraction",
                       AttrType::Number,
                       0.5,
                       "without a mask, the share of weights quantized, those of largest |W| (from 0 to 1)",
                       {.min = 0, .max = 1}}},
            .shape =
                [](const std::vector<Shape>& in, const Attrs& a) {
                    power_grid_of(a);
                    check_fraction(a, "fraction");
                    return weights_and_mask(in);
                },
            .forward = pow2_forward,
            .explain = pow2_explain,
            .pieces = pow2_pieces,
            .degenerate = pow2_degenerate,
            .intermediates = pow2_intermediates};
}

}  // namespace

void add_pow2_quantize_ops(OpTable& t) { t.add(pow2_quantize()); }

}  // namespace bnstep::ops
