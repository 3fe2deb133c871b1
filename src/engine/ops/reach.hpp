#pragma once
// The reach rules (OpDef::reach) that several families share.
#include <functional>
#include <utility>
#include <vector>

#include "bnstep/op.hpp"

namespace bnstep::ops {

// `box` with the given axes widened to the whole of `shape`.
Box whole_along(Box box, const Shape& shape, const std::vector<std::size_t>& axes);

// Elementwise after NumPy broadcasting: an element reaches the same element,
// and every element it is broadcast to.
ReachRule elementwise_reach();

// One input, the output of its shape, each element depending on the whole of
// the given axes (softmax along its axis).
ReachRule along_axes_reach(std::function<std::vector<std::size_t>(const Shape& x, const Attrs& attrs)> axes);

// `attrs` with an integer attribute replaced, however the lesson stored it.
Attrs with_integer(Attrs attrs, const std::string& name, long long value);

// One spatial axis of a sliding window (convolution, pooling).
struct WindowAxis {
    long long kernel = 1, stride = 1, padding = 0, dilation = 1;
    // The outputs whose windows read an input in [lo, hi), within [0, outputs).
    std::pair<long long, long long> outputs_reading(long long lo, long long hi, long long outputs) const;
    // The inputs outputs [lo, hi) read, padding included (so the range may
    // start below 0 or end past the input): evaluated without padding on
    // that range, the window gives exactly those outputs.
    std::pair<long long, long long> inputs_read(long long lo, long long hi) const;
};

// Narrows axes 2 and 3 of `out` (N, C, Ho, Wo) to what `changed` (of the
// input, N, C, H, W) reaches, and of `in` to what `out_box` reads.
void reach_window(Box& out, const Box& changed, const Shape& out_shape, const WindowAxis& rows, const WindowAxis& cols);
void read_window(Box& in, const Box& out_box, const WindowAxis& rows, const WindowAxis& cols);

}  // namespace bnstep::ops
