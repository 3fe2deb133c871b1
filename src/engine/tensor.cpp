#include "bnstep/tensor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/error.hpp"

namespace bnstep {

std::size_t element_count(const Shape& shape) {
    std::size_t n = 1;
    for (std::size_t d : shape) n = saturating_mul(n, d);
    return n;
}

std::string shape_str(const Shape& shape) {
    if (shape.size() == 1) return fmt::format("({},)", shape[0]);
    return fmt::format("({})", fmt::join(shape, ", "));
}

std::string index_str(const Index& index) {
    if (index.empty()) return "";
    return fmt::format("[{}]", fmt::join(index, ","));
}

Tensor::Tensor(Shape shape, double fill) : shape_(std::move(shape)), data_(element_count(shape_), fill) {}

Tensor::Tensor(Shape shape, std::vector<double> data) : shape_(std::move(shape)), data_(std::move(data)) {
    if (data_.size() != element_count(shape_))
        throw InternalError(fmt::format("tensor of shape {} given {} values", shape_str(shape_), data_.size()));
}

std::size_t Tensor::offset(const Index& index) const {
    if (!contains(index))
        throw InternalError(fmt::format("index {} outside shape {}", index_str(index), shape_str(shape_)));
    std::size_t off = 0;
    for (std::size_t i = 0; i < shape_.size(); ++i) off = off * shape_[i] + index[i];
    return off;
}

Index Tensor::unravel(std::size_t flat) const {
    Index index(shape_.size());
    for (std::size_t i = shape_.size(); i-- > 0;) {
        index[i] = flat % shape_[i];
        flat /= shape_[i];
    }
    return index;
}

bool Tensor::contains(const Index& index) const {
    if (index.size() != shape_.size()) return false;
    for (std::size_t i = 0; i < shape_.size(); ++i)
        if (index[i] >= shape_[i]) return false;
    return true;
}

bool Tensor::all_equal_to(double v) const {
    for (double x : data_)
        if (x != v) return false;
    return true;
}

bool Tensor::is_uniform() const { return all_equal_to(data_.front()); }

std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
    const std::size_t rank = std::max(a.size(), b.size());
    Shape out(rank);
    for (std::size_t i = 0; i < rank; ++i) {
        const std::size_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
        const std::size_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
        if (da != db && da != 1 && db != 1) return std::nullopt;
        out[i] = da == 1 ? db : da;
    }
    return out;
}

std::size_t broadcast_source(const Shape& from, const Index& target) {
    const std::size_t lead = target.size() - from.size();
    std::size_t off = 0;
    for (std::size_t i = 0; i < from.size(); ++i) off = off * from[i] + (from[i] == 1 ? 0 : target[lead + i]);
    return off;
}

Tensor broadcast_to(const Tensor& t, const Shape& shape) {
    Tensor out(shape);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = t[broadcast_source(t.shape(), out.unravel(i))];
    return out;
}

Unbroadcast unbroadcast(const Tensor& grad, const Shape& shape) {
    const Shape& from = grad.shape();
    if (from == shape) return {grad, {}};
    if (broadcast_shapes(from, shape) != from)
        throw InternalError(fmt::format("cannot reduce gradient {} to {}", shape_str(from), shape_str(shape)));
    Unbroadcast r{Tensor(shape), {}};
    const std::size_t lead = from.size() - shape.size();
    for (std::size_t i = 0; i < from.size(); ++i)
        if (i < lead || (shape[i - lead] == 1 && from[i] != 1)) r.axes.push_back(i);
    for (std::size_t i = 0; i < grad.size(); ++i) r.value[broadcast_source(shape, grad.unravel(i))] += grad[i];
    return r;
}

Tensor map(const Tensor& a, const std::function<double(double)>& f) {
    Tensor out(a.shape());
    for (std::size_t i = 0; i < a.size(); ++i) out[i] = f(a[i]);
    return out;
}

Tensor zip(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
    const auto shape = broadcast_shapes(a.shape(), b.shape());
    if (!shape)
        throw InternalError(
            fmt::format("shapes {} and {} do not broadcast", shape_str(a.shape()), shape_str(b.shape())));
    Tensor out(*shape);
    if (a.shape() == b.shape()) {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = f(a[i], b[i]);
        return out;
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
        const Index at = out.unravel(i);
        out[i] = f(a[broadcast_source(a.shape(), at)], b[broadcast_source(b.shape(), at)]);
    }
    return out;
}

Shape insert_axis(const Shape& reduced, std::size_t axis, std::size_t size, bool keepdims) {
    Shape s = reduced;
    if (keepdims)
        s[axis] = size;
    else
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(axis), size);
    return s;
}

Tensor sum_axis(const Tensor& t, std::size_t axis, bool keepdims) {
    Shape kept = t.shape();
    kept[axis] = 1;
    Tensor out(kept);
    // t as (outer, n, inner) around the axis; each output element sums its n inputs in order.
    std::size_t outer = 1, inner = 1;
    for (std::size_t a = 0; a < axis; ++a) outer *= t.shape()[a];
    for (std::size_t a = axis + 1; a < t.shape().size(); ++a) inner *= t.shape()[a];
    const std::size_t n = t.shape()[axis];
    for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t a = 0; a < n; ++a)
            for (std::size_t k = 0; k < inner; ++k) out[o * inner + k] += t[(o * n + a) * inner + k];
    if (keepdims) return out;
    Shape dropped = t.shape();
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(axis));
    return Tensor(dropped, std::move(out.data()));
}

}  // namespace bnstep
