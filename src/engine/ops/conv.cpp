// 2-D convolution, NCHW, weights (K, C/groups, R, S), optional bias (K,).
// groups = 1 is the ordinary convolution, groups = C the depthwise one.
#include <algorithm>
#include <fmt/format.h>

#include "ops/conv_kernels.hpp"
#include "ops/explain.hpp"
#include "ops/families.hpp"
#include "ops/reach.hpp"

namespace bnstep::ops {
namespace {

// The widest table of read counts a worked element shows, in characters.
constexpr std::size_t kReadsTableWidth = 60;

std::size_t positive_attr(const Attrs& a, const char* name, long long min) {
    const long long v = a.integer(name);
    if (v < min) throw ShapeError(fmt::format("attribute {} must be at least {}, got {}", name, min, v));
    return static_cast<std::size_t>(v);
}

ConvGeometry geometry(const Shape& x, const Shape& w, const Attrs& a) {
    if (x.size() != 4) throw ShapeError(fmt::format("x must be (N, C, H, W), got {}", shape_str(x)));
    if (w.size() != 4) throw ShapeError(fmt::format("w must be (K, C/groups, R, S), got {}", shape_str(w)));
    ConvGeometry g;
    g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
    g.k = w[0], g.r = w[2], g.s = w[3];
    g.stride = positive_attr(a, "stride", 1);
    g.padding = positive_attr(a, "padding", 0);
    g.dilation = positive_attr(a, "dilation", 1);
    g.groups = positive_attr(a, "groups", 1);
    if (g.c % g.groups != 0 || g.k % g.groups != 0)
        throw ShapeError(fmt::format("groups = {} must divide the input channels C = {} and the filters K = {}",
                                     g.groups, g.c, g.k));
    if (w[1] != g.c / g.groups)
        throw ShapeError(fmt::format("w {} must have C/groups = {}/{} = {} channels, got {}", shape_str(w), g.c,
                                     g.groups, g.c / g.groups, w[1]));
    g.ho = conv_out_size(g.h, g.r, g.stride, g.padding, g.dilation);
    g.wo = conv_out_size(g.w, g.s, g.stride, g.padding, g.dilation);
    if (g.ho == 0 || g.wo == 0)
        throw ShapeError(fmt::format("the {}x{} kernel (dilation {}) does not fit the {}x{} input with padding {}", g.r,
                                     g.s, g.dilation, g.h, g.w, g.padding));
    return g;
}

ConvGeometry geometry(const OpCall& call) {
    return geometry(call.input(0).shape(), call.input(1).shape(), *call.attrs);
}

bool inside(const ConvGeometry& g, long long h, long long v) {
    return h >= 0 && v >= 0 && h < static_cast<long long>(g.h) && v < static_cast<long long>(g.w);
}

// The input row (or column) a window reads, as text: the output index
// `out` (a number or a letter) times the stride, plus the tap, minus the padding.
std::string window(const std::string& out, const std::string& tap, const ConvGeometry& g) {
    std::string s = g.stride == 1 ? out : out + "*" + std::to_string(g.stride);
    s += "+" + (g.dilation == 1 ? tap : std::to_string(g.dilation) + "*" + tap);
    if (g.padding) s += "-" + std::to_string(g.padding);
    return s;
}

std::string term(const NumFmt& num, double a, double b) { return fmt::format("({})({})", num(a), num(b)); }

Worked conv_explain_forward(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const ConvGeometry g = geometry(call);
    const Tensor& x = call.input(0);
    const Tensor& w = call.input(1);
    const bool bias = call.has_input(2);
    const std::size_t n = at[0], k = at[1], i = at[2], j = at[3];
    const std::size_t c0 = g.input_channel(k, 0);
    Worked out;
    out.lhs = element(names.out, call.out->shape(), concrete(at));
    const bool one_channel = g.c_per_group() == 1;  // depthwise: the filter's only channel is 0
    out.symbolic = fmt::format("{}sum_{{{}r,s}} {}[{},{},r,s] * {}[{},{},{},{}]",
                               bias ? names.in[2] + fmt::format("[{}] + ", k) : "", one_channel ? "" : "c,",
                               names.in[1], k, one_channel ? "0" : "c", names.in[0], n,
                               one_channel ? std::to_string(c0)
                               : c0        ? fmt::format("{}+c", c0)
                                           : "c",
                               window(std::to_string(i), "r", g), window(std::to_string(j), "s", g));
    std::vector<std::string> terms;
    std::size_t skipped = 0;
    for (std::size_t c = 0; c < g.c_per_group(); ++c)
        for (std::size_t r = 0; r < g.r; ++r)
            for (std::size_t s = 0; s < g.s; ++s) {
                const long long h = g.in_row(i, r), v = g.in_col(j, s);
                if (!inside(g, h, v)) {
                    ++skipped;
                    continue;
                }
                terms.push_back(
                    term(num, w.at({k, c, r, s}), x.at({n, g.input_channel(k, c), (std::size_t)h, (std::size_t)v})));
            }
    out.numeric =
        (bias ? num.operand(call.input(2)[k]) + " + " : std::string()) + (terms.empty() ? "0" : join_terms(terms, num));
    out.result = call.out->at(at);
    if (skipped)
        out.notes.push_back(fmt::format("{} of the {} kernel positions fall in the zero padding and add nothing",
                                        skipped, g.c_per_group() * g.r * g.s));
    return out;
}

// dx's formula, the sum given: it runs over the outputs (i,j) whose window reads (p,q).
std::string input_formula(const std::string& sum) {
    return "d{x}[n,c,p,q] = " + sum +
           " over the outputs (i,j) whose window reads (p,q): p = i*stride + r*dilation - padding, q = j*stride + "
           "s*dilation - padding; the full correlation of d{out} with the flipped kernels (stride {stride}, padding "
           "{padding}, dilation {dilation}, groups {groups})";
}

// dw's formula: the weight's index `kc`, the input channel filter k reads as its channel c, and what defines it.
std::string weight_formula(const std::string& kc, const std::string& channel, const std::string& where) {
    return "d{w}[" + kc + ",r,s] = sum_{n,i,j} d{out}[n,k,i,j] * {x}[n," + channel +
           ",i*stride + r*dilation - padding, j*stride + s*dilation - padding]" + where +
           ": the correlation of {x} with d{out} (padding reads 0)";
}

// dx's formula for a node: the ordinary, depthwise or grouped case.
std::string input_formula_for(const std::vector<Shape>& in, const Attrs& a) {
    const ConvGeometry g = geometry(in[0], in[1], a);
    const std::size_t cg = g.c_per_group(), kg = g.k_per_group();
    if (g.groups == 1) return input_formula("sum_{k,r,s} d{out}[n,k,i,j] * {w}[k,c,r,s]");
    if (cg == 1 && kg == 1)
        return input_formula("sum_{r,s} d{out}[n,c,i,j] * {w}[c,0,r,s] (depthwise: filter c alone)");
    if (cg == 1)
        return input_formula(
            fmt::format("sum over r, s and the filters k = {0}c ... {0}c + {1} of channel c: "
                        "d{{out}}[n,k,i,j] * {{w}}[k,0,r,s]",
                        kg, kg - 1));
    return input_formula(
        fmt::format("sum over r, s and the filters k = {0}g ... {0}g + {1} of the group g = "
                    "floor(c/{2}) of c: d{{out}}[n,k,i,j] * {{w}}[k,c - {2}g,r,s]",
                    kg, kg - 1, cg));
}

InputRule input_rule() {
    InputRule rule;
    rule.name = "x";
    rule.formula = input_formula(
        "sum over r, s and the filters k of the group g = floor(c/(C/groups)) of c: d{out}[n,k,i,j] * "
        "{w}[k,c - g*C/groups,r,s]");
    rule.formula_for = input_formula_for;
    rule.vjp = [](const OpCall& call, const Tensor& up) { return conv_input_grad(geometry(call), up, call.input(1)); };
    rule.explain = [](const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
        const ConvGeometry g = geometry(call);
        const Tensor& w = call.input(1);
        const std::size_t n = at[0], c = at[1], h = at[2], v = at[3];
        const std::size_t group = c / g.c_per_group(), cc = c % g.c_per_group();
        std::vector<std::string> symbols, terms;
        double result = 0.0;
        for (std::size_t k = group * g.k_per_group(); k < (group + 1) * g.k_per_group(); ++k)
            for (std::size_t r = 0; r < g.r; ++r)
                for (std::size_t s = 0; s < g.s; ++s) {
                    const long long ih = static_cast<long long>(h + g.padding) - static_cast<long long>(r * g.dilation);
                    const long long jw = static_cast<long long>(v + g.padding) - static_cast<long long>(s * g.dilation);
                    if (ih < 0 || jw < 0 || ih % (long long)g.stride || jw % (long long)g.stride) continue;
                    const std::size_t i = static_cast<std::size_t>(ih) / g.stride,
                                      j = static_cast<std::size_t>(jw) / g.stride;
                    if (i >= g.ho || j >= g.wo) continue;
                    symbols.push_back(fmt::format("{}[{},{},{},{}]*{}[{},{},{},{}]", names.upstream, n, k, i, j,
                                                  names.in[1], k, cc, r, s));
                    terms.push_back(term(num, up.at({n, k, i, j}), w.at({k, cc, r, s})));
                    result += up.at({n, k, i, j}) * w.at({k, cc, r, s});
                }
        Worked out;
        out.lhs = element(names.downstream, call.input(0).shape(), concrete(at));
        if (symbols.empty()) {
            out.symbolic = "0";
            out.notes.push_back(fmt::format("no output window reads {}[{},{},{},{}], so it receives no gradient",
                                            names.in[0], n, c, h, v));
        } else {
            out.symbolic = join_terms(symbols);
            out.numeric = join_terms(terms, num);
            out.notes.push_back(fmt::format("{} (filter, window) pair{} read {}[{},{},{},{}]", symbols.size(),
                                            symbols.size() == 1 ? "" : "s", names.in[0], n, c, h, v));
        }
        out.result = result;
        // How many windows read each position of this channel: 0 marks inputs that get no gradient.
        Tensor reads(Shape{g.h, g.w});
        for (std::size_t i = 0; i < g.ho; ++i)
            for (std::size_t j = 0; j < g.wo; ++j)
                for (std::size_t r = 0; r < g.r; ++r)
                    for (std::size_t s = 0; s < g.s; ++s) {
                        const long long hh = g.in_row(i, r), vv = g.in_col(j, s);
                        if (inside(g, hh, vv))
                            reads[(std::size_t)hh * g.w + (std::size_t)vv] += double(g.k_per_group());
                    }
        const auto [fewest, most] = std::minmax_element(reads.data().begin(), reads.data().end());
        // A table row per input row, each column at least one wider than the largest count, so
        // that rows start with a space; a summary instead where the rows would not fit a line.
        const std::size_t width = std::max<std::size_t>(3, fmt::format("{}", *most).size() + 1);
        if (g.w * width > kReadsTableWidth) {
            const auto none = std::count(reads.data().begin(), reads.data().end(), 0.0);
            out.notes.push_back(fmt::format("{} to {} (filter, window) pairs read each {}[{},{},h,w]{}", *fewest, *most,
                                            names.in[0], n, c,
                                            none ? fmt::format(", none {} of them", none) : std::string()));
            return out;
        }
        out.notes.push_back(fmt::format("how many (filter, window) pairs read each {}[{},{},h,w]:", names.in[0], n, c));
        for (std::size_t hh = 0; hh < g.h; ++hh) {
            std::string row;
            for (std::size_t vv = 0; vv < g.w; ++vv) row += fmt::format("{:>{}}", reads.at({hh, vv}), width);
            out.notes.push_back(row);
        }
        return out;
    };
    return rule;
}

InputRule weight_rule() {
    InputRule rule;
    rule.name = "w";
    rule.formula = weight_formula("k,c", "g*C/groups + c", ", g = floor(k/(K/groups)) the group of filter k");
    rule.formula_for = [](const std::vector<Shape>& in, const Attrs& a) {
        const ConvGeometry g = geometry(in[0], in[1], a);
        const std::size_t cg = g.c_per_group(), kg = g.k_per_group();
        if (g.groups == 1) return weight_formula("k,c", "c", "");
        if (cg == 1 && kg == 1) return weight_formula("k,0", "k", " (depthwise: filter k reads channel k alone)");
        if (cg == 1) return weight_formula("k,0", fmt::format("floor(k/{})", kg), "");
        return weight_formula("k,c", fmt::format("{}g + c", cg),
                              fmt::format(", g = floor(k/{}) the group of filter k", kg));
    };
    rule.vjp = [](const OpCall& call, const Tensor& up) { return conv_weight_grad(geometry(call), up, call.input(0)); };
    rule.explain = [](const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
        const ConvGeometry g = geometry(call);
        const Tensor& x = call.input(0);
        const std::size_t k = at[0], c = at[1], r = at[2], s = at[3];
        const std::size_t cin = g.input_channel(k, c);
        Worked out;
        out.lhs = element(names.downstream, call.input(1).shape(), concrete(at));
        out.symbolic = fmt::format("sum_{{n,i,j}} {}[n,{},i,j] * {}[n,{},{},{}]", names.upstream, k, names.in[0], cin,
                                   window("i", std::to_string(r), g), window("j", std::to_string(s), g));
        std::vector<std::string> terms;
        std::size_t skipped = 0;
        for (std::size_t n = 0; n < g.n; ++n)
            for (std::size_t i = 0; i < g.ho; ++i)
                for (std::size_t j = 0; j < g.wo; ++j) {
                    const long long h = g.in_row(i, r), v = g.in_col(j, s);
                    if (!inside(g, h, v)) {
                        ++skipped;
                        continue;
                    }
                    const double a = up.at({n, k, i, j}), b = x.at({n, cin, (std::size_t)h, (std::size_t)v});
                    terms.push_back(term(num, a, b));
                    out.result += a * b;
                }
        out.numeric = terms.empty() ? "0" : join_terms(terms, num);
        if (skipped)
            out.notes.push_back(fmt::format("{} of the {} output positions read the zero padding here and add nothing",
                                            skipped, g.n * g.ho * g.wo));
        return out;
    };
    return rule;
}

InputRule bias_rule() {
    InputRule rule;
    rule.name = "b";
    rule.optional = true;
    rule.formula = "d{b}[k] = sum_{n,i,j} d{out}[n,k,i,j] (each bias adds to every position of its channel)";
    rule.vjp = [](const OpCall& call, const Tensor& up) {
        const ConvGeometry g = geometry(call);
        Tensor db(Shape{g.k});
        for (std::size_t e = 0; e < up.size(); ++e) db[(e / (g.ho * g.wo)) % g.k] += up[e];
        return db;
    };
    rule.explain = [](const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
        const ConvGeometry g = geometry(call);
        const std::size_t k = at[0];
        Worked out;
        out.lhs = element(names.downstream, Shape{g.k}, concrete(at));
        out.symbolic = fmt::format("sum_{{n,i,j}} {}[n,{},i,j]", names.upstream, k);
        std::vector<std::string> terms;
        for (std::size_t n = 0; n < g.n; ++n)
            for (std::size_t e = 0; e < g.ho * g.wo; ++e) {
                const double v = up[(n * g.k + k) * g.ho * g.wo + e];
                terms.push_back(num.operand(v));
                out.result += v;
            }
        out.numeric = join_terms(terms, num);
        return out;
    };
    return rule;
}

// x[n,c,h,w] reaches batch n, the filters of c's group, the outputs whose
// windows read (h,w); w[k] and b[k] reach the filters of k's group (so that
// a slice holds whole groups). An output box reads x over its windows, the
// padding included, and w and b of its filters.
ReachRule conv_reach() {
    const auto axes = [](const ConvGeometry& g) {
        return std::make_pair(
            WindowAxis{(long long)g.r, (long long)g.stride, (long long)g.padding, (long long)g.dilation},
            WindowAxis{(long long)g.s, (long long)g.stride, (long long)g.padding, (long long)g.dilation});
    };
    return {.affects =
                [axes](const std::vector<Shape>& in, const Shape& out, const Attrs& a, std::size_t slot,
                       const Box& changed) {
                    const ConvGeometry g = geometry(in[0], in[1], a);
                    const auto kg = (long long)g.k_per_group(), cg = (long long)g.c_per_group();
                    Box b = Box::whole(out);
                    if (slot == 0) {
                        b.lo[0] = changed.lo[0];
                        b.hi[0] = changed.hi[0];
                        b.lo[1] = changed.lo[1] / cg * kg;
                        b.hi[1] = (changed.hi[1] + cg - 1) / cg * kg;
                        const auto [rows, cols] = axes(g);
                        reach_window(b, changed, out, rows, cols);
                    } else {
                        b.lo[1] = changed.lo[0] / kg * kg;
                        b.hi[1] = (changed.hi[0] + kg - 1) / kg * kg;
                    }
                    return b;
                },
            .reads =
                [axes](const std::vector<Shape>& in, const Shape&, const Attrs& a, const Box& out_box) {
                    const ConvGeometry g = geometry(in[0], in[1], a);
                    const auto kg = (long long)g.k_per_group(), cg = (long long)g.c_per_group();
                    Box x = Box::whole(in[0]), w = Box::whole(in[1]);
                    x.lo[0] = out_box.lo[0];
                    x.hi[0] = out_box.hi[0];
                    x.lo[1] = out_box.lo[1] / kg * cg;
                    x.hi[1] = (out_box.hi[1] + kg - 1) / kg * cg;
                    const auto [rows, cols] = axes(g);
                    read_window(x, out_box, rows, cols);
                    w.lo[0] = out_box.lo[1];
                    w.hi[0] = out_box.hi[1];
                    std::vector<Box> boxes{x, w};
                    if (in.size() > 2) boxes.push_back(Box{{out_box.lo[1]}, {out_box.hi[1]}});
                    return boxes;
                },
            .sliced_attrs =
                [](const Attrs& a, const std::vector<Shape>& in, const Box& out_box) {
                    const ConvGeometry g = geometry(in[0], in[1], a);
                    const auto kg = (long long)g.k_per_group();
                    return with_integer(with_integer(a, "padding", 0), "groups", (out_box.extent(1) + kg - 1) / kg);
                }};
}

OpDef conv2d() {
    return {.name = "conv2d",
            .family = "conv",
            .summary =
                "2-D convolution of x (N, C, H, W) with w (K, C/groups, R, S) and an optional bias b (K,); "
                "groups = C is depthwise",
            .forward_formula =
                "conv2d({x}, {w}{[, {b}]}; stride {stride}, padding {padding}, dilation {dilation}, groups {groups})",
            .inputs = {input_rule(), weight_rule(), bias_rule()},
            .attrs = {{"stride", AttrType::Int, 1.0, "step between windows", {.min = 1}},
                      {"padding", AttrType::Int, 0.0, "zeros added on every side", {.min = 0}},
                      {"dilation", AttrType::Int, 1.0, "spacing between kernel taps", {.min = 1}},
                      {"groups", AttrType::Int, 1.0, "channel groups: 1 is ordinary, C is depthwise", {.min = 1}}},
            .shape =
                [](const std::vector<Shape>& in, const Attrs& a) {
                    const ConvGeometry g = geometry(in[0], in[1], a);
                    if (in.size() > 2 && in[2] != Shape{g.k})
                        throw ShapeError(fmt::format("b must have shape ({},) for K = {} filters, got {}", g.k, g.k,
                                                     shape_str(in[2])));
                    return Shape{g.n, g.k, g.ho, g.wo};
                },
            .forward =
                [](const OpCall& call) {
                    return conv_forward(geometry(call), call.input(0), call.input(1),
                                        call.has_input(2) ? &call.input(2) : nullptr);
                },
            .explain = conv_explain_forward,
            .cost =
                [](const std::vector<Shape>& in, const Shape&, const Attrs& a) {
                    const ConvGeometry g = geometry(in[0], in[1], a);
                    return Cost{g.macs(),
                                fmt::format("N*K*(C/groups)*R*S*Ho*Wo = {}*{}*{}*{}*{}*{}*{}", g.n, g.k,
                                            g.c_per_group(), g.r, g.s, g.ho, g.wo),
                                fmt::format("K*(C/groups)*R*S = {}*{}*{}*{}", g.k, g.c_per_group(), g.r, g.s)};
                },
            .window_taps = [](const std::vector<Shape>& in,
                              const Attrs&) { return saturating_mul(saturating_mul(in[1][1], in[1][2]), in[1][3]); },
            .reach = conv_reach()};
}

}  // namespace

void add_conv_ops(OpTable& t) { t.add(conv2d()); }

}  // namespace bnstep::ops
