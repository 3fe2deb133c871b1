#include "bnstep/numfmt.hpp"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace bnstep {

std::string NumFmt::operator()(double v) const {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (v == 0.0 || std::fabs(v) <= zero_below) v = 0.0;  // no "-0"
    // std::to_chars writes what printf's %.{precision}g does, several times faster than fmt::format.
    char buf[64];
    const auto [end, error] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, precision);
    if (error == std::errc{}) return std::string(buf, end);
    return fmt::format("{:.{}g}", v, precision);
}

std::string NumFmt::operand(double v) const {
    const std::string s = (*this)(v);
    return s.front() == '-' ? "(" + s + ")" : s;
}

}  // namespace bnstep
