// Moodle XML: <quiz>, a category question per variant, then one numerical
// question per quiz question: the answer with its tolerance, the quiz's whole
// acceptance interval as a second 100% answer (midpoint and half-width, as
// Moodle stores a range) when it reaches further, and "*" with the hint as the
// feedback for any other answer; the worked arithmetic as general feedback.
#include <fmt/format.h>

#include "bnstep/quiz_export.hpp"
#include "bnstep/visible.hpp"
#include "study/quiz_export_html.hpp"

namespace bnstep {
namespace {

using quiz_html::xml_text;

std::string html_field(const char* tag, const std::string& html) {
    return fmt::format("    <{0} format=\"html\">\n      <text>{1}</text>\n    </{0}>\n", tag, xml_text(html));
}

std::string moodle_answer(const std::string& fraction, const std::string& value, const std::string& tolerance,
                          const std::string& feedback_html) {
    return fmt::format(
        "    <answer fraction=\"{}\" format=\"moodle_auto_format\">\n      <text>{}</text>\n"
        "      <feedback format=\"html\">\n        <text>{}</text>\n      </feedback>\n"
        "      <tolerance>{}</tolerance>\n    </answer>\n",
        fraction, value, xml_text(feedback_html), tolerance);
}

std::string moodle_question(const ExportedQuestion& q) {
    const Acceptance& a = q.acceptance;
    std::string s = "  <question type=\"numerical\">\n";
    s += fmt::format("    <name>\n      <text>{}</text>\n    </name>\n", xml_text(visible(q.title)));
    s += html_field("questiontext", quiz_html::question_html(q, false));
    s += html_field("generalfeedback", quiz_html::worked_html(q));
    s += "    <defaultgrade>1</defaultgrade>\n    <penalty>0.3333333</penalty>\n    <hidden>0</hidden>\n";
    s += moodle_answer("100", plain_decimal(a.answer), plain_decimal(a.tolerance), "");
    if (!a.symmetric()) {
        const double mid = a.low / 2 + a.high / 2;
        s += moodle_answer("100", plain_decimal(mid), plain_decimal(a.high - mid), "");
    }
    s += moodle_answer("0", "*", "0", quiz_html::hint_html(q));
    s += "    <unitgradingtype>0</unitgradingtype>\n    <unitpenalty>0.1000000</unitpenalty>\n"
         "    <showunits>3</showunits>\n    <unitsleft>0</unitsleft>\n";
    return s + "  </question>\n";
}

}  // namespace

std::string quiz_moodle_xml(const ExportedQuiz& quiz) {
    std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    // No lesson text in the comment: "--" may not appear in one.
    s += fmt::format("<!-- bnstep quiz: seed {}, tolerance {:g} -->\n<quiz>\n", quiz.seed, quiz.tolerance);
    for (const ExportedVariant& v : quiz.variants) {
        s += fmt::format(
            "  <question type=\"category\">\n    <category>\n      <text>$course$/{}</text>\n    </category>\n"
            "  </question>\n",
            xml_text(v.category));
        for (const ExportedQuestion& q : v.questions) s += moodle_question(q);
    }
    return s + "</quiz>\n";
}

}  // namespace bnstep
