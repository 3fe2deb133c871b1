#include "bnstep/cost.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace bnstep {

CostReport cost_summary(const Graph& g) {
    CostReport report;
    const std::vector<bool> feeds = g.reaches_output();
    std::vector<NodeCost> by_node(g.nodes.size());
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        if (n.is_leaf()) continue;
        NodeCost c;
        c.node = i;
        std::vector<std::string> params;
        std::vector<Shape> in_shapes;
        for (std::size_t in : n.inputs) {
            in_shapes.push_back(g.nodes[in].shape);
            if (g.nodes[in].kind != NodeKind::Param) continue;
            c.weights += element_count(g.nodes[in].shape);
            params.push_back(fmt::format("{} {}", g.nodes[in].name, element_count(g.nodes[in].shape)));
        }
        std::string op_weights;
        if (n.op->cost) {
            const Cost cost = n.op->cost(in_shapes, n.shape, n.attrs);
            c.macs = cost.macs;
            c.macs_formula = cost.formula;
            op_weights = cost.weights_formula;
        }
        if (c.weights == 0 && c.macs_formula.empty()) continue;
        if (!op_weights.empty() && params.size() == 1)
            c.weights_formula = op_weights;
        else if (params.size() > 1)
            c.weights_formula = fmt::format("{}", fmt::join(params, " + "));
        by_node[i] = c;
        report.nodes.push_back(c);
        if (feeds[i]) {
            report.total_weights += c.weights;
            report.total_macs += c.macs;
        }
    }
    for (const CostGroup& group : g.compare) {
        GroupCost gc;
        gc.label = group.label;
        for (std::size_t i : group.nodes) {
            gc.nodes.push_back(g.nodes[i].name);
            gc.weights += by_node[i].weights;
            gc.macs += by_node[i].macs;
        }
        report.compare.push_back(std::move(gc));
    }
    return report;
}

}  // namespace bnstep
