#pragma once
// Options that name many variants at once: --variants 1-40 (and, in
// bulk commands, --students roster.csv).
#include <cstdint>
#include <string>
#include <vector>

namespace bnstep::cli {

// One variant a bulk command writes: its number, and the student it is for
// (empty when it came from --variants).
struct VariantPick {
    std::uint64_t variant = 0;
    std::string student;
    std::string id;  // a roster's ID, when it has that column: what was hashed (the name is shown)
};

// A student's name or ID as --student, a roster and a class's answers take
// it: spaces and tabs at either end trimmed; an empty name, or one holding a
// control character (a line break, ESC), is a UsageError "<where>: ...".
std::string student_name(const std::string& text, const std::string& where, const std::string& what = "name");

// "1-40", "7", "1-3,9,12-14" -> the variants in that order; a UsageError of
// one line for a malformed or reversed range, a repeated variant, or more
// than kMaxVariantsPerRun in all (checked before any is listed).
std::vector<VariantPick> parse_variant_list(const std::string& text, const std::string& option = "--variants");

// A roster (--students FILE): a CSV file with a header row holding a `name`
// column, and optionally `id` (then the ID is hashed by student_variant and
// the name shown) and `variant` (a number that overrides the hash); other
// columns are ignored. One pick per row, in the file's order. A UsageError of
// one line naming the file and row for a file that cannot be read or is not
// UTF-8 CSV, no `name` column, a row with more or fewer fields than the
// header, an empty name (or ID), a name (or ID) with a control character
// (a line break, a tab: C0, DEL or C1), a name (or ID) given twice, a variant that is
// not a whole number, no student, or more than kMaxVariantsPerRun.
std::vector<VariantPick> read_roster(const std::string& path);

}  // namespace bnstep::cli
