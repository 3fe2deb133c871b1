#include "ops/softmax_math.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace bnstep::ops {

AxisRows::AxisRows(const Shape& shape, std::size_t axis) {
    for (std::size_t a = 0; a < shape.size(); ++a) {
        if (a < axis) outer *= shape[a];
        if (a > axis) inner *= shape[a];
    }
    len = shape.empty() ? 1 : shape[axis];
}

std::size_t axis_attr(const Shape& shape, const Attrs& attrs) {
    const long long rank = static_cast<long long>(shape.size());
    const long long axis = attrs.integer("axis");
    if (rank == 0) throw ShapeError("softmax needs at least one axis, got a scalar");
    if (axis < -rank || axis >= rank)
        throw ShapeError(fmt::format("axis {} is out of range for an input of shape {}", axis, shape_str(shape)));
    return static_cast<std::size_t>(axis < 0 ? axis + rank : axis);
}

double temperature_attr(const Attrs& attrs) {
    const double t = attrs.number("temperature");
    if (!(t > 0.0) || !std::isfinite(t))
        throw AttrError(fmt::format("temperature must be a positive number, got {}", t));
    return t;
}

double SoftmaxRow::log_softmax(std::size_t k) const { return scaled[k] - max - std::log(sum); }

double SoftmaxRow::logsumexp() const { return max + std::log(sum); }

SoftmaxRow softmax_row(const Tensor& x, const AxisRows& rows, std::size_t row, double temperature) {
    SoftmaxRow r;
    r.scaled.resize(rows.len);
    for (std::size_t k = 0; k < rows.len; ++k) r.scaled[k] = x[rows.at(row, k)] / temperature;
    r.max = r.scaled[0];
    for (double v : r.scaled) r.max = std::max(r.max, v);
    r.exps.resize(rows.len);
    for (std::size_t k = 0; k < rows.len; ++k) {
        r.exps[k] = std::exp(r.scaled[k] - r.max);
        r.sum += r.exps[k];
    }
    return r;
}

namespace {

template <class Element>
Tensor along(const Tensor& x, std::size_t axis, double temperature, Element element) {
    const AxisRows rows(x.shape(), axis);
    Tensor out(x.shape());
    for (std::size_t row = 0; row < rows.count(); ++row) {
        const SoftmaxRow r = softmax_row(x, rows, row, temperature);
        for (std::size_t k = 0; k < rows.len; ++k) out[rows.at(row, k)] = element(r, k);
    }
    return out;
}

}  // namespace

Tensor softmax_along(const Tensor& x, std::size_t axis, double temperature) {
    return along(x, axis, temperature, [](const SoftmaxRow& r, std::size_t k) { return r.softmax(k); });
}

Tensor log_softmax_along(const Tensor& x, std::size_t axis, double temperature) {
    return along(x, axis, temperature, [](const SoftmaxRow& r, std::size_t k) { return r.log_softmax(k); });
}

std::string scaled_operand(double x, double temperature, const NumFmt& num) {
    return temperature == 1.0 ? num.operand(x) : fmt::format("{}/{}", num.operand(x), temperature);
}

std::string scaled_element(const std::string& name, const Index& at, std::size_t axis, double temperature) {
    std::vector<std::string> parts;
    for (std::size_t a = 0; a < at.size(); ++a) parts.push_back(a == axis ? "k" : std::to_string(at[a]));
    const std::string e = fmt::format("{}[{}]", name, fmt::join(parts, ","));
    return temperature == 1.0 ? e : fmt::format("{}/{}", e, temperature);
}

}  // namespace bnstep::ops
