#pragma once
// Finite differences for ops whose backward is a straight-through estimator:
// the op's surrogate, anchored at the forward inputs, is what the backward
// differentiates, so it is what the numeric gradient moves.
#include <vector>

#include "op_harness.hpp"

namespace bnstep::testing {

// d/d(inputs[slot]) of sum(upstream * surrogate(moved inputs; anchored at inputs)),
// by centred differences.
inline Tensor surrogate_numeric(const OpDef& op, const std::vector<Tensor>& inputs, const Attrs& attrs,
                                const Tensor& upstream, std::size_t slot, double h = 1e-6) {
    REQUIRE(op.surrogate.has_value());
    const OpCall base = call_for(inputs, attrs, nullptr);
    std::vector<Tensor> moved = inputs;
    auto loss = [&] {
        const Tensor y = op.surrogate->forward(call_for(moved, attrs, nullptr), base);
        double l = 0;
        for (std::size_t i = 0; i < y.size(); ++i) l += y[i] * upstream[i];
        return l;
    };
    Tensor n(inputs[slot].shape());
    for (std::size_t e = 0; e < n.size(); ++e) {
        const double x = inputs[slot][e];
        moved[slot][e] = x + h;
        const double plus = loss();
        moved[slot][e] = x - h;
        const double minus = loss();
        moved[slot][e] = x;
        n[e] = (plus - minus) / (2 * h);
    }
    return n;
}

// The numeric gradients a backward rule must match: of the surrogate for a
// straight-through op, of the op itself (as run_op computed them) otherwise.
inline std::vector<Tensor> reference_gradients(const OpDef& op, const OpRun& r, const Attrs& attrs) {
    if (!op.surrogate) return r.numeric;
    std::vector<Tensor> n;
    for (std::size_t k = 0; k < r.inputs.size(); ++k)
        n.push_back(op.rule(k).differentiable ? surrogate_numeric(op, r.inputs, attrs, r.upstream, k, 1e-5)
                                              : Tensor(r.inputs[k].shape()));
    return n;
}

}  // namespace bnstep::testing
