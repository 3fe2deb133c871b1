// Text made safe for LaTeX's text mode, for the worksheets' pdflatex.
#include <fmt/format.h>

#include "bnstep/study.hpp"

namespace bnstep {

std::string latex_escape(std::string_view text) {
    std::string out;
    for (std::size_t k = 0; k < text.size(); ++k) {
        const unsigned char c = static_cast<unsigned char>(text[k]);
        switch (c) {
            case '\\': out += "\\textbackslash{}"; break;
            case '{':
            case '}':
            case '$':
            case '&':
            case '#':
            case '_':
            case '%':
                out += '\\';
                out += static_cast<char>(c);
                break;
            case '^': out += "\\^{}"; break;
            case '~': out += "\\textasciitilde{}"; break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    out += fmt::format("[U+{:04X}]", static_cast<unsigned>(c));
                    break;
                }
                if (c < 0x80) {
                    out += static_cast<char>(c);
                    break;
                }
                // Non-ASCII: Latin-1 letters pass (pdflatex reads UTF-8 with T1 fonts); other
                // characters would stop pdflatex, so they are written as their code point.
                std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
                len = std::min(len, text.size() - k);
                char32_t cp = len == 1 ? c : c & (0x7F >> len);
                for (std::size_t j = 1; j < len; ++j) cp = (cp << 6) | (static_cast<unsigned char>(text[k + j]) & 0x3F);
                if (len == 2 && cp >= 0xA0 && cp <= 0xFF)
                    out += std::string(text.substr(k, len));
                else if (cp == 0x2202)  // the partial derivative sign of formulas (notation.hpp)
                    out += "$\\partial$";
                else
                    out += fmt::format("[U+{:04X}]", static_cast<unsigned>(cp));
                k += len - 1;
        }
    }
    return out;
}

}  // namespace bnstep
