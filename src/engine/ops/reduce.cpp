// Reductions over one axis: sum and mean. Their backward copies the upstream
// gradient back along the reduced axis (times 1/N for the mean).
#include <fmt/format.h>

#include "ops/explain.hpp"
#include "ops/families.hpp"

namespace bnstep::ops {
namespace {

std::size_t axis_of(const Shape& in, const Attrs& attrs) {
    const long long rank = static_cast<long long>(in.size());
    long long axis = attrs.integer("axis");
    if (rank == 0) throw ShapeError("cannot reduce a scalar (rank 0): the input needs at least one axis");
    if (axis < -rank || axis >= rank)
        throw ShapeError(fmt::format("axis {} is out of range for an input of shape {}", axis, shape_str(in)));
    return static_cast<std::size_t>(axis < 0 ? axis + rank : axis);
}

// A shape or index with `axis` removed, or with `kept` there when keepdims:
// the result's shape (kept 1), or the upstream element an input element reads (kept 0).
std::vector<std::size_t> drop_axis(std::vector<std::size_t> v, std::size_t axis, bool keepdims, std::size_t kept) {
    if (keepdims)
        v[axis] = kept;
    else
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(axis));
    return v;
}

// 1/N for the mean, N the size of the reduced axis; 1 for the sum.
double scale(bool mean, const Tensor& x, const Attrs& attrs) {
    return mean ? 1.0 / static_cast<double>(x.shape()[axis_of(x.shape(), attrs)]) : 1.0;
}

Worked reduce_explain_forward(bool mean, const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const Tensor& x = call.input(0);
    const std::size_t axis = axis_of(x.shape(), *call.attrs);
    const bool keepdims = call.attrs->flag("keepdims");
    SymIndex pos = concrete(at);
    if (keepdims)
        pos[axis] = "k";
    else
        pos.insert(pos.begin() + static_cast<std::ptrdiff_t>(axis), "k");
    std::vector<std::string> terms;
    for (std::size_t k = 0; k < x.shape()[axis]; ++k) {
        Index xi = at;
        if (keepdims)
            xi[axis] = k;
        else
            xi.insert(xi.begin() + static_cast<std::ptrdiff_t>(axis), k);
        terms.push_back(num.operand(x.at(xi)));
    }
    const std::string n = std::to_string(x.shape()[axis]);
    Worked w;
    w.lhs = element(names.out, call.out->shape(), concrete(at));
    w.symbolic = (mean ? "(1/" + n + ") * " : std::string()) + "sum_k " + element(names.in[0], x.shape(), pos);
    w.numeric = mean ? "(1/" + n + ") * (" + join_terms(terms, num) + ")" : join_terms(terms, num);
    w.result = call.out->at(at);
    return w;
}

Worked reduce_explain_grad(bool mean, const OpCall& call, const Tensor& upstream, const Names& names,
                           const Index& in_at, const NumFmt& num) {
    const Tensor& x = call.input(0);
    const Index up = drop_axis(in_at, axis_of(x.shape(), *call.attrs), call.attrs->flag("keepdims"), 0);
    const double s = scale(mean, x, *call.attrs);
    const std::string factor =
        mean ? "(1/" + std::to_string(x.shape()[axis_of(x.shape(), *call.attrs)]) + ")" : std::string("1");
    Worked w;
    w.lhs = element(names.downstream, x.shape(), concrete(in_at));
    w.symbolic = element(names.upstream, upstream.shape(), concrete(up)) + " * " + factor;
    w.numeric = fmt::format("({})({})", num(upstream.at(up)), num(s));
    w.result = upstream.at(up) * s;
    return w;
}

// An element reaches the reduced element of its slice; an output element reads its whole slice.
ReachRule reduce_reach() {
    return {.affects =
                [](const std::vector<Shape>& in, const Shape&, const Attrs& attrs, std::size_t, const Box& changed) {
                    const std::size_t axis = axis_of(in[0], attrs);
                    Box b = changed;
                    if (attrs.flag("keepdims")) {
                        b.lo[axis] = 0;
                        b.hi[axis] = 1;
                    } else {
                        b.lo.erase(axis);
                        b.hi.erase(axis);
                    }
                    return b;
                },
            .reads =
                [](const std::vector<Shape>& in, const Shape&, const Attrs& attrs, const Box& out_box) {
                    const std::size_t axis = axis_of(in[0], attrs);
                    Box b = out_box;
                    if (!attrs.flag("keepdims")) {
                        b.lo.insert(axis, 0);
                        b.hi.insert(axis, 0);
                    }
                    b.lo[axis] = 0;
                    b.hi[axis] = static_cast<long long>(in[0][axis]);
                    return std::vector<Box>{b};
                }};
}

OpDef reduction(const std::string& name, bool mean) {
    return {
        .name = name,
        .family = "reduce",
        .summary = mean ? "mean over one axis (keepdims optional)" : "sum over one axis (keepdims optional)",
        .forward_formula = name + "({a}, axis={axis})",
        .inputs = {{.name = "a",
                    .formula = mean ? "∂(mean({a}, axis={axis}))/∂{a} = 1/N{[ = 1/{N}]} for every element (a mean "
                                      "spreads its gradient evenly)"
                                    : "∂(sum({a}, axis={axis}))/∂{a} = 1 for every element (a sum copies its gradient "
                                      "back)",
                    .local =
                        [mean](const OpCall& call) {
                            return Tensor(call.input(0).shape(), scale(mean, call.input(0), *call.attrs));
                        },
                    .vjp =
                        [mean](const OpCall& call, const Tensor& upstream) {
                            const Tensor& x = call.input(0);
                            Shape kept = x.shape();
                            kept[axis_of(x.shape(), *call.attrs)] = 1;
                            Tensor g = broadcast_to(Tensor(kept, upstream.data()), x.shape());
                            const double s = scale(mean, x, *call.attrs);
                            for (double& v : g.data()) v *= s;
                            return g;
                        },
                    .explain =
                        [mean](const OpCall& call, const Tensor& upstream, const Names& names, const Index& in_at,
                               const NumFmt& num) {
                            return reduce_explain_grad(mean, call, upstream, names, in_at, num);
                        }}},
        .attrs = {{"axis", AttrType::Int, 0.0, "the axis reduced (negative counts from the end)"},
                  {"keepdims", AttrType::Bool, 0.0, "keep the reduced axis with size 1"}},
        .shape = [](const std::vector<Shape>& in,
                    const Attrs& attrs) { return drop_axis(in[0], axis_of(in[0], attrs), attrs.flag("keepdims"), 1); },
        .forward =
            [mean](const OpCall& call) {
                const Tensor& x = call.input(0);
                Tensor out = sum_axis(x, axis_of(x.shape(), *call.attrs), call.attrs->flag("keepdims"));
                const double s = scale(mean, x, *call.attrs);
                if (s != 1.0)
                    for (double& v : out.data()) v *= s;
                return out;
            },
        .explain = [mean](const OpCall& call, const Names& names, const Index& at,
                          const NumFmt& num) { return reduce_explain_forward(mean, call, names, at, num); },
        .vars =
            [](const std::vector<Shape>& in, const Attrs& attrs) {
                return std::map<std::string, std::string>{{"N", std::to_string(in[0].at(axis_of(in[0], attrs)))}};
            },
        .reach = reduce_reach()};
}

}  // namespace

void add_reduce_ops(OpTable& t) {
    t.add(reduction("sum", false));
    t.add(reduction("mean", true));
}

}  // namespace bnstep::ops
