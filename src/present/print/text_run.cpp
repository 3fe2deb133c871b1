// `bnstep run` as text: the forward pass in step order, the backward pass in
// reverse, then the gradients of the inputs and parameters; in blocks, so
// that step mode can pause after each node.
#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ostream>
#include <sstream>

#include "print/text_shared.hpp"

namespace bnstep {
namespace text {

void tensor(std::ostream& os, const Tensor& t, const PrintOptions& opt, const std::string& indent) {
    if (!opt.full && t.size() > opt.max_elements) {
        os << wrap(tensor_summary(t, opt.num), static_cast<std::size_t>(opt.width), indent);
        return;
    }
    const std::size_t room = static_cast<std::size_t>(opt.width) > indent.size() ? opt.width - indent.size() : 20;
    for (const auto& line : matrix_lines(t, opt.num, room)) os << indent << line << '\n';
}

std::string node_heading(const Graph& g, std::size_t i, const PrintOptions& opt) {
    const Node& n = g.nodes[i];
    const std::string step = step_label(n);
    const std::string lead = fmt::format("{:<8}", step);
    if (n.is_leaf())
        return fmt::format("{}{}  {} {}", lead, opt.style.node(n.name), kind_name(n.kind), shape_str(n.shape));
    return fmt::format("{}{} = {}   {}", lead, opt.style.node(n.name), forward_formula(g, i), shape_str(n.shape));
}

std::string sender(const Graph& g, std::size_t consumer) {
    const Node& n = g.nodes[consumer];
    return n.step ? fmt::format("step {} ({})", *n.step, n.name) : n.name;
}

void edge(std::ostream& os, const Trace& t, std::size_t node, const EdgeGrad& e, const PrintOptions& opt,
          const std::string& indent) {
    const Graph& g = *t.graph;
    const Node& input = g.nodes[e.input];
    const std::size_t width = static_cast<std::size_t>(opt.width);
    const std::string in2 = indent + "    ";
    const std::string upstream = g.nodes[node].grad_name();
    auto say = [&](const std::string& line) { os << wrap(line, width, in2, in2 + "  "); };
    os << wrap(fmt::format("to {}:  {}", opt.style.node(input.name), e.formula), width, indent, in2);
    if (e.status == EdgeGrad::Status::ConstInput) return say(input.name + " is a constant: it gets no gradient");
    if (e.status == EdgeGrad::Status::NotDifferentiable)
        return say(fmt::format("not differentiable with respect to {}: no gradient", input.name));
    if (e.straight_through)
        say(fmt::format("a surrogate gradient: {} uses a straight-through estimator, not its true derivative",
                        g.nodes[node].name));
    const std::string shape = shape_str(e.contribution.shape());
    if (!e.local) {
        say(fmt::format("{} = the formula above, with upstream {}   {}", e.name, upstream, shape));
    } else {
        if (e.local->is_uniform()) {
            say(fmt::format("local = {} for every element", opt.num((*e.local)[0])));
        } else {
            say(fmt::format("local {}:", shape_str(e.local->shape())));
            tensor(os, *e.local, opt, in2);
        }
        if (e.local->shape() != g.nodes[node].shape)
            say(fmt::format("{} {} is copied back along the reduced axis to {}", upstream,
                            shape_str(g.nodes[node].shape), shape_str(e.local->shape())));
        if (e.reduced_axes.empty()) {
            say(fmt::format("{} = {} * local   {}", e.name, upstream, shape));
        } else {
            say(fmt::format("{} * local   {}:", upstream, shape_str(e.unreduced.shape())));
            tensor(os, e.unreduced, opt, in2);
        }
    }
    if (!e.reduced_axes.empty()) {
        say(fmt::format(
            "{} was broadcast from {} to {} in the forward pass, so its gradient is summed over axis {}:", input.name,
            shape_str(input.shape), shape_str(e.unreduced.shape()), fmt::join(e.reduced_axes, ", ")));
        say(fmt::format("{} = sum over axis {} of ({} * local)   {}", e.name, fmt::join(e.reduced_axes, ", "), upstream,
                        shape));
    }
    tensor(os, e.contribution, opt, in2);
    if (const std::string z = zero_note(t, RoundedZero::Where::Contribution, node, e.slot); !z.empty()) say(z);
}

std::string accumulation(const Trace& t, std::size_t node) {
    const Graph& g = *t.graph;
    std::vector<std::string> parts, from;
    for (const auto& r : t.nodes[node].received) {
        const EdgeGrad& e = t.edge(r);
        parts.push_back(e.name);
        from.push_back(fmt::format("{} from {}", e.name, sender(g, r.first)));
    }
    std::vector<std::size_t> consumers;
    for (const auto& r : t.nodes[node].received)
        if (std::find(consumers.begin(), consumers.end(), r.first) == consumers.end()) consumers.push_back(r.first);
    const std::string feeds = consumers.size() == parts.size() ? fmt::format("feeds {} nodes", parts.size())
                                                               : fmt::format("is used {} times", parts.size());
    return fmt::format("{} {}, so their gradients add: {} = {}   ({})", g.nodes[node].name, feeds,
                       g.nodes[node].grad_name(), fmt::join(parts, " + "), fmt::join(from, ", "));
}

std::string surrogate_note(const Trace& t, std::size_t node) {
    const Graph& g = *t.graph;
    std::vector<std::string> via;
    for (std::size_t k : t.nodes[node].surrogates) via.push_back(sender(g, k));
    return fmt::format("a surrogate gradient: it passed through the straight-through estimator{} of {}",
                       via.size() > 1 ? "s" : "", fmt::join(via, ", "));
}

void worked(std::ostream& os, const Worked& w, const PrintOptions& opt, const std::string& indent) {
    const std::size_t width = static_cast<std::size_t>(opt.width);
    const std::string pad = indent + std::string(w.lhs.size(), ' ');
    const std::string hanging = pad + "     ";
    os << wrap(w.lhs + " = " + w.symbolic, width, indent, hanging);
    if (!w.numeric.empty() && w.numeric != w.symbolic) os << wrap("= " + w.numeric, width, pad + " ", hanging);
    const std::string& last = w.numeric.empty() ? w.symbolic : w.numeric;
    if (last != opt.num(w.result)) os << pad << " = " << opt.num(w.result) << '\n';
    for (const auto& note : w.notes) {
        if (!note.empty() && note.front() == ' ')  // a row of a small table under the previous note
            os << indent << "      " << note << '\n';
        else
            os << wrap("where " + note, width, indent + "  ", indent + "        ");
    }
}

}  // namespace text

std::vector<RunBlock> run_text_blocks(const Trace& t, const PrintOptions& opt) {
    const Graph& g = *t.graph;
    const Style& s = opt.style;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    std::vector<RunBlock> blocks;
    std::ostringstream os;
    auto close = [&](RunBlock::Part part, std::optional<std::size_t> node = std::nullopt) {
        blocks.push_back({part, node, os.str()});
        os.str("");
    };

    os << s.heading(g.title) << '\n';
    os << s.dim(fmt::format("lesson {} ({}), {} nodes", g.name, g.source, g.nodes.size())) << '\n';
    if (!g.resized.empty()) {
        std::vector<std::string> resized;
        for (std::size_t i : g.resized) resized.push_back(g.nodes[i].name + " " + shape_str(g.nodes[i].shape));
        os << wrap(
            fmt::format("resized with --set: {} (the lesson's text describes its own sizes)", fmt::join(resized, ", ")),
            width, "");
    }
    if (!g.description.empty()) os << '\n' << wrap(g.description, width, "");
    os << '\n' << s.heading("FORWARD PASS") << '\n';
    close(RunBlock::Part::Header);

    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        os << '\n' << wrap(text::node_heading(g, i, opt), width, "", "            ");
        if (!n.note.empty()) os << wrap(n.note, width, "        ");
        text::tensor(os, t.nodes[i].value, opt, "        ");
        if (const std::string z = text::zero_note(t, RoundedZero::Where::Value, i); !z.empty())
            os << wrap(z, width, "        ", "          ");
        close(RunBlock::Part::Forward, i);
    }

    const Node& out = g.nodes[g.output];
    os << '\n' << s.heading(fmt::format("BACKWARD PASS   {}", g.loss_formula())) << '\n';
    if (g.scalar_loss) {
        os << "\nThe gradient of the loss with respect to itself: " << s.grad(out.grad_name()) << " = 1\n";
    } else {
        os << "\nThe upstream gradient of " << s.node(out.name) << ", given by the lesson: " << s.grad(out.grad_name())
           << ' ' << shape_str(out.shape) << '\n';
        text::tensor(os, g.seed, opt, "        ");
    }
    close(RunBlock::Part::BackwardStart);
    for (std::size_t i : t.backward_order) {
        const Node& n = g.nodes[i];
        const NodeState& st = t.nodes[i];
        const bool sums = st.received.size() > 1;
        if (n.is_leaf() && !sums) continue;
        os << '\n'
           << wrap(fmt::format("{:<8}{}{}", step_label(n), s.node(n.name),
                               n.is_leaf() ? "" : " = " + forward_formula(g, i)),
                   width, "", "            ");
        if (sums) {
            os << wrap(text::accumulation(t, i), width, "        ");
            text::tensor(os, *st.grad, opt, "        ");
            if (const std::string z = text::zero_note(t, RoundedZero::Where::Gradient, i); !z.empty())
                os << wrap(z, width, "        ", "          ");
        } else if (i != g.output) {
            os << "        upstream gradient " << s.grad(n.grad_name()) << " " << shape_str(n.shape) << ", from "
               << text::sender(g, st.received.front().first) << '\n';
        } else {
            os << "        upstream gradient " << s.grad(n.grad_name()) << " " << shape_str(n.shape) << ", given\n";
        }
        for (const EdgeGrad& e : st.edges) text::edge(os, t, i, e, opt, "        ");
        close(RunBlock::Part::Backward, i);
    }

    os << '\n' << s.heading("GRADIENTS OF THE INPUTS AND PARAMETERS") << '\n';
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        if (!n.is_leaf() || !t.nodes[i].grad) continue;
        os << '\n' << s.grad(n.grad_name()) << ' ' << shape_str(n.shape) << '\n';
        if (!t.nodes[i].surrogates.empty()) os << wrap(text::surrogate_note(t, i), width, "        ");
        text::tensor(os, *t.nodes[i].grad, opt, "        ");
    }
    close(RunBlock::Part::Gradients);
    print_cost_text(os, g, t.cost, opt);
    close(RunBlock::Part::Cost);
    return blocks;
}

void print_run_text(std::ostream& os, const Trace& t, const PrintOptions& opt) {
    for (const RunBlock& b : run_text_blocks(t, opt)) os << b.text;
}

}  // namespace bnstep
