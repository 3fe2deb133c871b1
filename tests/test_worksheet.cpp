// Worksheets: the blanks, the answer key against batch norm by hand and
// against `run`'s numbers, LaTeX escaping, and pdflatex when it is installed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "bnstep/lesson.hpp"
#include "bnstep/study.hpp"
#include "study_support.hpp"

using namespace bnstep;
using namespace bnstep_test;

namespace {

// A gradient the sheet asks for: its name and the lines under "name (shape) =".
struct AnswerBox {
    std::string name;
    bool grid = true;                // one blank per element; else "name[i,j] = ..." lines
    std::vector<std::string> lines;  // inside the ```text block, after the box's first line
};

std::vector<AnswerBox> boxes(const std::string& markdown) {
    std::vector<AnswerBox> out;
    const std::regex grid_head(R"(^(\w+) \([0-9, ]*\) =$)"), element_head(R"(^(\w+) \([0-9, ]*\), some elements:$)");
    bool in_block = false, in_box = false;
    for (const std::string& line : lines_of(markdown)) {
        std::smatch m;
        if (line == "```text") {
            in_block = true;
        } else if (line == "```") {
            in_block = in_box = false;
        } else if (in_block && std::regex_match(line, m, grid_head)) {
            out.push_back({m[1], true, {}});
            in_box = true;
        } else if (in_block && std::regex_match(line, m, element_head)) {
            out.push_back({m[1], false, {}});
            in_box = true;
        } else if (in_box) {
            out.back().lines.push_back(line);
        }
    }
    return out;
}

std::vector<double> numbers_in(const std::vector<std::string>& lines) {
    std::vector<double> v;
    const std::regex number(R"(-?\d+(\.\d+)?(e[-+]?\d+)?)");
    for (const std::string& line : lines)
        for (std::sregex_iterator it(line.begin(), line.end(), number), end; it != end; ++it)
            v.push_back(std::stod(it->str()));
    return v;
}

// The tensor the sheet names `name`: an edge's contribution, or a node's summed gradient.
const Tensor* named_gradient(const Trace& t, const std::string& name) {
    for (std::size_t i = 0; i < t.nodes.size(); ++i) {
        if (t.nodes[i].grad && t.nodes[i].received.size() > 1 && t.graph->nodes[i].grad_name() == name)
            return &*t.nodes[i].grad;
        for (const EdgeGrad& e : t.nodes[i].edges)
            if (e.status == EdgeGrad::Status::Flows && e.name == name) return &e.contribution;
    }
    return nullptr;
}

std::string sheet(const std::string& lesson, SheetFormat f, bool answers) {
    const Graph g = load_lesson(lesson);
    return worksheet(run(g), f, answers, PrintOptions{});
}

}  // namespace

TEST_CASE("worksheet: the batch-norm answer key holds the gradients worked out by hand") {
    const std::string key = sheet("batchnorm", SheetFormat::Markdown, true);
    const std::vector<AnswerBox> found = boxes(key);
    std::vector<std::string> names;
    for (const AnswerBox& b : found) names.push_back(b.name);
    CHECK(names == std::vector<std::string>{"dgammax", "dbeta", "dgamma", "dxhat", "dxmu1", "divar", "dsqrtvar", "dvar",
                                            "dsq", "dxmu2", "dxmu", "dx1", "dmu", "dx2", "dx"});
    for (const AnswerBox& b : found) {
        CAPTURE(b.name);
        REQUIRE(b.grid);
        const std::vector<double> printed = numbers_in(b.lines);
        const bool matrix = b.lines.size() > 1;
        REQUIRE(printed.size() == (matrix ? 12u : 3u));
        for (std::size_t k = 0; k < printed.size(); ++k) {
            const std::vector<std::size_t> at =
                matrix ? std::vector<std::size_t>{k / 3, k % 3} : std::vector<std::size_t>{k};
            const double want = batchnorm_gradient(b.name, at).value();
            CAPTURE(k);
            // 4 significant digits; dmu[1] is round-off around 0.
            CHECK(std::fabs(printed[k] - want) <= 5e-4 * std::fabs(want) + 1e-15);
        }
    }
}

TEST_CASE("worksheet: the blank sheet has one blank per gradient element and none of the answers") {
    const std::string blank = sheet("batchnorm", SheetFormat::Markdown, false);
    std::size_t blanks = 0;
    for (const AnswerBox& b : boxes(blank))
        for (const std::string& line : b.lines)
            for (std::size_t at = line.find("________"); at != std::string::npos; at = line.find("________", at + 8))
                ++blanks;
    // 12 per (4, 3) gradient, 3 per (3,): dgammax dbeta dgamma dxhat dxmu1 divar dsqrtvar dvar dsq dxmu2 dxmu dx1 dmu
    // dx2 dx.
    CHECK(blanks == 12 * 9 + 3 * 6);
    CHECK_FALSE(contains(blank, "0.08018"));          // dxmu1[0,0]
    CHECK_FALSE(contains(blank, "-0.7513"));          // dxmu[1,2]
    CHECK(contains(blank, "[1.871  1.118  1.118]"));  // the forward values are there
    CHECK(contains(
        blank, "- to `ivar`: `∂(xmu * ivar)/∂ivar = xmu`; ivar was broadcast from (3,) to (4, 3), so sum over axis 0"));
    CHECK(contains(blank, "xmu feeds 2 nodes, so their gradients add: dxmu = dxmu1 + dxmu2"));
    CHECK(contains(
        blank, "- to `eps`: `∂(sqrt(var + eps))/∂eps = 0.5/sqrt(var + eps)` (eps is a constant: it gets no gradient)"));
    CHECK(contains(blank, "`bnstep worksheet batchnorm --format markdown --answers`"));
}

// The "work one element" blocks of a Markdown sheet: their lines after the heading.
std::vector<std::vector<std::string>> work_blocks(const std::string& markdown) {
    std::vector<std::vector<std::string>> out;
    bool in = false;
    for (const std::string& line : lines_of(markdown)) {
        if (line == "work one element:") {
            out.emplace_back();
            in = true;
        } else if (line == "```") {
            in = false;
        } else if (in) {
            out.back().push_back(line);
        }
    }
    return out;
}

TEST_CASE("worksheet: each step has blanks for its local gradient and one element to work, the key the working") {
    const std::string blank = sheet("batchnorm", SheetFormat::Markdown, false);
    const std::string key = sheet("batchnorm", SheetFormat::Markdown, true);
    // Batch norm's 13 edges that carry a gradient, and the two sums (dxmu, dx).
    const auto blank_work = work_blocks(blank), key_work = work_blocks(key);
    REQUIRE(blank_work.size() == 15);
    REQUIRE(key_work.size() == 15);
    // Every edge of batch norm's graph has a local gradient per element: out (2), gammax (2), xhat (2), ivar,
    // sqrtvar, var, sq, xmu (2), mu.
    std::size_t local_boxes = 0;
    for (std::size_t at = blank.find("local gradient ∂"); at != std::string::npos;
         at = blank.find("local gradient ∂", at + 1))
        ++local_boxes;
    CHECK(local_boxes == 13);
    CHECK(contains(blank, "local gradient ∂xhat/∂xmu (4, 3) =\n[[ ________"));
    CHECK(contains(
        key,
        "local gradient ∂xhat/∂xmu (4, 3) =\n[[0.5345  0.8944  0.8944]"));  // ivar, 1/sqrt(3.5) and 1/sqrt(1.25)
    const std::regex lhs(R"(^  (\w+)\[([0-9,]+)\] = (.*)$)"), result(R"(^ += (-?[0-9][0-9.e+-]*)$)");
    for (std::size_t k = 0; k < key_work.size(); ++k) {
        const std::vector<std::string>& b = blank_work[k];
        const std::vector<std::string>& w = key_work[k];
        CAPTURE(w.front());
        // The same element and formula; blanks for every number and the result, which the key fills in.
        CHECK(b.front() == w.front());
        CHECK(b.back() == std::string(b.back().find('='), ' ') + "= ________");
        std::smatch m, r;
        REQUIRE(std::regex_match(w.front(), m, lhs));
        Index at;
        std::stringstream parts(m[2].str());
        for (std::string p; std::getline(parts, p, ',');) at.push_back(std::stoul(p));
        // The working's result (its first "= number" line; notes follow) is the gradient worked out by hand, to
        // the printed 4 digits.
        std::optional<double> shown;
        for (const std::string& line : w)
            if (!shown && std::regex_match(line, r, result)) shown = std::stod(r[1].str());
        REQUIRE(shown.has_value());
        const double want = batchnorm_gradient(m[1].str(), at).value();
        CHECK(std::fabs(*shown - want) <= 5e-4 * std::fabs(want));
        // The blank sheet gives away no number of the working.
        for (const std::string& line : b)
            if (line.find("= (") != std::string::npos) CHECK(line.find_first_of("0123456789") == std::string::npos);
    }
}

TEST_CASE("worksheet: every lesson's answer key is run's numbers, and its blanks match the key") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const Trace t = run(g);
        const PrintOptions opt;
        const std::vector<AnswerBox> key = boxes(worksheet(t, SheetFormat::Markdown, true, opt));
        const std::vector<AnswerBox> blank = boxes(worksheet(t, SheetFormat::Markdown, false, opt));
        REQUIRE(key.size() == blank.size());
        REQUIRE_FALSE(key.empty());
        for (std::size_t k = 0; k < key.size(); ++k) {
            const AnswerBox& b = key[k];
            CAPTURE(b.name);
            CHECK(blank[k].name == b.name);
            CHECK(blank[k].lines.size() == b.lines.size());
            const Tensor* value = named_gradient(t, b.name);
            REQUIRE(value != nullptr);
            if (b.grid) {
                CHECK(b.lines == matrix_lines(*value, opt.num));
                continue;
            }
            for (const std::string& line : b.lines) {
                std::smatch m;
                REQUIRE(std::regex_match(line, m, std::regex(R"((\w+)\[([0-9,]+)\] = (.*))")));
                Index at;
                std::stringstream parts(m[2].str());
                for (std::string p; std::getline(parts, p, ',');) at.push_back(std::stoul(p));
                CHECK(m[3].str() == opt.num(value->at(at)));
            }
        }
    }
}

TEST_CASE("worksheet end to end: each answer line is a line of bnstep run's output") {
    for (const std::string lesson : {"batchnorm", "affine-bn-relu"}) {
        CAPTURE(lesson);
        const RunResult key = run_bnstep({"worksheet", lesson, "--answers"});
        const RunResult ran = run_bnstep({"run", lesson, "--color", "never"});
        REQUIRE(key.exit_code == 0);
        REQUIRE(ran.exit_code == 0);
        std::set<std::string> run_lines;
        for (const std::string& l : lines_of(ran.out))
            run_lines.insert(l.substr(std::min(l.find_first_not_of(' '), l.size())));
        for (const AnswerBox& b : boxes(key.out)) {
            CAPTURE(b.name);
            for (const std::string& line : b.lines)
                CHECK(run_lines.count(line.substr(line.find_first_not_of(' '))) == 1);
        }
    }
    const RunResult bad = run_bnstep({"worksheet", "--format", "html"});
    CHECK(bad.exit_code == 2);
    CHECK(lines_of(bad.err).size() == 1);
}

TEST_CASE("worksheet: LaTeX escaping") {
    CHECK(latex_escape("w_e3") == "w\\_e3");
    CHECK(latex_escape("50% & $5 #1 {a} ~ ^ \\") ==
          "50\\% \\& \\$5 \\#1 \\{a\\} \\textasciitilde{} \\^{} \\textbackslash{}");
    CHECK(latex_escape("caf\xc3\xa9") == "caf\xc3\xa9");                  // Latin-1 letters pass
    CHECK(latex_escape("\xce\xb3 \xe2\x86\x92") == "[U+03B3] [U+2192]");  // gamma, an arrow
    const std::string tex = sheet("fire-module", SheetFormat::Latex, false);
    CHECK(tex.rfind("\\documentclass", 0) == 0);
    CHECK(contains(tex, "\\texttt{w\\_e3}"));
    CHECK(contains(tex, "\\end{document}\n"));
}

TEST_CASE("worksheet: the LaTeX key's working is plain verbatim that fits the page") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const std::string tex = sheet(std::string(lesson.name), SheetFormat::Latex, true);
        CHECK(contains(tex, "work one element:"));
        std::size_t opened = 0, closed = 0;
        bool in = false;
        for (const std::string& line : lines_of(tex)) {
            if (line == "\\begin{verbatim}") {
                ++opened;
                in = true;
            } else if (line == "\\end{verbatim}") {
                ++closed;
                in = false;
            } else if (in) {
                CAPTURE(line);
                // pdflatex's verbatim: ASCII only (no partial-derivative sign), no early end, within the margins.
                CHECK(std::all_of(line.begin(), line.end(), [](char c) { return c >= 0x20 && c < 0x7F; }));
                CHECK_FALSE(contains(line, "\\end{"));
                CHECK(line.size() <= 88);
            }
        }
        CHECK(opened == closed);
        CHECK(opened > 0);
    }
}

TEST_CASE("worksheet: the LaTeX compiles with plain pdflatex") {
    const auto pdflatex = find_on_path("pdflatex");
    if (!pdflatex) {
        MESSAGE("pdflatex is not on PATH (Debian: texlive-latex-base): the LaTeX worksheets were not compiled");
        return;
    }
    TempDir dir;
    // A lesson whose words hold every character LaTeX treats specially, and some it cannot print.
    const std::string special = R"({"name": "odd_names", "title": "100% of #1: $x$ & {y} ~ z^2 \\ back",
      "description": "snake_case, caf\u00e9, \u03b3 \u2192 \u03b2",
      "leaves": [{"name": "x_in", "kind": "param", "step": 0, "shape": [3], "values": [1, -2, 3], "note": "a_b & c%"}],
      "nodes": [{"name": "sq_1", "step": 1, "op": "square", "inputs": ["x_in"]},
                {"name": "loss_", "step": 2, "op": "sum", "inputs": ["sq_1"], "attrs": {"axis": 0}}],
      "output": {"node": "loss_"}})";
    std::ofstream(dir.path() / "odd.json") << special;
    // Every lesson's answer key, batch norm's blank sheet, and the odd one's.
    std::vector<std::pair<std::string, std::vector<std::string>>> sheets;
    for (const auto& lesson : builtin_lessons()) sheets.push_back({std::string(lesson.name), {"--answers"}});
    sheets.push_back({"batchnorm", {}});
    sheets.push_back({(dir.path() / "odd.json").string(), {}});
    int n = 0;
    for (const auto& item : sheets) {
        const std::string& lesson = item.first;
        const std::vector<std::string>& extra = item.second;
        CAPTURE(lesson);
        std::vector<std::string> args{"worksheet", lesson, "--format", "latex"};
        args.insert(args.end(), extra.begin(), extra.end());
        const RunResult r = run_bnstep(args);
        REQUIRE(r.exit_code == 0);
        const std::string name = "sheet" + std::to_string(n++);
        std::ofstream(dir.path() / (name + ".tex")) << r.out;
        const auto code = run_program({*pdflatex, "-interaction=nonstopmode", "-halt-on-error", name + ".tex"},
                                      dir.path().string(), 120);
        REQUIRE(code.has_value());
        CHECK(*code == 0);
        CHECK(std::filesystem::exists(dir.path() / (name + ".pdf")));
        // Nothing runs off the page.
        CHECK_FALSE(contains(read_text_file(dir.path() / (name + ".log")), "Overfull \\hbox"));
    }
}

TEST_CASE("worksheet: a fused op's intermediates are givens, in the blank sheet too, before the step uses them") {
    for (const SheetFormat f : {SheetFormat::Markdown, SheetFormat::Latex}) {
        const std::string s = sheet("batchnorm-closed-form", f, false);
        const auto at = [&](const std::string& text) {
            CAPTURE(text);
            const auto p = s.find(text);
            REQUIRE(p != std::string::npos);
            return p;
        };
        const std::size_t backward = at(f == SheetFormat::Latex ? "section*{Backward pass" : "## Backward pass");
        // ivar = 1/sqrt(var + 1e-5) of the columns' variances 3.5, 1.25, 1.25 (by hand): 0.5345, 0.8944.
        CHECK(at("ivar = 1/sqrt(var + eps)") < backward);
        CHECK(at("0.5345  0.8944  0.8944") < backward);
        CHECK(at("mu = mean of x over the batch") < backward);
        // Backward: the column sums of the lesson's dout (0.6, 0, 0.2) before the closed form for x.
        const std::size_t to_x = s.find("closed form", backward);
        REQUIRE(to_x != std::string::npos);
        CHECK(at("sum dout = sum of dout over the batch, per column") > backward);
        CHECK(at("[0.6    0  0.2]") < to_x);
        CHECK(at("sum(dout * xhat) = ") < to_x);
    }
    // XNOR-Net's alpha per filter and distillation's softmax at T before the backward pass.
    for (const auto& item : {std::pair<std::string, std::string>{"xnor-net", "alpha = mean |W[k,...]|"},
                             {"distillation", "softmax(z/4) = along each row"}}) {
        const std::string& lesson = item.first;  // a named reference: CAPTURE cannot take a structured binding
        const std::string s = sheet(lesson, SheetFormat::Markdown, false);
        CAPTURE(lesson);
        CHECK(s.find(item.second) < s.find("## Backward pass"));
    }
}

TEST_CASE("worksheet: local gradients written as partial derivatives, in ASCII in LaTeX's verbatim") {
    const std::string md = sheet("batchnorm", SheetFormat::Markdown, false);
    CHECK(md.find("local gradient ∂xhat/∂ivar") != std::string::npos);
    CHECK(md.find("d(xhat)/d(ivar)") == std::string::npos);
    const std::string tex = sheet("batchnorm", SheetFormat::Latex, false);
    CHECK(tex.find("local gradient d(xhat)/d(ivar)") != std::string::npos);
}
