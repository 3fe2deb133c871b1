// What `run` adds to the shared pieces: the element it works out on each
// backward edge, and the one-line tensors of --brief.
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ostream>

#include "bnstep/round_off.hpp"
#include "print/text_shared.hpp"

namespace bnstep {
namespace {

// 0 at the tensor's scale: nothing but round-off of its larger values.
bool negligible(double v, double scale) { return v == 0.0 || std::abs(v) <= 1e-9 * scale; }

// Where --index lands on a tensor of `shape` of node `node`: projected from the
// node's element when it fits the node, as given when it fits the tensor itself.
std::optional<Index> asked_element(const RunView& view, const Shape& node_shape, const Shape& shape) {
    if (Tensor(node_shape).contains(*view.index)) return project_index(*view.index, node_shape, shape);
    if (Tensor(shape).contains(*view.index)) return *view.index;
    return std::nullopt;
}

// Where the worked element would be: the --index that fits no tensor of this step.
void index_misfit(std::ostream& os, const RunView& view, const std::string& name, const Shape& shape,
                  const std::string& indent) {
    os << indent
       << fmt::format("(--index {} does not fit {} {}: no worked element)\n", fmt::join(*view.index, ","), name,
                      shape_str(shape));
}

}  // namespace

Index run_element(const Tensor& value, const Index& preferred, bool chosen) {
    if (chosen || value.size() == 0 || !value.contains(preferred)) return preferred;
    double scale = 0.0;
    for (double v : value.data()) scale = std::max(scale, std::abs(v));
    if (!negligible(value.at(preferred), scale)) return preferred;
    for (std::size_t k = 0; k < value.size(); ++k)
        if (!negligible(value[k], scale)) return value.unravel(k);
    return preferred;
}

namespace text {

std::string brief_summary(const Tensor& t, const NumFmt& num) {
    if (t.size() <= 4) {
        std::vector<std::string> values;
        for (double v : t.data()) values.push_back(num(v));
        return t.shape().empty() ? values.front() : fmt::format("[{}]", fmt::join(values, " "));
    }
    double lo = t[0], hi = t[0], sum = 0;
    for (double v : t.data()) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
    }
    // A statistic that is round-off beside the largest magnitude (a mean of
    // values that cancel) prints as 0.
    const double scale = std::max(std::abs(lo), std::abs(hi));
    auto stat = [&](double v) { return num(within_round_off(v, scale) ? 0.0 : v); };
    return fmt::format("min {}, max {}, mean {}", stat(lo), stat(hi), stat(sum / static_cast<double>(t.size())));
}

void shown_tensor(std::ostream& os, const Tensor& t, const PrintOptions& opt, const std::string& indent, bool brief) {
    if (brief)
        os << wrap(brief_summary(t, opt.num), static_cast<std::size_t>(opt.width), indent, indent + "  ");
    else
        tensor(os, t, opt, indent);
}

void edge_worked(std::ostream& os, const Trace& t, std::size_t node, const EdgeGrad& e, const PrintOptions& opt,
                 const RunView& view, const std::string& indent) {
    if (view.brief || e.status != EdgeGrad::Status::Flows) return;
    const Shape& node_shape = t.graph->nodes[node].shape;
    const Shape& shape = t.graph->nodes[e.input].shape;
    Index at;
    if (view.index) {
        const std::optional<Index> asked = asked_element(view, node_shape, shape);
        if (!asked) return index_misfit(os, view, e.name, shape, indent);
        at = *asked;
    } else {
        at = input_element(default_index(node_shape), node_shape, shape, std::nullopt);
        if (e.contribution.shape() == shape) at = run_element(e.contribution, at, false);
    }
    os << indent << "worked element " << (at.empty() ? "(the scalar)" : index_str(at)) << ":\n";
    worked(os, worked_gradient(t, node, e.slot, at, opt.num), opt, indent + "    ");
}

void accumulation_worked(std::ostream& os, const Trace& t, std::size_t node, const PrintOptions& opt,
                         const RunView& view, const std::string& indent) {
    const NodeState& st = t.nodes[node];
    if (view.brief || !st.grad) return;
    const Shape& shape = t.graph->nodes[node].shape;
    Index at;
    if (view.index) {
        if (!Tensor(shape).contains(*view.index))
            return index_misfit(os, view, t.graph->nodes[node].grad_name(), shape, indent);
        at = *view.index;
    } else {
        at = run_element(*st.grad, default_index(shape), false);
    }
    os << indent << "worked element " << (at.empty() ? "(the scalar)" : index_str(at)) << ":\n";
    worked(os, worked_accumulation(t, node, at, opt.num), opt, indent + "    ");
}

}  // namespace text
}  // namespace bnstep
