// The page of `bnstep html`: the template filled in. Lesson text is
// untrusted: it reaches the page escaped as HTML text, as the quiz exports
// escape it, or inside the data block as JSON with every '<', '>' and '&'
// written as a \u escape, where no markup can end the block. The
// Content-Security-Policy allows the page's own script and style sheet
// alone, by their hashes.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "bnstep/page.hpp"
#include "bnstep/variant.hpp"
#include "bnstep/version.hpp"
#include "page/page_assets.hpp"
#include "study/quiz_export_html.hpp"

namespace bnstep {
namespace {

// JSON that is safe inside <script type="application/json">: the three
// characters can only appear inside strings, where \u escapes read back the same.
std::string script_safe_json(const nlohmann::json& j) {
    const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    out.reserve(text.size() + text.size() / 16);
    for (char c : text) {
        if (c == '<')
            out += "\\u003c";
        else if (c == '>')
            out += "\\u003e";
        else if (c == '&')
            out += "\\u0026";
        else
            out += c;
    }
    return out;
}

// Graphviz's SVG document as an element of the page: from <svg on, its comments dropped.
std::string inline_svg(const std::string& svg) {
    std::string out;
    std::size_t at = svg.find("<svg");
    if (at == std::string::npos) return out;
    while (at < svg.size()) {
        const std::size_t comment = svg.find("<!--", at);
        if (comment == std::string::npos) {
            out.append(svg, at);
            break;
        }
        out.append(svg, at, comment - at);
        const std::size_t end = svg.find("-->", comment + 4);
        if (end == std::string::npos) break;
        at = end + 3;
        if (at < svg.size() && svg[at] == '\n') ++at;
    }
    return out;
}

// The template with each @NAME@ replaced, in one pass: a value is never searched again.
std::string fill(std::string_view form, const std::vector<std::pair<std::string_view, std::string>>& values) {
    std::string out;
    std::size_t at = 0;
    while (at < form.size()) {
        const std::size_t open = form.find('@', at);
        if (open == std::string_view::npos) break;
        const std::size_t close = form.find('@', open + 1);
        if (close == std::string_view::npos) break;
        const std::string_view name = form.substr(open + 1, close - open - 1);
        const auto it = std::find_if(values.begin(), values.end(), [&](const auto& v) { return v.first == name; });
        if (it == values.end()) {
            out.append(form.substr(at, close - at));
            at = close;
            continue;
        }
        out.append(form.substr(at, open - at));
        out += it->second;
        at = close + 1;
    }
    out.append(form.substr(std::min(at, form.size())));
    return out;
}

}  // namespace

std::string lesson_page(const Trace& raw, const Trace& display, const std::string& svg, const PageOptions& options) {
    const Graph& g = *raw.graph;
    const std::string csp = std::string("default-src 'none'; script-src '") + page_assets::script_hash +
                            "'; style-src '" + page_assets::style_hash + "'; base-uri 'none'; form-action 'none'";
    const std::string variant = variant_label(g.variant, g.student);
    const std::string lesson = "lesson " + g.name + " (" + g.source + ")" + (variant.empty() ? "" : ", " + variant);
    return fill(page_assets::template_, {{"CSP", csp},
                                         {"VERSION", kVersion},
                                         {"TITLE", quiz_html::html_text(g.title)},
                                         {"LESSON", quiz_html::html_text(lesson)},
                                         {"DESCRIPTION", quiz_html::html_text(g.description)},
                                         {"STYLE", page_assets::style},
                                         {"SVG", inline_svg(svg)},
                                         {"COMMAND", quiz_html::html_text(options.command)},
                                         {"DATA", script_safe_json(page_data(raw, display, options))},
                                         {"SCRIPT", page_assets::script}});
}

}  // namespace bnstep
