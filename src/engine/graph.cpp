#include "bnstep/graph.hpp"

#include <fmt/format.h>
#include <functional>
#include <queue>

namespace bnstep {

std::string_view kind_name(NodeKind kind) {
    switch (kind) {
        case NodeKind::Input: return "input";
        case NodeKind::Param: return "param";
        case NodeKind::Const: return "const";
        case NodeKind::Op: return "op";
    }
    return "?";
}

std::string Node::label() const {
    if (step) return fmt::format("step {} ({})", *step, name);
    return fmt::format("node '{}'", name);
}

std::optional<std::size_t> Graph::find(std::string_view wanted) const {
    for (std::size_t i = 0; i < nodes.size(); ++i)
        if (nodes[i].name == wanted) return i;
    return std::nullopt;
}

std::optional<std::size_t> Graph::find_step(int step) const {
    for (std::size_t i = 0; i < nodes.size(); ++i)
        if (nodes[i].step == step) return i;
    return std::nullopt;
}

std::vector<std::vector<std::size_t>> Graph::consumers() const {
    std::vector<std::vector<std::size_t>> c(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i)
        for (std::size_t in : nodes[i].inputs) c[in].push_back(i);
    return c;
}

std::vector<bool> Graph::reaches_output() const {
    std::vector<bool> r(nodes.size(), false);
    r[output] = true;
    for (std::size_t i = nodes.size(); i-- > 0;)
        if (r[i])
            for (std::size_t in : nodes[i].inputs) r[in] = true;
    return r;
}

std::vector<bool> Graph::downstream_of(std::size_t start) const {
    std::vector<bool> d(nodes.size(), false);
    d[start] = true;
    for (std::size_t i = start + 1; i < nodes.size(); ++i)
        for (std::size_t in : nodes[i].inputs)
            if (d[in]) d[i] = true;
    return d;
}

std::vector<bool> Graph::gets_gradient() const {
    std::vector<bool> g(nodes.size(), false);
    g[output] = nodes[output].kind != NodeKind::Const;
    for (std::size_t i = nodes.size(); i-- > 0;) {
        if (!g[i] || nodes[i].is_leaf()) continue;
        for (std::size_t s = 0; s < nodes[i].inputs.size(); ++s) {
            const std::size_t in = nodes[i].inputs[s];
            if (nodes[i].op->rule(s).differentiable && nodes[in].kind != NodeKind::Const) g[in] = true;
        }
    }
    return g;
}

std::string Graph::loss_formula() const {
    const Node& out = nodes[output];
    if (scalar_loss) return fmt::format("L = {} (a scalar loss, seed dL/d{} = 1)", out.name, out.name);
    return fmt::format("L = sum({} * {})", out.name, out.grad_name());
}

std::vector<std::size_t> topological_order(const std::vector<std::vector<std::size_t>>& inputs,
                                           std::vector<std::size_t>& cycle) {
    cycle.clear();
    const std::size_t n = inputs.size();
    std::vector<std::size_t> missing(n, 0);
    std::vector<std::vector<std::size_t>> readers(n);
    for (std::size_t i = 0; i < n; ++i) {
        missing[i] = inputs[i].size();
        for (std::size_t in : inputs[i]) readers[in].push_back(i);
    }
    std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
    for (std::size_t i = 0; i < n; ++i)
        if (missing[i] == 0) ready.push(i);
    std::vector<std::size_t> order;
    while (!ready.empty()) {
        const std::size_t i = ready.top();
        ready.pop();
        order.push_back(i);
        for (std::size_t reader : readers[i])
            if (--missing[reader] == 0) ready.push(reader);
    }
    if (order.size() == n) return order;
    // Walk back along unfinished inputs until a node repeats: that is a cycle.
    std::size_t start = 0;
    while (missing[start] == 0) ++start;
    std::vector<std::size_t> path{start};
    std::vector<int> seen(n, -1);
    seen[start] = 0;
    for (;;) {
        const std::size_t cur = path.back();
        std::size_t next = cur;
        for (std::size_t in : inputs[cur])
            if (missing[in] != 0) {
                next = in;
                break;
            }
        if (seen[next] >= 0) {
            for (std::size_t k = path.size(); k-- > static_cast<std::size_t>(seen[next]);) cycle.push_back(path[k]);
            cycle.push_back(path.back());
            return order;
        }
        seen[next] = static_cast<int>(path.size());
        path.push_back(next);
    }
}

}  // namespace bnstep
