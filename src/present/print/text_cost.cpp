// The cost table at the end of `run`, and its JSON.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <ostream>

#include "bnstep/cost.hpp"
#include "bnstep/print.hpp"

namespace bnstep {
namespace {

std::string count(double v) { return fmt::format("{:.0f}", v); }

}  // namespace

void print_cost_text(std::ostream& os, const Graph& g, const CostReport& r, const PrintOptions& opt) {
    if (r.nodes.empty()) return;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << '\n' << opt.style.heading("COST: weights read and multiply-adds of one forward pass") << '\n';
    for (const NodeCost& c : r.nodes) {
        const Node& n = g.nodes[c.node];
        os << '\n' << fmt::format("{:<8}{} ({})", step_label(n), opt.style.node(n.name), n.op->name) << '\n';
        os << wrap(
            fmt::format("weights        {}{}", c.weights, c.weights_formula.empty() ? "" : "  = " + c.weights_formula),
            width, "        ", "                       ");
        if (!c.macs_formula.empty())
            os << wrap(fmt::format("multiply-adds  {}  = {}", count(c.macs), c.macs_formula), width, "        ",
                       "                       ");
    }
    os << '\n'
       << wrap(fmt::format("total (the nodes that feed {}): {} weights, {} multiply-adds", g.nodes[g.output].name,
                           r.total_weights, count(r.total_macs)),
               width, "");
    if (r.compare.size() != 2) return;
    const GroupCost& a = r.compare[0];
    const GroupCost& b = r.compare[1];
    os << '\n' << opt.style.heading("COMPARISON") << '\n';
    for (const GroupCost& c : r.compare)
        os << wrap(fmt::format("{} ({}): {} weights, {} multiply-adds", c.label, fmt::join(c.nodes, ", "), c.weights,
                               count(c.macs)),
                   width, "    ", "        ");
    auto ratio = [&](double x, double y) { return y == 0 ? std::string("-") : opt.num(x / y); };
    os << wrap(
        fmt::format("{} / {}: weights {} / {} = {}, multiply-adds {} / {} = {}", b.label, a.label, b.weights, a.weights,
                    ratio(double(b.weights), double(a.weights)), count(b.macs), count(a.macs), ratio(b.macs, a.macs)),
        width, "    ", "        ");
}

nlohmann::json cost_json(const Graph& g, const CostReport& r) {
    nlohmann::json j = {
        {"nodes", nlohmann::json::array()}, {"total_weights", r.total_weights}, {"total_macs", r.total_macs}};
    for (const NodeCost& c : r.nodes)
        j["nodes"].push_back({{"name", g.nodes[c.node].name},
                              {"op", g.nodes[c.node].op->name},
                              {"weights", c.weights},
                              {"weights_formula", c.weights_formula},
                              {"macs", c.macs},
                              {"macs_formula", c.macs_formula}});
    j["compare"] = nlohmann::json::array();
    for (const GroupCost& c : r.compare)
        j["compare"].push_back({{"label", c.label}, {"nodes", c.nodes}, {"weights", c.weights}, {"macs", c.macs}});
    return j;
}

}  // namespace bnstep
