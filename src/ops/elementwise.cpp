// Elementwise ops. Each is declared by its scalar function and, per input,
// the scalar local derivative with its formula; the builder below turns that
// into shape rule, forward, local gradient, VJP and worked examples.
#include <cmath>
#include <fmt/format.h>

#include "ops/explain.hpp"
#include "ops/families.hpp"

namespace bnstep::ops {
namespace {

using Args = std::vector<double>;  // one element of each input (an absent optional input reads 0)

struct ScalarInput {
    std::string name;
    std::string local;  // formula template of the local derivative
    std::function<double(const Args& x, double y, const Attrs& attrs)> derivative;
    bool optional = false;
    std::string note = "";  // appended to the formula (a convention at a kink)
};

struct ScalarOp {
    std::string name;
    std::string summary;
    std::string forward;  // formula template
    std::vector<ScalarInput> inputs;
    std::function<double(const Args& x, const Attrs& attrs)> f;
    std::vector<AttrSpec> attrs = {};
};

Shape broadcast_all(const std::vector<Shape>& in) {
    Shape shape = in.front();
    for (std::size_t i = 1; i < in.size(); ++i) {
        const auto b = broadcast_shapes(shape, in[i]);
        if (!b) throw ShapeError(fmt::format("shapes {} and {} do not broadcast", shape_str(shape), shape_str(in[i])));
        shape = *b;
    }
    return shape;
}

// Calls `visit(flat, args)` for every element of the output.
template <class Visit>
void for_each_element(const OpCall& call, std::size_t arity, const Shape& out_shape, Visit visit) {
    Args x(arity, 0.0);
    const Tensor probe(out_shape);
    bool same = true;
    for (const Tensor* t : call.in) same = same && t->shape() == out_shape;
    for (std::size_t i = 0; i < probe.size(); ++i) {
        if (same) {
            for (std::size_t j = 0; j < call.in.size(); ++j) x[j] = (*call.in[j])[i];
        } else {
            const Index at = probe.unravel(i);
            for (std::size_t j = 0; j < call.in.size(); ++j) x[j] = (*call.in[j])[broadcast_source(call.in[j]->shape(), at)];
        }
        visit(i, x);
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
std::string at_position(const std::string& tmpl, const std::vector<std::string>& keys, const OpCall& call, const Names& names,
                        const SymIndex& pos, const Index* values_at, const NumFmt& num) {
    return render(tmpl, [&](std::string_view key) -> std::optional<std::string> {
        for (std::size_t j = 0; j < keys.size(); ++j) {
            if (key != keys[j]) continue;
            if (!call.has_input(j)) return std::nullopt;
            const Tensor& t = call.input(j);
            if (values_at) return num.operand(t[broadcast_source(t.shape(), *values_at)]);
            return element(names.in[j], t.shape(), pos);
        }
        if (key == "out") return values_at ? num.operand(call.out->at(*values_at)) : element(names.out, call.out->shape(), pos);
        if (call.attrs->has(std::string(key))) return fmt::format("{}", call.attrs->number(std::string(key)));
        return std::nullopt;
    });
}

OpDef build(const ScalarOp& s) {
    OpDef op;
    op.name = s.name;
    op.family = "elementwise";
    op.summary = s.summary;
    op.forward_formula = s.forward;
    op.attrs = s.attrs;
    const std::size_t arity = s.inputs.size();
    std::vector<std::string> keys;
    for (const auto& input : s.inputs) keys.push_back(input.name);
    op.shape = [](const std::vector<Shape>& in, const Attrs&) { return broadcast_all(in); };
    op.forward = [f = s.f, arity](const OpCall& call) {
        Tensor out(shape_of_call(call));
        for_each_element(call, arity, out.shape(), [&](std::size_t i, const Args& x) { out[i] = f(x, *call.attrs); });
        return out;
    };
    op.explain = [s, keys](const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
        Worked w;
        w.lhs = element(names.out, call.out->shape(), concrete(at));
        w.symbolic = at_position(s.forward, keys, call, names, concrete(at), nullptr, num);
        w.numeric = drop_double_parens(at_position(s.forward, keys, call, names, {}, &at, num));
        w.result = call.out->at(at);
        return w;
    };
    for (std::size_t j = 0; j < arity; ++j) {
        const ScalarInput& in = s.inputs[j];
        InputRule rule;
        rule.name = in.name;
        rule.optional = in.optional;
        rule.formula = fmt::format("d({})/d{{{}}} = {}{}", s.forward, in.name, in.local, in.note);
        rule.local = [d = in.derivative, arity](const OpCall& call) {
            Tensor local(call.out->shape());
            for_each_element(call, arity, local.shape(),
                             [&](std::size_t i, const Args& x) { local[i] = d(x, (*call.out)[i], *call.attrs); });
            return local;
        };
        rule.vjp = [local = rule.local](const OpCall& call, const Tensor& upstream) {
            Tensor g = local(call);
            for (std::size_t i = 0; i < g.size(); ++i) g[i] *= upstream[i];
            return g;
        };
        rule.explain = [s, keys, j, local_of = rule.local](const OpCall& call, const Tensor& upstream, const Names& names,
                                                     const Index& in_at, const NumFmt& num) {
            const Shape& out_shape = call.out->shape();
            const Shape& in_shape = call.input(j).shape();
            const Tensor local = local_of(call);
            const std::size_t lead = out_shape.size() - in_shape.size();
            SymIndex pos;
            std::vector<std::string> letters;
            for (std::size_t a = 0; a < out_shape.size(); ++a) {
                const bool reduced = a < lead || (in_shape[a - lead] == 1 && out_shape[a] != 1);
                if (reduced) {
                    letters.push_back(sum_letter(letters.size()));
                    pos.push_back(letters.back());
                } else {
                    pos.push_back(std::to_string(in_at[a - lead]));
                }
            }
            const std::string local_sym = at_position(s.inputs[j].local, keys, call, names, pos, nullptr, num);
            Worked w;
            w.lhs = element(names.downstream, in_shape, concrete(in_at));
            w.symbolic = sum_prefix(letters) + element(names.upstream, out_shape, pos) + " * " + wrap(local_sym);
            std::vector<std::string> terms;
            const auto sources = broadcast_sources(out_shape, in_shape, in_at);
            for (const Index& p : sources) {
                terms.push_back(fmt::format("({})({})", num(upstream.at(p)), num(local.at(p))));
                w.result += upstream.at(p) * local.at(p);
            }
            w.numeric = join_terms(terms);
            if (!is_atom(local_sym)) {
                const Index& p = sources.front();
                const std::string local_at = at_position(s.inputs[j].local, keys, call, names, concrete(p), nullptr, num);
                const std::string local_num =
                    drop_double_parens(at_position(s.inputs[j].local, keys, call, names, {}, &p, num));
                if (local_at != local_num)
                    w.notes.push_back(fmt::format("local gradient at {}: {} = {} = {}", index_str(p), local_at,
                                                  local_num, num(local.at(p))));
            }
            return w;
        };
        op.inputs.push_back(std::move(rule));
    }
    return op;
}

ScalarInput in(std::string name, std::string local,
               std::function<double(const Args&, double, const Attrs&)> derivative, bool optional = false,
               std::string note = "") {
    return {std::move(name), std::move(local), std::move(derivative), optional, std::move(note)};
}

}  // namespace

void add_elementwise_ops(OpTable& t) {
    const std::vector<ScalarOp> ops = {
        {"add", "a + b, broadcast", "{a} + {b}",
         {in("a", "1", [](auto&, double, auto&) { return 1.0; }), in("b", "1", [](auto&, double, auto&) { return 1.0; })},
         [](const Args& x, auto&) { return x[0] + x[1]; }},
        {"sub", "a - b, broadcast", "{a} - {b}",
         {in("a", "1", [](auto&, double, auto&) { return 1.0; }), in("b", "-1", [](auto&, double, auto&) { return -1.0; })},
         [](const Args& x, auto&) { return x[0] - x[1]; }},
        {"mul", "a * b, broadcast; each input's local gradient is the other input", "{a} * {b}",
         {in("a", "{b}", [](const Args& x, double, auto&) { return x[1]; }),
          in("b", "{a}", [](const Args& x, double, auto&) { return x[0]; })},
         [](const Args& x, auto&) { return x[0] * x[1]; }},
        {"div", "a / b, broadcast", "{a} / {b}",
         {in("a", "1/{b}", [](const Args& x, double, auto&) { return 1.0 / x[1]; }),
          in("b", "-{a}/{b}^2", [](const Args& x, double, auto&) { return -x[0] / (x[1] * x[1]); })},
         [](const Args& x, auto&) { return x[0] / x[1]; }},
        {"neg", "-a", "-{a}", {in("a", "-1", [](auto&, double, auto&) { return -1.0; })},
         [](const Args& x, auto&) { return -x[0]; }},
        {"pow", "a^p for a constant exponent p", "{a}^{p}",
         {in("a", "{p}*{a}^({p}-1)",
             [](const Args& x, double, const Attrs& at) { return at.number("p") == 0 ? 0.0 : at.number("p") * std::pow(x[0], at.number("p") - 1); })},
         [](const Args& x, const Attrs& at) { return std::pow(x[0], at.number("p")); },
         {{"p", AttrType::Number, std::nullopt, "the constant exponent"}}},
        {"square", "a^2", "{a}^2", {in("a", "2*{a}", [](const Args& x, double, auto&) { return 2 * x[0]; })},
         [](const Args& x, auto&) { return x[0] * x[0]; }},
        {"sqrt", "sqrt(v + eps), eps an optional second input (e.g. a const)", "sqrt({v}{[ + {eps}]})",
         {in("v", "0.5/sqrt({v}{[ + {eps}]})", [](auto&, double y, auto&) { return 0.5 / y; }),
          in("eps", "0.5/sqrt({v}{[ + {eps}]})", [](auto&, double y, auto&) { return 0.5 / y; }, true)},
         [](const Args& x, auto&) { return std::sqrt(x[0] + x[1]); }},
        {"reciprocal", "1/v", "1/{v}", {in("v", "-1/{v}^2", [](const Args& x, double, auto&) { return -1 / (x[0] * x[0]); })},
         [](const Args& x, auto&) { return 1 / x[0]; }},
        {"exp", "e^a", "exp({a})", {in("a", "exp({a})", [](auto&, double y, auto&) { return y; })},
         [](const Args& x, auto&) { return std::exp(x[0]); }},
        {"log", "natural logarithm", "log({a})", {in("a", "1/{a}", [](const Args& x, double, auto&) { return 1 / x[0]; })},
         [](const Args& x, auto&) { return std::log(x[0]); }},
        {"relu", "max(a, 0); at a = 0 the gradient is 0 (the convention PyTorch uses)", "max({a}, 0)",
         {in("a", "1 if {a} > 0 else 0", [](const Args& x, double, auto&) { return x[0] > 0 ? 1.0 : 0.0; },
             false, " (at {a} = 0 the gradient is 0, as in PyTorch)")},
         [](const Args& x, auto&) { return x[0] > 0 ? x[0] : 0.0; }},
    };
    for (const auto& s : ops) t.add(build(s));
}

}  // namespace bnstep::ops
