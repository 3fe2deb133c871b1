#pragma once
// The quiz exported for learning platforms: Moodle's GIFT and Moodle XML, and
// QTI 1.2 as Canvas imports it. One numerical question per quiz question,
// with the context a student needs, the quiz's own acceptance interval, the
// hint as the feedback for a wrong answer and the worked arithmetic as the
// general feedback. The writers share one model, ExportedQuiz, built from the
// quiz's Questions; lesson text in it is untrusted and every writer escapes it.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bnstep/study.hpp"

namespace bnstep {

enum class QuizExportFormat { Gift, MoodleXml, Qti };

// A tensor the student needs, as a small table: rows of printed numbers (a
// scalar is one cell, a vector one row, higher ranks one table per leading
// index, with that index in the caption). `omitted` says why there is no table
// (a tensor too large to show).
struct ContextTable {
    std::string caption;  // "x (4, 3)", "dout (4, 3), given", "x[0,1,:,:]"
    std::vector<std::vector<std::string>> rows;
    std::string omitted;
};

// What the quiz accepts for a question, as answer_matches judges it: every
// number from `low` to `high`. `tolerance` is the widest symmetric margin
// around `answer` inside that interval: tolerance * max(|answer|, scale).
struct Acceptance {
    double answer = 0.0;
    double tolerance = 0.0;
    double low = 0.0;
    double high = 0.0;
    // Whether answer +- tolerance is the whole interval (to round-off): then
    // the formats need no second, range answer.
    bool symmetric() const;
};

// The interval answer_matches(given, answer, tolerance, scale) accepts, to the
// last double: low and high are accepted, the doubles just outside are not.
// `tolerance` must be in (0, 1) (at 1 and above every answer of the right sign
// counts, and no interval says so).
Acceptance acceptance_interval(double answer, double tolerance, double scale);

struct ExportedQuestion {
    std::string title;    // "batchnorm variant 7 Q3: dxmu1[1,1]" (plain text)
    std::string heading;  // "Question 3 of 9: step 4 (xmu1 = ...)"
    std::string intro;    // the sentence before the tables, or ""
    std::vector<ContextTable> tables;
    std::string question;  // "What is dxmu1[1,1], the gradient xmu1 sends to x?"
    std::string accepted;  // the sentence saying what is accepted
    Acceptance acceptance;
    std::string hint;  // the feedback for a wrong answer
    std::vector<std::string>
        worked;  // the general feedback, one line each; a line starting with a space is a table row
};

struct ExportedVariant {
    std::uint64_t variant = 0;
    std::string student;
    std::string label;     // "variant 7", "variant 7 (student ada)", "as written"
    std::string category;  // "bnstep/batchnorm/variant 7": safe in every format (no '/' inside a part)
    std::vector<ExportedQuestion> questions;
};

struct ExportedQuiz {
    std::string lesson;  // the lesson's name
    std::string title;   // its title
    std::uint64_t seed = 1;
    double tolerance = 0.01;
    std::vector<ExportedVariant> variants;
};

// One variant's questions, from the trace they were drawn from (`num` prints
// the tables and the arithmetic). The graph's variant and student name it.
ExportedVariant export_variant(const Trace& trace, const std::vector<Question>& questions, const QuizOptions& options,
                               const NumFmt& num);

// The writers. GIFT and Moodle XML are one text file each; QTI is the files of
// a zip (imsmanifest.xml first, then one assessment per variant).
std::string quiz_gift(const ExportedQuiz& quiz);
std::string quiz_moodle_xml(const ExportedQuiz& quiz);
std::vector<std::pair<std::string, std::string>> quiz_qti_files(const ExportedQuiz& quiz);

// A number as the formats read it: plain decimal digits, no exponent
// ("0.00000125", "-12.5", "100000000000000000000"), the shortest that reads
// back as the same double.
std::string plain_decimal(double value);

}  // namespace bnstep
