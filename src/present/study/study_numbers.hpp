#pragma once
// What the quiz and the worksheet share about the numbers they ask for: when
// a gradient element is 0 in exact arithmetic (only round-off of terms that
// cancel), and which element of a gradient to work out by hand.
#include <utility>

#include "bnstep/executor.hpp"

namespace bnstep::study {

using EdgeRef = std::pair<std::size_t, std::size_t>;  // (node, input slot)

// The magnitude of the terms that element `at` of an edge's contribution adds
// (exact for elementwise edges, a bound from the upstream gradient and the
// other inputs otherwise), and of the contributions a gradient sums.
double edge_term_scale(const Trace& t, EdgeRef edge, const Index& at);
double accumulation_term_scale(const Trace& t, std::size_t node, const Index& at);

// Whether element `at` of the edge's contribution is 0 in exact arithmetic: within
// round-off (bnstep/round_off.hpp) of its tensor or of its terms.
bool edge_zero(const Trace& t, EdgeRef edge, const Index& at);

// The element of an edge's contribution to work by hand: trace's default
// element, or the next one that is not 0.
Index element_to_work(const Trace& t, EdgeRef edge);

}  // namespace bnstep::study
