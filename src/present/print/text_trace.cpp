// `bnstep trace`: one node in depth, with one element worked by hand.
#include <fmt/format.h>
#include <ostream>
#include <sstream>

#include "bnstep/variant.hpp"
#include "bnstep/notation.hpp"
#include "print/text_intermediates.hpp"
#include "print/text_shared.hpp"

namespace bnstep {

namespace {

void trace_text(std::ostream& os, const Trace& t, std::size_t i, const Index& index, const PrintOptions& opt,
                const std::optional<Index>& input_index) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[i];
    const NodeState& st = t.nodes[i];
    const Style& s = opt.style;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    const std::string in1 = "    ", in2 = "        ";

    os << s.heading(fmt::format("Trace of {} in lesson {}{}", n.label(), g.name, variant_suffix(g))) << '\n';
    os << wrap(text::node_heading(g, i, opt), width, "", "            ");
    if (!n.is_leaf()) os << wrap(fmt::format("op {}: {}", n.op->name, n.op->summary), width, in2);
    if (!n.note.empty()) os << wrap(n.note, width, in2);

    os << '\n' << s.heading("FORWARD") << '\n';
    for (std::size_t in : n.inputs) {
        os << in1 << "input " << s.node(g.nodes[in].name) << ' ' << shape_str(g.nodes[in].shape) << '\n';
        text::tensor(os, t.nodes[in].value, opt, in2);
    }
    text::intermediates(os, display_intermediates(t, i, false), opt, in1);
    os << in1 << (n.is_leaf() ? "value " : "output ") << s.node(n.name) << ' ' << shape_str(n.shape) << '\n';
    text::tensor(os, st.value, opt, in2);
    if (const std::string z = text::zero_note(t, RoundedZero::Where::Value, i); !z.empty())
        os << wrap(z, width, in2, in2 + "  ");
    if (!n.is_leaf()) {
        os << in1 << "worked element " << (index.empty() ? "(the scalar)" : index_str(index)) << ":\n";
        text::worked(os, worked_value(t, i, index, opt.num), opt, in2);
    }

    os << '\n' << s.heading(fmt::format("BACKWARD   {}", g.loss_formula())) << '\n';
    if (!st.grad) {
        const char* why = n.kind == NodeKind::Const ? " is a constant"
                          : g.reaches_output()[i]
                              ? " reaches the output only through inputs that are not differentiable (a buffer, a "
                                "label, a mask)"
                              : " does not reach the output";
        os << wrap(n.name + why + ": it gets no gradient", width, in1, in1 + "  ");
        return;
    }
    if (i == g.output) {
        os << in1 << "upstream gradient " << s.grad(n.grad_name()) << ' ' << shape_str(n.shape)
           << (g.scalar_loss ? ", the seed 1\n" : ", given by the lesson\n");
    } else if (st.received.size() > 1) {
        os << wrap(text::accumulation(t, i), width, in1);
    } else {
        const Node& from = g.nodes[st.received.front().first];
        os << in1 << "upstream gradient " << s.grad(n.grad_name()) << ' ' << shape_str(n.shape) << ", from "
           << text::sender(g, st.received.front().first) << '\n';
        os << wrap(fmt::format("(bnstep trace {} --node {} works it out)", g.builtin ? g.name : g.source,
                               from.step ? std::to_string(*from.step) : from.name),
                   width, in1);
    }
    if (!st.surrogates.empty()) os << wrap(text::surrogate_note(t, i), width, in1);
    text::tensor(os, *st.grad, opt, in2);
    if (const std::string z = text::zero_note(t, RoundedZero::Where::Gradient, i); !z.empty())
        os << wrap(z, width, in2, in2 + "  ");
    if (st.received.size() > 1) {
        os << in1 << "worked element " << index_str(index) << ":\n";
        text::worked(os, worked_accumulation(t, i, index, opt.num), opt, in2);
    }
    if (!n.is_leaf() && !st.edges.empty()) {
        const std::vector<Intermediate> sums = display_intermediates(t, i, true);
        if (!sums.empty()) os << '\n';
        text::intermediates(os, sums, opt, in1);
    }
    for (const EdgeGrad& e : st.edges) {
        os << '\n';
        text::edge(os, t, i, e, opt, in1);
        if (e.status != EdgeGrad::Status::Flows) continue;
        const Shape& in_shape = g.nodes[e.input].shape;
        const Index at = input_element(index, n.shape, in_shape, input_index);
        os << in2 << "worked element " << (at.empty() ? "(the scalar)" : index_str(at)) << ":\n";
        text::worked(os, worked_gradient(t, i, e.slot, at, opt.num), opt, in2 + "    ");
    }
    if (n.is_leaf()) {
        os << '\n'
           << in1 << s.grad(n.grad_name()) << " is " << n.name << "'s gradient: "
           << (n.kind == NodeKind::Param ? "the step an optimizer would take against"
                                         : "what flows further down, to whatever produced the input")
           << '\n';
    }
}

}  // namespace

void print_trace_text(std::ostream& os, const Trace& t, std::size_t i, const Index& index, const PrintOptions& opt,
                      const std::optional<Index>& input_index) {
    std::ostringstream text;
    trace_text(text, t, i, index, opt, input_index);
    os << partials(text.str(), opt.utf8);
}

}  // namespace bnstep
