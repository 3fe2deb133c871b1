#pragma once
// When a printed number is round-off: the two rules behind "exact zeros print
// as 0" (display_zeros.cpp, the settling of worked lines, the quiz, --brief).
#include <cfloat>
#include <cmath>

#include "bnstep/tensor.hpp"

namespace bnstep {

// A value within this fraction of the scale of the numbers it comes from may be
// round-off. On the built-in lessons round-off stays below 2e-16 of that scale
// and real values above 1e-6, so the threshold has a wide margin on both sides.
inline constexpr double kRoundOffFraction = 0x1p-40;

inline bool within_round_off(double value, double scale) { return std::fabs(value) <= kRoundOffFraction * scale; }

// A result within a few units in the last place of the magnitude of its terms
// (the sum of their absolute values) is 0 in exact arithmetic.
inline bool zero_beside_terms(double result, double terms) { return std::fabs(result) <= 64 * DBL_EPSILON * terms; }

// The largest magnitude of a tensor's elements (0 for an empty one).
inline double largest_magnitude(const Tensor& t) {
    double m = 0;
    for (std::size_t k = 0; k < t.size(); ++k) m = std::max(m, std::fabs(t[k]));
    return m;
}

}  // namespace bnstep
