#pragma once
// How numbers are written on screen: `precision` significant digits.
#include <string>

namespace bnstep {

struct NumFmt {
    int precision = 4;
    std::string operator()(double v) const;  // "0.5312", "-1.225", "1e-05"
    std::string operand(double v) const;     // as above, negatives in parentheses
};

}  // namespace bnstep
