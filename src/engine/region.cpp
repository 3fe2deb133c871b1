#include "bnstep/region.hpp"

#include <algorithm>

namespace bnstep {

Box Box::whole(const Shape& shape) {
    Box b;
    for (std::size_t n : shape) {
        b.lo.push_back(0);
        b.hi.push_back(static_cast<long long>(n));
    }
    return b;
}

Box Box::element(const Shape& shape, std::size_t flat) {
    Box b;
    for (std::size_t a = 0; a < shape.size(); ++a) b.lo.push_back(0);
    for (std::size_t a = shape.size(); a-- > 0;) {
        b.lo[a] = static_cast<long long>(flat % shape[a]);
        flat /= shape[a];
    }
    b.hi = b.lo;
    for (long long& h : b.hi) ++h;
    return b;
}

bool Box::empty() const {
    for (std::size_t a = 0; a < rank(); ++a)
        if (hi[a] <= lo[a]) return true;
    return false;
}

std::size_t Box::count() const {
    if (empty()) return 0;
    std::size_t n = 1;
    for (std::size_t a = 0; a < rank(); ++a) n *= static_cast<std::size_t>(extent(a));
    return n;
}

Shape Box::shape() const {
    Shape s;
    for (std::size_t a = 0; a < rank(); ++a) s.push_back(static_cast<std::size_t>(std::max(0LL, extent(a))));
    return s;
}

bool Box::is_whole(const Shape& shape) const {
    if (shape.size() != rank()) return false;
    for (std::size_t a = 0; a < rank(); ++a)
        if (lo[a] != 0 || hi[a] != static_cast<long long>(shape[a])) return false;
    return true;
}

Box hull(const Box& a, const Box& b) {
    Box h = a;
    for (std::size_t k = 0; k < a.rank(); ++k) {
        h.lo[k] = std::min(a.lo[k], b.lo[k]);
        h.hi[k] = std::max(a.hi[k], b.hi[k]);
    }
    return h;
}

Box intersect(const Box& a, const Box& b) {
    Box h = a;
    for (std::size_t k = 0; k < a.rank(); ++k) {
        h.lo[k] = std::max(a.lo[k], b.lo[k]);
        h.hi[k] = std::min(a.hi[k], b.hi[k]);
    }
    return h;
}

Box clip(const Box& box, const Shape& shape) { return intersect(box, Box::whole(shape)); }

void copy_part(const Tensor& from, const Box& from_box, Tensor& to, const Box& to_box, const Box& part) {
    // Positions of `part` relative to each box, walked as a box of its own shape.
    Box rel_from = part, rel_to = part;
    for (std::size_t a = 0; a < part.rank(); ++a) {
        rel_from.lo[a] -= from_box.lo[a];
        rel_from.hi[a] -= from_box.lo[a];
        rel_to.lo[a] -= to_box.lo[a];
        rel_to.hi[a] -= to_box.lo[a];
    }
    std::vector<std::size_t> targets;
    targets.reserve(part.count());
    for_each_in(rel_to, to_box.shape(), [&](std::size_t offset, std::size_t) { targets.push_back(offset); });
    for_each_in(rel_from, from_box.shape(), [&](std::size_t offset, std::size_t k) { to[targets[k]] = from[offset]; });
}

std::size_t offset_of(const Box& box, std::size_t k, const Shape& shape) {
    std::size_t offset = 0, stride = 1;
    for (std::size_t a = box.rank(); a-- > 0;) {
        const auto extent = static_cast<std::size_t>(box.extent(a));
        offset += (static_cast<std::size_t>(box.lo[a]) + k % extent) * stride;
        k /= extent;
        stride *= shape[a];
    }
    return offset;
}

Tensor slice(const Tensor& t, const Box& box, double fill) {
    Tensor s(box.shape(), fill);
    for_each_in(box, t.shape(), [&](std::size_t offset, std::size_t k) { s[k] = t[offset]; });
    return s;
}

}  // namespace bnstep
