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
};

// "1-40", "7", "1-3,9,12-14" -> the variants in that order; a UsageError of
// one line for a malformed or reversed range, a repeated variant, or more
// than kMaxVariantsPerRun in all (checked before any is listed).
std::vector<VariantPick> parse_variant_list(const std::string& text, const std::string& option = "--variants");

}  // namespace bnstep::cli
