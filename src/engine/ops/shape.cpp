// Ops that move numbers without changing them: concat, split, reshape,
// flatten, transpose, channel_shuffle. Each output element is one input
// element, so each backward sends every upstream element back to where it
// came from: for a permutation, the inverse permutation.
#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <numeric>

#include "ops/explain.hpp"
#include "ops/families.hpp"

namespace bnstep::ops {
namespace {

std::size_t axis_in(long long axis, std::size_t rank) {
    const long long r = static_cast<long long>(rank);
    if (axis < -r || axis >= r) throw ShapeError(fmt::format("axis {} is out of range for rank {}", axis, rank));
    return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

// For a one-input op: the output's shape, and for each output element the
// flat offset of the input element it copies.
using GatherFn = std::function<std::vector<std::size_t>(const Shape& in, const Attrs& attrs, Shape& out)>;

// A one-input op that moves numbers, declared by its row of the table (name,
// summary, formulas, attributes, vars) and its gather: fills in the shape
// rule, forward, worked examples and the input's VJP.
OpDef moves(OpDef op, GatherFn gather) {
    op.shape = [gather](const std::vector<Shape>& in, const Attrs& a) {
        Shape out;
        gather(in[0], a, out);
        return out;
    };
    op.forward = [gather](const OpCall& call) {
        Shape shape;
        const auto from = gather(call.input(0).shape(), *call.attrs, shape);
        Tensor out(shape);
        for (std::size_t e = 0; e < out.size(); ++e) out[e] = call.input(0)[from[e]];
        return out;
    };
    op.explain = [gather](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
        Shape shape;
        const auto from = gather(call.input(0).shape(), *call.attrs, shape);
        const std::size_t src = from[call.out->offset(at)];
        Worked w;
        w.lhs = element(names.out, shape, concrete(at));
        w.symbolic = element(names.in[0], call.input(0).shape(), concrete(call.input(0).unravel(src)));
        w.numeric = num(call.input(0)[src]);
        w.result = call.out->at(at);
        return w;
    };
    InputRule& rule = op.inputs.at(0);
    rule.vjp = [gather](const OpCall& call, const Tensor& up) {
        Shape shape;
        const auto from = gather(call.input(0).shape(), *call.attrs, shape);
        Tensor dx(call.input(0).shape());
        for (std::size_t e = 0; e < up.size(); ++e) dx[from[e]] += up[e];
        return dx;
    };
    rule.explain = [gather](const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                            const NumFmt& num) {
        Shape shape;
        const auto from = gather(call.input(0).shape(), *call.attrs, shape);
        const std::size_t target = call.input(0).offset(at);
        Worked w;
        w.lhs = element(names.downstream, call.input(0).shape(), concrete(at));
        const auto it = std::find(from.begin(), from.end(), target);
        if (it == from.end()) {
            w.symbolic = "0";
            w.notes.push_back(
                fmt::format("{}{} is not in the output: it gets no gradient", names.in[0], index_str(at)));
            return w;
        }
        const std::size_t e = static_cast<std::size_t>(it - from.begin());
        w.symbolic = element(names.upstream, shape, concrete(Tensor(shape).unravel(e)));
        w.numeric = num(up[e]);
        w.result = up[e];
        w.notes.push_back(fmt::format("{}{} went to {}{} in the forward pass, so its gradient comes back from there",
                                      names.in[0], index_str(at), names.out, index_str(Tensor(shape).unravel(e))));
        return w;
    };
    return op;
}

// Every element in order: reshape and flatten keep the row-major order.
std::vector<std::size_t> identity(std::size_t n) {
    std::vector<std::size_t> v(n);
    std::iota(v.begin(), v.end(), std::size_t{0});
    return v;
}

// Row-major strides of a shape.
std::vector<std::size_t> strides_of(const Shape& shape) {
    std::vector<std::size_t> strides(shape.size(), 1);
    for (std::size_t k = shape.size(); k-- > 1;) strides[k - 1] = strides[k] * shape[k];
    return strides;
}

// The product of the sizes of axes [first, last).
std::size_t extent(const Shape& shape, std::size_t first, std::size_t last) {
    std::size_t n = 1;
    for (std::size_t k = first; k < last; ++k) n *= shape[k];
    return n;
}

// The slab [begin, end) along `axis` of a tensor of shape `whole`, the piece
// that concat joins and split takes: for each index before the axis, one run
// of contiguous numbers in both. Calls f(offset in the piece, offset in the whole).
template <class F>
void for_each_in_slab(const Shape& whole, std::size_t axis, std::size_t begin, std::size_t end, F&& f) {
    const std::size_t outer = extent(whole, 0, axis), inner = extent(whole, axis + 1, whole.size());
    const std::size_t run = (end - begin) * inner;
    for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t e = 0; e < run; ++e) f(o * run + e, (o * whole[axis] + begin) * inner + e);
}

std::vector<std::size_t> permute(const Shape& in, const std::vector<std::size_t>& perm, Shape& out) {
    out.clear();
    for (std::size_t p : perm) out.push_back(in[p]);
    const std::vector<std::size_t> in_strides = strides_of(in);
    std::vector<std::size_t> from(element_count(out));
    // The output index counts up in row-major order; `source` follows it in the input.
    Index o(out.size(), 0);
    std::size_t source = 0;
    for (std::size_t e = 0; e < from.size(); ++e) {
        from[e] = source;
        for (std::size_t k = out.size(); k-- > 0;) {
            source += in_strides[perm[k]];
            if (++o[k] < out[k]) break;
            source -= o[k] * in_strides[perm[k]];
            o[k] = 0;
        }
    }
    return from;
}

std::vector<std::size_t> checked_perm(const Attrs& a, std::size_t rank) {
    const auto& p = a.list("perm");
    if (p.size() != rank) throw ShapeError(fmt::format("perm has {} axes, the input has rank {}", p.size(), rank));
    std::vector<std::size_t> perm;
    std::vector<bool> seen(rank, false);
    for (long long v : p) {
        const std::size_t axis = axis_in(v, rank);
        if (seen[axis]) throw ShapeError(fmt::format("perm [{}] names axis {} twice", fmt::join(p, ","), axis));
        seen[axis] = true;
        perm.push_back(axis);
    }
    return perm;
}

// ---- concat(x, x, ...; axis) ----

std::vector<std::size_t> concat_offsets(const std::vector<Shape>& in, std::size_t axis) {
    std::vector<std::size_t> off{0};
    for (const Shape& s : in) off.push_back(off.back() + s[axis]);
    return off;
}

std::vector<Shape> concat_shapes(const OpCall& call) {
    std::vector<Shape> s;
    for (const Tensor* t : call.in) s.push_back(t->shape());
    return s;
}

Shape concat_shape(const std::vector<Shape>& in, const Attrs& a) {
    const std::size_t axis = axis_in(a.integer("axis"), in[0].size());
    for (const Shape& s : in) {
        bool fits = s.size() == in[0].size();
        for (std::size_t d = 0; fits && d < s.size(); ++d) fits = d == axis || s[d] == in[0][d];
        if (!fits)
            throw ShapeError(fmt::format("{} and {} differ outside axis {}", shape_str(in[0]), shape_str(s), axis));
    }
    Shape out = in[0];
    out[axis] = concat_offsets(in, axis).back();
    return out;
}

Tensor concat_forward(const OpCall& call) {
    const std::size_t axis = axis_in(call.attrs->integer("axis"), call.input(0).rank());
    const auto off = concat_offsets(concat_shapes(call), axis);
    Shape out_shape = call.input(0).shape();
    out_shape[axis] = off.back();
    Tensor out(out_shape);
    for (std::size_t k = 0; k < call.in.size(); ++k)
        for_each_in_slab(out_shape, axis, off[k], off[k + 1],
                         [&](std::size_t piece, std::size_t whole) { out[whole] = call.input(k)[piece]; });
    return out;
}

// Which input an output index came from, and where in it.
std::pair<std::size_t, Index> concat_locate(const OpCall& call, Index at) {
    const std::size_t axis = axis_in(call.attrs->integer("axis"), call.input(0).rank());
    const auto off = concat_offsets(concat_shapes(call), axis);
    std::size_t k = 0;
    while (at[axis] >= off[k + 1]) ++k;
    at[axis] -= off[k];
    return std::pair{k, at};
}

Worked concat_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const auto [k, in_at] = concat_locate(call, at);
    Worked w;
    w.lhs = element(names.out, call.out->shape(), concrete(at));
    w.symbolic = element(names.in[k], call.input(k).shape(), concrete(in_at));
    w.numeric = num(call.input(k).at(in_at));
    w.result = call.out->at(at);
    return w;
}

Tensor concat_vjp(const OpCall& call, const Tensor& up) {
    const std::size_t axis = axis_in(call.attrs->integer("axis"), call.input(0).rank());
    const auto off = concat_offsets(concat_shapes(call), axis);
    Tensor dx(call.input(call.slot).shape());
    for_each_in_slab(up.shape(), axis, off[call.slot], off[call.slot + 1],
                     [&](std::size_t piece, std::size_t whole) { dx[piece] = up[whole]; });
    return dx;
}

Worked concat_input_explain(const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                            const NumFmt& num) {
    const std::size_t axis = axis_in(call.attrs->integer("axis"), call.input(0).rank());
    const auto off = concat_offsets(concat_shapes(call), axis);
    Index up_at = at;
    up_at[axis] += off[call.slot];
    Worked w;
    w.lhs = element(names.downstream, call.input(call.slot).shape(), concrete(at));
    w.symbolic = element(names.upstream, up.shape(), concrete(up_at));
    w.numeric = num(up.at(up_at));
    w.result = up.at(up_at);
    w.notes.push_back(fmt::format("{} fills positions {} to {} of axis {} of {}", names.in[call.slot], off[call.slot],
                                  off[call.slot + 1] - 1, axis, names.out));
    return w;
}

// The rule of every piece.
InputRule concat_input_rule() {
    return {.name = "x",
            .formula =
                "d{x} = the slice of d{out} where {x} sits along axis {axis}: the gradient is split back into "
                "the pieces",
            .vjp = concat_vjp,
            .explain = concat_input_explain};
}

OpDef concat() {
    return {.name = "concat",
            .family = "shape",
            .summary = "joins two or more tensors along an axis; its backward splits the gradient back into the pieces",
            .forward_formula = "concat({inputs}; axis {axis})",
            .inputs = {concat_input_rule(), concat_input_rule()},  // at least two pieces; the rule serves every one
            .attrs = {{"axis", AttrType::Int, 1.0, "the axis joined along (1: channels in NCHW)"}},
            .shape = concat_shape,
            .forward = concat_forward,
            .explain = concat_explain,
            .variadic = true};
}

// ---- split(x; axis, parts, index) ----

std::vector<std::size_t> split_gather(const Shape& in, const Attrs& a, Shape& out) {
    if (in.empty()) throw ShapeError("cannot split a scalar");
    const std::size_t axis = axis_in(a.integer("axis"), in.size());
    const long long parts = a.integer("parts"), index = a.integer("index");
    if (parts < 1 || in[axis] % static_cast<std::size_t>(parts) != 0)
        throw ShapeError(fmt::format("axis {} of size {} does not split into {} equal parts", axis, in[axis], parts));
    if (index < 0 || index >= parts) throw ShapeError(fmt::format("index {} is not one of the {} parts", index, parts));
    out = in;
    out[axis] = in[axis] / static_cast<std::size_t>(parts);
    std::vector<std::size_t> from(element_count(out));
    const std::size_t begin = static_cast<std::size_t>(index) * out[axis];
    for_each_in_slab(in, axis, begin, begin + out[axis],
                     [&](std::size_t piece, std::size_t whole) { from[piece] = whole; });
    return from;
}

OpDef split_op() {
    return moves(
        {.name = "split",
         .family = "shape",
         .summary = "one of `parts` equal pieces of x along an axis; the other pieces get no gradient from it",
         .forward_formula = "split({x}; axis {axis}, parts {parts}, index {index})",
         .inputs = {{.name = "x",
                     .formula = "d{x} = d{out} in piece {index} of {parts} along axis {axis}, 0 in the other pieces"}},
         .attrs = {{"axis", AttrType::Int, 1.0, "the axis split along"},
                   {"parts", AttrType::Int, 2.0, "how many equal pieces", {.min = 1}},
                   {"index", AttrType::Int, std::nullopt, "which piece, from 0", {.min = 0}}}},
        split_gather);
}

// ---- reshape(x; shape) ----

std::vector<std::size_t> reshape_gather(const Shape& in, const Attrs& a, Shape& out) {
    const auto& want = a.list("shape");
    out.clear();
    std::size_t known = 1, free_axis = want.size();
    for (std::size_t k = 0; k < want.size(); ++k) {
        if (want[k] == -1 && free_axis == want.size()) {
            free_axis = k;
            out.push_back(1);
            continue;
        }
        if (want[k] < 1)
            throw ShapeError(fmt::format("shape [{}]: each size must be at least 1, or -1 once", fmt::join(want, ",")));
        out.push_back(static_cast<std::size_t>(want[k]));
        known *= out.back();
    }
    const std::size_t total = element_count(in);
    if (free_axis < want.size()) {
        if (total % known)
            throw ShapeError(fmt::format("{} elements do not fit shape [{}]", total, fmt::join(want, ",")));
        out[free_axis] = total / known;
    }
    if (out.size() > kMaxRank)
        throw ShapeError(fmt::format("shape [{}] has rank {}; bnstep tensors have rank 0 to {}", fmt::join(want, ","),
                                     out.size(), kMaxRank));
    if (element_count(out) != total)
        throw ShapeError(
            fmt::format("cannot reshape {} ({} elements) to [{}]", shape_str(in), total, fmt::join(want, ",")));
    return identity(total);
}

OpDef reshape_op() {
    return moves({.name = "reshape",
                  .family = "shape",
                  .summary = "the same numbers in row-major order, in a new shape (one dimension may be -1)",
                  .forward_formula = "reshape({x}; shape {shape})",
                  .inputs = {{.name = "x",
                              .formula = "d{x} = reshape(d{out}, the shape of {x}): a reshape moves no number, so its "
                                         "gradient is reshaped back"}},
                  .attrs = {{"shape",
                             AttrType::IntList,
                             std::nullopt,
                             "the new shape; -1 once for the size that fits",
                             {.min = 1, .fits = -1}}}},
                 reshape_gather);
}

// ---- flatten(x; start) ----

std::vector<std::size_t> flatten_gather(const Shape& in, const Attrs& a, Shape& out) {
    if (in.empty()) throw ShapeError("cannot flatten a scalar");
    const std::size_t start = axis_in(a.integer("start"), in.size());
    out.assign(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(start));
    out.push_back(element_count(Shape(in.begin() + static_cast<std::ptrdiff_t>(start), in.end())));
    return identity(element_count(in));
}

OpDef flatten_op() {
    return moves({.name = "flatten",
                  .family = "shape",
                  .summary = "the axes from `start` on merged into one: (N, C, H, W) -> (N, C*H*W) for start 1",
                  .forward_formula = "flatten({x}; start {start})",
                  .inputs = {{.name = "x", .formula = "d{x} = reshape(d{out}, the shape of {x})"}},
                  .attrs = {{"start", AttrType::Int, 1.0, "the first axis merged"}}},
                 flatten_gather);
}

// ---- transpose(x; perm) ----

std::map<std::string, std::string> transpose_vars(const std::vector<Shape>& in, const Attrs& a) {
    std::vector<std::size_t> inverse(in[0].size());
    const auto perm = checked_perm(a, in[0].size());
    for (std::size_t k = 0; k < perm.size(); ++k) inverse[perm[k]] = k;
    return std::map<std::string, std::string>{{"inverse", fmt::format("[{}]", fmt::join(inverse, ","))}};
}

std::vector<std::size_t> transpose_gather(const Shape& in, const Attrs& a, Shape& out) {
    return permute(in, checked_perm(a, in.size()), out);
}

OpDef transpose_op() {
    return moves(
        {.name = "transpose",
         .family = "shape",
         .summary = "the axes reordered: out axis k is x axis perm[k]",
         .forward_formula = "transpose({x}; perm {perm})",
         .inputs = {{.name = "x",
                     .formula = "d{x} = transpose(d{out}; perm {inverse}): a permutation's backward is the inverse "
                                "permutation"}},
         .attrs = {{"perm", AttrType::IntList, std::nullopt, "the input axis each output axis takes"}},
         .vars = transpose_vars},
        transpose_gather);
}

// ---- channel_shuffle(x; groups) ----

std::map<std::string, std::string> channel_shuffle_vars(const std::vector<Shape>& in, const Attrs& a) {
    std::map<std::string, std::string> vars;
    const long long groups = a.integer("groups");
    if (in[0].size() == 4 && groups > 0 && in[0][1] % static_cast<std::size_t>(groups) == 0)
        vars["inverse"] = std::to_string(in[0][1] / static_cast<std::size_t>(groups));
    return vars;
}

std::vector<std::size_t> channel_shuffle_gather(const Shape& in, const Attrs& a, Shape& out) {
    if (in.size() != 4) throw ShapeError(fmt::format("x must be (N, C, H, W), got {}", shape_str(in)));
    const long long groups = a.integer("groups");
    if (groups < 1 || in[1] % static_cast<std::size_t>(groups) != 0)
        throw ShapeError(fmt::format("groups = {} must divide the {} channels", groups, in[1]));
    out = in;
    const std::size_t g = static_cast<std::size_t>(groups), per = in[1] / g, plane = in[2] * in[3];
    std::vector<std::size_t> from(element_count(in));
    for (std::size_t n = 0; n < in[0]; ++n)
        for (std::size_t c = 0; c < in[1]; ++c) {
            const std::size_t src = (c % g) * per + c / g;  // out channel j*g + gi <- in gi*per + j
            for (std::size_t e = 0; e < plane; ++e) from[(n * in[1] + c) * plane + e] = (n * in[1] + src) * plane + e;
        }
    return from;
}

OpDef channel_shuffle_op() {
    return moves(
        {.name = "channel_shuffle",
         .family = "shape",
         .summary =
             "ShuffleNet's shuffle of (N, C, H, W): channels seen as a (groups, C/groups) grid, read out by columns",
         .forward_formula = "channel_shuffle({x}; groups {groups})",
         .inputs = {{.name = "x",
                     .formula = "out channel j*groups + i is {x} channel i*(C/groups) + j, so d{x} = "
                                "channel_shuffle(d{out}; groups C/groups{[ = {inverse}]}): the backward applies the "
                                "inverse permutation"}},
         .attrs = {{"groups", AttrType::Int, std::nullopt, "the number of channel groups", {.min = 1}}},
         .vars = channel_shuffle_vars},
        channel_shuffle_gather);
}

}  // namespace

void add_shape_ops(OpTable& t) {
    t.add(concat());
    t.add(split_op());
    t.add(reshape_op());
    t.add(flatten_op());
    t.add(transpose_op());
    t.add(channel_shuffle_op());
}

}  // namespace bnstep::ops
