// The quiz as a conversation: each question with what the student has on
// paper at that point, an answer per line, a hint and a second try after a
// wrong answer, then the worked arithmetic; a score at the end.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <istream>
#include <ostream>

#include "bnstep/variant.hpp"
#include "bnstep/notation.hpp"
#include "bnstep/study.hpp"
#include "bnstep/visible.hpp"
#include "print/text_shared.hpp"

namespace bnstep {
namespace {

const std::string kIn1 = "    ", kIn2 = "        ";

void show_forward(std::ostream& out, const Trace& t, std::size_t node, const PrintOptions& opt) {
    const Graph& g = *t.graph;
    for (std::size_t in : g.nodes[node].inputs) {
        out << kIn1 << opt.style.node(g.nodes[in].name) << ' ' << shape_str(g.nodes[in].shape) << '\n';
        text::tensor(out, t.nodes[in].value, opt, kIn2);
    }
    out << kIn1 << opt.style.node(g.nodes[node].name) << ' ' << shape_str(g.nodes[node].shape) << '\n';
    text::tensor(out, t.nodes[node].value, opt, kIn2);
}

void show_upstream(std::ostream& out, const Trace& t, std::size_t node, const PrintOptions& opt) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[node];
    const NodeState& st = t.nodes[node];
    std::string from = "given";
    if (node != g.output) from = "from " + text::sender(g, st.received.front().first);
    if (st.received.size() > 1) from = "the sum of what it received";
    out << kIn1 << "upstream gradient " << opt.style.grad(n.grad_name()) << ' ' << shape_str(n.shape) << ", " << from
        << '\n';
    text::tensor(out, *st.grad, opt, kIn2);
}

// Which values a question shows: the node whose step it belongs to, or for the
// sum of several gradients the node that receives them (as a negative key).
long long context_of(const Question& q) {
    if (q.kind == QuizKind::Upstream && !q.edge) return -1 - static_cast<long long>(q.node);
    return static_cast<long long>(q.kind == QuizKind::Upstream ? q.edge->first : q.node);
}

// What the student has on paper before answering (unless the previous
// question showed the same), and the question itself.
void ask(std::ostream& out, const Trace& t, const Question& q, std::size_t number, std::size_t count, bool as_above,
         const PrintOptions& opt) {
    const Graph& g = *t.graph;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    out << '\n'
        << opt.style.heading(fmt::format("Question {} of {}", number, count)) << "   "
        << text::node_heading(g, q.node, opt) << '\n';
    if (q.kind == QuizKind::Upstream && !q.edge) {
        out << kIn1 << "what " << g.nodes[q.node].name << " received" << (as_above ? ": as above\n" : ":\n");
        for (const auto& r : as_above ? std::vector<std::pair<std::size_t, std::size_t>>{} : t.nodes[q.node].received) {
            const EdgeGrad& e = t.edge(r);
            out << kIn1 << opt.style.grad(e.name) << ' ' << shape_str(e.contribution.shape()) << ", from "
                << text::sender(g, r.first) << '\n';
            text::tensor(out, e.contribution, opt, kIn2);
        }
        out << wrap(fmt::format("What is {}, the gradient of {}?", opt.style.grad(q.asked), g.nodes[q.node].name),
                    width, "");
        return;
    }
    const std::size_t at_node = q.kind == QuizKind::Upstream ? q.edge->first : q.node;
    if (q.kind == QuizKind::Upstream)
        out << wrap(fmt::format("{}'s gradient comes from {}: {} = {}", g.nodes[q.node].name, text::sender(g, at_node),
                                g.nodes[at_node].name, forward_formula(g, at_node)),
                    width, kIn1);
    if (as_above) {
        out << kIn1 << "forward values and upstream gradient " << opt.style.grad(g.nodes[at_node].grad_name())
            << ": as above\n";
    } else {
        out << kIn1 << "forward values:\n";
        show_forward(out, t, at_node, opt);
        show_upstream(out, t, at_node, opt);
    }
    const Node& input = g.nodes[t.edge(*q.edge).input];
    std::string question;
    if (q.kind == QuizKind::Local)
        question = fmt::format("What is the local gradient {}?", opt.style.grad(partials(q.asked, opt.utf8)));
    else if (q.kind == QuizKind::Upstream)
        question =
            fmt::format("What is {}, the upstream gradient of {}?", opt.style.grad(q.asked), g.nodes[q.node].name);
    else
        question = fmt::format("What is {}, the gradient {} sends to {}?", opt.style.grad(q.asked),
                               g.nodes[q.node].name, input.name);
    out << wrap(question, width, "");
}

enum class Reply { Number, Quit, End };

// Reads lines until one is a number or q; end of input ends.
Reply read_answer(std::istream& in, std::ostream& out, const std::string& prompt, bool echo, double& value) {
    for (;;) {
        out << prompt << std::flush;
        std::string line;
        if (!std::getline(in, line)) {
            out << '\n';
            return Reply::End;
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (echo) out << visible(line) << '\n';
        if (line == "q" || line == "quit") return Reply::Quit;
        if (const auto v = parse_answer(line)) {
            value = *v;
            return Reply::Number;
        }
        out << kIn1 << fmt::format("'{}' is not a number: type one like -0.25 or 1/4 (q quits)", visible(line)) << '\n';
    }
}

std::string percent(double tolerance) { return fmt::format("{:g}%", tolerance * 100); }

void summary(std::ostream& out, const Trace& t, const QuizResult& r, const std::vector<Question>& questions, Reply last,
             const PrintOptions& opt) {
    const std::size_t count = questions.size();
    const Graph& g = *t.graph;
    out << '\n';
    if (!r.finished)
        out << fmt::format("Stopped after {} of {} questions ({}).\n", r.asked, count,
                           last == Reply::Quit ? "you quit" : "the answers ran out");
    const std::string score = fmt::format("{} of {}", r.correct, r.asked);
    out << opt.style.heading("Score: ") << (r.correct == r.asked ? opt.style.ok(score) : opt.style.bad(score))
        << " right (" << r.first_try << " at the first try)\n";
    if (r.review.empty()) {
        if (r.asked > 0) out << "Nothing to review.\n";
        return;
    }
    const std::string lesson = g.builtin ? g.name : g.source;
    out << "To review (each command works the element out):\n";
    for (std::size_t k = 0; k < r.review.size(); ++k)
        out << kIn1 << opt.style.node(text::sender(g, r.review[k])) << ": "
            << review_command(t, questions[r.review_questions[k]], lesson) << '\n';
}

// After a wrong answer: the classic mistake it matches, if any; else the rule.
void first_reply(std::ostream& out, const Trace& t, const Question& q, double given, const QuizOptions& options,
                 const PrintOptions& opt) {
    for (const std::string& line : first_reply_lines(q, diagnose_answer(t, q, given, options.tolerance), opt))
        out << wrap(line, static_cast<std::size_t>(opt.width), kIn1, kIn1 + "  ");
}
}  // namespace

std::vector<std::string> first_reply_lines(const Question& q, const std::optional<MistakeMatch>& mistake,
                                           const PrintOptions& opt) {
    const Style& s = opt.style;
    if (mistake)
        return {
            fmt::format("{} ({}): {}.", s.bad("not quite"), mistake->name, partials(mistake->explanation, opt.utf8)),
            partials(q.kind == QuizKind::Local ? "It is " + q.hint.substr(q.hint.find("is ") + 3) + "."
                                               : fmt::format("It goes: {} = {}", q.worked.lhs, q.worked.symbolic),
                     opt.utf8)};
    return {fmt::format("{}. Hint: {}.", s.bad("not quite"), partials(q.hint, opt.utf8))};
}

std::string second_reply_line(const Question& q, const std::optional<MistakeMatch>& mistake, const PrintOptions& opt) {
    return fmt::format("{}: {}{} = {}{}", opt.style.bad("not right"), mistake ? "(" + mistake->name + ") " : "",
                       partials(q.asked, opt.utf8), opt.num(q.answer),
                       q.kind == QuizKind::Local ? "; it multiplies the upstream gradient here:" : ", worked out:");
}

QuizResult run_quiz(std::istream& in, std::ostream& out, const Trace& t, const std::vector<Question>& questions,
                    const QuizOptions& options, const PrintOptions& opt, bool echo) {
    const Graph& g = *t.graph;
    const Style& s = opt.style;
    out << s.heading(fmt::format("Quiz on lesson {}{}: {}", g.name, variant_suffix(g), g.title)) << '\n';
    out << wrap(
        fmt::format("{} question{} (seed {}). Type a number and Enter (a fraction like 1/4 is fine); an answer "
                    "within {} of the exact value counts. q quits.",
                    questions.size(), questions.size() == 1 ? "" : "s", options.seed, percent(options.tolerance)),
        static_cast<std::size_t>(opt.width), "");
    QuizResult r;
    Reply reply = Reply::Number;
    for (std::size_t k = 0; k < questions.size(); ++k) {
        const Question& q = questions[k];
        ask(out, t, q, k + 1, questions.size(), k > 0 && context_of(questions[k - 1]) == context_of(q), opt);
        double given = 0.0;
        reply = read_answer(in, out, "answer> ", echo, given);
        if (reply != Reply::Number) break;
        ++r.asked;
        const std::string right = fmt::format("{} = {}", partials(q.asked, opt.utf8), opt.num(q.answer));
        if (answer_matches(given, q.answer, options.tolerance, q.scale)) {
            ++r.correct;
            ++r.first_try;
            out << kIn1 << s.ok("correct") << ": " << right << '\n';
            continue;
        }
        if (std::find(r.review.begin(), r.review.end(), q.node) == r.review.end()) {
            r.review.push_back(q.node);
            r.review_questions.push_back(k);
        }
        first_reply(out, t, q, given, options, opt);
        reply = read_answer(in, out, "try again> ", echo, given);
        if (reply != Reply::Number) break;
        if (answer_matches(given, q.answer, options.tolerance, q.scale)) {
            ++r.correct;
            out << kIn1 << s.ok("correct") << ": " << right << '\n';
            continue;
        }
        out << wrap(second_reply_line(q, diagnose_answer(t, q, given, options.tolerance), opt),
                    static_cast<std::size_t>(opt.width), kIn1, kIn1 + "  ");
        text::worked(out, q.worked, opt, kIn2);
    }
    r.finished = reply == Reply::Number;
    summary(out, t, r, questions, reply, opt);
    return r;
}

}  // namespace bnstep
