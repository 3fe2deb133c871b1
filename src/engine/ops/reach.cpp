#include "ops/reach.hpp"

#include <algorithm>
#include <tuple>

namespace bnstep::ops {

Box whole_along(Box box, const Shape& shape, const std::vector<std::size_t>& axes) {
    for (std::size_t a : axes) {
        box.lo[a] = 0;
        box.hi[a] = static_cast<long long>(shape[a]);
    }
    return box;
}

ReachRule elementwise_reach() {
    return {.affects =
                [](const std::vector<Shape>& in, const Shape& out, const Attrs&, std::size_t slot, const Box& changed) {
                    const Shape& from = in[slot];
                    const std::size_t lead = out.size() - from.size();
                    Box b = Box::whole(out);
                    for (std::size_t a = lead; a < out.size(); ++a)
                        if (from[a - lead] == out[a]) {
                            b.lo[a] = changed.lo[a - lead];
                            b.hi[a] = changed.hi[a - lead];
                        }
                    return b;
                },
            .reads =
                [](const std::vector<Shape>& in, const Shape& out, const Attrs&, const Box& out_box) {
                    std::vector<Box> boxes;
                    for (const Shape& from : in) {
                        const std::size_t lead = out.size() - from.size();
                        Box b = Box::whole(from);
                        for (std::size_t a = 0; a < from.size(); ++a)
                            if (from[a] == out[a + lead]) {
                                b.lo[a] = out_box.lo[a + lead];
                                b.hi[a] = out_box.hi[a + lead];
                            }
                        boxes.push_back(b);
                    }
                    return boxes;
                }};
}

ReachRule along_axes_reach(std::function<std::vector<std::size_t>(const Shape& x, const Attrs& attrs)> axes) {
    return {.affects = [axes](const std::vector<Shape>& in, const Shape&, const Attrs& attrs, std::size_t,
                              const Box& changed) { return whole_along(changed, in[0], axes(in[0], attrs)); },
            .reads =
                [axes](const std::vector<Shape>& in, const Shape&, const Attrs& attrs, const Box& out_box) {
                    return std::vector<Box>{whole_along(out_box, in[0], axes(in[0], attrs))};
                }};
}

Attrs with_integer(Attrs attrs, const std::string& name, long long value) {
    attrs.set(name, static_cast<double>(value));
    attrs.set_integer(name, value);
    return attrs;
}

std::pair<long long, long long> WindowAxis::outputs_reading(long long lo, long long hi, long long outputs) const {
    // Output i reads inputs i*stride - padding + r*dilation, r in [0, kernel).
    const long long span = (kernel - 1) * dilation;
    const long long first = lo + padding - span;
    const long long from = first <= 0 ? 0 : (first + stride - 1) / stride;
    const long long to = (hi - 1 + padding) / stride + 1;
    return {std::min(from, outputs), std::clamp(to, 0LL, outputs)};
}

std::pair<long long, long long> WindowAxis::inputs_read(long long lo, long long hi) const {
    return {lo * stride - padding, (hi - 1) * stride - padding + (kernel - 1) * dilation + 1};
}

void reach_window(Box& out, const Box& changed, const Shape& out_shape, const WindowAxis& rows,
                  const WindowAxis& cols) {
    std::tie(out.lo[2], out.hi[2]) =
        rows.outputs_reading(changed.lo[2], changed.hi[2], static_cast<long long>(out_shape[2]));
    std::tie(out.lo[3], out.hi[3]) =
        cols.outputs_reading(changed.lo[3], changed.hi[3], static_cast<long long>(out_shape[3]));
}

void read_window(Box& in, const Box& out_box, const WindowAxis& rows, const WindowAxis& cols) {
    std::tie(in.lo[2], in.hi[2]) = rows.inputs_read(out_box.lo[2], out_box.hi[2]);
    std::tie(in.lo[3], in.hi[3]) = cols.inputs_read(out_box.lo[3], out_box.hi[3]);
}

}  // namespace bnstep::ops
