#pragma once
// `bnstep worksheet LESSON --variants 1-40 --out DIR` (or --students FILE):
// a sheet and an answer key per variant, a PDF of each when the format is
// LaTeX and pdflatex is installed, and DIR/answers.csv.
#include <string>
#include <vector>

#include "bnstep/study.hpp"
#include "common.hpp"
#include "variant_options.hpp"

namespace bnstep::cli {

struct BulkSheets {
    std::string lesson;
    std::vector<VariantPick> picks;
    bool by_student = false;  // from a roster: files are named after the students
    SheetFormat format = SheetFormat::Markdown;
    std::string out;     // the directory written
    bool force = false;  // write into a DIR that is not empty
};

// Writes everything into a new directory beside `out`, then moves it into
// place: on any error (a UsageError or LessonError of one line) nothing is
// left in `out`. Says on standard output what it wrote, and on standard error,
// once, when pdflatex is not on PATH.
int write_worksheets(const BulkSheets& bulk, const Common& common);

// A name made safe as a file name on any file system: letters and digits of
// any script kept (ASCII ones in lower case; the name is valid UTF-8), runs of
// anything else (ASCII punctuation and spaces, '/', backslash, '.', control, space
// and invisible formatting characters) a single '-', none at either end; at
// most 48 bytes, cut between characters; "student" when nothing is left.
std::string file_slug(const std::string& name);

// The first executable `program` in a directory of PATH (its path), or "" when there is none.
std::string find_on_path(const std::string& program);

}  // namespace bnstep::cli
