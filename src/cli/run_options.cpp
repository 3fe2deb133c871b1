#include "run_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/error.hpp"
#include "common.hpp"

namespace bnstep::cli {
namespace {

// How a node is named in messages: "3 (sq)" or "gamma".
std::string node_called(const Node& n) { return n.step ? fmt::format("{} ({})", *n.step, n.name) : n.name; }

// --nodes A..B, A.., ..B or A: the nodes from A to B in step order, both included.
std::vector<bool> node_range(const std::string& text, const Graph& g) {
    const std::size_t dots = text.find("..");
    const std::string from = dots == std::string::npos ? text : text.substr(0, dots);
    const std::string to = dots == std::string::npos ? text : text.substr(dots + 2);
    if (from.empty() && to.empty()) throw UsageError("--nodes: expected A..B, A.., ..B or A (a step number or a name)");
    const std::size_t first = from.empty() ? 0 : find_node(g, from);
    const std::size_t last = to.empty() ? g.nodes.size() - 1 : find_node(g, to);
    if (first > last)
        throw UsageError(fmt::format("--nodes {}: {} comes after {} in lesson {}; give the earlier one first", text,
                                     node_called(g.nodes[first]), node_called(g.nodes[last]), g.name));
    std::vector<bool> shown(g.nodes.size(), false);
    for (std::size_t i = first; i <= last; ++i) shown[i] = true;
    return shown;
}

// --index: an element of at least one of the lesson's tensors.
Index run_index(const std::string& text, const Graph& g) {
    std::string tried;
    for (const Node& n : g.nodes) {
        try {
            return parse_index(text, n);
        } catch (const UsageError& e) {
            tried = e.what();
            if (tried.find("expected non-negative integers") != std::string::npos) throw;
        }
    }
    throw UsageError(
        fmt::format("--index {} fits none of the tensors of lesson {} (give one number per axis of a "
                    "node's shape, each below its dimension)",
                    text, g.name));
}

}  // namespace

void add_run_view_options(CLI::App& cmd, RunViewArgs& a) {
    cmd.add_option("--only", a.only, "text: print only the forward or only the backward pass (and the gradients)")
        ->check(CLI::IsMember({"forward", "backward"}));
    cmd.add_option("--nodes", a.nodes,
                   "text: print only these nodes: A..B (step numbers or names, both included), A.., ..B or one node")
        ->type_name(kNodeType);
    cmd.add_option("--index,-i", a.index,
                   "text: the element worked out on each backward edge, e.g. 1,2 (each node's element, mapped to its "
                   "inputs; default: 1 on every axis longer than 1, or the first element that is not 0)");
    cmd.add_flag("--brief", a.brief, "text: each tensor as one line, no worked elements, no tensor printed twice");
    cmd.add_flag("--cost", a.cost, "print the cost table even when the lesson has no weights or multiply-adds");
}

RunView run_view(const RunViewArgs& a, const Graph& g) {
    RunView view;
    view.forward = a.only != "backward";
    view.backward = a.only != "forward";
    if (a.nodes) {
        if (a.nodes->empty())
            throw UsageError("--nodes '': give a range A..B, A.. or ..B, or one node (step numbers or names)");
        view.nodes = node_range(*a.nodes, g);
    }
    if (a.index) {
        if (a.index->empty()) throw UsageError("--index '': give one number per axis, e.g. 1,2");
        view.index = run_index(*a.index, g);
    }
    view.brief = a.brief;
    view.cost = a.cost;
    return view;
}

void check_json_view(const RunViewArgs& a) {
    std::vector<std::string> given;
    if (a.brief) given.emplace_back("--brief");
    if (!a.only.empty()) given.emplace_back("--only");
    if (a.nodes) given.emplace_back("--nodes");
    if (a.index) given.emplace_back("--index");
    if (!given.empty())
        throw UsageError(fmt::format("{} {} to text output; --format json always writes every node in full",
                                     fmt::join(given, ", "), given.size() > 1 ? "apply" : "applies"));
}

}  // namespace bnstep::cli
