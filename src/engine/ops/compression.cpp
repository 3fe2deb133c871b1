#include "ops/compression.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numeric>

#include "ops/explain.hpp"

namespace bnstep::ops {

AttrSpec ste_attr(Ste fallback) {
    return {"ste",
            AttrType::Choice,
            static_cast<double>(fallback),
            "the straight-through estimator of sign in the backward pass: identity passes the gradient unchanged, "
            "hardtanh only where |x| <= 1",
            {},
            {"identity", "hardtanh"}};
}

Ste ste_of(const Attrs& attrs) { return attrs.integer("ste") == 0 ? Ste::Identity : Ste::Hardtanh; }

std::string ste_name(const Attrs& attrs) { return ste_of(attrs) == Ste::Identity ? "identity" : "hardtanh"; }

double ste_s(Ste ste, double x) { return ste == Ste::Identity ? x : unit_clip(x); }

double ste_derivative(Ste ste, double x) { return ste == Ste::Identity || std::fabs(x) <= 1 ? 1.0 : 0.0; }

std::string ste_local_text(Ste ste, const std::string& var) {
    return ste == Ste::Identity ? "1" : fmt::format("1 if |{}| <= 1 else 0", var);
}

Shape weights_and_mask(const std::vector<Shape>& in) {
    if (in.size() == 2 && in[1] != in[0])
        throw ShapeError(fmt::format("mask must have the shape of W, {}, got {}", shape_str(in[0]), shape_str(in[1])));
    return in[0];
}

std::vector<bool> read_mask(const Tensor& mask, const std::string& meaning_of_one) {
    std::vector<bool> flags(mask.size());
    for (std::size_t i = 0; i < mask.size(); ++i) {
        if (mask[i] != 0.0 && mask[i] != 1.0)
            throw ValueError(fmt::format("mask{} is {}: a mask holds only 0 and 1 (1 = {})", index_str(mask.unravel(i)),
                                         NumFmt{6}(mask[i]), meaning_of_one));
        flags[i] = mask[i] == 1.0;
    }
    return flags;
}

std::size_t count_of(double fraction, std::size_t n) {
    return std::min(n, static_cast<std::size_t>(std::round(fraction * static_cast<double>(n))));
}

Tensor flags_as(const Shape& shape, const std::vector<bool>& flags, bool when) {
    Tensor t(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = flags[i] == when ? 1.0 : 0.0;
    return t;
}

void check_fraction(const Attrs& attrs, const std::string& name) {
    const double f = attrs.number(name);
    if (!(f >= 0.0 && f <= 1.0)) throw AttrError(fmt::format("{} must be from 0 to 1, got {}", name, f));
}

std::vector<bool> by_magnitude(const Tensor& w, std::size_t count, bool largest) {
    // The first `count` in the order of |w| (descending when largest), equal
    // magnitudes by index: a strict order, so partitioning picks what a stable
    // sort would, in linear time (the gradient check calls this per perturbation).
    std::vector<std::pair<double, std::size_t>> order(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
        const double m = std::isnan(w[i]) ? INFINITY : std::fabs(w[i]);  // a strict order even then
        order[i] = {largest ? -m : m, i};
    }
    std::vector<bool> chosen(w.size(), false);
    if (count == 0) return chosen;
    if (count < order.size()) std::nth_element(order.begin(), order.begin() + std::ptrdiff_t(count - 1), order.end());
    for (std::size_t k = 0; k < count && k < order.size(); ++k) chosen[order[k].second] = true;
    return chosen;
}

std::string magnitude_tie(const Tensor& w, std::size_t count, bool largest) {
    if (count == 0 || count >= w.size()) return {};
    std::vector<double> m(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) m[i] = std::fabs(w[i]);
    std::sort(m.begin(), m.end());
    if (largest) std::reverse(m.begin(), m.end());
    if (m[count - 1] != m[count]) return {};
    return fmt::format("a tie of |W| = {} at the boundary of the {} {}", m[count], count,
                       largest ? "largest" : "smallest");
}

namespace {

std::size_t nearest_by_scan(double w, const Tensor& c) {
    std::size_t best = 0;
    for (std::size_t k = 1; k < c.size(); ++k)
        if (std::fabs(w - c[k]) < std::fabs(w - c[best])) best = k;
    return best;
}

// Only the values on either side of w can be nearest; among the equally near
// ones (equal values, or a tie across w) the lowest index wins.
std::size_t nearest_in_sorted(double w, const Tensor& c, const std::vector<std::size_t>& order) {
    const auto above =
        std::lower_bound(order.begin(), order.end(), w, [&c](std::size_t k, double v) { return c[k] < v; });
    double best = INFINITY;
    if (above != order.end()) best = std::fabs(w - c[*above]);
    if (above != order.begin()) best = std::min(best, std::fabs(w - c[*std::prev(above)]));
    std::size_t index = c.size();
    for (auto it = above; it != order.end() && std::fabs(w - c[*it]) == best; ++it) index = std::min(index, *it);
    for (auto it = above; it != order.begin() && std::fabs(w - c[*std::prev(it)]) == best; --it)
        index = std::min(index, *std::prev(it));
    return index == c.size() ? nearest_by_scan(w, c) : index;  // (w NaN)
}

}  // namespace

std::vector<std::size_t> nearest_indices(const Tensor& w, const Tensor& c) {
    std::vector<std::size_t> idx(w.size());
    const bool orderable = std::none_of(c.data().begin(), c.data().end(), [](double v) { return std::isnan(v); });
    std::vector<std::size_t> order(c.size());
    std::iota(order.begin(), order.end(), 0);
    if (orderable)
        std::stable_sort(order.begin(), order.end(), [&c](std::size_t a, std::size_t b) { return c[a] < c[b]; });
    for (std::size_t i = 0; i < w.size(); ++i)
        idx[i] = orderable ? nearest_in_sorted(w[i], c, order) : nearest_by_scan(w[i], c);
    return idx;
}

InputRule local_rule(std::string name, std::string formula, LocalFn local, LocalTextFn text, bool straight_through) {
    InputRule rule;
    rule.name = std::move(name);
    rule.formula = std::move(formula);
    rule.straight_through = straight_through;
    rule.local = std::move(local);
    rule.vjp = upstream_times(rule.local);
    rule.explain = [local = rule.local, text = std::move(text)](const OpCall& call, const Tensor& upstream,
                                                                const Names& names, const Index& at,
                                                                const NumFmt& num) {
        const Tensor l = local(call);
        const LocalText t = text(call, names, at, num);
        Worked w;
        w.lhs = element(names.downstream, l.shape(), concrete(at));
        w.symbolic = element(names.upstream, upstream.shape(), concrete(at)) + " * " + t.symbolic;
        w.numeric = fmt::format("({})({})", num(upstream.at(at)), num(l.at(at)));
        w.result = upstream.at(at) * l.at(at);
        w.notes = t.notes;
        return w;
    };
    return rule;
}

std::vector<long long> pieces_by_element(const Tensor& t, const std::function<long long(double)>& piece) {
    std::vector<long long> p(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) p[i] = piece(t[i]);
    return p;
}

}  // namespace bnstep::ops
