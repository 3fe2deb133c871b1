#pragma once
// The quantities a node's formulas use (OpDef::intermediates), as text.
#include <ostream>
#include <string>
#include <vector>

#include "bnstep/print.hpp"

namespace bnstep::text {

// Each quantity: "name = formula = value" for a scalar, else "name = formula
// shape" and the tensor under it; then `then` on a line of its own (what the
// next tensor is). Nothing when `items` is empty. `brief`: each tensor on one line.
void intermediates(std::ostream& os, const std::vector<Intermediate>& items, const PrintOptions& opt,
                   const std::string& indent, const std::string& then = "", bool brief = false);

}  // namespace bnstep::text
