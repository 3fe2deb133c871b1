// `bnstep worksheet`: the forward values, then each backward step's formula
// with a blank per gradient element (or, for the answer key, the numbers
// `run` prints), in Markdown or in LaTeX for plain pdflatex.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sstream>

#include "bnstep/error.hpp"
#include "bnstep/notation.hpp"
#include "bnstep/study.hpp"
#include "bnstep/variant.hpp"
#include "print/text_intermediates.hpp"
#include "print/text_shared.hpp"
#include "study/study_numbers.hpp"

namespace bnstep {
namespace {

// Tensors up to this size, of rank 2 at most and this many columns, get one
// blank per element; larger ones a few chosen elements.
constexpr std::size_t kMaxBlankCells = 36;
constexpr std::size_t kMaxBlankColumns = 6;
const std::string kBlank = "________";
// A worked element with more numbers than this gets one blank for its result only.
constexpr std::size_t kMaxWorkedBlanks = 12;
// Verbatim lines in LaTeX wrap at this many characters (footnotesize on the page).
constexpr std::size_t kLatexColumns = 88;

// The few parts of a document the sheet needs, in either format.
class Doc {
public:
    Doc(SheetFormat f, std::vector<SheetBlank>* blanks) : f_(f), blanks_(blanks) {}
    // Records a blank of the sheet with its answer, when the blanks are being listed.
    void blank(std::string asked, double answer, double scale) {
        if (blanks_) blanks_->push_back({std::move(asked), answer, scale});
    }
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
        for (const auto& l : lines) os_ << (latex() ? verbatim_safe(partials(l, false)) : l) << '\n';
        os_ << (latex() ? "\\end{verbatim}\n}\n\n" : "```\n\n");
    }
    std::string str() const { return os_.str(); }
    std::ostringstream& raw() { return os_; }

private:
    // A line pdflatex's verbatim prints: ASCII only, no \end{verbatim}, wrapped to the page.
    static std::string verbatim_safe(std::string_view line) {
        std::string ascii;
        for (unsigned char c : line) ascii += c < 0x80 && c != '\t' ? static_cast<char>(c) : c == '\t' ? ' ' : '?';
        for (std::size_t at = ascii.find("\\end"); at != std::string::npos; at = ascii.find("\\end", at + 2))
            ascii.insert(at + 1, " ");
        std::string out;
        const std::size_t lead = std::min(ascii.find_first_not_of(' '), ascii.size());
        while (ascii.size() > kLatexColumns) {
            std::size_t cut = ascii.rfind(' ', kLatexColumns);
            if (cut == std::string::npos || cut <= lead + 4) cut = kLatexColumns;
            out += ascii.substr(0, cut) + "\n";
            ascii = std::string(lead + 4, ' ') + ascii.substr(ascii.find_first_not_of(' ', cut) == std::string::npos
                                                                  ? cut
                                                                  : ascii.find_first_not_of(' ', cut));
        }
        return out + ascii;
    }

    SheetFormat f_;
    std::vector<SheetBlank>* blanks_;
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

// The magnitude of the terms an element of a box adds (Question::scale).
using ScaleOf = std::function<double(const Index&)>;

// "dxmu1 (4, 3) =" and its blanks, or its values for the answer key.
void gradient_box(Doc& doc, const std::string& name, const Tensor& value, bool answers, const PrintOptions& opt,
                  const ScaleOf& scale_of, const std::string& what = "") {
    std::vector<std::string> lines;
    if (blank_per_element(value.shape())) {
        lines.push_back(fmt::format("{}{} {} =", what, name, shape_str(value.shape())));
        for (auto& l : answers ? matrix_lines(value, opt.num) : blank_grid(value.shape()))
            lines.push_back(std::move(l));
        for (std::size_t k = 0; k < value.size(); ++k) {
            const Index at = value.unravel(k);
            doc.blank(what + name + index_str(at), value.at(at), scale_of(at));
        }
    } else {
        lines.push_back(fmt::format("{}{} {}, some elements:", what, name, shape_str(value.shape())));
        for (const Index& at : chosen_elements(value.shape())) {
            lines.push_back(fmt::format("{}{} = {}", name, index_str(at), answers ? opt.num(value.at(at)) : kBlank));
            doc.blank(what + name + index_str(at), value.at(at), scale_of(at));
        }
    }
    doc.lines(lines);
}

// The worked arithmetic with each number a blank: "(-________) + ________",
// and the numbers blanked, in order (`numbers`, as written: "-0.5", "1e-05").
// A minus sign that is an operator stays; one that is a number's own goes too.
std::string blank_numbers(std::string_view numeric, std::vector<std::string>& numbers) {
    std::string out;
    numbers.clear();
    for (std::size_t k = 0; k < numeric.size();) {
        const bool digit = std::isdigit(static_cast<unsigned char>(numeric[k])) != 0;
        const std::size_t prev = out.find_last_not_of(' ');
        const bool unary_minus =
            numeric[k] == '-' && k + 1 < numeric.size() && std::isdigit(static_cast<unsigned char>(numeric[k + 1])) &&
            (prev == std::string::npos || out[prev] == '(' || out[prev] == '[' || out[prev] == ',');
        if (!digit && !unary_minus) {
            out += numeric[k++];
            continue;
        }
        std::size_t end = k + 1;
        while (end < numeric.size() &&
               (std::isdigit(static_cast<unsigned char>(numeric[end])) || numeric[end] == '.' ||
                ((numeric[end] == 'e' || numeric[end] == 'E') && end + 1 < numeric.size() &&
                 (std::isdigit(static_cast<unsigned char>(numeric[end + 1])) || numeric[end + 1] == '-' ||
                  numeric[end + 1] == '+')) ||
                ((numeric[end] == '-' || numeric[end] == '+') && (numeric[end - 1] == 'e' || numeric[end - 1] == 'E'))))
            ++end;
        out += kBlank;
        numbers.emplace_back(numeric.substr(k, end - k));
        k = end;
    }
    return out;
}

// A number of the worked arithmetic as printed ("-0.5", "1e-05"), read back.
double parse_printed_number(const std::string& text) {
    double value = 0.0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
        throw InternalError("worksheet: a number of the worked arithmetic does not read back: " + text);
    return value;
}

// "Work one element": the element and its formula with blanks for the
// numbers and the result; in the answer key the arithmetic as trace shows it.
// Its blanks, in the sheet's order: each number of the arithmetic
// ("work one element: dx[1,1], number 2 of the arithmetic", the number as
// trace prints it), then the result ("work one element: dx[1,1]").
void work_one(Doc& doc, const Worked& w, bool answers, const PrintOptions& opt) {
    std::vector<std::string> lines{"work one element:"};
    std::vector<std::string> numbers;
    const std::string blanks = blank_numbers(w.numeric, numbers);
    // As in the key (text::worked): no line of numbers when the arithmetic is the formula itself ("dW = 0").
    const bool numbers_asked =
        !numbers.empty() && numbers.size() <= kMaxWorkedBlanks && blanks != w.symbolic && w.numeric != w.symbolic;
    for (std::size_t k = 0; numbers_asked && k < numbers.size(); ++k) {
        const double value = parse_printed_number(numbers[k]);
        doc.blank(fmt::format("work one element: {}, number {} of the arithmetic", w.lhs, k + 1), value,
                  std::fabs(value));
    }
    doc.blank("work one element: " + w.lhs, w.result, w.scale);
    if (answers) {
        std::ostringstream os;
        text::worked(os, w, opt, "  ");
        std::istringstream in(os.str());
        for (std::string line; std::getline(in, line);) lines.push_back(line);
    } else {
        lines.push_back(fmt::format("  {} = {}", w.lhs, w.symbolic));
        if (numbers_asked) lines.push_back(fmt::format("  {} = {}", std::string(w.lhs.size(), ' '), blanks));
        lines.push_back(fmt::format("  {} = {}", std::string(w.lhs.size(), ' '), kBlank));
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

// The quantities a node's formulas use, as run prints them: givens, in the
// answer-free sheet too, written before the step that uses them.
void givens(Doc& doc, const std::vector<Intermediate>& items, const PrintOptions& opt) {
    if (items.empty()) return;
    std::ostringstream os;
    text::intermediates(os, items, opt, "");
    std::vector<std::string> lines;
    std::istringstream in(os.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    doc.paragraph(doc.prose("Given, as bnstep run prints them: the quantities this step's formulas use."));
    doc.lines(lines);
}

void forward_pass(Doc& doc, const Trace& t, const PrintOptions& opt) {
    const Graph& g = *t.graph;
    doc.heading(2, "Forward pass");
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        doc.heading(3, doc.prose(heading_of(g, i, true)));
        if (!n.note.empty()) doc.paragraph(doc.prose(n.note));
        givens(doc, forward_intermediates(t, i), opt);
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
        const ScaleOf scale = [&](const Index& at) {
            const double s = worked_accumulation(t, i, at, opt.num).scale;
            return s > 0 ? s : study::accumulation_term_scale(t, i, at);
        };
        gradient_box(doc, n.grad_name(), *st.grad, answers, opt, scale);
        work_one(doc, worked_accumulation(t, i, default_index(n.shape), opt.num), answers, opt);
    } else {
        doc.paragraph(
            fmt::format("Upstream gradient {}, {}.", doc.code(n.grad_name()),
                        doc.prose(i == g.output ? "given" : "from " + text::sender(g, st.received.front().first))));
    }
    givens(doc, backward_intermediates(t, i), opt);
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
        const Tensor* local = e.local ? &*e.local : nullptr;
        if (local)
            gradient_box(
                doc, fmt::format("∂{}/∂{}", n.name, input.name), *local, answers, opt,
                [&](const Index& at) { return std::fabs(local->at(at)); }, "local gradient ");
        const study::EdgeRef edge{i, e.slot};
        gradient_box(doc, e.name, e.contribution, answers, opt, [&](const Index& at) {
            const double s = worked_gradient(t, i, e.slot, at, opt.num).scale;
            return s > 0 ? s : study::edge_term_scale(t, edge, at);
        });
        const Index at = study::element_to_work(t, {i, e.slot});
        work_one(doc, worked_gradient(t, i, e.slot, at, opt.num), answers, opt);
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

// The options that pick the lesson's variant, for the commands the sheet quotes.
std::string variant_options(const Graph& g) { return variant_arguments(g.variant, g.student); }

std::string render(const Trace& t, SheetFormat format, bool answers, const PrintOptions& options,
                   std::vector<SheetBlank>* blanks) {
    const Graph& g = *t.graph;
    PrintOptions opt = options;
    opt.style.color = false;
    Doc doc(format, blanks);
    if (doc.latex()) latex_preamble(doc);
    const std::string label = variant_label(g.variant, g.student);
    doc.heading(1,
                doc.prose((answers ? "Answer key: " : "Worksheet: ") + g.title + (label.empty() ? "" : ", " + label)));
    doc.paragraph(fmt::format("Lesson {} ({}), {} nodes. {}", doc.code(g.name), doc.prose(g.source), g.nodes.size(),
                              doc.prose(g.description)));
    const std::string lesson = (g.builtin ? g.name : g.source) + variant_options(g);
    doc.paragraph(
        answers ? doc.prose(fmt::format(
                      "Every blank of the worksheet filled in, as bnstep run {} prints it, and under each step "
                      "the working of its element, as bnstep trace shows it.",
                      lesson))
                : doc.prose(
                      "Work down the backward pass. At each step the local gradient's formula is given: multiply "
                      "it by the upstream gradient, sum over any axis along which the input was broadcast, and "
                      "fill in the blanks: the local gradient, the gradient, and the arithmetic of one element. Where "
                      "a value feeds several nodes, add what it receives. ") +
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

}  // namespace

std::string worksheet(const Trace& t, SheetFormat format, bool answers, const PrintOptions& options) {
    return render(t, format, answers, options, nullptr);
}

std::vector<SheetBlank> worksheet_blanks(const Trace& t, const PrintOptions& options) {
    std::vector<SheetBlank> blanks;
    render(t, SheetFormat::Markdown, true, options, &blanks);
    return blanks;
}

}  // namespace bnstep
