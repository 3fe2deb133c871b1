// The model the quiz exports share: for each quiz question, the context the
// interactive quiz shows before it (the forward values and the upstream
// gradient as small tables), the question, the interval answer_matches
// accepts, the hint and the worked arithmetic; and the numbers the formats read.
#include "bnstep/quiz_export.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "bnstep/variant.hpp"
#include "bnstep/visible.hpp"
#include "print/text_shared.hpp"

namespace bnstep {
namespace {

// A tensor with more elements than this is not printed in a question: the
// tables would drown the question (and the file). The student runs the lesson.
constexpr std::size_t kMaxContextElements = 1024;

std::vector<std::string> printed_row(const Tensor& t, std::size_t first, std::size_t count, const NumFmt& num) {
    std::vector<std::string> row;
    for (std::size_t k = 0; k < count; ++k) row.push_back(num(t.data()[first + k]));
    return row;
}

// The tables of one tensor: a scalar is a cell, a vector a row, a matrix its
// rows, a higher rank one matrix per leading index.
void add_tables(std::vector<ContextTable>& out, const std::string& caption, const Tensor& t, const NumFmt& num,
                const std::string& command) {
    const Shape& shape = t.shape();
    if (t.size() > kMaxContextElements) {
        out.push_back(
            {caption, {}, fmt::format("{} elements, too many to show here: {} prints them", t.size(), command)});
        return;
    }
    if (shape.size() <= 1) {
        out.push_back({caption, {printed_row(t, 0, t.size(), num)}, ""});
        return;
    }
    const std::size_t rows = shape[shape.size() - 2], cols = shape.back();
    const std::size_t matrices = rows * cols == 0 ? 0 : t.size() / (rows * cols);
    for (std::size_t m = 0; m < matrices; ++m) {
        ContextTable table{caption, {}, ""};
        if (shape.size() > 2) {
            Index lead = t.unravel(m * rows * cols);
            std::string at;
            for (std::size_t a = 0; a + 2 < shape.size(); ++a) at += fmt::format("{},", lead[a]);
            table.caption = fmt::format("{}[{}:,:]", caption.substr(0, caption.find(' ')), at);
        }
        for (std::size_t r = 0; r < rows; ++r) table.rows.push_back(printed_row(t, (m * rows + r) * cols, cols, num));
        out.push_back(std::move(table));
    }
}

std::string lesson_command(const Graph& g) {
    std::string c = fmt::format("bnstep run {}", g.builtin ? g.name : g.source);
    if (!g.student.empty()) return c + fmt::format(" --student '{}'", g.student);
    if (g.variant != 0) c += fmt::format(" --variant {}", g.variant);
    return c;
}

void forward_tables(std::vector<ContextTable>& out, const Trace& t, std::size_t node, const NumFmt& num) {
    const Graph& g = *t.graph;
    const std::string command = lesson_command(g);
    for (std::size_t in : g.nodes[node].inputs)
        add_tables(out, g.nodes[in].name + " " + shape_str(g.nodes[in].shape), t.nodes[in].value, num, command);
    add_tables(out, g.nodes[node].name + " " + shape_str(g.nodes[node].shape), t.nodes[node].value, num, command);
    const Node& n = g.nodes[node];
    const NodeState& st = t.nodes[node];
    std::string from = "given";
    if (node != g.output) from = "from " + text::sender(g, st.received.front().first);
    if (st.received.size() > 1) from = "the sum of what it received";
    add_tables(out, fmt::format("{} {}, upstream gradient, {}", n.grad_name(), shape_str(n.shape), from), *st.grad, num,
               command);
}

// What the quiz shows before a question, and the question itself.
void context_and_question(ExportedQuestion& e, const Trace& t, const Question& q, const NumFmt& num) {
    const Graph& g = *t.graph;
    if (q.kind == QuizKind::Upstream && !q.edge) {
        e.intro = fmt::format("What {} received:", g.nodes[q.node].name);
        for (const auto& r : t.nodes[q.node].received) {
            const EdgeGrad& edge = t.edge(r);
            add_tables(e.tables,
                       fmt::format("{} {}, from {}", edge.name, shape_str(edge.contribution.shape()),
                                   text::sender(g, r.first)),
                       edge.contribution, num, lesson_command(g));
        }
        e.question = fmt::format("What is {}, the gradient of {}?", q.asked, g.nodes[q.node].name);
        return;
    }
    const std::size_t at_node = q.kind == QuizKind::Upstream ? q.edge->first : q.node;
    if (q.kind == QuizKind::Upstream)
        e.intro = fmt::format(
            "{}'s gradient comes from {}: {} = {}. Forward values and upstream gradient:", g.nodes[q.node].name,
            text::sender(g, at_node), g.nodes[at_node].name, forward_formula(g, at_node));
    else
        e.intro = "Forward values and upstream gradient:";
    forward_tables(e.tables, t, at_node, num);
    const Node& input = g.nodes[t.edge(*q.edge).input];
    if (q.kind == QuizKind::Local)
        e.question = fmt::format("What is the local gradient {}?", q.asked);
    else if (q.kind == QuizKind::Upstream)
        e.question = fmt::format("What is {}, the upstream gradient of {}?", q.asked, g.nodes[q.node].name);
    else
        e.question = fmt::format("What is {}, the gradient {} sends to {}?", q.asked, g.nodes[q.node].name, input.name);
}

std::vector<std::string> worked_lines(const Worked& w, const NumFmt& num) {
    std::vector<std::string> lines{w.lhs + " = " + w.symbolic};
    if (!w.numeric.empty() && w.numeric != w.symbolic) lines.push_back("= " + w.numeric);
    const std::string& last = w.numeric.empty() ? w.symbolic : w.numeric;
    if (last != num(w.result)) lines.push_back("= " + num(w.result));
    for (const auto& note : w.notes) lines.push_back(!note.empty() && note.front() == ' ' ? note : "where " + note);
    return lines;
}

std::string safe_category_part(std::string_view text) {
    std::string out;
    // visible(): bytes that are not UTF-8 and controls become \xNN, whose backslash becomes '_' here.
    for (const char c : visible(text)) {
        const auto u = static_cast<unsigned char>(c);
        const bool safe = std::isalnum(u) != 0 || u >= 0x80 || c == ' ' || c == '-' || c == '_' || c == '.' ||
                          c == '(' || c == ')' || c == ',' || c == '\'';
        out += safe ? c : '_';
    }
    return out;
}

}  // namespace

Acceptance acceptance_interval(double answer, double tolerance, double scale) {
    const double a = std::fabs(answer), t = tolerance, s = scale;
    double low = std::min(a * (1 - t), a - t * s), high = std::max(a / (1 - t), a + t * s);
    if (answer < 0) std::tie(low, high) = std::pair(-high, -low);
    // To the last double: the rounded ends moved until answer_matches agrees.
    const auto ok = [&](double given) { return answer_matches(given, answer, tolerance, scale); };
    const double inf = std::numeric_limits<double>::infinity();
    for (int k = 0; k < 64 && !ok(low) && low < answer; ++k) low = std::nextafter(low, answer);
    for (int k = 0; k < 64 && ok(std::nextafter(low, -inf)); ++k) low = std::nextafter(low, -inf);
    for (int k = 0; k < 64 && !ok(high) && high > answer; ++k) high = std::nextafter(high, answer);
    for (int k = 0; k < 64 && ok(std::nextafter(high, inf)); ++k) high = std::nextafter(high, inf);
    return {answer, std::min(answer - low, high - answer), low, high};
}

bool Acceptance::symmetric() const {
    const double roundoff = 64 * std::numeric_limits<double>::epsilon() * std::max(std::fabs(low), std::fabs(high));
    return std::fabs((high - answer) - (answer - low)) <= roundoff;
}

ExportedVariant export_variant(const Trace& t, const std::vector<Question>& questions, const QuizOptions& options,
                               const NumFmt& num) {
    const Graph& g = *t.graph;
    ExportedVariant v;
    v.variant = g.variant;
    v.student = g.student;
    v.label = variant_label(g.variant, g.student);
    if (v.label.empty()) v.label = "as written";
    v.category = fmt::format("bnstep/{}/{}", safe_category_part(g.name), safe_category_part(v.label));
    for (std::size_t k = 0; k < questions.size(); ++k) {
        const Question& q = questions[k];
        ExportedQuestion e;
        // A name is plain text a platform may still filter (Moodle's TeX filter reads names): neutralised
        // as the category is, so that a student's `$x$` or `\frac` is never typeset nor markup.
        e.title = fmt::format("{} {} Q{}: {}", safe_category_part(g.name), safe_category_part(v.label), k + 1, q.asked);
        e.heading = fmt::format("Lesson {} ({}), {}. Question {} of {}: {}", g.name, g.title, v.label, k + 1,
                                questions.size(), text::sender(g, q.node));
        context_and_question(e, t, q, num);
        e.acceptance = acceptance_interval(q.answer, options.tolerance, q.scale);
        e.accepted = fmt::format(
            "Any answer from about {:.6g} to {:.6g} counts: within {:g}% of the exact value (of the larger of it and "
            "your answer){}, as bnstep quiz judges it.",
            e.acceptance.low, e.acceptance.high, options.tolerance * 100,
            q.scale > 0 ? fmt::format(", or within {:g}% of {}, the size of the terms it adds", options.tolerance * 100,
                                      num(q.scale))
                        : "");
        e.hint = "Hint: " + q.hint + ".";
        e.worked = worked_lines(q.worked, num);
        v.questions.push_back(std::move(e));
    }
    return v;
}

std::string plain_decimal(double value) {
    if (!std::isfinite(value)) return "0";
    std::string shortest = fmt::format("{}", value);  // the shortest that reads back: "1.25e-07", "-3.5"
    const std::size_t e = shortest.find('e');
    if (e == std::string::npos) return shortest;
    const bool negative = shortest.front() == '-';
    std::string mantissa = shortest.substr(negative ? 1 : 0, e - (negative ? 1 : 0));
    const int exponent = std::stoi(shortest.substr(e + 1));
    const std::size_t dot = mantissa.find('.');
    int point = static_cast<int>(dot == std::string::npos ? mantissa.size() : dot) + exponent;
    if (dot != std::string::npos) mantissa.erase(dot, 1);
    std::string digits;
    if (point <= 0)
        digits = "0." + std::string(static_cast<std::size_t>(-point), '0') + mantissa;
    else if (point >= static_cast<int>(mantissa.size()))
        digits = mantissa + std::string(static_cast<std::size_t>(point) - mantissa.size(), '0');
    else
        digits = mantissa.substr(0, static_cast<std::size_t>(point)) + "." +
                 mantissa.substr(static_cast<std::size_t>(point));
    return (negative ? "-" : "") + digits;
}

}  // namespace bnstep
