#pragma once
// `bnstep quiz LESSON --grade answers.csv`: a whole class's answers scored,
// each judged as the quiz judges it (answer_matches, with its tolerance).
#include <string>

#include "bnstep/study.hpp"
#include "common.hpp"

namespace bnstep::cli {

// What --grade reads and writes.
struct GradeRequest {
    std::string lesson;
    std::string answers;   // the class's CSV
    std::string students;  // a roster (--students), or "": names are hashed as --student hashes them
    std::string out;       // the scores' file; "" or "-": standard output
    std::string node;      // --node, or ""
};

// The file of answers: a header row whose first column is `name` (or
// `student` or `id`) or `variant` (a variant number), then one row per
// student: that field and one answer per question, in the order the quiz
// asks them for that variant (an empty field scores 0). A name is trimmed and
// checked as student_name does, then looked up in the roster's id column (when
// it has one) or name column, giving the roster's variant, or without a
// roster hashed by student_variant. Writes a CSV of scores: student, variant,
// q1 ... qN (1 or 0; empty past that variant's last question), total; to
// `out` through write_file_atomically, or standard output.
// A UsageError of one line naming the file, row and column for anything else:
// a name not in the roster, a student or variant given twice, a row with more
// fields than the header or more answers than its questions.
int grade_class(const GradeRequest& request, const QuizOptions& options, const Common& common);

}  // namespace bnstep::cli
