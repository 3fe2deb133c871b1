#pragma once
// A structured fuzzer for the backward rules: from a seed, a random but
// valid lesson (JSON text) built from the op table, and a check that loads
// it, runs it, compares its forward values with the generator's, compares
// every analytic gradient with centred differences, and compares a few
// worked examples of every node (what `bnstep trace` prints) with the values
// and gradients.
//
// The generator takes each value's safe domain from the op table: every
// input of a node is made to satisfy its InputRule::domain (a positive input
// becomes exp of a bounded node, or square + a positive constant; a bounded
// one is scaled down by a power of two; class labels, 0/1 masks and
// distributions are new leaves, a distribution also a softmax), and a node
// larger than `max_abs` is scaled down. A node is only placed where moving
// any one element of its inputs by `kink_margin` leaves every output element
// on its piece (OpDef::pieces, or for a straight-through op its surrogate's),
// and batchnorm only where each channel's variance is at least `min_variance`
// (or the channel has one element). Such a refusal is counted in
// GeneratedLesson::avoided and another op is tried. Per op, the generator
// chooses only shapes and attributes (tests/random_graph_families.cpp and
// random_graph_layers.cpp).
//
// Used by tests/test_random_graphs.cpp and tools/graph_fuzz.cpp.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bnstep/gradcheck.hpp"
#include "bnstep/op.hpp"
#include "bnstep/tensor.hpp"

namespace bnstep::fuzz {

struct GeneratorOptions {
    std::size_t max_elements = 200;      // largest tensor of any node
    std::size_t max_leaf_elements = 96;  // largest random leaf
    int min_ops = 1;                     // op nodes chosen at random (helpers come on top)
    int max_ops = 8;
    double kink_margin = 1e-4;   // inputs this close to a kink (relu at 0, a max-pool tie, a clip bound): avoided
    double min_variance = 1e-3;  // batchnorm channels with a smaller variance: avoided
    double max_abs = 4.0;        // nodes larger than this are scaled down
};

struct GeneratedLesson {
    std::uint64_t seed = 0;
    std::string json;                             // the lesson, ready for parse_lesson
    std::map<std::string, Tensor> values;         // every leaf's and node's value, as the generator computed it
    std::vector<std::string> ops;                 // the op of each op node, helpers included, in creation order
    std::map<std::string, std::size_t> features;  // what the lesson exercises ("conv2d groups>1", ...)
    std::size_t avoided = 0;                      // op choices refused because of a kink or a near-zero variance
};

// Deterministic: the same seed and options give the same lesson. Throws
// std::logic_error when the generator breaks its own rules (a generator bug).
GeneratedLesson generate_lesson(std::uint64_t seed, const GeneratorOptions& options = {});

enum class Verdict {
    Passed,         // loads, runs, same values, every gradient passes
    Rejected,       // the loader rejected the lesson: a generator bug, or a loader bug
    RunError,       // run() threw (a numeric fault or an internal error)
    ValueMismatch,  // a forward value differs from the generator's
    // A gradient check failed, and every failing element is a finite-difference
    // artefact (check_lesson tells them apart by moving the step):
    KinkSkipped,        // the +-h of the check puts an op downstream on another piece (a relu
                        // input across 0, another max-pool winner, OpDef::pieces), seen from
                        // the forward values as well (other failing elements may be as below)
    RoundoffSkipped,    // the element passes with the step 10h, or with L(v+h) - L(v-h)
                        // summed per element, sum((out+ - out-) * seed): a gradient near 0
                        // below what the default check resolves (tolerance * floor = 1e-9)
    TruncationSkipped,  // the element passes with the step h/10: a large third derivative
    Failed,             // a gradient check failed, and not every failing element is an artefact
    ExplainMismatch,    // the gradients pass, but a worked example (what `bnstep trace` prints,
                        // OpDef::explain and InputRule::explain) disagrees with the value or
                        // gradient contribution the executor computed
};
std::string_view verdict_name(Verdict v);

struct CheckResult {
    Verdict verdict = Verdict::Passed;
    std::string message;                 // what went wrong, one or more lines
    std::vector<std::string> exercised;  // ops of nodes that sent a checked gradient to an input
    std::size_t nodes_checked = 0;
    std::size_t elements_checked = 0;
    std::size_t elements_at_kinks = 0;  // of those, not compared: their +-h crossed a kink (NodeCheck::kinks)
};

// `ops` may differ from builtin_ops() in backward rules and explanations only
// (tests plant a wrong rule to see it caught).
CheckResult check_lesson(const GeneratedLesson& lesson, const GradcheckOptions& options = {},
                         const OpTable& ops = builtin_ops());

// The smallest gap, over the windows of max_pool2d(x; kernel, stride, padding)
// with at least two elements, between the largest element and the next one
// (infinity when no window has two elements).
double max_pool_min_gap(const Tensor& x, long long kernel, long long stride, long long padding);

}  // namespace bnstep::fuzz
