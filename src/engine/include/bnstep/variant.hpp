#pragma once
// Variants of a lesson: the same graph with its leaves redrawn from a number,
// so that every student gets numbers of their own. Variant 0 is the lesson as
// written. The drawing itself is in variant.cpp; this header holds what every
// layer shares: how a student's name becomes a variant, and how outputs name it.
#include <cstdint>
#include <string>
#include <string_view>

namespace bnstep {

// A name or ID -> its variant, the same on every platform: FNV-1a 64 of the
// UTF-8 bytes, then the splitmix64 finalizer; never 0 (0 becomes 1).
std::uint64_t student_variant(std::string_view name);

// How outputs name a variant: "variant 7", "variant 7 (student ada)"; "" for
// the lesson as written (variant 0 with no student).
std::string variant_label(std::uint64_t variant, std::string_view student);

// The most variants one command writes (--variants, --students): a bound
// checked before any work.
inline constexpr std::size_t kMaxVariantsPerRun = 1000;

}  // namespace bnstep
