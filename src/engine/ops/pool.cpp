// Pooling over windows of an (N, C, H, W) input: max, average, and the
// global average over each channel's whole image.
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "ops/explain.hpp"
#include "ops/families.hpp"
#include "ops/reach.hpp"

namespace bnstep::ops {
namespace {

struct PoolGeometry {
    std::size_t n = 0, c = 0, h = 0, w = 0, kernel = 1, stride = 1, padding = 0, ho = 0, wo = 0;
    long long row(std::size_t i, std::size_t r) const { return (long long)(i * stride + r) - (long long)padding; }
    long long col(std::size_t j, std::size_t s) const { return (long long)(j * stride + s) - (long long)padding; }
    bool inside(long long a, long long b) const { return a >= 0 && b >= 0 && a < (long long)h && b < (long long)w; }
};

PoolGeometry pool_geometry(const Shape& x, const Attrs& a) {
    if (x.size() != 4) throw ShapeError(fmt::format("x must be (N, C, H, W), got {}", shape_str(x)));
    PoolGeometry g;
    g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
    const long long kernel = a.integer("kernel"), stride = a.integer("stride"), padding = a.integer("padding");
    if (kernel < 1) throw ShapeError(fmt::format("kernel must be at least 1, got {}", kernel));
    if (stride < 0)
        throw ShapeError(fmt::format("stride must be at least 1 (or 0 for the kernel size), got {}", stride));
    if (padding < 0 || padding > kernel / 2)
        throw ShapeError(fmt::format("padding must be from 0 to half the kernel ({}), got {}", kernel / 2, padding));
    g.kernel = static_cast<std::size_t>(kernel);
    g.stride = stride == 0 ? g.kernel : static_cast<std::size_t>(stride);
    g.padding = static_cast<std::size_t>(padding);
    if (g.h + 2 * g.padding < g.kernel || g.w + 2 * g.padding < g.kernel)
        throw ShapeError(fmt::format("the {0}x{0} window does not fit the {1}x{2} input", g.kernel, g.h, g.w));
    g.ho = (g.h + 2 * g.padding - g.kernel) / g.stride + 1;
    g.wo = (g.w + 2 * g.padding - g.kernel) / g.stride + 1;
    return g;
}

PoolGeometry pool_geometry(const OpCall& call) { return pool_geometry(call.input(0).shape(), *call.attrs); }

std::vector<AttrSpec> window_attrs() {
    return {{"kernel", AttrType::Int, std::nullopt, "the window's side", {.min = 1}},
            {"stride", AttrType::Int, 0.0, "step between windows; 0 means the kernel size", {.min = 0}},
            {"padding", AttrType::Int, 0.0, "added on every side, at most half the kernel", {.min = 0}}};
}

// Calls f(h, w) for each input position inside window (i, j).
template <class F>
void for_window(const PoolGeometry& g, std::size_t i, std::size_t j, F f) {
    for (std::size_t r = 0; r < g.kernel; ++r)
        for (std::size_t s = 0; s < g.kernel; ++s)
            if (g.inside(g.row(i, r), g.col(j, s)))
                f(static_cast<std::size_t>(g.row(i, r)), static_cast<std::size_t>(g.col(j, s)));
}

// The flat offset in x of the maximum of window (n, c, i, j): the first one
// met row by row, left to right, on a tie.
std::size_t argmax(const PoolGeometry& g, const Tensor& x, std::size_t n, std::size_t c, std::size_t i, std::size_t j) {
    std::size_t best = 0;
    double best_value = -std::numeric_limits<double>::infinity();
    bool found = false;
    for_window(g, i, j, [&](std::size_t h, std::size_t w) {
        const std::size_t off = ((n * g.c + c) * g.h + h) * g.w + w;
        if (!found || x[off] > best_value) {
            best = off;
            best_value = x[off];
            found = true;
        }
    });
    return best;
}

// Calls f(n, c, i, j, out_flat) for every output element.
template <class F>
void for_outputs(const PoolGeometry& g, F f) {
    std::size_t e = 0;
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t c = 0; c < g.c; ++c)
            for (std::size_t i = 0; i < g.ho; ++i)
                for (std::size_t j = 0; j < g.wo; ++j) f(n, c, i, j, e++);
}

std::string window_text(const std::string& x, std::size_t n, std::size_t c, const PoolGeometry& g, std::size_t i,
                        std::size_t j) {
    const long long r0 = g.row(i, 0), s0 = g.col(j, 0);
    return fmt::format("{}[{},{},{}:{},{}:{}]", x, n, c, r0, r0 + (long long)g.kernel, s0, s0 + (long long)g.kernel);
}

// What max_pool2d and avg_pool2d share: family, attributes, formula and
// shape rule, filled into the op's row.
// x[n,c,h,w] reaches the windows of channel c in batch n that read (h,w); an
// output box reads its windows, the padding held in the slice as `pad`.
ReachRule window_reach(double pad) {
    const auto axes = [](const std::vector<Shape>& in, const Attrs& a) {
        const PoolGeometry g = pool_geometry(in[0], a);
        const WindowAxis axis{(long long)g.kernel, (long long)g.stride, (long long)g.padding, 1};
        return axis;
    };
    return {
        .affects =
            [axes](const std::vector<Shape>& in, const Shape& out, const Attrs& a, std::size_t, const Box& changed) {
                Box b = changed;
                const WindowAxis axis = axes(in, a);
                reach_window(b, changed, out, axis, axis);
                return b;
            },
        .reads =
            [axes](const std::vector<Shape>& in, const Shape&, const Attrs& a, const Box& out_box) {
                Box x = out_box;
                const WindowAxis axis = axes(in, a);
                read_window(x, out_box, axis, axis);
                return std::vector<Box>{x};
            },
        .sliced_attrs = [](const Attrs& a, const std::vector<Shape>&,
                           const Box&) { return with_integer(a, "padding", 0); },
        .pad = pad};
}

OpDef window_op(OpDef op) {
    op.family = "pool";
    op.forward_formula = op.name + "({x}; kernel {kernel}, stride {stride}, padding {padding})";
    op.attrs = window_attrs();
    op.shape = [](const std::vector<Shape>& in, const Attrs& a) {
        const PoolGeometry g = pool_geometry(in[0], a);
        return Shape{g.n, g.c, g.ho, g.wo};
    };
    // The stride in effect: a stride of 0 is the kernel's size.
    op.vars = [](const std::vector<Shape>&, const Attrs& a) {
        const long long stride = a.integer("stride");
        return std::map<std::string, std::string>{
            {"stride", fmt::format("{}", stride == 0 ? a.integer("kernel") : stride)}};
    };
    op.window_taps = [](const std::vector<Shape>&, const Attrs& a) {
        const auto kernel = static_cast<std::size_t>(a.integer("kernel"));
        return saturating_mul(kernel, kernel);
    };
    return op;
}

Tensor max_pool_vjp(const OpCall& call, const Tensor& up) {
    const PoolGeometry g = pool_geometry(call);
    Tensor dx(call.input(0).shape());
    for_outputs(g, [&](auto n, auto c, auto i, auto j, auto e) { dx[argmax(g, call.input(0), n, c, i, j)] += up[e]; });
    return dx;
}

Worked max_pool_x_explain(const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                          const NumFmt& num) {
    const PoolGeometry g = pool_geometry(call);
    const Tensor& x = call.input(0);
    const std::size_t target = x.offset(at);
    std::vector<std::string> symbols, terms;
    Worked w;
    for_outputs(g, [&](auto n, auto c, auto i, auto j, auto e) {
        if (argmax(g, x, n, c, i, j) != target) return;
        symbols.push_back(fmt::format("{}[{},{},{},{}]", names.upstream, n, c, i, j));
        terms.push_back(num.operand(up[e]));
        w.result += up[e];
    });
    w.lhs = element(names.downstream, x.shape(), concrete(at));
    if (symbols.empty()) {
        w.symbolic = "0";
        w.notes.push_back(
            fmt::format("{}{} is the maximum of no window: it gets no gradient", names.in[0], index_str(at)));
    } else {
        w.symbolic = join_terms(symbols);
        w.numeric = join_terms(terms, num);
        w.notes.push_back(fmt::format("{}{} is the maximum of {} window{}", names.in[0], index_str(at), symbols.size(),
                                      symbols.size() == 1 ? "" : "s"));
    }
    return w;
}

Tensor max_pool_forward(const OpCall& call) {
    const PoolGeometry g = pool_geometry(call);
    Tensor out(Shape{g.n, g.c, g.ho, g.wo});
    for_outputs(g, [&](auto n, auto c, auto i, auto j, auto e) {
        out[e] = call.input(0)[argmax(g, call.input(0), n, c, i, j)];
    });
    return out;
}

Worked max_pool_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const PoolGeometry g = pool_geometry(call);
    const Tensor& x = call.input(0);
    const std::size_t n = at[0], c = at[1], i = at[2], j = at[3];
    std::vector<std::string> values;
    for_window(g, i, j, [&](std::size_t h, std::size_t w) { values.push_back(num(x.at({n, c, h, w}))); });
    Worked w;
    w.lhs = element(names.out, call.out->shape(), concrete(at));
    w.symbolic = "max " + window_text(names.in[0], n, c, g, i, j);
    w.numeric = fmt::format("max({})", fmt::join(values, ", "));
    w.result = call.out->at(at);
    w.notes.push_back(fmt::format("the maximum is {}{}", names.in[0], index_str(x.unravel(argmax(g, x, n, c, i, j)))));
    return w;
}

// The piece of a window is where its maximum is: a tie crossed moves it.
std::vector<long long> max_pool_pieces(const OpCall& call) {
    const PoolGeometry g = pool_geometry(call);
    std::vector<long long> p(g.n * g.c * g.ho * g.wo);
    for_outputs(g, [&](auto n, auto c, auto i, auto j, auto e) {
        p[e] = static_cast<long long>(argmax(g, call.input(0), n, c, i, j));
    });
    return p;
}

// How many windows each element of x is the maximum of: where dx is not 0.
std::vector<Intermediate> max_pool_wins(const OpCall& call, const Names& names) {
    const PoolGeometry g = pool_geometry(call);
    Tensor wins(call.input(0).shape());
    for_outputs(g, [&](auto n, auto c, auto i, auto j, auto) { wins[argmax(g, call.input(0), n, c, i, j)] += 1.0; });
    return {{"wins",
             fmt::format("how many windows each element of {} is the maximum of (0: it gets no gradient)", names.in[0]),
             wins}};
}

OpDef max_pool() {
    return window_op(
        {.name = "max_pool2d",
         .summary = "the maximum of each kernel x kernel window (padding never wins); on a tie the first maximum, "
                    "row by row and left to right, is the one that gets the gradient",
         .inputs =
             {{.name = "x",
               .formula =
                   "d{x}[n,c,h,w] = sum of d{out}[n,c,i,j] over the windows (i,j) whose maximum is {x}[n,c,h,w]; 0 for "
                   "an element that is no window's maximum (ties: the first maximum in the window)",
               .vjp = max_pool_vjp,
               .explain = max_pool_x_explain}},
         .forward = max_pool_forward,
         .explain = max_pool_explain,
         .reach = window_reach(-std::numeric_limits<double>::infinity()),
         .pieces = max_pool_pieces,
         .intermediates = max_pool_wins});
}

OpDef avg_pool() {
    return window_op(
        {.name = "avg_pool2d",
         .summary = "the mean of each kernel x kernel window; padded zeros count in the divisor (kernel^2), as "
                    "PyTorch's default count_include_pad",
         .inputs =
             {{.name = "x",
               .formula = "d{x}[n,c,h,w] = sum of d{out}[n,c,i,j] / kernel^2 over the windows (i,j) that contain (h,w)",
               .vjp =
                   [](const OpCall& call, const Tensor& up) {
                       const PoolGeometry g = pool_geometry(call);
                       Tensor dx(call.input(0).shape());
                       const double area = double(g.kernel * g.kernel);
                       for_outputs(g, [&](auto n, auto c, auto i, auto j, auto e) {
                           for_window(g, i, j, [&](std::size_t h, std::size_t w) {
                               dx.at({n, c, h, w}) += up[e] / area;
                           });
                       });
                       return dx;
                   },
               .explain =
                   [](const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
                       const PoolGeometry g = pool_geometry(call);
                       const double area = double(g.kernel * g.kernel);
                       std::vector<std::string> symbols, terms;
                       Worked w;
                       for_outputs(g, [&](auto n, auto c, auto i, auto j, auto e) {
                           if (n != at[0] || c != at[1]) return;
                           const long long r = (long long)at[2] - g.row(i, 0), s = (long long)at[3] - g.col(j, 0);
                           if (r < 0 || s < 0 || r >= (long long)g.kernel || s >= (long long)g.kernel) return;
                           symbols.push_back(fmt::format("{}[{},{},{},{}]", names.upstream, n, c, i, j));
                           terms.push_back(num.operand(up[e]));
                           w.result += up[e] / area;
                       });
                       w.lhs = element(names.downstream, call.input(0).shape(), concrete(at));
                       if (symbols.empty()) {
                           w.symbolic = "0";
                           w.notes.push_back("no window contains this element");
                       } else {
                           w.symbolic = fmt::format("({}) / {}", join_terms(symbols), g.kernel * g.kernel);
                           w.numeric = fmt::format("({}) / {}", join_terms(terms, num), g.kernel * g.kernel);
                       }
                       return w;
                   }}},
         .forward =
             [](const OpCall& call) {
                 const PoolGeometry g = pool_geometry(call);
                 const Tensor& x = call.input(0);
                 Tensor out(Shape{g.n, g.c, g.ho, g.wo});
                 const double area = double(g.kernel * g.kernel);
                 for_outputs(g, [&](auto n, auto c, auto i, auto j, auto e) {
                     double sum = 0;
                     for_window(g, i, j, [&](std::size_t h, std::size_t w) { sum += x.at({n, c, h, w}); });
                     out[e] = sum / area;
                 });
                 return out;
             },
         .explain =
             [](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
                 const PoolGeometry g = pool_geometry(call);
                 const Tensor& x = call.input(0);
                 const std::size_t n = at[0], c = at[1], i = at[2], j = at[3];
                 std::vector<std::string> values;
                 for_window(g, i, j, [&](std::size_t h, std::size_t w) {
                     values.push_back(num.operand(x.at({n, c, h, w})));
                 });
                 Worked w;
                 w.lhs = element(names.out, call.out->shape(), concrete(at));
                 w.symbolic =
                     fmt::format("(1/{}) * sum {}", g.kernel * g.kernel, window_text(names.in[0], n, c, g, i, j));
                 w.numeric = fmt::format("(1/{}) * ({})", g.kernel * g.kernel, join_terms(values, num));
                 w.result = call.out->at(at);
                 return w;
             },
         .reach = window_reach(0.0)});
}

OpDef global_avg_pool() {
    return {.name = "global_avg_pool",
            .family = "pool",
            .summary = "the mean of each channel over its whole image: (N, C, H, W) -> (N, C)",
            .forward_formula = "global_avg_pool({x})",
            .inputs = {{.name = "x",
                        .formula = "d{x}[n,c,h,w] = d{out}[n,c] / (H*W){[ = d{out}[n,c] / {HW}]} for every position",
                        .local =
                            [](const OpCall& call) {
                                const Shape& s = call.input(0).shape();
                                return Tensor(s, 1.0 / double(s[2] * s[3]));
                            },
                        .vjp =
                            [](const OpCall& call, const Tensor& up) {
                                const Shape& s = call.input(0).shape();
                                Tensor dx(s);
                                const std::size_t area = s[2] * s[3];
                                for (std::size_t e = 0; e < dx.size(); ++e) dx[e] = up[e / area] / double(area);
                                return dx;
                            },
                        .explain =
                            [](const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                               const NumFmt& num) {
                                const Shape& s = call.input(0).shape();
                                const double area = double(s[2] * s[3]);
                                Worked w;
                                w.lhs = element(names.downstream, s, concrete(at));
                                w.symbolic = fmt::format("{}[{},{}] / {}", names.upstream, at[0], at[1], s[2] * s[3]);
                                w.numeric = fmt::format("{} / {}", num.operand(up.at({at[0], at[1]})), s[2] * s[3]);
                                w.result = up.at({at[0], at[1]}) / area;
                                return w;
                            }}},
            .shape =
                [](const std::vector<Shape>& in, const Attrs&) {
                    if (in[0].size() != 4)
                        throw ShapeError(fmt::format("x must be (N, C, H, W), got {}", shape_str(in[0])));
                    return Shape{in[0][0], in[0][1]};
                },
            .forward =
                [](const OpCall& call) {
                    const Shape& s = call.input(0).shape();
                    Tensor out(Shape{s[0], s[1]});
                    const std::size_t area = s[2] * s[3];
                    for (std::size_t e = 0; e < call.input(0).size(); ++e)
                        out[e / area] += call.input(0)[e] / double(area);
                    return out;
                },
            .explain =
                [](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
                    const Shape& s = call.input(0).shape();
                    const std::size_t area = s[2] * s[3];
                    std::vector<std::string> values;
                    for (std::size_t e = 0; e < area; ++e)
                        values.push_back(num.operand(call.input(0)[(at[0] * s[1] + at[1]) * area + e]));
                    Worked w;
                    w.lhs = element(names.out, call.out->shape(), concrete(at));
                    w.symbolic = fmt::format("(1/{}) * sum_{{h,w}} {}[{},{},h,w]", area, names.in[0], at[0], at[1]);
                    w.numeric = fmt::format("(1/{}) * ({})", area, join_terms(values, num));
                    w.result = call.out->at(at);
                    return w;
                },
            .vars =
                [](const std::vector<Shape>& in, const Attrs&) {
                    return std::map<std::string, std::string>{
                        {"HW", in[0].size() == 4 ? std::to_string(in[0][2] * in[0][3]) : "H*W"}};
                },
            .reach = ReachRule{.affects =
                                   [](const std::vector<Shape>&, const Shape&, const Attrs&, std::size_t,
                                      const Box& changed) {
                                       return Box{{changed.lo[0], changed.lo[1]}, {changed.hi[0], changed.hi[1]}};
                                   },
                               .reads =
                                   [](const std::vector<Shape>& in, const Shape&, const Attrs&, const Box& out_box) {
                                       return std::vector<Box>{Box{
                                           {out_box.lo[0], out_box.lo[1], 0, 0},
                                           {out_box.hi[0], out_box.hi[1], (long long)in[0][2], (long long)in[0][3]}}};
                                   }}};
}

}  // namespace

void add_pool_ops(OpTable& t) {
    t.add(max_pool());
    t.add(avg_pool());
    t.add(global_avg_pool());
}

}  // namespace bnstep::ops
