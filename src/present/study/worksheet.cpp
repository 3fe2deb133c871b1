// `bnstep worksheet`: the forward values, then each backward step's formula
// with a blank per gradient element (or, for the answer key, the numbers
// `run` prints), in Markdown or in LaTeX for plain pdflatex.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sstream>

#include "bnstep/study.hpp"
#include "print/text_shared.hpp"

namespace bnstep {
namespace {

// Tensors up to this size, of rank 2 at most and this many columns, get one
// blank per element; larger ones a few chosen elements.
constexpr std::size_t kMaxBlankCells = 36;
constexpr std::size_t kMaxBlankColumns = 6;
const std::string kBlank = "________";

// The few parts of a document the sheet needs, in either format.
class Doc {
public:
    explicit Doc(SheetFormat f) : f_(f) {}
    bool latex() const { return f_ == SheetFormat::Latex; }
    std::string code(std::string_view s) const {
        return latex() ? "\\texttt{" + latex_escape(s) + "}" : fmt::format("`{}`", s);
    }
    std::string prose(std::string_view s) const { return latex() ? latex_escape(s) : std::string(s); }
    void heading(int level, const std::string& text) {
        if (latex())
            os_ << (level == 1   ? "{\\Large\\bfseries "
                    : level == 2 ? "\\section*{"
                                 : "\\subsection*{")
                << text << (level == 1 ? "}\\par\\medskip\n\n" : "}\n\n");
        else
            os_ << std::string(static_cast<std::size_t>(level), '#') << ' ' << text << "\n\n";
    }
    void paragraph(const std::string& text) { os_ << text << "\n\n"; }
    void item(const std::string& text) { os_ << (latex() ? "\\noindent$\\bullet$ " : "- ") << text << "\n\n"; }
    void lines(const std::vector<std::string>& lines) {
        os_ << (latex() ? "{\\footnotesize\n\\begin{verbatim}\n" : "```text\n");
        for (const auto& l : lines) os_ << l << '\n';
        os_ << (latex() ? "\\end{verbatim}\n}\n\n" : "```\n\n");
    }
    std::string str() const { return os_.str(); }
    std::ostringstream& raw() { return os_; }

private:
    SheetFormat f_;
    std::ostringstream os_;
};

std::vector<std::string> tensor_lines(const Tensor& t, const PrintOptions& opt) {
    std::ostringstream os;
    text::tensor(os, t, opt, "");
    std::vector<std::string> lines;
    std::string line;
    std::istringstream in(os.str());
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
}

bool blank_per_element(const Shape& s) {
    return s.size() <= 2 && element_count(s) <= kMaxBlankCells && (s.empty() || s.back() <= kMaxBlankColumns);
}

// A grid of blanks laid out like matrix_lines.
std::vector<std::string> blank_grid(const Shape& s) {
    if (s.empty()) return {kBlank};
    const std::size_t rows = s.size() == 2 ? s[0] : 1, cols = s.back();
    std::vector<std::string> cells(cols, kBlank);
    const std::string row = fmt::format("{}", fmt::join(cells, "  "));
    if (s.size() == 1) return {"[ " + row + " ]"};
    std::vector<std::string> lines;
    for (std::size_t r = 0; r < rows; ++r)
        lines.push_back((r == 0 ? "[[ " : " [ ") + row + (r + 1 == rows ? " ]]" : " ]"));
    return lines;
}

// The elements asked for in a tensor too large for a grid: the first, the
// one `trace` works out by default, and the last.
std::vector<Index> chosen_elements(const Shape& s) {
    const Tensor probe(s);
    std::vector<std::size_t> flats{0, probe.offset(default_index(s)), probe.size() - 1};
    std::sort(flats.begin(), flats.end());
    flats.erase(std::unique(flats.begin(), flats.end()), flats.end());
    std::vector<Index> at;
    for (std::size_t f : flats) at.push_back(probe.unravel(f));
    return at;
}

// "dxmu1 (4, 3) =" and its blanks, or its values for the answer key.
void gradient_box(Doc& doc, const std::string& name, const Tensor& value, bool answers, const PrintOptions& opt) {
    std::vector<std::string> lines;
    if (blank_per_element(value.shape())) {
        lines.push_back(fmt::format("{} {} =", name, shape_str(value.shape())));
        for (auto& l : answers ? matrix_lines(value, opt.num) : blank_grid(value.shape()))
            lines.push_back(std::move(l));
    } else {
        lines.push_back(fmt::format("{} {}, some elements:", name, shape_str(value.shape())));
        for (const Index& at : chosen_elements(value.shape()))
            lines.push_back(fmt::format("{}{} = {}", name, index_str(at), answers ? opt.num(value.at(at)) : kBlank));
    }
    doc.lines(lines);
}

// "step 7: xhat = xmu * ivar", "gamma, param"; with the shape: "..., (4, 3)".
std::string heading_of(const Graph& g, std::size_t i, bool with_shape) {
    const Node& n = g.nodes[i];
    std::string s = n.step ? fmt::format("step {}: {}", *n.step, n.name) : n.name;
    s += n.is_leaf() ? ", " + std::string(kind_name(n.kind)) : " = " + forward_formula(g, i);
    return with_shape ? s + ", " + shape_str(n.shape) : s;
}

void forward_pass(Doc& doc, const Trace& t, const PrintOptions& opt) {
    const Graph& g = *t.graph;
    doc.heading(2, "Forward pass");
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        doc.heading(3, doc.prose(heading_of(g, i, true)));
        if (!n.note.empty()) doc.paragraph(doc.prose(n.note));
        doc.lines(tensor_lines(t.nodes[i].value, opt));
    }
}

void backward_step(Doc& doc, const Trace& t, std::size_t i, bool answers, const PrintOptions& opt) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[i];
    const NodeState& st = t.nodes[i];
    doc.heading(3, doc.prose(heading_of(g, i, false)));
    if (st.received.size() > 1) {
        doc.paragraph(doc.prose(text::accumulation(t, i)));
        gradient_box(doc, n.grad_name(), *st.grad, answers, opt);
    } else {
        doc.paragraph(
            fmt::format("Upstream gradient {}, {}.", doc.code(n.grad_name()),
                        doc.prose(i == g.output ? "given" : "from " + text::sender(g, st.received.front().first))));
    }
    for (const EdgeGrad& e : st.edges) {
        const Node& input = g.nodes[e.input];
        std::string say = fmt::format("to {}: {}", doc.code(input.name), doc.code(e.formula));
        if (e.status == EdgeGrad::Status::ConstInput) {
            doc.item(say + doc.prose(fmt::format(" ({} is a constant: it gets no gradient)", input.name)));
            continue;
        }
        if (e.status == EdgeGrad::Status::NotDifferentiable) {
            doc.item(say + doc.prose(" (not differentiable: no gradient)"));
            continue;
        }
        if (e.straight_through) say += doc.prose(" (a straight-through estimator's surrogate gradient)");
        if (!e.reduced_axes.empty())
            say += doc.prose(fmt::format("; {} was broadcast from {} to {}, so sum over axis {}", input.name,
                                         shape_str(input.shape), shape_str(e.unreduced.shape()),
                                         fmt::join(e.reduced_axes, ", ")));
        doc.item(say);
        gradient_box(doc, e.name, e.contribution, answers, opt);
    }
}

void latex_preamble(Doc& doc) {
    doc.raw() << "\\documentclass[11pt]{article}\n"
                 "\\usepackage[T1]{fontenc}\n"
                 "\\usepackage[margin=2cm]{geometry}\n"
                 "\\setlength{\\parindent}{0pt}\n"
                 "\\raggedright\n"
                 "\\begin{document}\n\n";
}

}  // namespace

std::string worksheet(const Trace& t, SheetFormat format, bool answers, const PrintOptions& options) {
    const Graph& g = *t.graph;
    PrintOptions opt = options;
    opt.style.color = false;
    Doc doc(format);
    if (doc.latex()) latex_preamble(doc);
    doc.heading(1, doc.prose((answers ? "Answer key: " : "Worksheet: ") + g.title));
    doc.paragraph(fmt::format("Lesson {} ({}), {} nodes. {}", doc.code(g.name), doc.prose(g.source), g.nodes.size(),
                              doc.prose(g.description)));
    const std::string lesson = g.builtin ? g.name : g.source;
    doc.paragraph(
        answers ? doc.prose(fmt::format("Every blank of the worksheet filled in, as bnstep run {} prints it.", lesson))
                : doc.prose("Work down the backward pass. At each step the local gradient's formula is given: multiply "
                            "it by the upstream gradient, sum over any axis along which the input was broadcast, and "
                            "fill in the blanks. Where a value feeds several nodes, add what it receives. ") +
                      fmt::format("The answer key: {}.",
                                  doc.code(fmt::format("bnstep worksheet {} --format {} --answers", lesson,
                                                       doc.latex() ? "latex" : "markdown"))));
    forward_pass(doc, t, opt);

    const Node& out = g.nodes[g.output];
    doc.heading(2, doc.prose("Backward pass   " + g.loss_formula()));
    if (g.scalar_loss) {
        doc.paragraph(
            fmt::format("The gradient of the loss with respect to itself: {}.", doc.code(out.grad_name() + " = 1")));
    } else {
        doc.paragraph(fmt::format("The upstream gradient of {}, given by the lesson: {} {}.", doc.code(out.name),
                                  doc.code(out.grad_name()), shape_str(out.shape)));
        doc.lines(tensor_lines(g.seed, opt));
    }
    for (std::size_t i : t.backward_order)
        if (!g.nodes[i].is_leaf() || t.nodes[i].received.size() > 1) backward_step(doc, t, i, answers, opt);
    if (doc.latex()) doc.raw() << "\\end{document}\n";
    return doc.str();
}

std::string latex_escape(std::string_view text) {
    std::string out;
    for (std::size_t k = 0; k < text.size(); ++k) {
        const unsigned char c = static_cast<unsigned char>(text[k]);
        switch (c) {
            case '\\': out += "\\textbackslash{}"; break;
            case '{':
            case '}':
            case '$':
            case '&':
            case '#':
            case '_':
            case '%':
                out += '\\';
                out += static_cast<char>(c);
                break;
            case '^': out += "\\^{}"; break;
            case '~': out += "\\textasciitilde{}"; break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    out += fmt::format("[U+{:04X}]", static_cast<unsigned>(c));
                    break;
                }
                if (c < 0x80) {
                    out += static_cast<char>(c);
                    break;
                }
                // Non-ASCII: Latin-1 letters pass (pdflatex reads UTF-8 with T1 fonts); other
                // characters would stop pdflatex, so they are written as their code point.
                std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
                len = std::min(len, text.size() - k);
                char32_t cp = len == 1 ? c : c & (0x7F >> len);
                for (std::size_t j = 1; j < len; ++j) cp = (cp << 6) | (static_cast<unsigned char>(text[k + j]) & 0x3F);
                if (len == 2 && cp >= 0xA0 && cp <= 0xFF)
                    out += std::string(text.substr(k, len));
                else if (cp == 0x2202)  // the partial derivative sign of formulas (notation.hpp)
                    out += "$\\partial$";
                else
                    out += fmt::format("[U+{:04X}]", static_cast<unsigned>(cp));
                k += len - 1;
        }
    }
    return out;
}

}  // namespace bnstep
