#include "bnstep/executor.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "bnstep/error.hpp"

namespace bnstep {
namespace {

// The first non-finite element of `t`, if any.
std::optional<std::size_t> first_non_finite(const Tensor& t) {
    for (std::size_t i = 0; i < t.size(); ++i)
        if (!std::isfinite(t[i])) return i;
    return std::nullopt;
}

Names names_of(const Graph& g, std::size_t node) {
    Names names;
    for (std::size_t in : g.nodes[node].inputs) names.in.push_back(g.nodes[in].name);
    names.out = g.nodes[node].name;
    names.upstream = g.nodes[node].grad_name();
    return names;
}

void check_forward(const Graph& g, const std::vector<Tensor>& values, std::size_t i) {
    const auto bad = first_non_finite(values[i]);
    if (!bad) return;
    const Node& node = g.nodes[i];
    const Index at = values[i].unravel(*bad);
    const OpCall call = call_of(g, values, i);
    const NumFmt num{6};
    const Worked w = node.op->explain(call, names_of(g, i), at, num);
    throw NumericError(fmt::format("{}: {}: the forward value is {} at {}: {} = {} = {} = {}", g.source, node.label(),
                                   num(values[i][*bad]), index_str(at).empty() ? "the scalar" : index_str(at), w.lhs,
                                   w.symbolic, w.numeric, num(values[i][*bad])));
}

}  // namespace

namespace {

// The call for one node, its values read through `value_of(node index)`.
template <class ValueOf>
OpCall make_call(const Graph& g, std::size_t node, ValueOf value_of) {
    OpCall call;
    for (std::size_t in : g.nodes[node].inputs) call.in.push_back(&value_of(in));
    call.attrs = &g.nodes[node].attrs;
    call.out = &value_of(node);
    return call;
}

}  // namespace

OpCall call_of(const Graph& g, const std::vector<Tensor>& values, std::size_t node) {
    return make_call(g, node, [&](std::size_t i) -> const Tensor& { return values[i]; });
}

OpCall Trace::call(std::size_t node, std::size_t slot) const {
    OpCall c = make_call(*graph, node, [&](std::size_t i) -> const Tensor& { return nodes[i].value; });
    c.slot = slot;
    return c;
}

Names Trace::names(std::size_t node, std::size_t slot) const {
    Names n = names_of(*graph, node);
    if (slot < nodes[node].edges.size()) n.downstream = nodes[node].edges[slot].name;
    return n;
}

std::vector<Tensor> forward(const Graph& g) {
    std::vector<Tensor> values(g.nodes.size());
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& node = g.nodes[i];
        if (node.is_leaf()) {
            values[i] = node.value;
            continue;
        }
        try {
            values[i] = node.op->forward(call_of(g, values, i));
        } catch (const ValueError& e) {
            throw LessonError(fmt::format("{}: {}: {}", g.source, node.label(), e.what()));
        }
        if (values[i].shape() != node.shape)
            throw InternalError(fmt::format("{}: forward gave shape {}, expected {}", node.label(),
                                            shape_str(values[i].shape()), shape_str(node.shape)));
        check_forward(g, values, i);
    }
    return values;
}

double loss(const Graph& g, const std::vector<Tensor>& values) {
    const Tensor& out = values[g.output];
    double l = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) l += out[i] * g.seed[i];
    return l;
}

namespace {

// How many contributions each node will receive, to number them.
std::vector<std::size_t> contributions_expected(const Graph& g, const std::vector<bool>& gets) {
    std::vector<std::size_t> expected(g.nodes.size(), 0);
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        if (!gets[i] || g.nodes[i].is_leaf()) continue;
        for (std::size_t s = 0; s < g.nodes[i].inputs.size(); ++s)
            if (gets[g.nodes[i].inputs[s]] && g.nodes[i].op->rule(s).differentiable) ++expected[g.nodes[i].inputs[s]];
    }
    return expected;
}

// Node i's gradient, complete once every reader has sent its contribution.
void check_gradient(const Graph& g, const NodeState& state, std::size_t i) {
    const Node& node = g.nodes[i];
    if (state.grad->shape() != node.shape)
        throw InternalError(fmt::format("{}: gradient has shape {}, value has {}", node.label(),
                                        shape_str(state.grad->shape()), shape_str(node.shape)));
    if (const auto bad = first_non_finite(*state.grad))
        throw NumericError(fmt::format("{}: {}: the gradient {} is {} at {}", g.source, node.label(), node.grad_name(),
                                       NumFmt{}((*state.grad)[*bad]), index_str(state.grad->unravel(*bad))));
}

// A contribution of node i to its input, in the input's shape and finite.
void check_contribution(const Graph& g, const Trace& t, std::size_t i, const EdgeGrad& e, const InputRule& rule,
                        const OpCall& call) {
    const Node& node = g.nodes[i];
    const std::size_t in = e.input;
    if (e.contribution.shape() != g.nodes[in].shape)
        throw InternalError(fmt::format("{}: gradient for input '{}' has shape {}, expected {}", node.label(),
                                        g.nodes[in].name, shape_str(e.contribution.shape()),
                                        shape_str(g.nodes[in].shape)));
    if (const auto bad = first_non_finite(e.contribution)) {
        const Index at = e.contribution.unravel(*bad);
        Names names = names_of(g, i);
        names.downstream = e.name;
        const Worked w = rule.explain(call, *t.nodes[i].grad, names, at, NumFmt{6});
        throw NumericError(fmt::format("{}: {}: the gradient {} it sends to {} is {} at {}: {} = {} = {}", g.source,
                                       node.label(), e.name, g.nodes[in].name, NumFmt{}(e.contribution[*bad]),
                                       index_str(at), w.lhs, w.symbolic, w.numeric));
    }
}

// Node i's contribution along edge `e` (to input e.input, by `rule`), added to
// the input's gradient.
void send_gradient(Trace& t, std::size_t i, EdgeGrad& e, const InputRule& rule, const OpCall& call,
                   const std::vector<std::size_t>& expected, TraceDetail detail) {
    const Graph& g = *t.graph;
    const std::size_t in = e.input;
    const NodeState& state = t.nodes[i];
    NodeState& target = t.nodes[in];
    target.received.emplace_back(i, e.slot);
    e.straight_through = rule.straight_through;
    std::vector<std::size_t> via = state.surrogates;
    if (rule.straight_through) via.push_back(i);
    for (std::size_t k : via)
        if (std::find(target.surrogates.begin(), target.surrogates.end(), k) == target.surrogates.end())
            target.surrogates.push_back(k);
    std::sort(target.surrogates.begin(), target.surrogates.end());
    e.name = g.nodes[in].grad_name() + (expected[in] > 1 ? std::to_string(target.received.size()) : "");
    if (rule.local && detail == TraceDetail::Everything) e.local = rule.local(call);
    Tensor vjp = rule.vjp(call, *state.grad);
    if (vjp.shape() == g.nodes[in].shape) {
        e.contribution = std::move(vjp);
    } else {
        Unbroadcast u = unbroadcast(vjp, g.nodes[in].shape);
        e.contribution = std::move(u.value);
        e.reduced_axes = std::move(u.axes);
        e.unreduced = std::move(vjp);
    }
    check_contribution(g, t, i, e, rule, call);
    Tensor& acc = *target.grad;
    for (std::size_t k = 0; k < acc.size(); ++k) acc[k] += e.contribution[k];
    if (detail == TraceDetail::Gradients) e.contribution = e.unreduced = Tensor();
}

// Op node i's edges: each input's formula, and its contribution where the input gets one.
void backward_node(Trace& t, std::size_t i, const std::vector<bool>& gets, const std::vector<std::size_t>& expected,
                   TraceDetail detail) {
    const Graph& g = *t.graph;
    const Node& node = g.nodes[i];
    OpCall call = t.call(i);
    std::vector<Shape> in_shapes;
    std::vector<std::string> in_names;
    for (std::size_t in : node.inputs) {
        in_shapes.push_back(g.nodes[in].shape);
        in_names.push_back(g.nodes[in].name);
    }
    const auto formula_names_ = formula_names(*node.op, in_names, node.name, in_shapes, node.attrs);
    for (std::size_t s = 0; s < node.inputs.size(); ++s) {
        const InputRule& rule = node.op->rule(s);
        const std::size_t in = node.inputs[s];
        call.slot = s;
        EdgeGrad e;
        e.input = in;
        e.slot = s;
        auto edge_names = formula_names_;
        edge_names[rule.name] = in_names[s];  // a repeated input is named by its slot
        e.formula = render(rule.formula_for ? rule.formula_for(in_shapes, node.attrs) : rule.formula, edge_names);
        if (!rule.differentiable)
            e.status = EdgeGrad::Status::NotDifferentiable;
        else if (!gets[in])
            e.status = EdgeGrad::Status::ConstInput;
        else
            send_gradient(t, i, e, rule, call, expected, detail);
        t.nodes[i].edges.push_back(std::move(e));
    }
}

}  // namespace

std::vector<Intermediate> forward_intermediates(const Trace& t, std::size_t node) {
    const Node& n = t.graph->nodes[node];
    if (n.is_leaf() || !n.op->intermediates) return {};
    return n.op->intermediates(t.call(node), t.names(node, 0));
}

std::vector<Intermediate> backward_intermediates(const Trace& t, std::size_t node) {
    const Node& n = t.graph->nodes[node];
    if (n.is_leaf() || !n.op->backward_intermediates || !t.nodes[node].grad) return {};
    return n.op->backward_intermediates(t.call(node), *t.nodes[node].grad, t.names(node, 0));
}

Worked worked_value(const Trace& t, std::size_t node, const Index& at, const NumFmt& num) {
    return settle_worked(
        [&](const NumFmt& q) { return t.graph->nodes[node].op->explain(t.call(node), t.names(node, 0), at, q); }, num);
}

Worked worked_gradient(const Trace& t, std::size_t node, std::size_t slot, const Index& at, const NumFmt& num) {
    return settle_worked(
        [&](const NumFmt& q) {
            return t.graph->nodes[node].op->rule(slot).explain(t.call(node, slot), *t.nodes[node].grad,
                                                               t.names(node, slot), at, q);
        },
        num);
}

Worked worked_accumulation(const Trace& t, std::size_t node, const Index& at, const NumFmt& num) {
    return settle_worked(
        [&](const NumFmt& q) {
            Worked w;
            w.lhs = t.graph->nodes[node].grad_name() + index_str(at);
            for (const auto& r : t.nodes[node].received) {
                const EdgeGrad& e = t.edge(r);
                w.symbolic += (w.symbolic.empty() ? "" : " + ") + e.name + index_str(at);
                w.numeric += (w.numeric.empty() ? "" : " + ") + q.operand(e.contribution.at(at));
            }
            w.result = t.nodes[node].grad->at(at);
            return w;
        },
        num);
}

Trace run(const Graph& g, TraceDetail detail) {
    Trace t;
    t.graph = &g;
    std::vector<Tensor> values = forward(g);
    t.nodes.resize(g.nodes.size());
    for (std::size_t i = 0; i < g.nodes.size(); ++i) t.nodes[i].value = std::move(values[i]);

    const std::vector<bool> gets = g.gets_gradient();
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (gets[i]) t.nodes[i].grad = Tensor(g.nodes[i].shape);
    if (!gets[g.output])
        throw LessonError(fmt::format("{}: the output '{}' is a constant: nothing gets a gradient", g.source,
                                      g.nodes[g.output].name));
    *t.nodes[g.output].grad = g.seed;
    const std::vector<std::size_t> expected = contributions_expected(g, gets);

    for (std::size_t i = g.nodes.size(); i-- > 0;) {
        if (!gets[i]) continue;
        t.backward_order.push_back(i);
        check_gradient(g, t.nodes[i], i);
        if (!g.nodes[i].is_leaf()) backward_node(t, i, gets, expected, detail);
    }
    t.cost = cost_summary(g);
    return t;
}

}  // namespace bnstep
