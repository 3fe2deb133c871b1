#pragma once
// A dense, row-major tensor of doubles, rank 0 to 4, with NumPy broadcasting.
// This is the one place that undoes broadcasting (unbroadcast).
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bnstep {

using Shape = std::vector<std::size_t>;
using Index = std::vector<std::size_t>;

inline constexpr std::size_t kMaxRank = 4;

// Shape arithmetic saturates: a count past the largest size_t stays there,
// so that it compares above every limit instead of wrapping to a small one.
inline std::size_t saturating_mul(std::size_t a, std::size_t b) {
    std::size_t r = 0;
    return __builtin_mul_overflow(a, b, &r) ? static_cast<std::size_t>(-1) : r;
}
inline std::size_t saturating_add(std::size_t a, std::size_t b) {
    std::size_t r = 0;
    return __builtin_add_overflow(a, b, &r) ? static_cast<std::size_t>(-1) : r;
}

// The product of the dimensions, saturated (see above).
std::size_t element_count(const Shape& shape);
std::string shape_str(const Shape& shape);  // "(4, 3)", "()" for a scalar
std::string index_str(const Index& index);  // "[1,2]", "" for a scalar

class Tensor {
public:
    Tensor() : data_(1, 0.0) {}  // a rank-0 zero
    explicit Tensor(Shape shape, double fill = 0.0);
    Tensor(Shape shape, std::vector<double> data);
    static Tensor scalar(double v) { return Tensor(Shape{}, std::vector<double>{v}); }

    const Shape& shape() const { return shape_; }
    std::size_t rank() const { return shape_.size(); }
    std::size_t size() const { return data_.size(); }

    double operator[](std::size_t flat) const { return data_[flat]; }
    double& operator[](std::size_t flat) { return data_[flat]; }
    double at(const Index& index) const { return data_[offset(index)]; }
    double& at(const Index& index) { return data_[offset(index)]; }

    std::size_t offset(const Index& index) const;
    Index unravel(std::size_t flat) const;
    bool contains(const Index& index) const;

    const std::vector<double>& data() const { return data_; }
    std::vector<double>& data() { return data_; }

    bool all_equal_to(double v) const;
    bool is_uniform() const;  // every element the same

private:
    Shape shape_;
    std::vector<double> data_;
};

// NumPy's rule: align trailing axes; sizes must match or one of them be 1.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// The flat offset in a tensor of shape `from` that element `target` of the
// broadcast result reads.
std::size_t broadcast_source(const Shape& from, const Index& target);

Tensor broadcast_to(const Tensor& t, const Shape& shape);

// Undoing broadcasting: sum `grad` (in the broadcast shape) down to `shape`.
// `axes` are the axes of grad's shape that were summed.
struct Unbroadcast {
    Tensor value;
    std::vector<std::size_t> axes;
};
Unbroadcast unbroadcast(const Tensor& grad, const Shape& shape);

Tensor map(const Tensor& a, const std::function<double(double)>& f);
// Elementwise with broadcasting; the shapes must be broadcastable.
Tensor zip(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f);

Tensor sum_axis(const Tensor& t, std::size_t axis, bool keepdims);
// The shape `t` had before a reduction over `axis` (keepdims or not) re-inserted.
Shape insert_axis(const Shape& reduced, std::size_t axis, std::size_t size, bool keepdims);

}  // namespace bnstep
