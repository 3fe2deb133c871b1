#pragma once
// `bnstep quiz LESSON --grade answers.csv`: a whole class's answers scored,
// each judged as the quiz judges it (answer_matches, with its tolerance).
#include <string>

#include "bnstep/study.hpp"
#include "common.hpp"

namespace bnstep::cli {

// The file of answers: a header row whose first column is `name` (or
// `student` or `id`: the first field of each row is hashed by
// student_variant, as --student does) or `variant` (a variant number), then
// one row per student: that field and one answer per question, in the order
// the quiz asks them for that variant (an empty field scores 0).
// Writes a CSV of scores: student, variant, q1 ... qN (1 or 0; empty past that
// variant's last question), total; to `out`, or standard output when it is "".
// A UsageError of one line naming the file, row and column for anything else.
int grade_class(const std::string& lesson, const std::string& answers, const std::string& out,
                const QuizOptions& options, const std::string& node, const Common& common);

}  // namespace bnstep::cli
