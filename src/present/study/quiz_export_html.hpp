#pragma once
// The HTML every quiz export carries (GIFT in its [html] form, Moodle XML,
// QTI): the question with its tables, the hint and the worked arithmetic.
// Lesson text is untrusted: html_text() makes it visible (no control
// characters, no broken UTF-8), escapes HTML, and writes \ $ [ ] ` as
// character references so that a platform's TeX filter finds no math in it.
#include <string>
#include <string_view>

#include "bnstep/quiz_export.hpp"

namespace bnstep::quiz_html {

std::string html_text(std::string_view text);
// XML 1.0 character data or attribute value (the text holds no control characters).
std::string xml_text(std::string_view text);

// The question: heading, intro, tables (HTML tables, or aligned text in <pre>
// with `text_tables`), the question and what is accepted. No raw newline.
std::string question_html(const ExportedQuestion& q, bool text_tables);
std::string hint_html(const ExportedQuestion& q);
std::string worked_html(const ExportedQuestion& q);

}  // namespace bnstep::quiz_html
