#pragma once
// `bnstep quiz LESSON --export gift|moodle-xml|qti -o FILE`: the quiz of one
// variant, or of many (--variants 1-40), written for a learning platform.
#include <string>

#include "bnstep/study.hpp"
#include "common.hpp"

namespace bnstep::cli {

struct QuizExportRequest {
    std::string format;    // "gift", "moodle-xml" or "qti"
    std::string variants;  // --variants, or "" for the one variant of --variant / --student
    std::string students;  // --students roster.csv: a variant per student
    std::string output;    // -o
};

// The formats --export takes.
inline const std::vector<std::string> kQuizExportFormats{"gift", "moodle-xml", "qti"};

// Loads each variant, draws its questions as the quiz does (the same seed for
// every variant), writes the file atomically and says what it wrote.
int export_quiz(const Common& common, const std::string& lesson, const QuizOptions& options,
                const QuizExportRequest& request);

}  // namespace bnstep::cli
