// One random node of an op (random_graph_builder.hpp), the layer families:
// convolution and the ops that move numbers around (shape). Shapes and
// attributes only; Builder::make applies the inputs' domains.
#include <algorithm>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "random_graph_builder.hpp"

namespace bnstep::fuzz::detail {

std::optional<std::size_t> Builder::gen_conv() {
    const std::size_t cap = opt_.max_elements;
    const std::size_t x = of_rank(4);
    const Shape s = shape(x);
    const std::size_t c = s[1], h = s[2], w = s[3];
    std::vector<std::size_t> proper;  // groups other than 1 and C
    for (std::size_t d : divisors(c))
        if (d != 1 && d != c) proper.push_back(d);
    const double u = rng_.uniform();
    const std::size_t groups = u < 0.4 ? 1 : (u < 0.7 || proper.empty()) ? c : choose(proper);
    const std::size_t k = groups * static_cast<std::size_t>(between(1, std::max<long long>(1, 4 / (long long)groups)));
    long long stride = 1, padding = 0, dilation = 1, r = 1, q = 1;
    for (int attempt = 0; attempt < 8; ++attempt) {
        stride = chance(0.3) ? 2 : 1;
        padding = chance(0.4) ? 1 : 0;
        dilation = chance(0.25) ? 2 : 1;
        r = between(1, 3), q = chance(0.7) ? r : between(1, 3);
        const bool fits = (long long)h + 2 * padding >= dilation * (r - 1) + 1 &&
                          (long long)w + 2 * padding >= dilation * (q - 1) + 1;
        if (fits) break;
        stride = 1, padding = 0, dilation = 1, r = 1, q = 1;
    }
    // Geometries at the edge of what is legal: a kernel exactly as large as
    // the padded input (one output, most taps on padding), and a stride far
    // past the input (2^20 to 2^62: one window per axis).
    if (chance(0.15)) {
        padding = between(0, 2), dilation = 1;
        r = (long long)h + 2 * padding, q = (long long)w + 2 * padding;
        feature("conv2d kernel spanning the padded input");
    }
    if (chance(0.1)) {
        stride = 1LL << between(20, 62);
        feature("conv2d stride past the input");
    }
    const std::size_t ho = (h + 2 * padding - dilation * (r - 1) - 1) / stride + 1;
    const std::size_t wo = (w + 2 * padding - dilation * (q - 1) - 1) / stride + 1;
    if (s[0] * k * ho * wo > cap) return std::nullopt;
    const Shape ws{k, c / groups, (std::size_t)r, (std::size_t)q};
    if (element_count(ws) > cap) return std::nullopt;
    std::size_t weights;
    if (auto i = pick([&](std::size_t j) { return shape(j) == ws; }); i && chance(0.3))
        weights = *i;
    else
        weights = leaf(ws, Range::Signed, chance(0.8) ? "param" : nullptr);
    std::vector<In> in{x, weights};
    if (chance(0.5)) {
        const Shape bs{k};
        if (auto i = pick([&](std::size_t j) { return shape(j) == bs; }); i && chance(0.3))
            in.push_back(*i);
        else
            in.push_back(leaf(bs));
        feature("conv2d bias");
    }
    json attrs;
    put(attrs, "stride", stride, 1);
    put(attrs, "padding", padding, 0);
    put(attrs, "dilation", dilation, 1);
    put(attrs, "groups", (long long)groups, 1);
    if (stride > 1) feature("conv2d stride 2");
    if (padding > 0) feature("conv2d padding 1");
    if (dilation > 1) feature("conv2d dilation 2");
    if (groups > 1) feature(groups == c ? "conv2d depthwise" : "conv2d groups>1");
    if (r != q) feature("conv2d rectangular kernel");
    return make("conv2d", in, attrs);
}

std::optional<std::size_t> Builder::gen_concat() {
    const std::size_t cap = opt_.max_elements;
    const std::size_t x = any_with_axes();
    const Shape s = shape(x);
    const long long r = static_cast<long long>(s.size());
    const std::size_t axis = below(s.size());
    std::vector<In> in{x};
    std::size_t total = element_count(s);
    const std::size_t pieces = chance(0.3) ? 3 : 2;
    auto fits_except_axis = [&](const Shape& t) {
        if (t.size() != s.size()) return false;
        for (std::size_t d = 0; d < s.size(); ++d)
            if (d != axis && t[d] != s[d]) return false;
        return true;
    };
    const std::size_t slice = element_count(s) / s[axis];  // elements per index along axis
    while (in.size() < pieces) {
        auto fits = [&](std::size_t j) { return total + element_count(shape(j)) <= cap; };
        const double u = rng_.uniform();
        std::optional<std::size_t> found;
        if (u < 0.2 && fits(x)) {
            found = x;
        } else if (u < 0.6) {
            found = pick([&](std::size_t j) { return fits_except_axis(shape(j)) && fits(j); });
        }
        if (!found) {
            if (total + slice > cap) return std::nullopt;
            Shape t = s;
            t[axis] = static_cast<std::size_t>(between(1, std::min<long long>(3, (long long)((cap - total) / slice))));
            found = leaf(t);
        }
        total += element_count(shape(*found));
        in.push_back(*found);
    }
    json attrs;
    put(attrs, "axis", chance(0.3) ? (long long)axis - r : (long long)axis, 1);
    if (pieces == 3) feature("concat of 3");
    return make("concat", in, attrs);
}

std::optional<std::size_t> Builder::gen_shape(const std::string& op) {
    if (op == "split") {
        const std::size_t x = any_with_axes();
        const Shape s = shape(x);
        const long long r = static_cast<long long>(s.size());
        std::vector<std::size_t> wide;
        for (std::size_t d = 0; d < s.size(); ++d)
            if (s[d] > 1) wide.push_back(d);
        const std::size_t axis = !wide.empty() && chance(0.9) ? choose(wide) : below(s.size());
        const long long parts = (long long)choose(divisors(s[axis]));
        const long long index = between(0, parts - 1);
        json attrs;
        put(attrs, "axis", chance(0.3) ? (long long)axis - r : (long long)axis, 1);
        put(attrs, "parts", parts, 2);
        attrs["index"] = index;
        return make("split", {x}, attrs);
    }
    if (op == "reshape") {
        const std::size_t x = any();
        const Shape t = factor(element_count(shape(x)), static_cast<std::size_t>(between(1, 4)));
        std::vector<long long> want(t.begin(), t.end());
        if (chance(0.3)) {
            want[below(want.size())] = -1;
            feature("reshape -1");
        }
        return make("reshape", {x}, json{{"shape", want}});
    }
    if (op == "flatten") {
        const std::size_t x = any_with_axes();
        const long long r = static_cast<long long>(shape(x).size());
        const long long start = between(0, r - 1);
        json attrs;
        put(attrs, "start", chance(0.3) ? start - r : start, 1);
        return make("flatten", {x}, attrs);
    }
    if (op == "transpose") {
        const std::size_t x = any_with_axes();
        const long long r = static_cast<long long>(shape(x).size());
        std::vector<long long> perm(static_cast<std::size_t>(r));
        std::iota(perm.begin(), perm.end(), 0LL);
        for (std::size_t k = perm.size(); k > 1; --k) std::swap(perm[k - 1], perm[below(k)]);
        for (auto& p : perm)
            if (chance(0.15)) p -= r;
        return make("transpose", {x}, json{{"perm", perm}});
    }
    if (op == "channel_shuffle") {
        const std::size_t x = of_rank(4);
        json attrs;
        const std::size_t groups = choose(divisors(shape(x)[1]));
        if (groups != 1 && groups != shape(x)[1]) feature("channel_shuffle with 1 < groups < C");
        attrs["groups"] = (long long)groups;
        return make("channel_shuffle", {x}, attrs);
    }
    throw std::logic_error("generator bug: no shape op " + op);
}

}  // namespace bnstep::fuzz::detail
