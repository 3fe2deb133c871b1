// The JSON of `run`, `trace` and `check-gradients` (docs/json-output.md).
// Numbers are written in full double precision.
#include <nlohmann/json.hpp>

#include "bnstep/print.hpp"
#include "bnstep/version.hpp"

namespace bnstep {
namespace {

using json = nlohmann::json;

json nested(const Tensor& t, std::size_t dim, std::size_t& flat) {
    if (dim == t.rank()) return t[flat++];
    json list = json::array();
    for (std::size_t i = 0; i < t.shape()[dim]; ++i) list.push_back(nested(t, dim + 1, flat));
    return list;
}

json optional_tensor(const std::optional<Tensor>& t) { return t ? tensor_json(*t) : json(nullptr); }

std::string_view status_name(EdgeGrad::Status s) {
    switch (s) {
        case EdgeGrad::Status::Flows: return "flows";
        case EdgeGrad::Status::ConstInput: return "constant";
        case EdgeGrad::Status::NotDifferentiable: return "not_differentiable";
    }
    return "?";
}

json intermediates_json(const std::vector<Intermediate>& items) {
    json a = json::array();
    for (const Intermediate& q : items)
        a.push_back(
            {{"name", q.name}, {"formula", q.formula}, {"shape", q.value.shape()}, {"value", tensor_json(q.value)}});
    return a;
}

json node_json(const Trace& t, std::size_t i) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[i];
    const NodeState& st = t.nodes[i];
    json j;
    j["name"] = n.name;
    j["step"] = n.step ? json(*n.step) : json(nullptr);
    j["op"] = n.is_leaf() ? std::string(kind_name(n.kind)) : n.op->name;
    j["kind"] = kind_name(n.kind);
    j["formula"] = n.is_leaf() ? json(nullptr) : json(forward_formula(g, i));
    j["attrs"] = json::object();
    for (const auto& [key, value] : n.attrs.all()) {
        const auto& specs = n.op->attrs;
        const std::string& attr = key;  // (clang 14 cannot capture a structured binding)
        const auto spec = std::find_if(specs.begin(), specs.end(), [&](const AttrSpec& a) { return a.name == attr; });
        if (spec != specs.end() && spec->type == AttrType::Choice)
            j["attrs"][key] = spec->choices.at(static_cast<std::size_t>(value));
        else if (spec != specs.end() && spec->type == AttrType::Bool)
            j["attrs"][key] = value != 0.0;
        else if (spec != specs.end() && spec->type == AttrType::Int)
            j["attrs"][key] = static_cast<long long>(value);
        else
            j["attrs"][key] = value;
    }
    for (const auto& [key, value] : n.attrs.integers()) j["attrs"][key] = value;
    for (const auto& [key, value] : n.attrs.lists()) j["attrs"][key] = value;
    j["shape"] = n.shape;
    j["value"] = tensor_json(st.value);
    j["grad_name"] = st.grad ? json(n.grad_name()) : json(nullptr);
    j["grad"] = optional_tensor(st.grad);
    j["surrogate_via"] = json::array();
    for (std::size_t k : st.surrogates) j["surrogate_via"].push_back(g.nodes[k].name);
    j["received"] = json::array();
    for (const auto& r : st.received)
        j["received"].push_back({{"name", t.edge(r).name}, {"from", g.nodes[r.first].name}});
    j["intermediates"] = intermediates_json(forward_intermediates(t, i));
    j["backward_intermediates"] = intermediates_json(backward_intermediates(t, i));
    j["inputs"] = json::array();
    for (const EdgeGrad& e : st.edges) {
        const bool flows = e.status == EdgeGrad::Status::Flows;
        j["inputs"].push_back({{"name", g.nodes[e.input].name},
                               {"status", status_name(e.status)},
                               {"gradient", flows ? json(e.name) : json(nullptr)},
                               {"local", e.formula},
                               {"straight_through", e.straight_through},
                               {"local_value", flows ? optional_tensor(e.local) : json(nullptr)},
                               {"reduced_axes", e.reduced_axes},
                               {"contribution", flows ? tensor_json(e.contribution) : json(nullptr)}});
    }
    return j;
}

json header(const Graph& g, const char* command) {
    json j = {{"bnstep", kVersion},
              {"command", command},
              {"lesson", g.name},
              {"title", g.title},
              {"source", g.source},
              {"loss", g.loss_formula()},
              {"output", g.nodes[g.output].name},
              {"seed", tensor_json(g.seed)}};
    add_variant_json(j, g);
    return j;
}

}  // namespace

void add_variant_json(json& j, const Graph& g) {
    if (g.variant == 0 && g.student.empty()) return;
    j["variant"] = g.variant;
    if (!g.student.empty()) j["student"] = g.student;
}

json worked_json(const Worked& w) {
    return {{"lhs", w.lhs}, {"symbolic", w.symbolic}, {"numeric", w.numeric}, {"result", w.result}, {"notes", w.notes}};
}

json tensor_json(const Tensor& t) {
    std::size_t flat = 0;
    return nested(t, 0, flat);
}

json run_json(const Trace& t) {
    const Graph& g = *t.graph;
    json j = header(g, "run");
    j["nodes"] = json::array();
    for (std::size_t i = 0; i < g.nodes.size(); ++i) j["nodes"].push_back(node_json(t, i));
    j["backward_order"] = json::array();
    for (std::size_t i : t.backward_order) j["backward_order"].push_back(g.nodes[i].name);
    j["cost"] = cost_json(g, t.cost);
    j["gradients"] = json::object();
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].is_leaf() && t.nodes[i].grad)
            j["gradients"][g.nodes[i].grad_name()] = tensor_json(*t.nodes[i].grad);
    // The elements the text output prints as 0: zero in exact arithmetic, round-off here.
    j["exact_zeros"] = json::array();
    for (const RoundedZero& z : exact_zeros(t)) {
        using W = RoundedZero::Where;
        const NodeState& n = t.nodes[z.node];
        const bool edge = z.where == W::Contribution;
        if (z.where != W::Value && z.where != W::Gradient && !edge) continue;
        if (z.where == W::Gradient && n.received.size() == 1) continue;  // the contribution itself, listed
        const std::string name = z.where == W::Value      ? g.nodes[z.node].name
                                 : z.where == W::Gradient ? g.nodes[z.node].grad_name()
                                                          : n.edges[z.slot].name;
        const Tensor& x = z.where == W::Value ? n.value : edge ? n.edges[z.slot].contribution : *n.grad;
        j["exact_zeros"].push_back({{"tensor", name}, {"index", x.unravel(z.offset)}, {"value", z.raw}});
    }
    return j;
}

json trace_json(const Trace& t, std::size_t i, const Index& index, const NumFmt& num,
                const std::optional<Index>& input_index) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[i];
    json j = header(g, "trace");
    j["node"] = node_json(t, i);
    j["index"] = index;
    j["forward"] = n.is_leaf() ? json(nullptr) : worked_json(worked_value(t, i, index, num));
    j["backward"] = json::array();
    const NodeState& st = t.nodes[i];
    if (!st.grad) return j;
    for (const EdgeGrad& e : st.edges) {
        if (e.status != EdgeGrad::Status::Flows) continue;
        const Index at = input_element(index, n.shape, g.nodes[e.input].shape, input_index);
        j["backward"].push_back({{"input", g.nodes[e.input].name},
                                 {"gradient", e.name},
                                 {"index", at},
                                 {"worked", worked_json(worked_gradient(t, i, e.slot, at, num))}});
    }
    return j;
}

namespace {

json kink_json(const Graph& g, const std::optional<KinkCrossing>& k) {
    if (!k) return nullptr;
    return {{"index", k->at},    {"node", g.nodes[k->where].name}, {"node_index", k->where_at}, {"left", k->left},
            {"right", k->right}, {"analytic", k->analytic},        {"matches", k->matches}};
}

}  // namespace

json check_json(const std::vector<GradcheckReport>& reports) {
    json j = {{"bnstep", kVersion}, {"command", "check-gradients"}};
    std::size_t failures = 0;
    if (!reports.empty()) {
        const GradcheckOptions& o = reports.front().options;
        j["options"] = {{"step", o.step},       {"tolerance", o.tolerance},
                        {"floor", o.floor},     {"mode", mode_name(o.mode)},
                        {"samples", o.samples}, {"seed", o.seed}};
    }
    j["lessons"] = json::array();
    for (const GradcheckReport& r : reports) {
        json lesson = {{"lesson", r.graph->name},
                       {"passed", r.passed()},
                       {"mode", mode_name(r.mode)},
                       {"floor", r.floor},
                       {"nodes", json::array()}};
        add_variant_json(lesson, *r.graph);
        for (const NodeCheck& c : r.checks) {
            const Node& n = r.graph->nodes[c.node];
            json surrogates = json::array();
            for (std::size_t k : c.surrogates) surrogates.push_back(r.graph->nodes[k].name);
            lesson["nodes"].push_back(
                {{"name", n.name},
                 {"step", n.step ? json(*n.step) : json(nullptr)},
                 {"shape", n.shape},
                 {"elements", c.elements},
                 {"max_error", c.max_error},
                 {"worst_index", c.worst},
                 {"analytic", c.analytic},
                 {"numeric", c.numeric},
                 {"passed", c.passed},
                 {"verdict", check_verdict(c)},
                 {"checkable", c.not_checkable.empty()},
                 {"not_checkable_reason", c.not_checkable.empty() ? json(nullptr) : json(c.not_checkable)},
                 {"compared", c.compared},
                 {"surrogates", surrogates},
                 {"plain", c.surrogates.empty() ? json(nullptr)
                                                : json{{"max_error", c.plain_max_error},
                                                       {"worst_index", c.plain_worst},
                                                       {"numeric", c.plain_numeric}}},
                 {"kinks", c.kinks},
                 {"first_kink", kink_json(*r.graph, c.first_kink)},
                 {"mode", mode_name(c.mode)},
                 {"directional", c.mode == GradcheckMode::Directional || c.fell_back
                                     ? json{{"analytic", c.directional_analytic},
                                            {"numeric", c.directional_numeric},
                                            {"error", c.directional_error},
                                            {"fell_back", c.fell_back}}
                                     : json(nullptr)}});
        }
        failures += r.failures();
        j["lessons"].push_back(std::move(lesson));
    }
    j["failures"] = failures;
    j["passed"] = failures == 0;
    return j;
}

}  // namespace bnstep
