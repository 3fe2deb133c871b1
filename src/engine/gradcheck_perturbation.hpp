#pragma once
// What a gradient check moves, private to the engine: a node's value moved by
// h (one element, or along a direction), and the change of the loss over
// what that reaches, with the pieces of the ops downstream. The trace's
// values are never written: each evaluation keeps, per node it reaches, the
// box of elements that can change (OpDef::reach) and their new values.
#include <optional>
#include <vector>

#include "bnstep/executor.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/region.hpp"

namespace bnstep::gradcheck_detail {

enum class Mode { True, Surrogate };

// Floating-point operations, roughly, of evaluating one element of an op.
inline constexpr double kFlopsPerElement = 10.0;

// Which piece each element of an op's changed box lies on, per node the
// perturbation reaches (in the order Perturbation::downstream lists them).
using Pieces = std::vector<std::vector<long long>>;

// Re-evaluates what a moved node changes, and the loss it is checked against:
// - whole: everything downstream of the node, and L = sum(output * seed);
// - local: only the node's consumers j, and L_i = sum_j <out_j, dout_j> (plus
//   <v, seed> for the output), whose derivative is the node's gradient when
//   every consumer's gradient dout_j is right; checking every node so proves
//   every gradient, from the output's seed down, at a cost per node that does
//   not grow with the graph above it (PyTorch's gradcheck checks ops so).
// The losses returned are changes from L at the trace's values, summed over
// the changed boxes only, so that round-off of the unchanged terms stays out.
class Perturbation {
public:
    // `consumers`: the node's consumers (Graph::consumers) for a local check; null for a whole one.
    Perturbation(const Graph& g, const Trace& t, std::size_t node, const std::vector<std::size_t>* consumers);

    const std::vector<std::size_t>& surrogates() const { return surrogates_; }
    // The nodes the perturbation can reach, in topological order.
    std::size_t downstream(std::size_t k) const { return order_[k]; }
    // The element of node downstream(k) at position `k_in_box` of its changed box in the last evaluation.
    std::size_t element_of(std::size_t k, std::size_t k_in_box) const;
    // Floating-point operations, roughly, of evaluating whole everything the node reaches.
    double work() const;

    // Sum |term| of L at the trace's values: the scale of its round-off.
    double loss_magnitude() const;

    // The change of L when element e of the node moves to `value`; the pieces
    // of the ops downstream go to `pieces` when given.
    double loss_at(std::size_t e, double value, Mode mode, Pieces* pieces);
    // The change of L when the node's whole value moves by t * direction.
    double loss_along(const Tensor& direction, double t, Mode mode, Pieces* pieces);

    // The elements of the node whose change can reach element e of downstream(k), if any.
    std::optional<Box> reaching(std::size_t k, std::size_t e) const;

private:
    struct Changed {
        bool active = false;
        Box box;       // of the node's value
        Tensor value;  // the box's elements
    };
    // Where node m's changes are kept: 0 for the moved node, k + 1 for downstream(k).
    std::optional<std::size_t> slot(std::size_t m) const;
    // Node m's changes, when the evaluation of a node should see them.
    const Changed* moved(std::size_t m) const;
    double evaluate(Mode mode, Pieces* pieces);
    void evaluate_node(std::size_t k, Mode mode, Pieces* pieces);
    // Sum over the changed box of slot `at`, node j, of (new - old) * weight.
    double change_of(std::size_t at, std::size_t j, const Tensor& weight) const;

    const Tensor& base(std::size_t m) const { return t_.nodes[m].value; }

    const Graph& g_;
    const Trace& t_;
    std::size_t node_;
    bool local_;
    std::vector<std::size_t> order_;
    std::vector<Changed> changed_;               // per slot
    std::vector<std::vector<Shape>> in_shapes_;  // per downstream node: its inputs' shapes
    std::vector<std::size_t> surrogates_;
};

}  // namespace bnstep::gradcheck_detail
