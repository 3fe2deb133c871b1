// The one-time note under a tensor that holds an exact zero the display step
// set (round_off_zeros): which terms cancel.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "print/text_shared.hpp"

namespace bnstep::text {
namespace {

// "[:,1]": the slice of the unreduced tensor that sums to element `at` of the contribution.
std::vector<std::string> summed_slice(const EdgeGrad& e, const Index& at) {
    const std::size_t rank = e.unreduced.shape().size(), lead = rank - at.size();
    std::vector<std::string> slice;
    for (std::size_t a = 0; a < rank; ++a) {
        const bool summed =
            a < lead || std::find(e.reduced_axes.begin(), e.reduced_axes.end(), a) != e.reduced_axes.end();
        slice.push_back(summed ? ":" : std::to_string(at[a - lead]));
    }
    return slice;
}

std::string edge_zero(const Trace& t, const EdgeGrad& e, std::size_t node, const Index& at) {
    const std::string what = e.name + index_str(at);
    if (e.reduced_axes.empty()) return fmt::format("{} is 0 to within the round-off of its terms", what);
    const std::string terms =
        e.local ? t.graph->nodes[node].grad_name() + " * local" : "the terms of " + e.name + " before the sum";
    const std::vector<std::string> slice = summed_slice(e, at);
    if (slice.size() == 2 && slice[0] == ":" && slice[1] != ":")
        return fmt::format("{} is 0: column {} of {} sums to 0 exactly", what, slice[1], terms);
    if (slice.size() == 2 && slice[1] == ":" && slice[0] != ":")
        return fmt::format("{} is 0: row {} of {} sums to 0 exactly", what, slice[0], terms);
    return fmt::format("{} is 0: {}[{}] sums to 0 exactly", what, terms, fmt::join(slice, ","));
}

std::string accumulation_zero(const Trace& t, std::size_t node, const Index& at) {
    std::vector<std::string> parts;
    for (const auto& r : t.nodes[node].received) parts.push_back(t.edge(r).name + index_str(at));
    return fmt::format("{}{} is 0: {} cancel exactly", t.graph->nodes[node].grad_name(), index_str(at),
                       fmt::join(parts, " + "));
}

}  // namespace

std::string zero_note(const Trace& t, RoundedZero::Where where, std::size_t node, std::size_t slot) {
    const RoundedZero* first = nullptr;
    std::size_t count = 0;
    for (const RoundedZero& z : t.rounded_zeros)
        if (z.where == where && z.node == node && z.slot == slot && count++ == 0) first = &z;
    if (!first) return "";
    const NodeState& st = t.nodes[node];
    std::string note;
    if (where == RoundedZero::Where::Contribution) {
        const EdgeGrad& e = st.edges[slot];
        note = edge_zero(t, e, node, e.contribution.unravel(first->offset));
    } else if (where == RoundedZero::Where::Gradient && st.received.size() > 1) {
        note = accumulation_zero(t, node, st.grad->unravel(first->offset));
    } else {
        const Tensor& x = where == RoundedZero::Where::Value ? st.value : *st.grad;
        const std::string name =
            where == RoundedZero::Where::Value ? t.graph->nodes[node].name : t.graph->nodes[node].grad_name();
        note = fmt::format("{}{} is 0 to within the round-off of its terms", name, index_str(x.unravel(first->offset)));
    }
    // The raw round-off is not quoted: it is not a number to redo by hand (--format json keeps it).
    note += fmt::format(" (floating point leaves a few units of round-off{}; --format json keeps them)",
                        count > 1 ? fmt::format(", here in {} elements that print as 0", count) : "");
    return note;
}

}  // namespace bnstep::text
