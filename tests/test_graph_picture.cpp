// Graph pictures: every node and edge of every lesson in the DOT and the
// Mermaid text, backward edges named like `run` names the gradients, the
// same text on every run, Graphviz rendering when `dot` is installed, and the
// batch-norm picture in docs/ kept current.
#include <doctest/doctest.h>

#include <cmath>
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

// One edge of an SVG that Graphviz drew: points along its path and its labels' anchors.
struct SvgEdge {
    std::vector<std::pair<double, double>> path;
    std::vector<std::pair<std::string, std::pair<double, double>>> labels;
};

std::vector<SvgEdge> svg_edges(const std::string& svg) {
    std::vector<SvgEdge> edges;
    const std::regex group(R"re(<g id="edge\d+" class="edge">([\s\S]*?)</g>)re"), path(R"re(<path[^>]* d="([^"]+)")re"),
        number(R"(-?\d+(\.\d+)?)"), text(R"re(<text[^>]* x="([-\d.]+)" y="([-\d.]+)"[^>]*>([^<]*)</text>)re");
    for (std::sregex_iterator it(svg.begin(), svg.end(), group), end; it != end; ++it) {
        const std::string body = (*it)[1];
        SvgEdge e;
        std::smatch m;
        if (!std::regex_search(body, m, path)) continue;
        const std::string d = m[1];
        std::vector<double> v;
        for (std::sregex_iterator n(d.begin(), d.end(), number); n != end; ++n) v.push_back(std::stod(n->str()));
        std::vector<std::pair<double, double>> points;
        for (std::size_t k = 0; k + 1 < v.size(); k += 2) points.push_back({v[k], v[k + 1]});
        // "M p0 C p1 p2 p3 ...": cubic Bezier pieces, sampled.
        for (std::size_t k = 0; k + 3 < points.size(); k += 3)
            for (int step = 0; step <= 20; ++step) {
                const double t = step / 20.0, u = 1 - t;
                auto at = [&](double a, double b, double c, double dd) {
                    return u * u * u * a + 3 * u * u * t * b + 3 * u * t * t * c + t * t * t * dd;
                };
                e.path.push_back(
                    {at(points[k].first, points[k + 1].first, points[k + 2].first, points[k + 3].first),
                     at(points[k].second, points[k + 1].second, points[k + 2].second, points[k + 3].second)});
            }
        for (std::sregex_iterator l(body.begin(), body.end(), text); l != end; ++l)
            e.labels.push_back({(*l)[3], {std::stod((*l)[1]), std::stod((*l)[2]) - 4}});  // baseline to middle
        edges.push_back(std::move(e));
    }
    return edges;
}

double distance_to(const SvgEdge& e, std::pair<double, double> p) {
    double best = 1e300;
    for (const auto& q : e.path) best = std::min(best, std::hypot(q.first - p.first, q.second - p.second));
    return best;
}

}  // namespace

TEST_CASE("graph: with Graphviz, each red label sits by its own edge, nearer it than any other edge") {
    const auto dot = find_on_path("dot");
    if (!dot) {
        MESSAGE("dot is not on PATH (Debian: graphviz): the labels' places were not checked");
        return;
    }
    TempDir dir;
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const RunResult out = run_bnstep({"graph", std::string(lesson.name), "--backward"});
        REQUIRE(out.exit_code == 0);
        const auto in = dir.path() / "g.dot", svg = dir.path() / "g.svg";
        std::ofstream(in) << out.out;
        REQUIRE(run_program({*dot, "-Tsvg", in.string(), "-o", svg.string()}, "", 60) == std::optional<int>(0));
        const std::vector<SvgEdge> edges = svg_edges(read_text_file(svg));
        std::size_t labels = 0;
        for (std::size_t k = 0; k < edges.size(); ++k)
            for (const auto& label : edges[k].labels) {
                const auto& where = label.second;
                CAPTURE(label.first);
                ++labels;
                const double own = distance_to(edges[k], where);
                double other = 1e300;
                for (std::size_t j = 0; j < edges.size(); ++j)
                    if (j != k) other = std::min(other, distance_to(edges[j], where));
                // Beside its own edge (a label is some 20 points wide), and not nearer another one: a few points
                // of slack where a black edge passes on the label's far side.
                CHECK(own < 30.0);
                CHECK(own < other + 4.0);
            }
        CHECK(labels > 0);
    }
}

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
            } else if (e.to.rfind("seed ", 0) == 0) {
                ++seeds;
                CHECK(e.from == g.nodes[g.output].name);
            } else {
                // Written beside its forward edge (input -> node, the arrow reversed), its own label kept with it.
                CHECK(contains(e.attrs, "color=red"));
                CHECK(contains(e.attrs, "dir=back"));
                CHECK(contains(e.attrs, "decorate=true"));
                CHECK(forward_edges_of(g).count({e.from, e.to}) >= 1);
                const std::smatch m = [&] {
                    std::smatch found;
                    std::regex_search(e.attrs, found, std::regex("label=\"([^\"\\\\]+)\""));
                    return found;
                }();
                REQUIRE(m.size() == 2);
                // The label is the name of what `to` (the node) sends to `from` (its input).
                bool named = false;
                for (const EdgeGrad& eg : t.nodes[*g.find(e.to)].edges)
                    named = named || (g.nodes[eg.input].name == e.from && eg.name == m[1].str());
                CHECK(named);
                backward.insert({e.to, e.from});
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
