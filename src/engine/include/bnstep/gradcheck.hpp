#pragma once
// Numeric gradients by centred differences, compared with the analytic ones:
// for every node that gets a gradient, each element of its value is moved by
// +h and -h, only the elements downstream that the move can change are
// recomputed (each op's reach, OpDef::reach), and
//   n = (L(v + h) - L(v - h)) / 2h,   error = |a - n| / max(|a|, |n|, floor).
//
// Two things make a plain finite difference the wrong yardstick, and the
// check says when it met them:
// - a straight-through estimator downstream (sign, rounding): the backward is
//   the derivative of a surrogate, so L is differentiated with each such op
//   replaced by its surrogate (anchored at the forward values), and the plain
//   difference, which sees the true, flat function, is reported beside it;
// - a kink between v - h and v + h (ReLU at 0, a max-pool tie, a rounding
//   threshold): the two sides lie on different pieces of the function, so the
//   element is not compared; its one-sided differences are reported instead.
//
// How many elements each node's check moves (GradcheckOptions::mode):
// - full: every element, as above;
// - sparse: a seeded sample of `samples` elements per node (CS231n's sparse check);
// - directional: one seeded random unit direction v per node,
//   (L(v + h dir) - L(v - h dir)) / 2h against the analytic <grad, dir>: two
//   downstream evaluations per node whatever its size (PyTorch's fast mode).
//   Elements whose move reaches an op element that changes piece are taken
//   out of the direction (set to 0 there) and reported as kinks, so the node
//   stays directional; a node that fails is checked again in full (a node of
//   more than kAutoFullElements elements: in a sample of `samples`), which
//   names the wrong elements;
// - local: every element, but each node's move is carried only through its
//   consumers j, against L_i = sum_j <out_j, dout_j> with their analytic
//   gradients (plus <v, seed> for the output): dL_i/dv is the node's gradient
//   exactly when each consumer's backward rule is right, so checking every
//   node proves every gradient from the seed down (PyTorch's gradcheck checks
//   each op so), at a cost per node that does not grow with the graph between
//   it and the output;
// - auto: full when the nodes to check hold at most kAutoFullElements
//   elements together and the graph has at most kAutoLocalNodes nodes, local
//   for such a graph with more nodes (a long chain), else directional. The
//   report says which it used.
//
// The floor is raised to the round-off of the numeric difference (in local
// mode, of each node's own L_i), so that
// zero gradients of a large loss do not fail: L is a sum whose terms are
// rounded to machine epsilon, so (L(v+h) - L(v-h)) / 2h carries an error of
// about eps * sum|output * seed| / h, and the floor becomes that error over
// the tolerance.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bnstep/executor.hpp"

namespace bnstep {

enum class GradcheckMode { Auto, Full, Sparse, Directional, Local };

inline constexpr std::size_t kAutoFullElements = 20000;
inline constexpr std::size_t kAutoLocalNodes = 500;

// "auto", "full", "sparse", "directional".
std::string mode_name(GradcheckMode mode);

struct GradcheckOptions {
    double step = 1e-5;       // h
    double tolerance = 1e-5;  // largest relative error that passes
    double floor = 1e-4;      // smallest denominator, so gradients near 0 compare absolutely
    GradcheckMode mode = GradcheckMode::Auto;
    std::size_t samples = 32;  // elements per node in sparse mode
    std::uint64_t seed = 1;    // of the sparse sample and of the directions
};

// The first element of a node whose +-h crossed a kink.
struct KinkCrossing {
    Index at;               // the perturbed element
    std::size_t where = 0;  // the node whose op changed piece
    Index where_at;         // and its output element
    double left = 0.0;      // (L(v) - L(v - h)) / h
    double right = 0.0;     // (L(v + h) - L(v)) / h
    double analytic = 0.0;
    // Which one-sided difference the analytic gradient equals ("left",
    // "right", "both" or "neither": the kink then lies strictly inside +-h).
    std::string matches;
};

struct NodeCheck {
    std::size_t node = 0;
    std::size_t elements = 0;
    std::size_t compared = 0;  // elements whose +-h stayed on one piece
    double max_error = 0.0;    // the largest relative error over the compared elements
    Index worst;               // where it was
    double analytic = 0.0;     // the two gradients there
    double numeric = 0.0;
    bool passed = true;
    // Not empty: the comparison could not be made (L overflowed, the step was
    // lost in round-off, or the floor was so large that any numeric gradient
    // would pass), and why. Such a node counts as failed.
    std::string not_checkable;
    // Straight-through estimators downstream: the check differentiated their
    // surrogates. The plain difference through the true ops disagrees as shown.
    std::vector<std::size_t> surrogates;
    double plain_max_error = 0.0;
    double plain_numeric = 0.0;  // the plain difference at the element worst for it
    Index plain_worst;
    std::size_t kinks = 0;  // elements not compared: +-h crossed a kink
    std::optional<KinkCrossing> first_kink;
    // How this node was checked: full, sparse or directional. A directional
    // check that failed is followed by a full one (mode Full, fell_back set),
    // and the directional figures stay here. In directional mode, `kinks` is
    // the elements left out of the direction and `compared` the rest.
    GradcheckMode mode = GradcheckMode::Full;
    bool fell_back = false;
    double directional_analytic = 0.0;  // <grad, dir>
    double directional_numeric = 0.0;   // (L(v + h dir) - L(v - h dir)) / 2h
    double directional_error = 0.0;
};

struct GradcheckReport {
    const Graph* graph = nullptr;
    GradcheckOptions options;
    GradcheckMode mode = GradcheckMode::Full;  // what options.mode resolved to
    double floor = 0.0;                        // the floor used: options.floor or L's round-off over the tolerance
    std::vector<NodeCheck> checks;             // in backward order
    std::size_t failures() const;
    bool passed() const { return failures() == 0; }
};

double relative_error(double analytic, double numeric, double floor);

// Op node j's value as the check computes it from `values`: with `surrogate`,
// a straight-through op is replaced by its surrogate, anchored at the trace.
Tensor forward_as_checked(const Graph& g, const Trace& t, const std::vector<Tensor>& values, std::size_t j,
                          bool surrogate);
// The pieces of node j's op (of its surrogate, likewise), given its value in
// `values`; empty for a smooth op.
std::vector<long long> pieces_as_checked(const Graph& g, const std::vector<Tensor>& values, std::size_t j,
                                         bool surrogate);

GradcheckReport check_gradients(const Graph& g, const Trace& trace, const GradcheckOptions& options);

}  // namespace bnstep
