// The data `bnstep html` embeds in its page: the document of `run --format
// json` for the raw numbers, and beside it everything the page shows as text,
// made by the printers `run`, `trace` and `quiz` use (docs/html-page.md).
#include <nlohmann/json.hpp>

#include "bnstep/notation.hpp"
#include "bnstep/page.hpp"
#include "bnstep/quiz_export.hpp"
#include "bnstep/study.hpp"
#include "print/text_shared.hpp"

namespace bnstep {
namespace {

using json = nlohmann::json;

bool shown_whole(const Shape& shape, const PrintOptions& o) { return o.full || element_count(shape) <= o.max_elements; }
bool shown_whole(const Tensor& t, const PrintOptions& o) { return shown_whole(t.shape(), o); }
// Every element worked out, as run works one: only for a tensor run shows whole without --full. An
// element's arithmetic can add a term per row of the batch, so --full embeds a larger tensor's numbers alone.
bool worked_whole(const Shape& shape, const PrintOptions& o) { return element_count(shape) <= o.max_elements; }

// The numbers of a tensor as `run` prints them, or the summary line `run` prints for a large one.
json shown(const Tensor& t, const PrintOptions& o) {
    if (!shown_whole(t, o)) return {{"summary", tensor_summary(t, o.num)}};
    json text = json::array();
    for (std::size_t k = 0; k < t.size(); ++k) text.push_back(o.num(t[k]));
    return {{"shape", t.shape()}, {"text", text}};
}

json worked_shown(const Worked& w, const NumFmt& num) {
    json j = worked_json(w);
    j["result_text"] = num(w.result);
    return j;
}

// Every element of a tensor worked out, or nothing for one the page summarises.
template <typename WorkOne>
json every_element(const Tensor& t, const PrintOptions& o, WorkOne work) {
    if (!worked_whole(t.shape(), o)) return nullptr;
    json list = json::array();
    for (std::size_t k = 0; k < t.size(); ++k) list.push_back(worked_shown(work(t.unravel(k)), o.num));
    return list;
}

// Per element of the input of edge `slot`, the elements of the node's gradient it came from: their
// flat offsets by the op's backward rule (gradient_sources), or for a node too large to probe one
// element at a time a box holding them (what a change of the element reaches, OpDef::reach; the
// whole gradient for an op without a reach rule).
constexpr std::size_t kMostProbed = 4096;

json sources_json(const Trace& t, std::size_t node, std::size_t slot, const PrintOptions& o) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[node];
    const Shape& in_shape = g.nodes[n.inputs[slot]].shape;
    if (!worked_whole(in_shape, o)) return nullptr;
    if (element_count(n.shape) <= kMostProbed) return gradient_sources(t, node, slot);
    std::vector<Shape> in;
    for (std::size_t k : n.inputs) in.push_back(g.nodes[k].shape);
    json list = json::array();
    for (std::size_t k = 0; k < element_count(in_shape); ++k) {
        const Box b = n.op->reach ? n.op->reach->affects(in, n.shape, n.attrs, slot, Box::element(in_shape, k))
                                  : Box::whole(n.shape);
        json box = json::array();
        for (long long v : b.lo) box.push_back(v);
        for (long long v : b.hi) box.push_back(v);
        list.push_back({{"box", box}});
    }
    return list;
}

// The quiz's replies, the acceptance intervals the page checks answers against, and the arithmetic.
json question_json(const Trace& t, const Question& q, const std::string& kind, std::optional<std::size_t> slot,
                   bool diagnose, const PageOptions& o) {
    const PrintOptions& opt = o.print;
    const Acceptance a = acceptance_interval(q.answer, o.tolerance, q.scale);
    const std::string right = partials(q.asked, opt.utf8) + " = " + opt.num(q.answer);
    json mistakes = json::array();
    if (diagnose)
        for (const MistakeValue& m : mistake_values(t, q, o.tolerance)) {
            const Acceptance w = acceptance_interval(m.value, o.tolerance, 0.0);
            mistakes.push_back({{"low", w.low},
                                {"high", w.high},
                                {"first", first_reply_lines(q, m.mistake, opt)},
                                {"second", second_reply_line(q, m.mistake, opt)}});
        }
    return {{"kind", kind},
            {"node", q.node},
            {"slot", slot ? json(*slot) : json(nullptr)},
            {"index", q.at},
            {"asked", partials(q.asked, opt.utf8)},
            {"low", a.low},
            {"high", a.high},
            {"right", "correct: " + right},
            {"first", first_reply_lines(q, std::nullopt, opt)},
            {"second", second_reply_line(q, std::nullopt, opt)},
            {"mistakes", mistakes},
            {"worked", worked_shown(q.worked, opt.num)}};
}

// A forward step's question: the element `run` works out, its rule as the hint.
json forward_question(const Trace& t, std::size_t i, const PageOptions& o) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[i];
    Question q;
    q.node = i;
    q.at = run_element(t.nodes[i].value, default_index(n.shape), false);
    q.asked = n.name + index_str(q.at);
    q.answer = t.nodes[i].value.at(q.at);
    q.worked = worked_value(t, i, q.at, o.print.num);
    q.scale = q.worked.scale;
    q.hint = n.name + " = " + forward_formula(g, i);
    return question_json(t, q, "value", std::nullopt, false, o);
}

// A backward step's question: the quiz's first on that node, a downstream gradient when it has one.
json backward_question(const Trace& t, std::size_t i, const PageOptions& o) {
    QuizOptions qo;
    qo.node = i;
    qo.tolerance = o.tolerance;
    const std::vector<Question> all = make_quiz(t, qo, o.print.num);
    const Question* q = &all.front();
    for (const Question& one : all)
        if (one.kind == QuizKind::Downstream) {
            q = &one;
            break;
        }
    std::optional<std::size_t> slot;
    if (q->edge) slot = q->kind == QuizKind::Upstream ? std::nullopt : std::optional(q->edge->second);
    return question_json(t, *q, std::string(quiz_kind_name(q->kind)), slot, true, o);
}

json edge_json(const Trace& raw, const Trace& display, std::size_t i, const EdgeGrad& e, const PageOptions& o) {
    const PrintOptions& opt = o.print;
    if (e.status != EdgeGrad::Status::Flows) return {{"flows", false}};
    const EdgeGrad& shown_edge = display.nodes[i].edges[e.slot];
    return {{"flows", true},
            {"local", shown_edge.local ? shown(*shown_edge.local, opt) : json(nullptr)},
            {"unreduced", e.reduced_axes.empty() ? json(nullptr) : shown(shown_edge.unreduced, opt)},
            {"unreduced_raw",
             e.reduced_axes.empty() || !shown_whole(e.unreduced, opt) ? json(nullptr) : tensor_json(e.unreduced)},
            {"contribution", shown(shown_edge.contribution, opt)},
            {"zero_note", text::zero_note(display, RoundedZero::Where::Contribution, i, e.slot)},
            {"worked", every_element(e.contribution, opt,
                                     [&](const Index& at) { return worked_gradient(raw, i, e.slot, at, opt.num); })},
            {"sources", sources_json(raw, i, e.slot, opt)}};
}

json intermediates_shown(const Trace& display, std::size_t i, bool backward, const PrintOptions& opt) {
    json list = json::array();
    for (const Intermediate& q : display_intermediates(display, i, backward))
        list.push_back({{"name", q.name}, {"formula", q.formula}, {"shown", shown(q.value, opt)}});
    return list;
}

json node_page(const Trace& raw, const Trace& display, std::size_t i, const std::vector<bool>& asked,
               const std::vector<RunBlock>& blocks, const PageOptions& o) {
    const Graph& g = *raw.graph;
    const Node& n = g.nodes[i];
    const NodeState& st = display.nodes[i];
    const PrintOptions& opt = o.print;
    json j = {{"heading", text::node_heading(g, i, opt)},
              {"note", n.note},
              {"value", shown(st.value, opt)},
              {"value_zero_note", text::zero_note(display, RoundedZero::Where::Value, i)},
              {"intermediates", intermediates_shown(display, i, false, opt)},
              {"backward_intermediates", intermediates_shown(display, i, true, opt)},
              {"forward_text", ""},
              {"backward_text", ""}};
    for (const RunBlock& b : blocks)
        if (b.node == i) j[b.part == RunBlock::Part::Forward ? "forward_text" : "backward_text"] = b.text;
    j["value_worked"] =
        n.is_leaf() ? json(nullptr)
                    : every_element(st.value, opt, [&](const Index& at) { return worked_value(raw, i, at, opt.num); });
    j["forward_question"] = n.is_leaf() ? json(nullptr) : forward_question(display, i, o);
    j["grad"] = st.grad ? shown(*st.grad, opt) : json(nullptr);
    j["grad_zero_note"] = st.grad ? text::zero_note(display, RoundedZero::Where::Gradient, i) : "";
    const bool added = st.received.size() > 1;
    j["accumulation"] = added ? text::accumulation(display, i) : "";
    j["grad_worked"] =
        added ? every_element(*st.grad, opt, [&](const Index& at) { return worked_accumulation(raw, i, at, opt.num); })
              : json(nullptr);
    j["surrogate_note"] = st.surrogates.empty() ? "" : text::surrogate_note(display, i);
    j["edges"] = json::array();
    if (st.grad)
        for (const EdgeGrad& e : raw.nodes[i].edges) j["edges"].push_back(edge_json(raw, display, i, e, o));
    j["backward_question"] = asked[i] ? backward_question(display, i, o) : json(nullptr);
    return j;
}

// Tensors the page summarises are left out of the embedded `run` document (a tensor's JSON is
// nested lists, so its size is the product of the lengths down the first elements).
void drop_summarised(json& tensor, const PrintOptions& o) {
    std::size_t count = 1;
    for (const json* t = &tensor; t->is_array() && !t->empty(); t = &t->front()) count *= t->size();
    if (!o.full && count > o.max_elements) tensor = nullptr;
}

void drop_summarised_tensors(json& run, const PrintOptions& o) {
    for (json& node : run["nodes"]) {
        drop_summarised(node["value"], o);
        drop_summarised(node["grad"], o);
        for (const char* list : {"intermediates", "backward_intermediates"})
            for (json& q : node[list]) drop_summarised(q["value"], o);
        for (json& input : node["inputs"]) {
            drop_summarised(input["local_value"], o);
            drop_summarised(input["contribution"], o);
        }
    }
    for (json& gradient : run["gradients"]) drop_summarised(gradient, o);
    drop_summarised(run["seed"], o);
}

}  // namespace

json page_data(const Trace& raw, const Trace& display, const PageOptions& o) {
    const Graph& g = *raw.graph;
    json run = run_json(raw);
    drop_summarised_tensors(run, o.print);
    std::vector<bool> asked(g.nodes.size(), false);
    for (std::size_t i : nodes_with_questions(display, QuizOptions{})) asked[i] = true;
    PageOptions po = o;
    po.print.style = Style{};  // a page holds no terminal colours
    const std::vector<RunBlock> blocks = run_text_blocks(display, po.print);
    json nodes = json::array();
    for (std::size_t i = 0; i < g.nodes.size(); ++i) nodes.push_back(node_page(raw, display, i, asked, blocks, po));
    return {{"run", run}, {"page", {{"nodes", nodes}}}};
}

}  // namespace bnstep
