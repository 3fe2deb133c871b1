#include "bnstep/numfmt.hpp"

#include <cmath>
#include <fmt/format.h>

namespace bnstep {

std::string NumFmt::operator()(double v) const {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (v == 0.0) v = 0.0;  // no "-0"
    return fmt::format("{:.{}g}", v, precision);
}

std::string NumFmt::operand(double v) const {
    const std::string s = (*this)(v);
    return s.front() == '-' ? "(" + s + ")" : s;
}

}  // namespace bnstep
