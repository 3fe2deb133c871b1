// `bnstep run` as text: the forward pass in step order, the backward pass in
// reverse, then the gradients of the inputs and parameters; in blocks, so
// that step mode can pause after each node.
#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ostream>
#include <sstream>

#include "bnstep/variant.hpp"
#include "bnstep/notation.hpp"
#include "print/text_intermediates.hpp"
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
          const std::string& indent, bool brief) {
    const Graph& g = *t.graph;
    const Node& input = g.nodes[e.input];
    const std::size_t width = static_cast<std::size_t>(opt.width);
    const std::string in2 = indent + "    ";
    const std::string upstream = g.nodes[node].grad_name();
    auto say = [&](const std::string& line) { os << wrap(line, width, in2, in2 + "  "); };
    os << wrap(fmt::format("to {}:  {}", opt.style.node(input.name), partials(e.formula, opt.utf8)), width, indent,
               in2);
    if (e.status == EdgeGrad::Status::ConstInput) return say(input.name + " is a constant: it gets no gradient");
    if (e.status == EdgeGrad::Status::NotDifferentiable)
        return say(fmt::format("not differentiable with respect to {}: no gradient", input.name));
    if (e.straight_through)
        say(fmt::format("a surrogate gradient: {} uses a straight-through estimator, not its true derivative",
                        g.nodes[node].name));
    const std::string shape = shape_str(e.contribution.shape());
    // --brief: the result on the line that names it, as one line.
    const std::string result = brief ? ": " + brief_summary(e.contribution, opt.num) : "";
    const std::string direct = e.reduced_axes.empty() ? result : "";
    if (!e.local) {
        say(fmt::format("{} = the formula above, with upstream {}   {}{}", e.name, upstream, shape, direct));
    } else {
        if (e.local->is_uniform()) {
            say(fmt::format("local = {} for every element", opt.num((*e.local)[0])));
        } else {
            say(fmt::format("local {}:{}", shape_str(e.local->shape()),
                            brief ? " " + brief_summary(*e.local, opt.num) : ""));
            if (!brief) tensor(os, *e.local, opt, in2);
        }
        if (e.local->shape() != g.nodes[node].shape)
            say(fmt::format("{} {} is copied back along the reduced axis to {}", upstream,
                            shape_str(g.nodes[node].shape), shape_str(e.local->shape())));
        if (e.reduced_axes.empty()) {
            say(fmt::format("{} = {} * local   {}{}", e.name, upstream, shape, direct));
        } else if (!brief) {
            say(fmt::format("{} * local   {}:", upstream, shape_str(e.unreduced.shape())));
            tensor(os, e.unreduced, opt, in2);
        }
    }
    if (!e.reduced_axes.empty()) {
        say(fmt::format(
            "{} was broadcast from {} to {} in the forward pass, so its gradient is summed over axis {}:", input.name,
            shape_str(input.shape), shape_str(e.unreduced.shape()), fmt::join(e.reduced_axes, ", ")));
        say(fmt::format("{} = sum over axis {} of ({} * local)   {}{}", e.name, fmt::join(e.reduced_axes, ", "),
                        upstream, shape, result));
    }
    if (!brief) tensor(os, e.contribution, opt, in2);
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

namespace {

// The lesson's title, source and description.
void run_header(std::ostream& os, const Graph& g, const PrintOptions& opt) {
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << opt.style.heading(g.title) << '\n';
    os << opt.style.dim(fmt::format("lesson {} ({}), {} nodes{}", g.name, g.source, g.nodes.size(), variant_suffix(g))) << '\n';
    if (!g.resized.empty()) {
        std::vector<std::string> resized;
        for (std::size_t i : g.resized) resized.push_back(g.nodes[i].name + " " + shape_str(g.nodes[i].shape));
        os << wrap(
            fmt::format("resized with --set: {} (the lesson's text describes its own sizes)", fmt::join(resized, ", ")),
            width, "");
    }
    if (!g.description.empty()) os << '\n' << wrap(g.description, width, "");
}

// One node of the backward pass: where its gradient comes from, then each input's part.
void run_backward_node(std::ostream& os, const Trace& t, std::size_t i, const PrintOptions& opt, const RunView& view) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[i];
    const NodeState& st = t.nodes[i];
    const Style& s = opt.style;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    const std::string in1 = "        ";
    os << '\n'
       << wrap(
              fmt::format("{:<8}{}{}", step_label(n), s.node(n.name), n.is_leaf() ? "" : " = " + forward_formula(g, i)),
              width, "", "            ");
    if (st.received.size() > 1) {
        os << wrap(text::accumulation(t, i), width, in1);
        text::shown_tensor(os, *st.grad, opt, in1, view.brief);
        if (const std::string z = text::zero_note(t, RoundedZero::Where::Gradient, i); !z.empty())
            os << wrap(z, width, in1, in1 + "  ");
        text::accumulation_worked(os, t, i, opt, view, in1);
    } else if (i != g.output) {
        const std::size_t from = st.received.front().first;
        os << in1 << "upstream gradient " << s.grad(n.grad_name()) << " " << shape_str(n.shape) << ", from "
           << text::sender(g, from) << '\n';
        // --nodes: the step that sends it is not shown, so its values are printed here.
        if (!view.shows(from) && st.grad) text::shown_tensor(os, *st.grad, opt, in1, view.brief);
    } else {
        os << in1 << "upstream gradient " << s.grad(n.grad_name()) << " " << shape_str(n.shape) << ", given\n";
    }
    text::intermediates(os, display_intermediates(t, i, true), opt, in1, "", view.brief);
    for (const EdgeGrad& e : st.edges) {
        text::edge(os, t, i, e, opt, in1, view.brief);
        text::edge_worked(os, t, i, e, opt, view, in1 + "    ");
    }
}

// Whether the backward pass shows node i's gradient as a tensor already: the sum
// of its contributions, or the one contribution of a node shown.
bool run_gradient_shown(const Trace& t, std::size_t i, const RunView& view) {
    const NodeState& st = t.nodes[i];
    if (st.received.size() > 1) return view.shows(i);
    return st.received.size() == 1 && view.shows(st.received.front().first);
}

void run_gradients(std::ostream& os, const Trace& t, const PrintOptions& opt, const RunView& view) {
    const Graph& g = *t.graph;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    bool any = false;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        if (!n.is_leaf() || !t.nodes[i].grad || !view.shows(i)) continue;
        if (!any) os << '\n' << opt.style.heading("GRADIENTS OF THE INPUTS AND PARAMETERS") << '\n';
        any = true;
        const std::string head = opt.style.grad(n.grad_name()) + ' ' + shape_str(n.shape);
        if (view.brief && run_gradient_shown(t, i, view)) {
            const auto& received = t.nodes[i].received;
            os << '\n'
               << head << ": shown above, at " << text::sender(g, received.size() > 1 ? i : received.front().first)
               << '\n';
            continue;
        }
        os << '\n' << head << '\n';
        if (!t.nodes[i].surrogates.empty()) os << wrap(text::surrogate_note(t, i), width, "        ");
        text::shown_tensor(os, *t.nodes[i].grad, opt, "        ", view.brief);
    }
}

// The cost table: when the lesson has weights and multiply-adds to count, or when asked.
bool run_costs_something(const CostReport& c) { return c.total_weights > 0 && c.total_macs > 0; }

}  // namespace

std::vector<RunBlock> run_text_blocks(const Trace& t, const PrintOptions& opt, const RunView& view) {
    const Graph& g = *t.graph;
    const Style& s = opt.style;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    std::vector<RunBlock> blocks;
    std::ostringstream os;
    auto close = [&](RunBlock::Part part, std::optional<std::size_t> node = std::nullopt) {
        blocks.push_back({part, node, partials(os.str(), opt.utf8)});
        os.str("");
    };

    run_header(os, g, opt);
    if (view.forward) os << '\n' << s.heading("FORWARD PASS") << '\n';
    close(RunBlock::Part::Header);

    for (std::size_t i = 0; view.forward && i < g.nodes.size(); ++i) {
        if (!view.shows(i)) continue;
        const Node& n = g.nodes[i];
        os << '\n' << wrap(text::node_heading(g, i, opt), width, "", "            ");
        if (!n.note.empty()) os << wrap(n.note, width, "        ");
        text::intermediates(os, display_intermediates(t, i, false), opt, "        ", n.name + ":", view.brief);
        text::shown_tensor(os, t.nodes[i].value, opt, "        ", view.brief);
        if (const std::string z = text::zero_note(t, RoundedZero::Where::Value, i); !z.empty())
            os << wrap(z, width, "        ", "          ");
        close(RunBlock::Part::Forward, i);
    }

    if (view.backward) {
        const Node& out = g.nodes[g.output];
        os << '\n' << s.heading(fmt::format("BACKWARD PASS   {}", g.loss_formula())) << '\n';
        if (!view.shows(g.output)) {
            // --nodes without the output: the seed is not where these steps start
        } else if (g.scalar_loss) {
            os << "\nThe gradient of the loss with respect to itself: " << s.grad(out.grad_name()) << " = 1\n";
        } else {
            os << "\nThe upstream gradient of " << s.node(out.name)
               << ", given by the lesson: " << s.grad(out.grad_name()) << ' ' << shape_str(out.shape) << '\n';
            text::shown_tensor(os, g.seed, opt, "        ", view.brief);
        }
        close(RunBlock::Part::BackwardStart);
        for (std::size_t i : t.backward_order) {
            if ((g.nodes[i].is_leaf() && t.nodes[i].received.size() <= 1) || !view.shows(i)) continue;
            run_backward_node(os, t, i, opt, view);
            close(RunBlock::Part::Backward, i);
        }
        run_gradients(os, t, opt, view);
    }
    close(RunBlock::Part::Gradients);
    if (view.cost || (view.forward && view.backward && view.nodes.empty() && run_costs_something(t.cost)))
        print_cost_text(os, g, t.cost, opt);
    close(RunBlock::Part::Cost);
    return blocks;
}

void print_run_text(std::ostream& os, const Trace& t, const PrintOptions& opt, const RunView& view) {
    for (const RunBlock& b : run_text_blocks(t, opt, view)) os << b.text;
}

}  // namespace bnstep
