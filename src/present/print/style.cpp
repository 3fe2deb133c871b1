#include <fmt/format.h>

#include "bnstep/print.hpp"

namespace bnstep {
namespace {

std::string paint(bool on, const char* code, std::string_view s) {
    if (!on) return std::string(s);
    return fmt::format("\x1b[{}m{}\x1b[0m", code, s);
}

}  // namespace

std::string Style::heading(std::string_view s) const { return paint(color, "1", s); }
std::string Style::node(std::string_view s) const { return paint(color, "36", s); }
std::string Style::grad(std::string_view s) const { return paint(color, "33", s); }
std::string Style::ok(std::string_view s) const { return paint(color, "32", s); }
std::string Style::bad(std::string_view s) const { return paint(color, "1;31", s); }
std::string Style::dim(std::string_view s) const { return paint(color, "2", s); }

}  // namespace bnstep
