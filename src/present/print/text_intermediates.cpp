// The quantities a node's formulas use, printed before the formulas use them.
#include "print/text_intermediates.hpp"

#include <fmt/format.h>

#include "print/text_shared.hpp"

namespace bnstep::text {

void intermediates(std::ostream& os, const std::vector<Intermediate>& items, const PrintOptions& opt,
                   const std::string& indent, const std::string& then, bool brief) {
    const std::size_t width = static_cast<std::size_t>(opt.width);
    for (const Intermediate& q : items) {
        if (q.value.shape().empty()) {
            os << wrap(fmt::format("{} = {} = {}", q.name, q.formula, opt.num(q.value[0])), width, indent,
                       indent + "    ");
            continue;
        }
        os << wrap(fmt::format("{} = {}   {}", q.name, q.formula, shape_str(q.value.shape())), width, indent,
                   indent + "    ");
        shown_tensor(os, q.value, opt, indent + "    ", brief);
    }
    if (!items.empty() && !then.empty()) os << indent << then << '\n';
}

}  // namespace bnstep::text
