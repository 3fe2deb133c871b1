// Op nodes of the random lesson builder (random_graph_builder.hpp): the
// inputs made to satisfy their domains, the refusal at kinks, and the
// existing nodes an op may read.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "bnstep/op.hpp"
#include "random_graph_builder.hpp"

namespace bnstep::fuzz::detail {
namespace {

double max_abs_of(const Tensor& t) {
    double m = 0;
    for (double v : t.data()) m = std::max(m, std::fabs(v));
    return m;
}
double min_of(const Tensor& t) { return *std::min_element(t.data().begin(), t.data().end()); }
double max_of(const Tensor& t) { return *std::max_element(t.data().begin(), t.data().end()); }

double choice_index(const std::string& op, const AttrSpec& spec, const std::string& word) {
    for (std::size_t k = 0; k < spec.choices.size(); ++k)
        if (spec.choices[k] == word) return static_cast<double>(k);
    throw std::logic_error(fmt::format("generator bug: {} has no {} {}", op, spec.name, word));
}

}  // namespace

// The attributes of a node as the loader reads them, defaults filled in.
Attrs Builder::attrs_of(const OpDef& def, const json& attrs) const {
    Attrs a;
    for (const AttrSpec& spec : def.attrs) {
        const auto it = attrs.find(spec.name);
        if (it != attrs.end()) {
            if (spec.type == AttrType::IntList)
                a.set_list(spec.name, it->get<std::vector<long long>>());
            else if (spec.type == AttrType::Bool)
                a.set(spec.name, it->get<bool>() ? 1.0 : 0.0);
            else if (spec.type == AttrType::Choice)
                a.set(spec.name, choice_index(def.name, spec, it->get<std::string>()));
            else
                a.set(spec.name, it->get<double>());
        } else if (spec.fallback) {
            a.set(spec.name, *spec.fallback);
        } else {
            throw std::logic_error(fmt::format("generator bug: {} needs attribute {}", def.name, spec.name));
        }
    }
    return a;
}

std::size_t Builder::node(const std::string& op, const std::vector<std::size_t>& in, const json& attrs, bool helper) {
    const OpDef* def = ops_.find(op);
    if (!def) throw std::logic_error("generator bug: no op " + op);
    const Attrs a = attrs_of(*def, attrs);
    std::vector<Shape> shapes;
    OpCall call;
    call.attrs = &a;
    std::vector<std::string> names;
    for (std::size_t i : in) {
        ++entries_[i].uses;
        shapes.push_back(shape(i));
        call.in.push_back(&entries_[i].value);
        names.push_back(entries_[i].name);
    }
    Shape expected;
    try {
        expected = def->shape(shapes, a);
    } catch (const ShapeError& e) {
        throw std::logic_error(fmt::format("generator bug: {} rejects its inputs: {}", op, e.what()));
    }
    Tensor v = def->forward(call);
    if (v.shape() != expected)
        throw std::logic_error("generator bug: forward shape differs from the shape rule in " + op);
    if (element_count(expected) > opt_.max_elements)
        throw std::logic_error(fmt::format("generator bug: {} made {} elements", op, element_count(expected)));
    for (double x : v.data())
        if (!std::isfinite(x)) throw std::logic_error("generator bug: a non-finite value from " + op);
    json j;
    j["name"] = fresh(helper ? "h" : "n");
    j["op"] = op;
    j["inputs"] = names;
    if (!attrs.empty()) j["attrs"] = attrs;
    entries_.push_back({j["name"].get<std::string>(), std::move(v), false});
    nodes_.push_back(std::move(j));
    out_.ops.push_back(op);
    return entries_.size() - 1;
}

std::optional<std::size_t> Builder::make(const std::string& op, const std::vector<In>& in, const json& attrs,
                                         bool helper) {
    const OpDef* def = ops_.find(op);
    if (!def) throw std::logic_error("generator bug: no op " + op);
    const Attrs a = attrs_of(*def, attrs);
    std::vector<std::size_t> x;
    for (std::size_t k = 0; k < in.size(); ++k) {
        // A leaf given for an input no gradient reaches (a buffer) is used as it
        // is: a helper node made from it would be a second path for a gradient.
        const bool as_given = in[k].node && entries_[*in[k].node].leaf && !def->rule(k).differentiable;
        x.push_back(as_given ? *in[k].node : satisfy(op, in[k], def->rule(k).domain_for(a), x));
    }
    if (at_kink(*def, x, a)) return avoid(op + " at a kink");
    return node(op, x, attrs, helper);
}

// Input `in` made to satisfy domain d; `before` holds the op's inputs so far
// (class labels count the classes of the first).
std::size_t Builder::satisfy(const std::string& op, const In& in, const Domain& d,
                             const std::vector<std::size_t>& before) {
    const Shape s = in.node ? shape(*in.node) : in.shape;
    switch (d.kind) {
        case Domain::Kind::Any: {
            const std::size_t x = in.node ? *in.node : leaf(s);
            return d.bound > 0 ? bounded(x, d.bound) : x;
        }
        case Domain::Kind::Positive: {
            const std::size_t x = in.node ? positive(*in.node) : leaf(s, Range::Positive);
            return d.bound > 0 ? bounded(x, d.bound) : x;
        }
        case Domain::Kind::ClassLabels:
            if (before.empty() || shape(before[0]).empty())
                throw std::logic_error("generator bug: class labels of " + op + " without classes");
            return labels_leaf(s, shape(before[0]).back());
        case Domain::Kind::Mask: return mask_leaf(s, op + " mask");
        case Domain::Kind::Distribution: return distribution(s);
    }
    throw std::logic_error("generator bug: a domain of " + op);
}

// Would moving one element of a differentiable input by +-kink_margin put an
// output element on another piece? The pieces are those the gradient check
// sees: the surrogate's for a straight-through op, else the op's own.
bool Builder::at_kink(const OpDef& def, const std::vector<std::size_t>& in, const Attrs& attrs) const {
    const PiecesFn& pieces = def.surrogate ? def.surrogate->pieces : def.pieces;
    if (!pieces) return false;
    std::vector<Tensor> moved;
    for (std::size_t i : in) moved.push_back(value(i));
    OpCall call;
    call.attrs = &attrs;
    for (const Tensor& t : moved) call.in.push_back(&t);
    const std::vector<long long> base = pieces(call);
    for (std::size_t k = 0; k < moved.size(); ++k) {
        if (!def.rule(k).differentiable) continue;
        for (std::size_t e = 0; e < moved[k].size(); ++e) {
            const double v = moved[k][e];
            for (const double step : {-opt_.kink_margin, opt_.kink_margin}) {
                moved[k][e] = v + step;
                if (pieces(call) != base) return true;
            }
            moved[k][e] = v;
        }
    }
    return false;
}

std::optional<std::size_t> Builder::avoid(const std::string& why) {
    ++out_.avoided;
    feature("avoided " + why);
    return std::nullopt;
}

// A random existing entry for which ok(i): often an op node nothing reads
// yet (so that the graph grows connected), often a recent one.
std::optional<std::size_t> Builder::pick(const std::function<bool(std::size_t)>& ok) {
    std::vector<std::size_t> c, unread;
    for (std::size_t i = 0; i < entries_.size(); ++i)
        if (ok(i)) {
            c.push_back(i);
            if (!entries_[i].leaf && entries_[i].uses == 0) unread.push_back(i);
        }
    if (c.empty()) return std::nullopt;
    if (!unread.empty() && chance(0.6)) return choose(unread);
    if (chance(0.5)) return c[c.size() - 1 - below(std::min<std::size_t>(3, c.size()))];
    return choose(c);
}

std::size_t Builder::any() {
    if (auto i = pick([](std::size_t) { return true; })) return *i;
    return leaf(random_shape(static_cast<std::size_t>(between(1, 4)), opt_.max_leaf_elements));
}

std::size_t Builder::any_with_axes() {
    if (auto i = pick([&](std::size_t j) { return !shape(j).empty(); })) return *i;
    return leaf(random_shape(static_cast<std::size_t>(between(1, 4)), opt_.max_leaf_elements));
}

// `total` elements as `rank` dimensions: its prime factors dealt out at random.
Shape Builder::factor(std::size_t total, std::size_t rank) {
    Shape s(rank, 1);
    for (std::size_t p = 2; total > 1; ++p)
        while (total % p == 0) {
            s[below(rank)] *= p;
            total /= p;
        }
    return s;
}

// A node of rank `rank`: an existing one, a reshape or flatten of one, or a new leaf.
std::size_t Builder::of_rank(std::size_t rank) {
    if (auto i = pick([&](std::size_t j) { return shape(j).size() == rank; }); i && chance(0.7)) return *i;
    const double u = rng_.uniform();
    if (u < 0.2 && rank >= 2) {
        if (auto i = pick([&](std::size_t j) { return shape(j).size() >= rank; })) {
            const long long start = static_cast<long long>(rank) - 1;
            json attrs;
            put(attrs, "start", chance(0.3) ? start - static_cast<long long>(shape(*i).size()) : start, 1);
            return node("flatten", {*i}, attrs, true);
        }
    }
    if (u < 0.5) {
        if (auto i = pick([&](std::size_t j) { return element_count(shape(j)) > 1; })) {
            Shape s = factor(element_count(shape(*i)), rank);
            std::vector<long long> want(s.begin(), s.end());
            if (chance(0.3)) want[below(want.size())] = -1;
            return node("reshape", {*i}, json{{"shape", want}}, true);
        }
    }
    return leaf(random_shape(rank, opt_.max_leaf_elements));
}

// A node whose largest magnitude is at most `limit`: x, or x times a power of two.
std::size_t Builder::bounded(std::size_t x, double limit) {
    const double m = max_abs_of(value(x));
    if (m <= limit) return x;
    double s = 1;
    while (m * s > limit) s /= 2;
    const std::size_t c = scalar_const(s);
    feature("rescaled");
    return chance(0.5) ? node("mul", {x, c}, json::object(), true) : node("mul", {c, x}, json::object(), true);
}

// A node made positive and away from 0 from x (in [0.2, 8] or so).
std::size_t Builder::positive(std::size_t x) {
    const Tensor& v = value(x);
    if (min_of(v) >= 0.2 && max_of(v) <= 8 && chance(0.7)) return x;
    if (chance(0.5)) return node("exp", {bounded(x, 1.5)}, json::object(), true);
    const std::size_t b = bounded(x, 2.0);
    const std::size_t sq =
        chance(0.8) ? node("square", {b}, json::object(), true) : node("mul", {b, b}, json::object(), true);
    std::size_t c;
    if (chance(0.6)) {
        c = scalar_const(choose<double>({0.5, 0.75, 1.0}));
    } else {
        const Shape s = shape(sq);
        Shape p(s.begin() + static_cast<std::ptrdiff_t>(below(s.size() + 1)), s.end());
        for (auto& d : p)
            if (chance(0.3)) d = 1;
        c = leaf(p, Range::Positive);
    }
    return chance(0.5) ? node("add", {sq, c}, json::object(), true) : node("add", {c, sq}, json::object(), true);
}

// A shape that broadcasts with s, with a result of at most max_elements.
Shape Builder::partner_shape(const Shape& s) {
    const std::size_t drop = chance(0.5) ? 0 : below(s.size() + 1);
    Shape p(s.begin() + static_cast<std::ptrdiff_t>(drop), s.end());
    for (auto& d : p)
        if (chance(0.3)) d = 1;
    for (std::size_t k = 0; k < p.size(); ++k)  // widen where s has 1
        if (s[k + drop] == 1 && chance(0.4)) p[k] = static_cast<std::size_t>(between(2, 3));
    if (drop == 0 && p.size() < kMaxRank && chance(0.15)) p.insert(p.begin(), static_cast<std::size_t>(between(2, 3)));
    const auto b = broadcast_shapes(s, p);
    if (!b) throw std::logic_error("generator bug: partner shape does not broadcast");
    if (element_count(*b) > opt_.max_elements || element_count(p) > opt_.max_leaf_elements) {
        Shape q(s.begin() + static_cast<std::ptrdiff_t>(drop), s.end());
        for (auto& d : q)
            if (chance(0.3)) d = 1;
        return q;
    }
    return p;
}

// x reduced to a scalar by sum or mean over one axis at a time.
std::size_t Builder::to_scalar(std::size_t x) {
    while (!shape(x).empty()) {
        json attrs;
        const long long r = static_cast<long long>(shape(x).size());
        put(attrs, "axis", between(-r, r - 1), 0);
        x = bounded(node(chance(0.5) ? "sum" : "mean", {x}, attrs, true), opt_.max_abs);
    }
    return x;
}

// A second operand for an elementwise op with a.
std::size_t Builder::partner(std::size_t a) {
    const double u = rng_.uniform();
    if (u < 0.12) {
        feature("same input twice");
        return a;
    }
    if (u < 0.5) {
        auto b = pick([&](std::size_t j) {
            const auto s = broadcast_shapes(shape(a), shape(j));
            return j != a && s && element_count(*s) <= opt_.max_elements;
        });
        if (b) return *b;
    }
    return leaf(partner_shape(shape(a)));
}

std::optional<std::size_t> Builder::binary(const std::string& op, std::size_t a, std::size_t b) {
    if (shape(a) != shape(b)) feature("broadcast");
    return chance(0.5) ? make(op, {a, b}) : make(op, {b, a});
}

}  // namespace bnstep::fuzz::detail
