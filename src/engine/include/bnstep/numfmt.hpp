#pragma once
// How numbers are written on screen: `precision` significant digits.
#include <string>

namespace bnstep {

struct NumFmt {
    int precision = 4;
    // A nonzero number of at most this magnitude prints as "0": an operand that
    // is round-off beside the other terms of its line (settle_worked sets it).
    double zero_below = 0;
    std::string operator()(double v) const;  // "0.5312", "-1.225", "1e-05"
    std::string operand(double v) const;     // as above, negatives in parentheses
};

}  // namespace bnstep
