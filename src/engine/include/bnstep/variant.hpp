#pragma once
// Variants of a lesson: the same graph with its leaves redrawn from a number,
// so that every student gets numbers of their own. Variant 0 is the lesson as
// written. The drawing itself is in variant.cpp; this header holds what every
// layer shares: how a student's name becomes a variant, and how outputs name it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bnstep/variant.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/graph.hpp"

namespace bnstep {

// A name or ID -> its variant, the same on every platform: FNV-1a 64 of the
// UTF-8 bytes, then the splitmix64 finalizer; never 0 (0 becomes 1).
std::uint64_t student_variant(std::string_view name);

// How outputs name a variant: "variant 7", "variant 7 (student ada)"; "" for
// the lesson as written (variant 0 with no student).
std::string variant_label(std::uint64_t variant, std::string_view student);

// The options that pick a variant on a bnstep command line quoted in an output:
// " --student ada" when the name gives the variant (quoted for a POSIX shell),
// else " --variant 7" (also for a name with a control character, which would
// break the line); "" for variant 0 with no student.
std::string variant_arguments(std::uint64_t variant, std::string_view student);
// A word as a POSIX shell reads it back: as it is when that is safe, else in single quotes.
std::string shell_word(std::string_view word);

// ", variant 7 (student ada)" to follow a lesson's name; "" for the lesson as written.
std::string variant_suffix(const Graph& g);

// The most variants one command writes (--variants, --students): a bound
// checked before any work.
inline constexpr std::size_t kMaxVariantsPerRun = 1000;

// The two mixing steps every variant seed is made of: FNV-1a 64 of bytes, and
// the splitmix64 finalizer.
std::uint64_t fnv1a64(std::string_view bytes);
std::uint64_t mix64(std::uint64_t z);

// The seed of one leaf's draw: mix64(mix64(variant) ^ attempt) ^ fnv1a64(leaf),
// the output's upstream gradient being the leaf "output.upstream".
std::uint64_t variant_seed(std::uint64_t variant, std::uint64_t attempt, std::string_view leaf);
inline constexpr std::string_view kUpstreamLeaf = "output.upstream";

// A leaf's values drawn from `how` (not Fixed) with Rng(seed), in row-major
// order: a grid element is k / 10^decimals, k = low + next() % count (0 left
// out when nonzero); a choice is choices[next() % size].
Tensor draw_leaf(const LeafVariant& how, const Shape& shape, std::uint64_t seed);

// How many draws a variant may take before the lesson is declared unable to keep its properties.
inline constexpr std::uint64_t kMaxVariantDraws = 100;

// What is wrong with a candidate variant, in the order the checks run: the
// forward pass fails, a required property fails, an op says its inputs are
// degenerate, the full gradient check meets a kink or fails, or an element
// is 0 by cancellation where it is not structural (ZeroReference below). Kinds a lesson allows are not checked.
struct VariantProblem {
    std::string check;  // "forward", "require", "degenerate", "kink", "gradient", "cancellation"
    std::string where;  // JSON location: of the node, or of the require entry
    std::string what;   // "keeps 'conv' all_above 0", "avoids a zero-variance column 1 at 'bn'"
};
// Where a 0 is structural, not a cancellation to reject: 0 both in the lesson
// as written (`written`, when its shapes are the candidate's; null: no 0 is
// structural) and in a reference draw (the first attempt of kReferenceVariant
// that runs forward and keeps the require, with no other check), so that a
// coincidence of the written numbers is not exempt. Both traces are computed
// when first needed and kept for the next draws of the same load.
inline constexpr std::uint64_t kReferenceVariant = 0x9e3779b97f4a7c15ULL;
class ZeroReference {
public:
    explicit ZeroReference(const Graph* written);
    // 0 at element k of node i's value (gradient: its gradient) in both, at `shape`.
    bool structural_zero(std::size_t i, bool gradient, std::size_t k, const Shape& shape) const;

private:
    void compute_reference() const;
    const Graph* written_;
    mutable std::optional<Trace> written_trace_;
    mutable std::optional<Trace> reference_trace_;
    mutable bool reference_done_ = false;
};

std::optional<VariantProblem> variant_problem(const Graph& candidate, const Graph* written);
// The same with the structural zeros of `reference` (kept for the next draws).
// `cheap_first`: the cancellation check before the gradient check, which costs more: the same verdict on
// whether the candidate has a problem, but perhaps another problem named.
std::optional<VariantProblem> variant_problem(const Graph& candidate, ZeroReference& reference, bool cheap_first);

// A `require` of the lesson that no variant can keep, found when the lesson loads: two
// tests on one node that contradict each other, or a test the lesson as written (its
// forward pass) breaks. None when the lesson has no require or its forward pass fails.
std::optional<VariantProblem> written_breaks_require(const Graph& written);

// Candidate `attempt` of g.variant: every leaf not Fixed and the seed drawn from `written`.
Graph draw_candidate(const Graph& written, std::uint64_t attempt);

// Redraws `g` (the lesson as written, g.variant != 0) as its variant: every
// leaf not Fixed and the seed, from draw attempt 0 on, until a candidate has
// no problem; after kMaxVariantDraws a LessonError of one line naming the
// source, the variant and the check that failed most often.
void draw_variant(Graph& g, bool written_comparable);

}  // namespace bnstep
