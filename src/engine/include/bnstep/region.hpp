#pragma once
// A box of a tensor's elements: per axis a half-open range [lo, hi). A box
// may reach past a tensor's edges (a convolution's window over its padding);
// slicing fills what lies outside. The gradient check recomputes only the box
// of each node that a perturbation can change (OpDef::reach).
#include <array>
#include <initializer_list>
#include <vector>

#include "bnstep/tensor.hpp"

namespace bnstep {

// Per-axis bounds of a box, of at most kMaxRank axes, kept in place: a
// gradient check makes millions of boxes and allocates none of them.
class Bounds {
public:
    Bounds() = default;
    Bounds(std::initializer_list<long long> values) {
        for (long long v : values) push_back(v);
    }
    std::size_t size() const { return size_; }
    long long& operator[](std::size_t a) { return v_[a]; }
    long long operator[](std::size_t a) const { return v_[a]; }
    long long* begin() { return v_.data(); }
    long long* end() { return v_.data() + size_; }
    const long long* begin() const { return v_.data(); }
    const long long* end() const { return v_.data() + size_; }
    void push_back(long long v) { v_[size_++] = v; }
    void insert(std::size_t at, long long v) {
        for (std::size_t a = size_++; a > at; --a) v_[a] = v_[a - 1];
        v_[at] = v;
    }
    void erase(std::size_t at) {
        for (std::size_t a = at; a + 1 < size_; ++a) v_[a] = v_[a + 1];
        --size_;
    }
    bool operator==(const Bounds& other) const {
        for (std::size_t a = 0; a < size_; ++a)
            if (v_[a] != other.v_[a]) return false;
        return size_ == other.size_;
    }

private:
    std::array<long long, kMaxRank + 1> v_{};
    std::size_t size_ = 0;
};

struct Box {
    Bounds lo, hi;

    static Box whole(const Shape& shape);
    static Box element(const Shape& shape, std::size_t flat);
    std::size_t rank() const { return lo.size(); }
    long long extent(std::size_t axis) const { return hi[axis] - lo[axis]; }
    bool empty() const;
    std::size_t count() const;                // elements inside; 0 when empty
    Shape shape() const;                      // the extents, as a slice's shape
    bool is_whole(const Shape& shape) const;  // exactly the elements of a tensor of this shape
    bool operator==(const Box& other) const = default;
};

// The smallest box holding both (of one rank).
Box hull(const Box& a, const Box& b);
// `box` cut down to the elements of a tensor of `shape`.
Box clip(const Box& box, const Shape& shape);
Box intersect(const Box& a, const Box& b);

// The elements of `t` inside `box`, in a tensor of the box's shape; elements
// outside `t` read `fill`.
Tensor slice(const Tensor& t, const Box& box, double fill);
// Copies the elements of `part` from `from`, which holds box `from_box` of
// some tensor, into `to`, which holds `to_box` of it; `part` lies in both.
void copy_part(const Tensor& from, const Box& from_box, Tensor& to, const Box& to_box, const Box& part);
// The offset in a tensor of `shape` of position `k` of box `box`'s slice.
std::size_t offset_of(const Box& box, std::size_t k, const Shape& shape);

// Calls f(offset in a tensor of `shape`, position in the box's slice) for each
// element of `box` that lies inside the tensor, in row-major order of the box.
template <class F>
void for_each_in(const Box& box, const Shape& shape, F&& f) {
    if (box.empty()) return;
    const std::size_t rank = box.rank();
    if (rank == 0) {
        f(std::size_t{0}, std::size_t{0});
        return;
    }
    // The last axis is walked as a run; the others by an odometer.
    const std::size_t last = rank - 1;
    std::array<std::size_t, kMaxRank + 1> stride{};
    stride[last] = 1;
    for (std::size_t a = last; a > 0; --a) stride[a - 1] = stride[a] * shape[a];
    const long long lo = box.lo[last], hi = box.hi[last];
    const long long from = lo < 0 ? 0 : lo;
    const long long to = hi > static_cast<long long>(shape[last]) ? static_cast<long long>(shape[last]) : hi;
    const auto row = static_cast<std::size_t>(hi - lo);
    std::array<long long, kMaxRank + 1> at{};
    for (std::size_t a = 0; a < last; ++a) at[a] = box.lo[a];
    for (std::size_t k = 0;; k += row) {
        bool inside = true;
        std::size_t offset = 0;
        for (std::size_t a = 0; a < last; ++a) {
            inside = inside && at[a] >= 0 && at[a] < static_cast<long long>(shape[a]);
            offset += static_cast<std::size_t>(at[a]) * stride[a];
        }
        if (inside)
            for (long long c = from; c < to; ++c)
                f(offset + static_cast<std::size_t>(c), k + static_cast<std::size_t>(c - lo));
        std::size_t a = last;
        while (a > 0 && ++at[a - 1] == box.hi[a - 1]) {
            at[a - 1] = box.lo[a - 1];
            --a;
        }
        if (a == 0) return;
    }
}

}  // namespace bnstep
