// Partial derivatives in UTF-8 ("∂out/∂gamma") or ASCII ("d(out)/d(gamma)").
#include "bnstep/notation.hpp"

#include <cctype>

namespace bnstep {
namespace {

constexpr std::string_view kPartial = "∂";

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.'; }

// The end of the name that starts at `at`, with the indices that follow it ("W[i]", "x[0,1]").
std::size_t name_end(std::string_view text, std::size_t at) {
    std::size_t end = at;
    while (end < text.size() && name_char(text[end])) ++end;
    if (end == at) return end;
    while (end < text.size() && text[end] == '[') {
        const std::size_t close = text.find(']', end);
        if (close == std::string_view::npos) break;
        end = close + 1;
    }
    return end;
}

}  // namespace

std::string partials(std::string_view text, bool utf8) {
    if (utf8 || text.find(kPartial) == std::string_view::npos) return std::string(text);
    std::string out;
    out.reserve(text.size() + 8);
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t p = text.find(kPartial, at);
        if (p == std::string_view::npos) {
            out.append(text.substr(at));
            break;
        }
        out.append(text.substr(at, p - at));
        const std::size_t start = p + kPartial.size();
        const std::size_t end = name_end(text, start);
        if (end > start) {
            out.append("d(").append(text.substr(start, end - start)).append(")");
        } else {
            out.append("d");
        }
        at = end;
    }
    return out;
}

bool locale_is_utf8(const char* lc_all, const char* lc_ctype, const char* lang) {
    const char* chosen = nullptr;
    for (const char* v : {lc_all, lc_ctype, lang})
        if (v != nullptr && *v != '\0') {
            chosen = v;
            break;
        }
    if (chosen == nullptr) return false;
    std::string lower;
    for (const char* c = chosen; *c != '\0'; ++c)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
    return lower.find("utf-8") != std::string::npos || lower.find("utf8") != std::string::npos;
}

}  // namespace bnstep
