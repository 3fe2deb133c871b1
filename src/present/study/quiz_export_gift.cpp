// GIFT, Moodle's text format for questions: a $CATEGORY: line per variant,
// then one numerical question per quiz question, each on one line:
//   ::title::[html]question{#=answer:tolerance =%100%low..high ~#hint####worked}
// The second answer is the quiz's whole acceptance interval, when it reaches
// further than the symmetric tolerance; ~ with no number is the feedback for
// any other answer. Text is HTML (quiz_export_html.hpp), then GIFT's special
// characters ~ = # { } : and \ are escaped with a backslash.
#include <fmt/format.h>

#include "bnstep/quiz_export.hpp"
#include "bnstep/visible.hpp"
#include "study/quiz_export_html.hpp"

namespace bnstep {
namespace {

std::string gift_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (c == '~' || c == '=' || c == '#' || c == '{' || c == '}' || c == ':' || c == '\\') out += '\\';
        // A question is one line: a line break would end it (or, blank, start another).
        out += c == '\n' || c == '\r' ? ' ' : c;
    }
    return out;
}

std::string gift_question(const ExportedQuestion& q) {
    const Acceptance& a = q.acceptance;
    std::string answers = fmt::format("={}:{}", plain_decimal(a.answer), plain_decimal(a.tolerance));
    if (!a.symmetric()) answers += fmt::format(" =%100%{}..{}", plain_decimal(a.low), plain_decimal(a.high));
    return fmt::format("::{}::[html]{}{{#{} ~#{}####{}}}\n", gift_escape(visible(q.title)),
                       gift_escape(quiz_html::question_html(q, true)), answers, gift_escape(quiz_html::hint_html(q)),
                       gift_escape(quiz_html::worked_html(q)));
}

}  // namespace

std::string quiz_gift(const ExportedQuiz& quiz) {
    std::string s =
        fmt::format("// bnstep quiz: lesson {}, seed {}, tolerance {:g}, {} variant{}\n", visible(quiz.lesson),
                    quiz.seed, quiz.tolerance, quiz.variants.size(), quiz.variants.size() == 1 ? "" : "s");
    for (const ExportedVariant& v : quiz.variants) {
        // Moodle reads a category line as it stands (no escapes): the category is made of safe characters.
        s += fmt::format("\n$CATEGORY: $course$/{}\n", v.category);
        for (const ExportedQuestion& q : v.questions) s += "\n" + gift_question(q);
    }
    return s;
}

}  // namespace bnstep
