// The HTML of an exported question, shared by the three formats.
#include "study/quiz_export_html.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "bnstep/visible.hpp"

namespace bnstep::quiz_html {
namespace {

// Platforms' filters leave text in these alone: Moodle's (nolink) and MathJax (tex2jax_ignore, mathjax_ignore).
constexpr const char* kPlainClass = "nolink tex2jax_ignore mathjax_ignore";

std::string html_table(const ContextTable& t) {
    std::string s = "<table border=\"1\" cellpadding=\"3\"><caption>" + html_text(t.caption) + "</caption>";
    for (const auto& row : t.rows) {
        s += "<tr>";
        for (const auto& cell : row) s += "<td align=\"right\">" + html_text(cell) + "</td>";
        s += "</tr>";
    }
    return s + "</table>";
}

// Aligned columns in <pre>, lines broken with <br> (GIFT keeps a question on one line).
std::string text_table(const ContextTable& t) {
    std::size_t width = 0;
    for (const auto& row : t.rows)
        for (const auto& cell : row) width = std::max(width, cell.size());
    std::string s = "<pre>" + html_text(t.caption);
    for (const auto& row : t.rows) {
        s += "<br>";
        for (const auto& cell : row) s += html_text(fmt::format(" {:>{}}", cell, width));
    }
    return s + "</pre>";
}

}  // namespace

std::string html_text(std::string_view text) {
    const std::string shown = visible(text);
    std::string out;
    out.reserve(shown.size());
    for (const char c : shown) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            case '\\': out += "&#92;"; break;
            case '$': out += "&#36;"; break;
            case '[': out += "&#91;"; break;
            case ']': out += "&#93;"; break;
            case '`': out += "&#96;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string xml_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string question_html(const ExportedQuestion& q, bool text_tables) {
    std::string s = fmt::format("<div class=\"{}\"><p>{}</p>", kPlainClass, html_text(q.heading));
    if (!q.intro.empty()) s += "<p>" + html_text(q.intro) + "</p>";
    for (const ContextTable& t : q.tables) {
        if (!t.omitted.empty())
            s += "<p>" + html_text(t.caption + ": " + t.omitted) + "</p>";
        else
            s += text_tables ? text_table(t) : html_table(t);
    }
    s += "<p><b>" + html_text(q.question) + "</b></p>";
    return s + "<p>" + html_text(q.accepted) + "</p></div>";
}

std::string hint_html(const ExportedQuestion& q) {
    return fmt::format("<div class=\"{}\"><p>{}</p></div>", kPlainClass, html_text(q.hint));
}

std::string worked_html(const ExportedQuestion& q) {
    std::string s = fmt::format("<div class=\"{}\"><p>Worked out:</p><pre>", kPlainClass);
    for (std::size_t k = 0; k < q.worked.size(); ++k) s += (k > 0 ? "<br>" : "") + html_text(q.worked[k]);
    return s + "</pre></div>";
}

}  // namespace bnstep::quiz_html
