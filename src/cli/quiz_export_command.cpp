#include "quiz_export_command.hpp"

#include <fmt/format.h>
#include <iostream>

#include "bnstep/error.hpp"
#include "bnstep/output_file.hpp"
#include "bnstep/quiz_export.hpp"
#include "bnstep/visible.hpp"
#include "variant_options.hpp"

namespace bnstep::cli {
namespace {

void check_export_request(const Common& common, const QuizOptions& options, const QuizExportRequest& r) {
    if (r.output.empty()) throw UsageError(fmt::format("--export {} writes a file: name it with -o FILE", r.format));
    if (r.output == "-" && r.format == "qti")
        throw UsageError("--export qti writes a zip file: name it with -o FILE.zip (-o - takes gift or moodle-xml)");
    if (common.format != "text")
        throw UsageError(
            fmt::format("--export {} writes its own format: leave out --format {}", r.format, common.format));
    if (options.tolerance >= 1)
        throw UsageError(
            fmt::format("--tolerance {:g}: --export needs a tolerance below 1 (at 1 and above the quiz "
                        "counts every answer of the right sign, which no platform's range can say)",
                        options.tolerance));
    if (!r.variants.empty() && !r.students.empty())
        throw UsageError("--variants and --students each name the variants: give one of them");
    if ((!r.variants.empty() || !r.students.empty()) && (common.variant != 0 || !common.student.empty()))
        throw UsageError(fmt::format("--{} names the variants itself: leave out --{}",
                                     r.variants.empty() ? "students" : "variants",
                                     common.student.empty() ? "variant" : "student"));
}

}  // namespace

int export_quiz(const Common& common, const std::string& lesson, const QuizOptions& options,
                const QuizExportRequest& r) {
    check_export_request(common, options, r);
    std::vector<VariantPick> picks;
    if (!r.students.empty())
        picks = read_roster(r.students);
    else if (r.variants.empty())
        picks.push_back({common.lesson_options().variant, common.student, {}});  // --student's own variant
    else
        picks = parse_variant_list(r.variants);
    ExportedQuiz quiz;
    quiz.seed = options.seed;
    quiz.tolerance = options.tolerance;
    std::size_t count = 0;
    for (const VariantPick& pick : picks) {
        const Graph g = common.load(lesson, pick.variant, pick.student);
        const Trace t = run_for_display(g);
        const NumFmt num = common.print().num;
        const std::vector<Question> questions = make_quiz(t, options, num);
        quiz.lesson = g.name;
        quiz.title = g.title;
        quiz.variants.push_back(export_variant(t, questions, options, num));
        count += questions.size();
    }
    if (r.format == "qti") {
        write_zip_atomically(r.output, quiz_qti_files(quiz));
    } else {
        const std::string text = r.format == "gift" ? quiz_gift(quiz) : quiz_moodle_xml(quiz);
        if (r.output == "-") {  // standard output holds the file alone
            std::cout << text << std::flush;
            return kOk;
        }
        write_file_atomically(r.output, text);
    }
    std::cout << fmt::format("wrote {}: {} question{} of lesson {}, {} variant{} ({})\n", visible(r.output), count,
                             count == 1 ? "" : "s", visible(quiz.lesson), picks.size(), picks.size() == 1 ? "" : "s",
                             r.format);
    return kOk;
}

}  // namespace bnstep::cli
