// `bnstep graph`: the computational graph as Graphviz DOT or Mermaid. One box
// per node (name, step, op, shape), forward edges in black and, on request,
// backward edges in red labelled with the gradient each carries. Everything is
// in the lesson's order, so the output is the same on every run. A backward
// edge is written input -> node with dir=back: Graphviz places it beside the
// forward edge, its label next to it.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sstream>

#include "bnstep/variant.hpp"
#include "bnstep/study.hpp"

namespace bnstep {
namespace {

const char* const kHighlightFill = "#ffe8a3";

// "1  0.5  -0.5 ... (12 values)": the first few numbers of a tensor.
std::string some_values(const Tensor& t, const PictureOptions& o) {
    std::vector<std::string> shown;
    for (std::size_t k = 0; k < std::min(t.size(), o.values_shown); ++k) shown.push_back(o.num(t[k]));
    std::string s = fmt::format("{}", fmt::join(shown, "  "));
    if (t.size() > o.values_shown) s += fmt::format(" ... ({} values)", t.size());
    return s;
}

// The lines of a node's box.
std::vector<std::string> box_lines(const Trace& t, std::size_t i, const PictureOptions& o) {
    const Node& n = t.graph->nodes[i];
    const std::string what = n.is_leaf() ? std::string(kind_name(n.kind)) : n.op->name;
    std::vector<std::string> lines{n.name, n.step ? fmt::format("step {}: {}", *n.step, what) : what,
                                   shape_str(n.shape)};
    if (o.values) lines.push_back(some_values(t.nodes[i].value, o));
    return lines;
}

// The red edges: (from node, to input, label lines), in backward order.
struct BackEdge {
    std::size_t from, to;
    std::vector<std::string> label;
};

std::vector<BackEdge> back_edges(const Trace& t, const PictureOptions& o) {
    std::vector<BackEdge> edges;
    for (std::size_t i : t.backward_order)
        for (const EdgeGrad& e : t.nodes[i].edges) {
            if (e.status != EdgeGrad::Status::Flows) continue;
            std::vector<std::string> label{e.name};
            if (o.values) label.push_back(some_values(e.contribution, o));
            edges.push_back({i, e.input, std::move(label)});
        }
    return edges;
}

std::vector<std::string> seed_label(const Trace& t, const PictureOptions& o) {
    const Graph& g = *t.graph;
    const std::string name = g.nodes[g.output].grad_name();
    if (g.scalar_loss) return {name + " = 1"};
    if (o.values) return {name + " (given)", some_values(g.seed, o)};
    return {name + " (given)"};
}

std::string dot_quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

// A label of text lines. Graphviz reads "&name;" in a label as a character entity, so a lesson's
// "&" is written "&amp;": "&lt;" in a title shows as typed.
std::string dot_label(const std::vector<std::string>& lines) {
    std::string joined;
    for (const auto& l : lines) joined += (joined.empty() ? "" : "\n") + l;
    std::string q = dot_quote(joined);
    std::string out;
    for (char c : q) {
        if (c == '\n')
            out += "\\n";
        else if (c == '&')
            out += "&amp;";
        else
            out += c;
    }
    return out;
}

std::string mermaid_text(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) {
        if (!out.empty()) out += "<br/>";
        for (char c : l) out += c == '"' ? std::string("#quot;") : std::string(1, c);
    }
    return "\"" + out + "\"";
}

// Mermaid ids: the node's name behind a prefix, so that no name can be a keyword ("end").
std::string mermaid_id(const Graph& g, std::size_t i) { return "n_" + g.nodes[i].name; }

}  // namespace

std::string graph_dot(const Trace& t, const PictureOptions& o) {
    const Graph& g = *t.graph;
    std::ostringstream os;
    if (!o.command.empty()) os << "// " << o.command << '\n';
    const std::string variant = variant_label(g.variant, g.student);
    if (!variant.empty()) os << "// " << variant << '\n';
    os << "digraph " << dot_quote(g.name) << " {\n";
    os << "  graph [rankdir=TB, fontname=\"Helvetica\", labelloc=t, label="
       << dot_label({variant.empty() ? g.title : g.title + " (" + variant + ")"}) << "];\n";
    os << "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n";
    os << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        std::vector<std::string> attrs{"label=" + dot_label(box_lines(t, i, o))};
        if (n.is_leaf()) attrs.push_back(n.kind == NodeKind::Const ? "shape=ellipse, style=dashed" : "shape=ellipse");
        if (o.highlight == i)
            attrs.push_back(fmt::format("style=\"{},filled,bold\", fillcolor=\"{}\", penwidth=2.5",
                                        n.is_leaf() ? (n.kind == NodeKind::Const ? "dashed" : "solid") : "rounded",
                                        kHighlightFill));
        os << "  " << dot_quote(n.name) << " [" << fmt::format("{}", fmt::join(attrs, ", ")) << "];\n";
    }
    os << "  // forward\n";
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        for (std::size_t in : g.nodes[i].inputs)
            os << "  " << dot_quote(g.nodes[in].name) << " -> " << dot_quote(g.nodes[i].name) << ";\n";
    if (o.backward) {
        os << "  // backward: what each node sends to its inputs\n";
        const std::string seed = dot_quote("seed " + g.nodes[g.output].grad_name());  // a space: no node has this name
        os << "  " << seed << " [label=" << dot_label(seed_label(t, o)) << ", shape=plaintext, fontcolor=red];\n";
        // Drawn from the output to the seed with the arrow reversed, so the seed sits below the output.
        os << "  " << dot_quote(g.nodes[g.output].name) << " -> " << seed << " [dir=back, color=red];\n";
        // Each drawn alongside its forward edge (input -> node, the arrow reversed), so that Graphviz lays
        // the two out as a pair and keeps the label with its own edge; decorate ties the label to it.
        for (const BackEdge& e : back_edges(t, o))
            os << "  " << dot_quote(g.nodes[e.to].name) << " -> " << dot_quote(g.nodes[e.from].name)
               << " [dir=back, color=red, fontcolor=red, decorate=true, label=" << dot_label(e.label) << "];\n";
    }
    os << "}\n";
    return os.str();
}

std::string graph_mermaid(const Trace& t, const PictureOptions& o) {
    const Graph& g = *t.graph;
    std::ostringstream os;
    if (!o.command.empty()) os << "%% " << o.command << '\n';
    if (const std::string variant = variant_label(g.variant, g.student); !variant.empty())
        os << "%% " << variant << '\n';
    os << "flowchart TB\n";
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const std::string text = mermaid_text(box_lines(t, i, o));
        os << "  " << mermaid_id(g, i) << (g.nodes[i].is_leaf() ? "([" + text + "])" : "[" + text + "]") << '\n';
    }
    std::size_t links = 0;
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        for (std::size_t in : g.nodes[i].inputs) {
            os << "  " << mermaid_id(g, in) << " --> " << mermaid_id(g, i) << '\n';
            ++links;
        }
    if (o.backward) {
        std::vector<std::string> red;
        os << "  seed[" << mermaid_text(seed_label(t, o)) << "]\n";
        os << "  seed --> " << mermaid_id(g, g.output) << '\n';
        red.push_back(std::to_string(links++));
        for (const BackEdge& e : back_edges(t, o)) {
            os << "  " << mermaid_id(g, e.from) << " -->|" << mermaid_text(e.label) << "| " << mermaid_id(g, e.to)
               << '\n';
            red.push_back(std::to_string(links++));
        }
        os << "  style seed fill:none,stroke:none,color:red\n";
        os << "  linkStyle " << fmt::format("{}", fmt::join(red, ",")) << " stroke:red,color:red\n";
    }
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].kind == NodeKind::Const) os << "  style " << mermaid_id(g, i) << " stroke-dasharray: 4 3\n";
    if (o.highlight)
        os << "  style " << mermaid_id(g, *o.highlight) << " fill:" << kHighlightFill
           << ",stroke:#333,stroke-width:3px\n";
    return os.str();
}

}  // namespace bnstep
