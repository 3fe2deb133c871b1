// The elementwise op builder (see scalar_op.hpp).
#include "ops/scalar_op.hpp"

#include <fmt/format.h>
#include <memory>

#include "bnstep/error.hpp"
#include "ops/explain.hpp"
#include "ops/reach.hpp"
#include "ops/rules.hpp"

namespace bnstep::ops {
namespace {

Shape broadcast_all(const std::vector<Shape>& in) {
    Shape shape = in.front();
    for (std::size_t i = 1; i < in.size(); ++i) {
        const auto b = broadcast_shapes(shape, in[i]);
        if (!b) throw ShapeError(fmt::format("shapes {} and {} do not broadcast", shape_str(shape), shape_str(in[i])));
        shape = *b;
    }
    return shape;
}

// Calls `visit(flat, args)` for every element of the output, a row (the last
// axis) at a time: along it each input moves by a fixed step (0 where it is
// broadcast), and only between rows does the position follow the other axes.
template <class Visit>
void for_each_element(const OpCall& call, std::size_t arity, const Shape& out_shape, Visit visit) {
    Args x(arity, 0.0);
    const std::size_t rank = out_shape.size(), inputs = call.in.size();
    std::size_t size = 1;
    for (std::size_t d : out_shape) size *= d;
    if (size == 0) return;
    std::vector<const double*> data(inputs);
    for (std::size_t j = 0; j < inputs; ++j) data[j] = call.in[j]->data().data();
    if (rank == 0) {
        for (std::size_t j = 0; j < inputs; ++j) x[j] = data[j][0];
        visit(0, x);
        return;
    }
    // step[j * rank + axis]: how far input j's flat position moves per step along the output's axis.
    std::vector<std::size_t> step(inputs * rank, 0);
    for (std::size_t j = 0; j < inputs; ++j) {
        const Shape& s = call.in[j]->shape();
        std::size_t stride = 1;
        for (std::size_t axis = rank; axis-- > rank - s.size();) {
            const std::size_t d = s[axis - (rank - s.size())];
            if (d != 1) step[j * rank + axis] = stride;
            stride *= d;
        }
    }
    const std::size_t row = out_shape[rank - 1];
    Index at(rank, 0);
    std::vector<std::size_t> pos(inputs, 0);
    for (std::size_t first = 0; first < size; first += row) {
        // One and two inputs, the common cases, unrolled: about 10% of a full gradient check.
        if (inputs == 1) {
            const double* a = data[0] + pos[0];
            const std::size_t sa = step[rank - 1];
            for (std::size_t e = 0; e < row; ++e) {
                x[0] = a[e * sa];
                visit(first + e, x);
            }
        } else if (inputs == 2) {
            const double *a = data[0] + pos[0], *b = data[1] + pos[1];
            const std::size_t sa = step[rank - 1], sb = step[2 * rank - 1];
            for (std::size_t e = 0; e < row; ++e) {
                x[0] = a[e * sa];
                x[1] = b[e * sb];
                visit(first + e, x);
            }
        } else {
            for (std::size_t e = 0; e < row; ++e) {
                for (std::size_t j = 0; j < inputs; ++j) x[j] = data[j][pos[j] + e * step[j * rank + rank - 1]];
                visit(first + e, x);
            }
        }
        for (std::size_t axis = rank - 1; axis-- > 0;) {  // the next row, odometer-style
            for (std::size_t j = 0; j < inputs; ++j) pos[j] += step[j * rank + axis];
            if (++at[axis] < out_shape[axis]) break;
            for (std::size_t j = 0; j < inputs; ++j) pos[j] -= step[j * rank + axis] * out_shape[axis];
            at[axis] = 0;
        }
    }
}

Shape shape_of_call(const OpCall& call) {
    std::vector<Shape> shapes;
    for (const Tensor* t : call.in) shapes.push_back(t->shape());
    return broadcast_all(shapes);
}

// True when `s` is a single operand or number that needs no parentheses.
bool is_atom(const std::string& s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == ' ' || c == '+' || c == '*' || c == '/' || c == '^' || c == '-') return false;
    }
    return true;
}

std::string wrap(const std::string& s) { return is_atom(s) ? s : "(" + s + ")"; }

// Renders `tmpl` for one output position: operands by name and index, or by value.
std::string at_position(const std::string& tmpl, const std::vector<std::string>& keys, const OpCall& call,
                        const Names& names, const SymIndex& pos, const Index* values_at, const NumFmt& num) {
    return render(tmpl, [&](std::string_view key) -> std::optional<std::string> {
        for (std::size_t j = 0; j < keys.size(); ++j) {
            if (key != keys[j]) continue;
            if (!call.has_input(j)) return std::nullopt;
            const Tensor& t = call.input(j);
            if (values_at) return num.operand(t[broadcast_source(t.shape(), *values_at)]);
            return element(names.in[j], t.shape(), pos);
        }
        if (key == "out")
            return values_at ? num.operand(call.out->at(*values_at)) : element(names.out, call.out->shape(), pos);
        if (call.attrs->has(std::string(key))) return fmt::format("{}", call.attrs->number(std::string(key)));
        return std::nullopt;
    });
}

// The pieces of an elementwise op: `piece` at every element of the output.
PiecesFn pieces_of(std::function<long long(const Args&, const Attrs&)> piece, std::size_t arity) {
    return [piece = std::move(piece), arity](const OpCall& call) {
        const Shape shape = shape_of_call(call);
        std::vector<long long> p(element_count(shape));
        for_each_element(call, arity, shape, [&](std::size_t i, const Args& x) { p[i] = piece(x, *call.attrs); });
        return p;
    };
}

// f(x0) + (s(x) - s(x0)): the op at its forward input x0, moving as s moves.
Surrogate surrogate_of(const ScalarOp& op, ForwardFn forward) {
    const ScalarSurrogate& sur = *op.surrogate;
    if (op.inputs.size() != 1) throw InternalError(fmt::format("op '{}': a scalar surrogate needs one input", op.name));
    PiecesFn pieces;
    if (sur.piece) pieces = pieces_of([piece = sur.piece](const Args& x, const Attrs& a) { return piece(x[0], a); }, 1);
    return anchored_surrogate(sur.name, std::move(forward), sur.s, std::move(pieces));
}

std::string formula_of(const ScalarOp& s, const ScalarInput& in) {
    if (in.straight_through)
        return fmt::format("∂({})/∂{{{}}}: true derivative 0 almost everywhere; straight-through estimator: {}{}",
                           s.forward, in.name, in.local, in.note);
    return fmt::format("∂({})/∂{{{}}} = {}{}", s.forward, in.name, in.local, in.note);
}

ShapeFn scalar_shape_rule(std::function<void(const Attrs& attrs)> check) {
    return [check = std::move(check)](const std::vector<Shape>& in, const Attrs& attrs) {
        if (check) check(attrs);
        return broadcast_all(in);
    };
}

ForwardFn scalar_forward(std::function<double(const Args& x, const Attrs& attrs)> f, std::size_t arity) {
    return [f = std::move(f), arity](const OpCall& call) {
        Tensor out(shape_of_call(call));
        for_each_element(call, arity, out.shape(), [&](std::size_t i, const Args& x) { out[i] = f(x, *call.attrs); });
        return out;
    };
}

Worked scalar_explain(const ScalarOp& s, const std::vector<std::string>& keys, const OpCall& call, const Names& names,
                      const Index& at, const NumFmt& num) {
    Worked w;
    w.lhs = element(names.out, call.out->shape(), concrete(at));
    w.symbolic = at_position(s.forward, keys, call, names, concrete(at), nullptr, num);
    w.numeric = drop_double_parens(at_position(s.forward, keys, call, names, {}, &at, num));
    w.result = call.out->at(at);
    return w;
}

LocalFn scalar_local(std::function<double(const Args& x, double y, const Attrs& attrs)> d, std::size_t arity) {
    return [d = std::move(d), arity](const OpCall& call) {
        Tensor local(call.out->shape());
        for_each_element(call, arity, local.shape(),
                         [&](std::size_t i, const Args& x) { local[i] = d(x, (*call.out)[i], *call.attrs); });
        return local;
    };
}

// The output position an input element reaches, with a summed letter on each
// axis where the input is broadcast; `letters` gets those letters.
SymIndex scalar_summed_position(const Shape& out_shape, const Shape& in_shape, const Index& in_at,
                                std::vector<std::string>& letters) {
    const std::size_t lead = out_shape.size() - in_shape.size();
    SymIndex pos;
    for (std::size_t a = 0; a < out_shape.size(); ++a) {
        const bool reduced = a < lead || (in_shape[a - lead] == 1 && out_shape[a] != 1);
        if (reduced) {
            letters.push_back(sum_letter(letters.size()));
            pos.push_back(letters.back());
        } else {
            pos.push_back(std::to_string(in_at[a - lead]));
        }
    }
    return pos;
}

// The worked example of input j's gradient: upstream times the local gradient,
// summed where the input is broadcast.
Worked scalar_input_explain(const ScalarOp& s, const std::vector<std::string>& keys, std::size_t j, const Tensor& local,
                            const OpCall& call, const Tensor& upstream, const Names& names, const Index& in_at,
                            const NumFmt& num) {
    const Shape& out_shape = call.out->shape();
    const Shape& in_shape = call.input(j).shape();
    std::vector<std::string> letters;
    const SymIndex pos = scalar_summed_position(out_shape, in_shape, in_at, letters);
    const std::string local_tmpl = s.inputs[j].local_for ? s.inputs[j].local_for(*call.attrs) : s.inputs[j].local;
    const std::string local_sym = at_position(local_tmpl, keys, call, names, pos, nullptr, num);
    Worked w;
    w.lhs = element(names.downstream, in_shape, concrete(in_at));
    w.symbolic = sum_prefix(letters) + element(names.upstream, out_shape, pos) + " * " + wrap(local_sym);
    std::vector<std::string> terms;
    const auto sources = broadcast_sources(out_shape, in_shape, in_at);
    for (const Index& p : sources) {
        terms.push_back(fmt::format("({})({})", num(upstream.at(p)), num(local.at(p))));
        w.result += upstream.at(p) * local.at(p);
    }
    w.numeric = join_terms(terms, num);
    if (!is_atom(local_sym)) {
        const Index& p = sources.front();
        const std::string local_at = at_position(local_tmpl, keys, call, names, concrete(p), nullptr, num);
        const std::string local_num = drop_double_parens(at_position(local_tmpl, keys, call, names, {}, &p, num));
        if (local_at != local_num)
            w.notes.push_back(
                fmt::format("local gradient at {}: {} = {} = {}", index_str(p), local_at, local_num, num(local.at(p))));
    }
    return w;
}

InputRule scalar_input_rule(const std::shared_ptr<const ScalarOp>& shared, const std::vector<std::string>& keys,
                            std::size_t j) {
    const ScalarOp& s = *shared;
    const ScalarInput& in = s.inputs[j];
    InputRule rule;
    rule.name = in.name;
    rule.optional = in.optional;
    rule.domain = in.domain;
    rule.domain_of = in.domain_of;
    rule.straight_through = in.straight_through;
    rule.formula = formula_of(s, in);
    if (in.straight_through && in.local_for && s.surrogate)
        rule.formula_for = [shared, j](const std::vector<Shape>&, const Attrs& attrs) {
            const ScalarInput& input = shared->inputs[j];
            return fmt::format(
                "∂({})/∂{{{}}}: true derivative 0 almost everywhere; straight-through estimator, ste {}: {}",
                shared->forward, input.name, shared->surrogate->name(attrs), input.local_for(attrs));
        };
    rule.local = scalar_local(in.derivative, s.inputs.size());
    rule.vjp = upstream_times(rule.local);
    rule.explain = [shared, keys, j, local_of = rule.local](const OpCall& call, const Tensor& upstream,
                                                            const Names& names, const Index& in_at, const NumFmt& num) {
        return scalar_input_explain(*shared, keys, j, local_of(call), call, upstream, names, in_at, num);
    };
    return rule;
}

}  // namespace

OpDef build(const ScalarOp& s) {
    OpDef op;
    op.name = s.name;
    op.family = s.family;
    op.summary = s.summary;
    op.forward_formula = s.forward;
    op.attrs = s.attrs;
    const std::size_t arity = s.inputs.size();
    std::vector<std::string> keys;
    for (const auto& input : s.inputs) keys.push_back(input.name);
    op.shape = scalar_shape_rule(s.check_attrs);
    op.forward = scalar_forward(s.f, arity);
    if (s.piece) op.pieces = pieces_of(s.piece, arity);
    if (s.surrogate)
        op.surrogate = surrogate_of(s, op.forward);
    else
        op.reach = elementwise_reach();
    // The worked examples keep the op's description; one shared copy, not one per rule.
    const auto shared = std::make_shared<const ScalarOp>(s);
    op.explain = [shared, keys](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
        return scalar_explain(*shared, keys, call, names, at, num);
    };
    for (std::size_t j = 0; j < arity; ++j) op.inputs.push_back(scalar_input_rule(shared, keys, j));
    return op;
}

}  // namespace bnstep::ops
