#include "bnstep/visible.hpp"

#include <fmt/format.h>

namespace bnstep {
namespace {

// The length of the UTF-8 sequence at text[k] and its code point, or 0 when it is not well formed.
std::size_t utf8_at(std::string_view text, std::size_t k, char32_t& cp) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char c = byte(k);
    const std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || k + len > text.size()) return 0;
    cp = len == 1 ? c : c & (0x7F >> len);
    for (std::size_t j = 1; j < len; ++j) {
        if ((byte(k + j) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (byte(k + j) & 0x3F);
    }
    static constexpr char32_t kShortest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kShortest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool hidden(char32_t cp) {
    return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0x200E || cp == 0x200F || cp == 0x061C;
}

}  // namespace

std::string visible(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t k = 0; k < text.size();) {
        const auto c = static_cast<unsigned char>(text[k]);
        char32_t cp = 0;
        const std::size_t len = utf8_at(text, k, cp);
        if (len == 0) {  // NOLINT(bugprone-branch-clone): printed as a control byte is, below
            out += fmt::format("\\x{:02x}", c);
            ++k;
        } else if (cp == '\n') {
            out += "\\n", ++k;
        } else if (cp == '\r') {
            out += "\\r", ++k;
        } else if (cp == '\t') {
            out += "\\t", ++k;
        } else if (cp == 0) {
            out += "\\0", ++k;
        } else if (cp < 0x20 || cp == 0x7F) {
            out += fmt::format("\\x{:02x}", c);
            ++k;
        } else if (hidden(cp)) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(cp));
            k += len;
        } else {
            out.append(text.substr(k, len));
            k += len;
        }
    }
    return out;
}

}  // namespace bnstep
