// Graph pictures: every node and edge of every lesson in the DOT and the
// Mermaid text, backward edges named like `run` names the gradients, the
// same text on every run, Graphviz rendering when `dot` is installed, and the
// batch-norm picture in docs/ kept current.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "bnstep/lesson.hpp"
#include "bnstep/study.hpp"
#include "study_support.hpp"

using namespace bnstep;
using namespace bnstep_test;

namespace {

// The edges of a DOT text, "a -> b" with their attributes, in order.
struct DotEdge {
    std::string from, to, attrs;
};

std::vector<DotEdge> dot_edges(const std::string& dot) {
    std::vector<DotEdge> edges;
    const std::regex edge(R"re(^  "([^"]+)" -> "([^"]+)"( \[(.*)\])?;$)re");
    for (const std::string& line : lines_of(dot)) {
        std::smatch m;
        if (std::regex_match(line, m, edge)) edges.push_back({m[1], m[2], m[4]});
    }
    return edges;
}

std::map<std::string, std::string> dot_nodes(const std::string& dot) {
    std::map<std::string, std::string> nodes;
    const std::regex node(R"re(^  "([^"]+)" \[(.*)\];$)re");
    for (const std::string& line : lines_of(dot)) {
        std::smatch m;
        if (std::regex_match(line, m, node)) nodes[m[1]] = m[2];
    }
    return nodes;
}

std::multiset<std::pair<std::string, std::string>> forward_edges_of(const Graph& g) {
    std::multiset<std::pair<std::string, std::string>> edges;
    for (const Node& n : g.nodes)
        for (std::size_t in : n.inputs) edges.insert({g.nodes[in].name, n.name});
    return edges;
}

std::set<std::string> svg_titles(const std::string& svg) {
    std::set<std::string> titles;
    const std::regex title("<title>([^<]*)</title>");
    for (std::sregex_iterator it(svg.begin(), svg.end(), title), end; it != end; ++it) titles.insert((*it)[1]);
    return titles;
}

PictureOptions with_backward(bool values = false) {
    PictureOptions o;
    o.backward = true;
    o.values = values;
    return o;
}

}  // namespace

TEST_CASE("graph: every node and every edge of every lesson, backward edges in red named as run names them") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const Trace t = run(g);
        const std::string dot = graph_dot(t, with_backward());
        const auto nodes = dot_nodes(dot);
        for (const Node& n : g.nodes) {
            CAPTURE(n.name);
            REQUIRE(nodes.count(n.name) == 1);
            const std::string what = n.is_leaf() ? std::string(kind_name(n.kind)) : n.op->name;
            const std::string head = n.step ? "step " + std::to_string(*n.step) + ": " + what : what;
            CHECK(contains(nodes.at(n.name), "label=\"" + n.name + "\\n" + head + "\\n" + shape_str(n.shape) + "\""));
        }
        std::multiset<std::pair<std::string, std::string>> forward, backward;
        std::size_t seeds = 0;
        for (const DotEdge& e : dot_edges(dot)) {
            if (e.attrs.empty()) {
                forward.insert({e.from, e.to});
            } else if (contains(e.attrs, "dir=back")) {
                ++seeds;
                CHECK(e.from == g.nodes[g.output].name);
            } else {
                CHECK(contains(e.attrs, "color=red"));
                const std::smatch m = [&] {
                    std::smatch found;
                    std::regex_search(e.attrs, found, std::regex("label=\"([^\"\\\\]+)\""));
                    return found;
                }();
                REQUIRE(m.size() == 2);
                // The label is the name of what `from` sends to `to`.
                bool named = false;
                for (const EdgeGrad& eg : t.nodes[*g.find(e.from)].edges)
                    named = named || (g.nodes[eg.input].name == e.to && eg.name == m[1].str());
                CHECK(named);
                backward.insert({e.from, e.to});
            }
        }
        CHECK(forward == forward_edges_of(g));
        CHECK(seeds == 1);
        std::size_t flowing = 0;
        for (std::size_t i : t.backward_order)
            for (const EdgeGrad& e : t.nodes[i].edges) flowing += e.status == EdgeGrad::Status::Flows;
        CHECK(backward.size() == flowing);
        // Without --backward, only the forward edges.
        CHECK(dot_edges(graph_dot(t, PictureOptions{})).size() == forward.size());
        // The same text every time.
        CHECK(graph_dot(t, with_backward(true)) == graph_dot(run(g), with_backward(true)));
    }
}

TEST_CASE("graph: values, the highlighted node and the batch-norm gradients' names") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    PictureOptions o = with_backward(true);
    o.highlight = *g.find("xhat");
    const std::string dot = graph_dot(t, o);
    const auto nodes = dot_nodes(dot);
    CHECK(contains(nodes.at("xhat"), "fillcolor="));
    CHECK_FALSE(contains(nodes.at("xmu"), "fillcolor="));
    CHECK(contains(nodes.at("mu"), "\\n1  0.5  1\""));  // mu = column means of x, worked by hand: 1, 0.5, 1
    CHECK(contains(nodes.at("eps"), "style=dashed"));
    for (const std::string name : {"dgammax", "dbeta", "dgamma", "dxhat", "dxmu1", "divar", "dsqrtvar", "dvar", "dsq",
                                   "dxmu2", "dx1", "dmu", "dx2"})
        CHECK(contains(dot, "label=\"" + name + "\\n"));
    CHECK(contains(dot, "label=\"dbeta\\n0.6  0  0.2\""));  // column sums of dout
    CHECK(contains(dot, "(12 values)"));
}

TEST_CASE("graph: Mermaid has every node and edge, the backward links styled red") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const Trace t = run(g);
        PictureOptions o = with_backward();
        o.highlight = g.output;
        const std::string text = graph_mermaid(t, o);
        CHECK(lines_of(text).at(0) == "flowchart TB");
        std::size_t plain = 0, red = 0;  // links without a label (forward, and the seed's), with one (backward)
        for (const Node& n : g.nodes)
            CHECK(contains(text, "\n  n_" + n.name + (n.is_leaf() ? "([\"" : "[\"") + n.name + "<br/>"));
        for (const Node& n : g.nodes)
            for (std::size_t in : n.inputs)
                CHECK(contains(text, "\n  n_" + g.nodes[in].name + " --> n_" + n.name + "\n"));
        for (const std::string& line : lines_of(text)) {
            if (contains(line, " --> ")) ++plain;
            if (contains(line, "-->|")) ++red;
        }
        const std::regex link_style(R"(\n  linkStyle ([0-9,]+) stroke:red,color:red\n)");
        std::smatch m;
        REQUIRE(std::regex_search(text, m, link_style));
        const std::string listed = m[1];
        CHECK(static_cast<std::size_t>(std::count(listed.begin(), listed.end(), ',')) + 1 == red + 1);  // and the seed
        CHECK(listed.rfind(std::to_string(plain - 1) + ",", 0) == 0);  // the seed's link follows the forward ones
        CHECK(contains(text, "\n  style n_" + g.nodes[g.output].name + " fill:"));
    }
}

TEST_CASE("graph end to end: options, errors, and Graphviz renders every lesson when installed") {
    RunResult r = run_bnstep({"graph", "batchnorm", "--highlight", "7", "--format", "mermaid"});
    CHECK(r.exit_code == 0);
    CHECK(lines_of(r.out).at(0) == "%% bnstep graph batchnorm --format mermaid --highlight 7");
    CHECK(contains(r.out, "style n_xhat fill:"));
    r = run_bnstep({"graph", "--highlight", "nosuch"});
    CHECK(r.exit_code == 2);
    CHECK(lines_of(r.err).size() == 1);
    CHECK(contains(r.err, "lesson batchnorm has no step or node 'nosuch'"));
    r = run_bnstep({"graph", "--format", "png"});
    CHECK(r.exit_code == 2);
    CHECK(lines_of(r.err).size() == 1);

    const auto dot = find_on_path("dot");
    if (!dot) {
        MESSAGE("dot is not on PATH (Debian: graphviz): the DOT was checked as text only, not rendered");
        return;
    }
    TempDir dir;
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const RunResult out =
            run_bnstep({"graph", std::string(lesson.name), "--backward", "--values", "--highlight", "1"});
        REQUIRE(out.exit_code == 0);
        const auto in = dir.path() / (std::string(lesson.name) + ".dot");
        const auto svg = dir.path() / (std::string(lesson.name) + ".svg");
        std::ofstream(in) << out.out;
        const auto code = run_program({*dot, "-Tsvg", in.string(), "-o", svg.string()}, "", 60);
        REQUIRE(code.has_value());
        CHECK(*code == 0);
        const std::set<std::string> titles = svg_titles(read_text_file(svg));
        const Graph g = load_lesson(std::string(lesson.name));
        for (const Node& n : g.nodes) CHECK(titles.count(n.name) == 1);
        for (const Node& n : g.nodes)
            for (std::size_t i : n.inputs) CHECK(titles.count(g.nodes[i].name + "&#45;&gt;" + n.name) == 1);
    }
}

TEST_CASE("graph: the batch-norm picture in docs/ is the command's current output") {
    const std::string committed =
        read_text_file(std::filesystem::path(source_dir()) / "docs" / "batchnorm-backward.dot");
    const RunResult r = run_bnstep({"graph", "batchnorm", "--backward"});
    REQUIRE(r.exit_code == 0);
    CHECK_MESSAGE(committed == r.out,
                  "docs/batchnorm-backward.dot is stale: regenerate it and the SVG as docs/studying.md says");
    const std::string svg = read_text_file(std::filesystem::path(source_dir()) / "docs" / "batchnorm-backward.svg");
    const std::set<std::string> titles = svg_titles(svg);
    const Graph g = load_lesson("batchnorm");
    for (const Node& n : g.nodes) CHECK(titles.count(n.name) == 1);
    for (const DotEdge& e : dot_edges(committed)) CHECK(titles.count(e.from + "&#45;&gt;" + e.to) == 1);
    for (const std::string name : {"dxmu1", "dxmu2", "dx1", "dx2", "divar", "dbeta"})
        CHECK(contains(svg, ">" + name + "</text>"));
    const auto dot = find_on_path("dot");
    if (!dot) {
        MESSAGE("dot is not on PATH (Debian: graphviz): docs/batchnorm-backward.svg was not re-rendered");
        return;
    }
    TempDir dir;
    const auto in = dir.path() / "bn.dot", out = dir.path() / "bn.svg";
    std::ofstream(in) << committed;
    REQUIRE(run_program({*dot, "-Tsvg", in.string(), "-o", out.string()}, "", 60) == std::optional<int>(0));
    // Layout coordinates may differ between Graphviz versions; the elements may not.
    CHECK(svg_titles(read_text_file(out)) == titles);
}
