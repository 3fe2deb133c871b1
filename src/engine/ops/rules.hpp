#pragma once
// Gradient rules that several op families build the same way: the anchored
// surrogate of a straight-through estimator, and the VJP upstream * local.
#include <functional>
#include <string>

#include "bnstep/op.hpp"

namespace bnstep::ops {

// The surrogate of an op whose output has its one input's shape: the op at
// the forward input x0, moving as s: out(x0) + (s(x) - s(x0)). Its
// derivative is s', the estimator the backward uses; gradient checks
// differentiate it. `pieces`: s's own kinks (may be empty).
Surrogate anchored_surrogate(std::function<std::string(const Attrs&)> name, ForwardFn forward,
                             std::function<double(double x, const Attrs& attrs)> s, PiecesFn pieces);

// The VJP of an input whose local gradient has the shape of the upstream
// gradient: upstream * local, element by element.
VjpFn upstream_times(LocalFn local);

}  // namespace bnstep::ops
