// The quiz's questions: a walk down the backward pass with, at each node, one
// number to find (a local gradient, the node's upstream gradient or an
// element of what it sends down), drawn from a seeded generator.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "bnstep/print.hpp"
#include "bnstep/error.hpp"
#include "bnstep/round_off.hpp"
#include "bnstep/rng.hpp"
#include "bnstep/study.hpp"
#include "bnstep/version.hpp"
#include "print/text_shared.hpp"
#include "study/study_numbers.hpp"

namespace bnstep {
namespace {

using EdgeRef = std::pair<std::size_t, std::size_t>;  // (node, input slot)

struct Candidate {
    QuizKind kind;
    std::optional<EdgeRef> edge;
};

bool allowed(const QuizOptions& o, QuizKind k) {
    return o.kinds.empty() || std::find(o.kinds.begin(), o.kinds.end(), k) != o.kinds.end();
}

// The nodes `run` shows in its backward pass, in that order.
std::vector<std::size_t> walk(const Trace& t) {
    std::vector<std::size_t> nodes;
    for (std::size_t i : t.backward_order)
        if (!t.graph->nodes[i].is_leaf() || t.nodes[i].received.size() > 1) nodes.push_back(i);
    return nodes;
}

// Every question node i allows: its upstream gradient first (unless it is
// given), then per input the local gradient (where the op has one per
// element) and the downstream gradient.
std::vector<Candidate> candidates(const Trace& t, std::size_t i, const QuizOptions& o) {
    std::vector<Candidate> c;
    const NodeState& st = t.nodes[i];
    if (allowed(o, QuizKind::Upstream) && i != t.graph->output && !st.received.empty())
        c.push_back(
            {QuizKind::Upstream, st.received.size() == 1 ? std::optional<EdgeRef>(st.received.front()) : std::nullopt});
    for (const EdgeGrad& e : st.edges) {
        if (e.status != EdgeGrad::Status::Flows) continue;
        if (allowed(o, QuizKind::Local) && e.local) c.push_back({QuizKind::Local, EdgeRef{i, e.slot}});
        if (allowed(o, QuizKind::Downstream)) c.push_back({QuizKind::Downstream, EdgeRef{i, e.slot}});
    }
    return c;
}

// The formula and the rules that turn it into the downstream gradient.
std::string edge_hint(const Trace& t, EdgeRef ref) {
    const Graph& g = *t.graph;
    const EdgeGrad& e = t.edge(ref);
    const Node& input = g.nodes[e.input];
    std::string hint = "the local gradient is " + e.formula;
    if (e.straight_through)
        hint += fmt::format(" (a straight-through estimator's surrogate, not {}'s true derivative)",
                            g.nodes[ref.first].name);
    if (e.local) hint += fmt::format("; {} = {} * local", e.name, g.nodes[ref.first].grad_name());
    if (!e.reduced_axes.empty())
        hint += fmt::format(
            "; {} was broadcast from {} to {} in the forward pass, so its gradient is summed over axis {}", input.name,
            shape_str(input.shape), shape_str(e.unreduced.shape()), fmt::join(e.reduced_axes, ", "));
    return hint;
}

Worked edge_worked(const Trace& t, EdgeRef ref, const Index& in_at, const NumFmt& num) {
    return worked_gradient(t, ref.first, ref.second, in_at, num);
}

// Whether element `at` of what a candidate asks for is 0 in exact arithmetic
// and the lesson does not mark that 0 as the point: then it is not asked.
bool trick_zero(const Trace& t, std::size_t i, const Candidate& c, const Index& at) {
    const Graph& g = *t.graph;
    if (c.kind == QuizKind::Local) {
        const Tensor& local = *t.edge(*c.edge).local;
        return within_round_off(local.at(at), largest_magnitude(local));
    }
    const std::size_t gets = c.kind == QuizKind::Upstream ? i : t.edge(*c.edge).input;
    if (g.nodes[gets].zero_gradient) return false;
    if (c.edge) return study::edge_zero(t, *c.edge, at);
    const double v = t.nodes[i].grad->at(at);
    return within_round_off(v, std::max(largest_magnitude(*t.nodes[i].grad), study::accumulation_term_scale(t, i, at)));
}

const Tensor& asked_tensor(const Trace& t, std::size_t i, const Candidate& c) {
    if (c.kind == QuizKind::Upstream) return *t.nodes[i].grad;
    const EdgeGrad& e = t.edge(*c.edge);
    return c.kind == QuizKind::Local ? *e.local : e.contribution;
}

// The first element from `start` on (wrapping round) that is no trick zero.
std::optional<Index> element_from(const Trace& t, std::size_t i, const Candidate& c, std::size_t start) {
    const Tensor& tensor = asked_tensor(t, i, c);
    for (std::size_t k = 0; k < tensor.size(); ++k) {
        const Index at = tensor.unravel((start + k) % tensor.size());
        if (!trick_zero(t, i, c, at)) return at;
    }
    return std::nullopt;
}

// The candidates with at least one element to ask.
std::vector<Candidate> askable(const Trace& t, std::size_t i, std::vector<Candidate> c) {
    std::erase_if(c, [&](const Candidate& one) { return !element_from(t, i, one, 0); });
    return c;
}

Question make_question(const Trace& t, std::size_t i, const Candidate& c, Rng& rng, const NumFmt& num) {
    const Graph& g = *t.graph;
    Question q;
    q.node = i;
    q.kind = c.kind;
    q.edge = c.edge;
    auto pick = [&](const Tensor& tensor) {
        // askable() made sure some element is no trick zero.
        return *element_from(t, i, c, static_cast<std::size_t>(rng.next() % tensor.size()));
    };
    if (c.kind == QuizKind::Upstream) {
        const Node& n = g.nodes[i];
        const Tensor& grad = *t.nodes[i].grad;
        q.at = pick(grad);
        q.asked = n.grad_name() + index_str(q.at);
        q.answer = grad.at(q.at);
        if (c.edge) {
            q.hint = edge_hint(t, *c.edge);
            q.worked = edge_worked(t, *c.edge, q.at, num);
            q.scale = q.worked.scale > 0 ? q.worked.scale : study::edge_term_scale(t, *c.edge, q.at);
        } else {
            q.hint = text::accumulation(t, i);
            q.worked = worked_accumulation(t, i, q.at, num);
            q.scale = q.worked.scale > 0 ? q.worked.scale : study::accumulation_term_scale(t, i, q.at);
        }
        return q;
    }
    const EdgeGrad& e = t.edge(*c.edge);
    const Node& input = g.nodes[e.input];
    if (c.kind == QuizKind::Local) {
        q.at = pick(*e.local);
        q.asked = fmt::format("∂{}/∂{}{}", g.nodes[i].name, input.name, q.at.empty() ? "" : " at " + index_str(q.at));
        q.answer = e.local->at(q.at);
        q.scale = std::fabs(q.answer);
        q.hint = "the local gradient is " + e.formula;
        // The local gradient is a factor of the matching downstream element's arithmetic.
        q.worked = edge_worked(t, *c.edge, project_index(q.at, e.local->shape(), input.shape), num);
        return q;
    }
    q.at = pick(e.contribution);
    q.asked = e.name + index_str(q.at);
    q.answer = e.contribution.at(q.at);
    q.hint = edge_hint(t, *c.edge);
    q.worked = edge_worked(t, *c.edge, q.at, num);
    q.scale = q.worked.scale > 0 ? q.worked.scale : study::edge_term_scale(t, *c.edge, q.at);
    return q;
}

std::string question_node_list(const Trace& t, const QuizOptions& o) {
    std::vector<std::string> names;
    for (std::size_t i : nodes_with_questions(t, o)) names.push_back(text::sender(*t.graph, i));
    return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

std::vector<std::size_t> nodes_with_questions(const Trace& t, const QuizOptions& o) {
    std::vector<std::size_t> nodes;
    for (std::size_t i : walk(t))
        if (!askable(t, i, candidates(t, i, o)).empty()) nodes.push_back(i);
    return nodes;
}

std::string_view quiz_kind_name(QuizKind kind) {
    switch (kind) {
        case QuizKind::Local: return "local";
        case QuizKind::Upstream: return "upstream";
        case QuizKind::Downstream: return "downstream";
    }
    return "?";
}

std::vector<Question> make_quiz(const Trace& t, const QuizOptions& o, const NumFmt& num) {
    const Graph& g = *t.graph;
    Rng rng(o.seed);
    std::vector<Question> questions;
    if (o.node) {
        const std::size_t i = *o.node;
        const std::vector<std::size_t> nodes = walk(t);
        std::vector<Candidate> c;
        if (std::find(nodes.begin(), nodes.end(), i) != nodes.end()) c = askable(t, i, candidates(t, i, o));
        if (c.empty())
            throw UsageError(fmt::format("lesson {}: no question fits {}{}; nodes with questions: {}", g.name,
                                         g.nodes[i].label(), o.kinds.empty() ? "" : " with this --kind",
                                         question_node_list(t, o)));
        for (const Candidate& one : c) questions.push_back(make_question(t, i, one, rng, num));
        return questions;
    }
    for (std::size_t i : walk(t)) {
        const std::vector<Candidate> c = askable(t, i, candidates(t, i, o));
        if (c.empty()) continue;
        // A kind first, so each kind the node allows is as likely, then one of its questions.
        std::vector<QuizKind> kinds;
        for (const Candidate& one : c)
            if (std::find(kinds.begin(), kinds.end(), one.kind) == kinds.end()) kinds.push_back(one.kind);
        const QuizKind kind = kinds[rng.next() % kinds.size()];
        std::vector<Candidate> of_kind;
        for (const Candidate& one : c)
            if (one.kind == kind) of_kind.push_back(one);
        questions.push_back(make_question(t, i, of_kind[rng.next() % of_kind.size()], rng, num));
    }
    if (questions.empty())
        throw UsageError(fmt::format("lesson {}: no node of the backward pass has a question of this --kind", g.name));
    return questions;
}

bool answer_matches(double given, double expected, double tolerance, double scale) {
    if (!std::isfinite(given)) return false;
    const double error = std::fabs(given - expected);
    return error <= tolerance * std::max(std::fabs(given), std::fabs(expected)) || error <= tolerance * scale;
}

std::string review_command(const Trace& t, const Question& q, const std::string& lesson) {
    const Graph& g = *t.graph;
    // The step the question belongs to; its element is the node's own, or an input's.
    const std::size_t node = q.kind == QuizKind::Upstream && q.edge ? q.edge->first : q.node;
    const Node& n = g.nodes[node];
    std::string c = fmt::format("bnstep trace {} --node {}", lesson, n.step ? std::to_string(*n.step) : n.name);
    if (q.at.empty()) return c;
    const bool own = q.kind == QuizKind::Local || (q.kind == QuizKind::Upstream && !q.edge) ||
                     g.nodes[t.edge(*q.edge).input].shape == n.shape;
    return c + fmt::format(" --{} {}", own ? "index" : "input-index", fmt::join(q.at, ","));
}

std::optional<double> parse_answer(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
    auto number = [](std::string_view s) -> std::optional<double> {
        const std::string copy(s);
        if (copy.empty() || copy.find_first_not_of("0123456789+-.eE") != std::string::npos) return std::nullopt;
        char* end = nullptr;
        const double v = std::strtod(copy.c_str(), &end);
        if (end != copy.c_str() + copy.size() || !std::isfinite(v)) return std::nullopt;
        return v;
    };
    const std::size_t slash = text.find('/');
    if (slash == std::string_view::npos) return number(text);
    const auto top = number(text.substr(0, slash)), bottom = number(text.substr(slash + 1));
    if (!top || !bottom || *bottom == 0.0) return std::nullopt;
    return *top / *bottom;
}

nlohmann::json quiz_json(const Trace& t, const std::vector<Question>& questions, const QuizOptions& o) {
    using json = nlohmann::json;
    const Graph& g = *t.graph;
    json list = json::array();
    for (std::size_t k = 0; k < questions.size(); ++k) {
        const Question& q = questions[k];
        const Node& n = g.nodes[q.node];
        json input = nullptr, gradient = n.grad_name();
        if (q.kind != QuizKind::Upstream) {
            const EdgeGrad& e = t.edge(*q.edge);
            input = g.nodes[e.input].name;
            gradient = e.name;
        }
        list.push_back({{"number", k + 1},
                        {"node", n.name},
                        {"step", n.step ? json(*n.step) : json(nullptr)},
                        {"kind", quiz_kind_name(q.kind)},
                        {"input", input},
                        {"gradient", gradient},
                        {"index", q.at},
                        {"asked", q.asked},
                        {"answer", q.answer},
                        {"scale", q.scale},  // an answer within tolerance * scale of `answer` counts too
                        {"hint", q.hint},
                        {"worked",
                         {{"lhs", q.worked.lhs},
                          {"symbolic", q.worked.symbolic},
                          {"numeric", q.worked.numeric},
                          {"result", q.worked.result},
                          {"notes", q.worked.notes}}}});
    }
    json j = {{"bnstep", kVersion}, {"command", "quiz"},        {"lesson", g.name},
              {"seed", o.seed},     {"tolerance", o.tolerance}, {"questions", list}};
    add_variant_json(j, g);
    return j;
}

}  // namespace bnstep
