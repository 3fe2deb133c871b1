#include "random_graphs.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/op.hpp"
#include "bnstep/rng.hpp"

namespace bnstep::fuzz {
namespace {

using json = nlohmann::ordered_json;

double max_abs_of(const Tensor& t) {
    double m = 0;
    for (double v : t.data()) m = std::max(m, std::fabs(v));
    return m;
}
double min_abs_of(const Tensor& t) {
    double m = std::numeric_limits<double>::infinity();
    for (double v : t.data()) m = std::min(m, std::fabs(v));
    return m;
}
double min_of(const Tensor& t) { return *std::min_element(t.data().begin(), t.data().end()); }
double max_of(const Tensor& t) { return *std::max_element(t.data().begin(), t.data().end()); }

std::vector<std::size_t> divisors(std::size_t n) {
    std::vector<std::size_t> d;
    for (std::size_t k = 1; k <= n; ++k)
        if (n % k == 0) d.push_back(k);
    return d;
}

// The pooling windows, as PoolGeometry in src/engine/ops/pool.cpp lays them out.
struct Windows {
    std::size_t n = 0, c = 0, h = 0, w = 0, kernel = 1, stride = 1, padding = 0, ho = 0, wo = 0;
};

Windows windows_of(const Shape& x, long long kernel, long long stride, long long padding) {
    Windows g;
    g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
    g.kernel = static_cast<std::size_t>(kernel);
    g.stride = stride == 0 ? g.kernel : static_cast<std::size_t>(stride);
    g.padding = static_cast<std::size_t>(padding);
    g.ho = (g.h + 2 * g.padding - g.kernel) / g.stride + 1;
    g.wo = (g.w + 2 * g.padding - g.kernel) / g.stride + 1;
    return g;
}

// Calls f(window elements as flat offsets) for every window.
template <class F>
void for_each_window(const Windows& g, F f) {
    std::vector<std::size_t> elems;
    for (std::size_t n = 0; n < g.n; ++n)
        for (std::size_t c = 0; c < g.c; ++c)
            for (std::size_t i = 0; i < g.ho; ++i)
                for (std::size_t j = 0; j < g.wo; ++j) {
                    elems.clear();
                    for (std::size_t r = 0; r < g.kernel; ++r)
                        for (std::size_t s = 0; s < g.kernel; ++s) {
                            const long long h = (long long)(i * g.stride + r) - (long long)g.padding;
                            const long long w = (long long)(j * g.stride + s) - (long long)g.padding;
                            if (h >= 0 && w >= 0 && h < (long long)g.h && w < (long long)g.w)
                                elems.push_back(((n * g.c + c) * g.h + (std::size_t)h) * g.w + (std::size_t)w);
                        }
                    f(elems);
                }
}

// Per channel (axis 1) variance of an (N, D) or (N, C, H, W) tensor, and the
// number of elements per channel.
std::pair<double, std::size_t> min_channel_variance(const Tensor& x) {
    const Shape& s = x.shape();
    const std::size_t channels = s[1];
    const std::size_t inner = s.size() == 4 ? s[2] * s[3] : 1;
    const std::size_t m = s[0] * inner;
    double lowest = std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < channels; ++c) {
        double sum = 0, sq = 0;
        for (std::size_t n = 0; n < s[0]; ++n)
            for (std::size_t e = 0; e < inner; ++e) sum += x[(n * channels + c) * inner + e];
        const double mu = sum / double(m);
        for (std::size_t n = 0; n < s[0]; ++n)
            for (std::size_t e = 0; e < inner; ++e) {
                const double d = x[(n * channels + c) * inner + e] - mu;
                sq += d * d;
            }
        lowest = std::min(lowest, sq / double(m));
    }
    return {lowest, m};
}

struct Entry {
    std::string name;
    Tensor value;
    bool leaf = false;
    std::size_t uses = 0;  // how many op nodes read it
};

enum class Range { Signed, Positive, Small };

constexpr double kLossMagnitude = 16.0;

class Builder {
public:
    // Rng's state advances by a fixed constant per draw, so neighbouring seeds
    // are scrambled first: otherwise seed s + 1 would replay seed s one draw late.
    Builder(std::uint64_t seed, const GeneratorOptions& options) : rng_(Rng(seed).next()), opt_(options) {
        out_.seed = seed;
    }

    GeneratedLesson build();

private:
    Rng rng_;
    GeneratorOptions opt_;
    const OpTable& ops_ = builtin_ops();
    std::vector<Entry> entries_;
    std::vector<json> leaves_, nodes_;
    GeneratedLesson out_;
    std::size_t counter_ = 0;

    // --- randomness -------------------------------------------------------
    std::size_t below(std::size_t n) { return n <= 1 ? 0 : static_cast<std::size_t>(rng_.next() % n); }
    long long between(long long lo, long long hi) {
        return lo + static_cast<long long>(below(static_cast<std::size_t>(hi - lo + 1)));
    }
    bool chance(double p) { return rng_.uniform() < p; }
    template <class T>
    T choose(const std::vector<T>& v) {
        return v[below(v.size())];
    }
    long long random_seed() {
        const long long s = static_cast<long long>(rng_.next() >> 34);
        return chance(0.1) ? -s : s;
    }

    void feature(const std::string& f) { ++out_.features[f]; }
    const Shape& shape(std::size_t i) const { return entries_[i].value.shape(); }
    const Tensor& value(std::size_t i) const { return entries_[i].value; }
    std::string fresh(const char* prefix) { return fmt::format("{}{}", prefix, counter_++); }

    // The largest size up to `most` that keeps `times` * size within max_elements.
    long long up_to(long long most, std::size_t times) const {
        return std::max<long long>(
            1, std::min<long long>(most, (long long)(opt_.max_elements / std::max<std::size_t>(1, times))));
    }

    // An attribute, left out now and then when it equals the op's default.
    void put(json& attrs, const std::string& name, long long v, long long fallback) {
        if (v == fallback && chance(0.5)) return;
        attrs[name] = v;
    }

    // --- leaves -------------------------------------------------------------
    Shape random_shape(std::size_t rank, std::size_t cap) {
        Shape s;
        for (std::size_t k = 0; k < rank; ++k) s.push_back(static_cast<std::size_t>(between(1, 4)));
        while (element_count(s) > cap) {
            std::size_t k = below(rank);
            if (s[k] > 1) --s[k];
        }
        return s;
    }

    json nested(const Tensor& t, std::size_t dim, std::size_t offset) {
        if (dim == t.rank()) return t[offset];
        json list = json::array();
        std::size_t stride = 1;
        for (std::size_t d = dim + 1; d < t.rank(); ++d) stride *= t.shape()[d];
        for (std::size_t k = 0; k < t.shape()[dim]; ++k) list.push_back(nested(t, dim + 1, offset + k * stride));
        return list;
    }

    // Values as the loader draws them for a "random" spec.
    static Tensor draw(const Shape& shape, long long seed, bool normal, double a, double b, long long decimals) {
        Rng r(static_cast<std::uint64_t>(seed));
        Tensor t(shape);
        double scale = 1.0;
        for (long long i = 0; i < decimals; ++i) scale *= 10.0;
        for (double& v : t.data()) {
            v = normal ? r.normal(a, b) : r.uniform(a, b);
            if (decimals >= 0) v = std::round(v * scale) / scale;
        }
        return t;
    }

    // A tensor spec ("random", "values" or "fill") of `shape` in `range`, into obj; returns the values.
    Tensor tensor_spec(json& obj, const Shape& shape, Range range) {
        const double u = rng_.uniform();
        if (u < 0.05) {
            const double fill = range == Range::Signed     ? choose<double>({-1.0, -0.5, 0.5, 1.0, 2.0})
                                : range == Range::Positive ? choose<double>({0.5, 1.0, 1.5})
                                                           : choose<double>({0.01, 0.1});
            obj["fill"] = fill;
            feature("fill");
            return Tensor(shape, fill);
        }
        json spec;
        const long long seed = random_seed();
        spec["seed"] = seed;
        bool normal = false;
        double a = -1, b = 1;
        if (range == Range::Signed) {
            const double v = rng_.uniform();
            if (v < 0.4) {
                // the defaults, low -1 and high 1
            } else if (v < 0.6) {
                a = -2, b = 2;
                spec["low"] = a, spec["high"] = b;
            } else if (v < 0.8) {
                spec["dist"] = "normal";
                normal = true, a = 0, b = 1;
            } else {
                spec["dist"] = "normal";
                normal = true, a = 0, b = 0.5;
                spec["mean"] = a, spec["std"] = b;
            }
        } else if (range == Range::Positive) {
            if (chance(0.7)) {
                a = 0.5, b = 1.5;
                spec["low"] = a, spec["high"] = b;
            } else {
                spec["dist"] = "normal";
                normal = true, a = 1.0, b = 0.1;  // Irwin-Hall stays within 6 std: >= 0.4
                spec["mean"] = a, spec["std"] = b;
            }
        } else {
            a = 0.01, b = 0.1;
            spec["low"] = a, spec["high"] = b;
        }
        long long decimals = -1;
        if (chance(0.1)) {
            decimals = between(2, 6);
            spec["decimals"] = decimals;
            feature("decimals");
        }
        if (!normal && a == -1 && b == 1 && chance(0.5)) spec["dist"] = "uniform";
        const Tensor t = draw(shape, seed, normal, a, b, decimals);
        if (chance(0.15)) {
            obj["values"] = nested(t, 0, 0);
            feature("values");
        } else {
            obj["random"] = spec;
        }
        return t;
    }

    std::size_t leaf(Shape shape, Range range = Range::Signed, const char* kind = nullptr) {
        if (element_count(shape) > opt_.max_elements)
            throw std::logic_error(fmt::format("generator bug: a leaf of shape {}", shape_str(shape)));
        if (!kind) {
            const double u = rng_.uniform();
            kind = u < 0.45 ? "param" : u < 0.8 ? "input" : "const";
        }
        const std::string prefix = std::string(kind) == "param" ? "w" : std::string(kind) == "input" ? "x" : "k";
        json j;
        j["name"] = fresh(prefix.c_str());
        j["kind"] = kind;
        j["shape"] = shape;
        Tensor v = tensor_spec(j, shape, range);
        entries_.push_back({j["name"].get<std::string>(), std::move(v), true});
        leaves_.push_back(std::move(j));
        return entries_.size() - 1;
    }

    std::size_t scalar_const(double v) {
        json j;
        j["name"] = fresh("k");
        j["kind"] = "const";
        j["shape"] = json::array();
        if (chance(0.5))
            j["fill"] = v;
        else
            j["values"] = v;
        entries_.push_back({j["name"].get<std::string>(), Tensor::scalar(v), true});
        leaves_.push_back(std::move(j));
        return entries_.size() - 1;
    }

    // A const leaf with the given values, written out as "values".
    std::size_t const_leaf(const Tensor& t, const char* what) {
        json j;
        j["name"] = fresh("k");
        j["kind"] = "const";
        j["shape"] = t.shape();
        j["values"] = nested(t, 0, 0);
        feature(what);
        entries_.push_back({j["name"].get<std::string>(), t, true});
        leaves_.push_back(std::move(j));
        return entries_.size() - 1;
    }

    // A leaf of `shape` whose rows (along the last axis) are probabilities:
    // positive, each summing to 1.
    std::size_t distribution_leaf(Shape shape) {
        Tensor t(shape);
        const std::size_t row = shape.empty() ? 1 : shape.back();
        for (double& v : t.data()) v = 0.2 + rng_.uniform();
        for (std::size_t r = 0; r < t.size(); r += row) {
            double sum = 0;
            for (std::size_t k = 0; k < row; ++k) sum += t[r + k];
            for (std::size_t k = 0; k < row; ++k) t[r + k] /= sum;
        }
        const double u = rng_.uniform();
        const char* kind = u < 0.4 ? "const" : u < 0.7 ? "input" : "param";
        json j;
        j["name"] = fresh(std::string(kind) == "param" ? "w" : std::string(kind) == "input" ? "x" : "k");
        j["kind"] = kind;
        j["shape"] = shape;
        j["values"] = nested(t, 0, 0);
        feature("probability leaf");
        entries_.push_back({j["name"].get<std::string>(), t, true});
        leaves_.push_back(std::move(j));
        return entries_.size() - 1;
    }

    // Rows of probabilities of `shape`, all positive: a leaf, or the softmax of a bounded node.
    std::size_t distribution(Shape shape) {  // by value: leaf() may move what shape(i) refers to
        if (!shape.empty() && chance(0.5)) {
            std::size_t x;
            if (auto i = pick([&](std::size_t j) { return this->shape(j) == shape; }); i && chance(0.5))
                x = *i;
            else
                x = leaf(shape);
            json attrs;
            put(attrs, "axis", chance(0.5) ? -1 : (long long)shape.size() - 1, -1);
            return node("softmax", {bounded(x, 3.0)}, attrs, true);
        }
        return distribution_leaf(shape);
    }

    // Is any element of t within kink_margin of one of the points? Such an
    // op choice is refused (counted in avoided).
    bool near_any(const Tensor& t, const std::vector<double>& points) const {
        for (double v : t.data())
            for (double p : points)
                if (std::fabs(v - p) < opt_.kink_margin) return true;
        return false;
    }
    std::optional<std::size_t> avoid(const std::string& why) {
        ++out_.avoided;
        feature("avoided " + why);
        return std::nullopt;
    }
    // The gap between the count-th and the (count+1)-th smallest |w|: a
    // selection by magnitude with a smaller gap sits at a tie.
    static double magnitude_gap(const Tensor& w, std::size_t count) {
        if (count == 0 || count >= w.size()) return std::numeric_limits<double>::infinity();
        std::vector<double> m;
        for (double v : w.data()) m.push_back(std::fabs(v));
        std::sort(m.begin(), m.end());
        return m[count] - m[count - 1];
    }
    // round(fraction * n), halves up, as the pruning and INQ ops count.
    static std::size_t count_of(double fraction, std::size_t n) {
        return std::min(n, static_cast<std::size_t>(std::round(fraction * static_cast<double>(n))));
    }
    // A random 0/1 mask of shape, as a const leaf.
    std::size_t mask_leaf(Shape shape, const char* what) {
        Tensor m(shape);
        const double p = choose<double>({0.3, 0.5, 0.8});
        for (double& v : m.data()) v = chance(p) ? 1.0 : 0.0;
        return const_leaf(m, what);
    }

    static double choice_index(const std::string& op, const AttrSpec& spec, const std::string& word) {
        for (std::size_t k = 0; k < spec.choices.size(); ++k)
            if (spec.choices[k] == word) return static_cast<double>(k);
        throw std::logic_error(fmt::format("generator bug: {} has no {} {}", op, spec.name, word));
    }

    // --- op nodes -------------------------------------------------------------
    std::size_t node(const std::string& op, const std::vector<std::size_t>& in, const json& attrs = json::object(),
                     bool helper = false) {
        const OpDef* def = ops_.find(op);
        if (!def) throw std::logic_error("generator bug: no op " + op);
        Attrs a;
        for (const AttrSpec& spec : def->attrs) {
            const auto it = attrs.find(spec.name);
            if (it != attrs.end()) {
                if (spec.type == AttrType::IntList)
                    a.set_list(spec.name, it->get<std::vector<long long>>());
                else if (spec.type == AttrType::Bool)
                    a.set(spec.name, it->get<bool>() ? 1.0 : 0.0);
                else if (spec.type == AttrType::Choice)
                    a.set(spec.name, choice_index(op, spec, it->get<std::string>()));
                else
                    a.set(spec.name, it->get<double>());
            } else if (spec.fallback) {
                a.set(spec.name, *spec.fallback);
            } else {
                throw std::logic_error(fmt::format("generator bug: {} needs attribute {}", op, spec.name));
            }
        }
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

    // A random existing entry for which ok(i): often an op node nothing reads
    // yet (so that the graph grows connected), often a recent one.
    std::optional<std::size_t> pick(const std::function<bool(std::size_t)>& ok) {
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

    std::size_t any() {
        if (auto i = pick([](std::size_t) { return true; })) return *i;
        return leaf(random_shape(static_cast<std::size_t>(between(1, 4)), opt_.max_leaf_elements));
    }

    std::size_t any_with_axes() {
        if (auto i = pick([&](std::size_t j) { return !shape(j).empty(); })) return *i;
        return leaf(random_shape(static_cast<std::size_t>(between(1, 4)), opt_.max_leaf_elements));
    }

    // `total` elements as `rank` dimensions: its prime factors dealt out at random.
    Shape factor(std::size_t total, std::size_t rank) {
        Shape s(rank, 1);
        for (std::size_t p = 2; total > 1; ++p)
            while (total % p == 0) {
                s[below(rank)] *= p;
                total /= p;
            }
        return s;
    }

    // A node of rank `rank`: an existing one, a reshape or flatten of one, or a new leaf.
    std::size_t of_rank(std::size_t rank) {
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
    std::size_t bounded(std::size_t x, double limit) {
        const double m = max_abs_of(value(x));
        if (m <= limit) return x;
        double s = 1;
        while (m * s > limit) s /= 2;
        const std::size_t c = scalar_const(s);
        feature("rescaled");
        return chance(0.5) ? node("mul", {x, c}, json::object(), true) : node("mul", {c, x}, json::object(), true);
    }

    // A node made positive and away from 0 from x (in [0.2, 8] or so).
    std::size_t positive(std::size_t x) {
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
    Shape partner_shape(const Shape& s) {
        const std::size_t drop = chance(0.5) ? 0 : below(s.size() + 1);
        Shape p(s.begin() + static_cast<std::ptrdiff_t>(drop), s.end());
        for (auto& d : p)
            if (chance(0.3)) d = 1;
        for (std::size_t k = 0; k < p.size(); ++k)  // widen where s has 1
            if (s[k + drop] == 1 && chance(0.4)) p[k] = static_cast<std::size_t>(between(2, 3));
        if (drop == 0 && p.size() < kMaxRank && chance(0.15))
            p.insert(p.begin(), static_cast<std::size_t>(between(2, 3)));
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
    std::size_t to_scalar(std::size_t x) {
        while (!shape(x).empty()) {
            json attrs;
            const long long r = static_cast<long long>(shape(x).size());
            put(attrs, "axis", between(-r, r - 1), 0);
            x = bounded(node(chance(0.5) ? "sum" : "mean", {x}, attrs, true), opt_.max_abs);
        }
        return x;
    }

    // A second operand for an elementwise op with a.
    std::size_t partner(std::size_t a) {
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

    std::size_t binary(const std::string& op, std::size_t a, std::size_t b) {
        if (shape(a) != shape(b)) feature("broadcast");
        return chance(0.5) ? node(op, {a, b}) : node(op, {b, a});
    }

    std::optional<std::size_t> gen(const std::string& op);
    void finish(std::size_t output);
};

std::optional<std::size_t> Builder::gen(const std::string& op) {
    const std::size_t cap = opt_.max_elements;
    if (op == "add" || op == "sub" || op == "mul") {
        const std::size_t a = any();
        return binary(op, a, partner(a));
    }
    if (op == "div") {
        const std::size_t a = any();
        const std::size_t b = positive(partner(a));
        if (!broadcast_shapes(shape(a), shape(b))) throw std::logic_error("generator bug: div operands");
        return node("div", {a, b});
    }
    if (op == "neg" || op == "square") return node(op, {any()});
    if (op == "exp") return node("exp", {bounded(any(), chance(0.5) ? 1.0 : 2.0)});
    if (op == "log" || op == "reciprocal") return node(op, {positive(any())});
    if (op == "pow") {
        const double p = choose<double>({2, 3, 0, 1, -1, 0.5, 1.5, -0.5, -2, 2.5});
        const bool whole = p >= 0 && p == std::floor(p);
        const std::size_t x = whole ? bounded(any(), 2.0) : positive(any());
        json attrs;
        if (p == std::floor(p) && chance(0.5))
            attrs["p"] = static_cast<long long>(p);
        else
            attrs["p"] = p;
        feature(fmt::format("pow p={}", p));
        return node("pow", {x}, attrs);
    }
    if (op == "sqrt") {
        const std::size_t v = positive(any());
        if (chance(0.4)) {
            const Shape s = shape(v);
            Shape p(s.begin() + static_cast<std::ptrdiff_t>(below(s.size() + 1)), s.end());
            for (auto& d : p)
                if (chance(0.5)) d = 1;
            feature("sqrt with eps");
            return node("sqrt", {v, leaf(p, Range::Small)});
        }
        return node("sqrt", {v});
    }
    if (op == "relu") {
        const std::size_t x = any();
        if (min_abs_of(value(x)) < opt_.kink_margin) {
            ++out_.avoided;
            feature("avoided relu at a kink");
            return std::nullopt;
        }
        return node("relu", {x});
    }
    if (op == "sum" || op == "mean") {
        const std::size_t x = any_with_axes();
        const long long r = static_cast<long long>(shape(x).size());
        const long long axis = between(-r, r - 1);
        json attrs;
        put(attrs, "axis", axis, 0);
        const bool keep = chance(0.4);
        if (keep || chance(0.3)) attrs["keepdims"] = keep;
        return node(op, {x}, attrs);
    }
    if (op == "matmul") {
        if (chance(0.7)) {
            const std::size_t a = of_rank(2);
            const std::size_t k = shape(a)[1];
            auto b = pick([&](std::size_t j) { return shape(j).size() == 2 && shape(j)[0] == k; });
            const std::size_t bb = b && chance(0.5) ? *b : leaf({k, static_cast<std::size_t>(between(1, up_to(4, k)))});
            if (shape(a)[0] * shape(bb)[1] > cap) return std::nullopt;
            if (a == bb) feature("matmul A @ A");
            return node("matmul", {a, bb});
        }
        const std::size_t b = of_rank(2);
        const std::size_t k = shape(b)[0];
        auto a = pick([&](std::size_t j) { return shape(j).size() == 2 && shape(j)[1] == k; });
        const std::size_t aa = a && chance(0.5) ? *a : leaf({static_cast<std::size_t>(between(1, up_to(4, k))), k});
        if (shape(aa)[0] * shape(b)[1] > cap) return std::nullopt;
        return node("matmul", {aa, b});
    }
    if (op == "batchnorm" || op == "batchnorm2d") {
        const std::size_t x = of_rank(op == "batchnorm" ? 2 : 4);
        const auto [var, m] = min_channel_variance(value(x));
        if (m > 1 && var < opt_.min_variance) {
            ++out_.avoided;
            feature("avoided batchnorm with a tiny variance");
            return std::nullopt;
        }
        if (m == 1) feature(op + " with one element per channel");
        const Shape d{shape(x)[1]};
        auto affine = [&]() {
            if (auto i = pick([&](std::size_t j) { return shape(j) == d; }); i && chance(0.3)) return *i;
            return leaf(d, chance(0.5) ? Range::Signed : Range::Positive);
        };
        const std::size_t gamma = affine(), beta = affine();
        json attrs;
        if (chance(0.5)) attrs["eps"] = choose<double>({1e-5, 1e-3, 0.01, 0.1});
        return node(op, {x, gamma, beta}, attrs);
    }
    if (op == "conv2d") {
        const std::size_t x = of_rank(4);
        const Shape s = shape(x);
        const std::size_t c = s[1], h = s[2], w = s[3];
        std::vector<std::size_t> proper;  // groups other than 1 and C
        for (std::size_t d : divisors(c))
            if (d != 1 && d != c) proper.push_back(d);
        const double u = rng_.uniform();
        const std::size_t groups = u < 0.4 ? 1 : (u < 0.7 || proper.empty()) ? c : choose(proper);
        const std::size_t k =
            groups * static_cast<std::size_t>(between(1, std::max<long long>(1, 4 / (long long)groups)));
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
        std::vector<std::size_t> in{x, weights};
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
        return node("conv2d", in, attrs);
    }
    if (op == "max_pool2d" || op == "avg_pool2d") {
        const std::size_t x = of_rank(4);
        const Shape s = shape(x);
        long long kernel = 1, padding = 0, stride = 0;
        for (int attempt = 0; attempt < 8; ++attempt) {
            kernel = between(1, 3);
            padding = chance(0.4) ? between(0, kernel / 2) : 0;
            stride = between(0, 2);
            if ((long long)s[2] + 2 * padding >= kernel && (long long)s[3] + 2 * padding >= kernel) break;
            kernel = 1, padding = 0;
        }
        // At the edge of what is legal: a window as large as the padded input,
        // padding up to half of it; and a stride far past the input.
        if (chance(0.15)) {
            padding = between(0, 2);
            kernel = (long long)std::min(s[2], s[3]) + 2 * padding;
            feature(op + " window spanning the padded input");
        }
        if (chance(0.1)) {
            stride = 1LL << between(20, 62);
            feature(op + " stride past the input");
        }
        const Windows geometry = windows_of(s, kernel, stride, padding);  // padding 1, stride 1 can grow the image
        if (geometry.n * geometry.c * geometry.ho * geometry.wo > cap) return std::nullopt;
        if (op == "max_pool2d" && max_pool_min_gap(value(x), kernel, stride, padding) < opt_.kink_margin) {
            ++out_.avoided;
            feature("avoided max_pool2d with a near tie");
            return std::nullopt;
        }
        json attrs;
        attrs["kernel"] = kernel;
        put(attrs, "stride", stride, 0);
        put(attrs, "padding", padding, 0);
        if (padding > 0) feature(op + " padding");
        if (stride != 0 && stride != kernel) feature(op + " overlapping or gapped windows");
        return node(op, {x}, attrs);
    }
    if (op == "global_avg_pool") return node(op, {of_rank(4)});
    if (op == "concat") {
        const std::size_t x = any_with_axes();
        const Shape s = shape(x);
        const long long r = static_cast<long long>(s.size());
        const std::size_t axis = below(s.size());
        std::vector<std::size_t> in{x};
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
                t[axis] =
                    static_cast<std::size_t>(between(1, std::min<long long>(3, (long long)((cap - total) / slice))));
                found = leaf(t);
            }
            total += element_count(shape(*found));
            in.push_back(*found);
        }
        json attrs;
        put(attrs, "axis", chance(0.3) ? (long long)axis - r : (long long)axis, 1);
        if (pieces == 3) feature("concat of 3");
        return node("concat", in, attrs);
    }
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
        return node("split", {x}, attrs);
    }
    if (op == "reshape") {
        const std::size_t x = any();
        const Shape t = factor(element_count(shape(x)), static_cast<std::size_t>(between(1, 4)));
        std::vector<long long> want(t.begin(), t.end());
        if (chance(0.3)) {
            want[below(want.size())] = -1;
            feature("reshape -1");
        }
        return node("reshape", {x}, json{{"shape", want}});
    }
    if (op == "flatten") {
        const std::size_t x = any_with_axes();
        const long long r = static_cast<long long>(shape(x).size());
        const long long start = between(0, r - 1);
        json attrs;
        put(attrs, "start", chance(0.3) ? start - r : start, 1);
        return node("flatten", {x}, attrs);
    }
    if (op == "transpose") {
        const std::size_t x = any_with_axes();
        const long long r = static_cast<long long>(shape(x).size());
        std::vector<long long> perm(static_cast<std::size_t>(r));
        std::iota(perm.begin(), perm.end(), 0LL);
        for (std::size_t k = perm.size(); k > 1; --k) std::swap(perm[k - 1], perm[below(k)]);
        for (auto& p : perm)
            if (chance(0.15)) p -= r;
        return node("transpose", {x}, json{{"perm", perm}});
    }
    if (op == "channel_shuffle") {
        const std::size_t x = of_rank(4);
        json attrs;
        const std::size_t groups = choose(divisors(shape(x)[1]));
        if (groups != 1 && groups != shape(x)[1]) feature("channel_shuffle with 1 < groups < C");
        attrs["groups"] = (long long)groups;
        return node("channel_shuffle", {x}, attrs);
    }
    if (op == "hardtanh" || op == "clip") {
        const std::size_t x = any();
        double lo = -1, hi = 1;
        if (op == "clip" || chance(0.5)) {
            lo = choose<double>({-2, -1, -0.5, -0.25, 0, 0.5});
            hi = lo + choose<double>({0.5, 1, 1.5, 2});
        }
        if (near_any(value(x), {lo, hi})) return avoid(op + " at a bound");
        json attrs;
        if (op == "clip" || lo != -1 || chance(0.5)) attrs["min"] = lo;
        if (op == "clip" || hi != 1 || chance(0.5)) attrs["max"] = hi;
        return node(op, {x}, attrs);
    }
    if (op == "softmax" || op == "log_softmax") {
        const std::size_t x = bounded(any_with_axes(), 4.0);
        const long long r = static_cast<long long>(shape(x).size());
        json attrs;
        put(attrs, "axis", between(-r, r - 1), -1);
        if (chance(0.4)) {
            attrs["temperature"] = choose<double>({1, 0.5, 2, 4});
            feature(op + " temperature");
        }
        return node(op, {x}, attrs);
    }
    if (op == "cross_entropy") {
        const bool batched = chance(0.7);
        const std::size_t logits = bounded(of_rank(batched ? 2 : 1), 4.0);
        const std::size_t classes = shape(logits).back();
        const Shape ls = batched ? Shape{shape(logits)[0]} : Shape{};
        Tensor labels(ls);
        for (double& v : labels.data()) v = static_cast<double>(below(classes));
        return node("cross_entropy", {logits, const_leaf(labels, "class labels")});
    }
    if (op == "soft_cross_entropy") {
        const std::size_t logits = bounded(of_rank(chance(0.7) ? 2 : 1), 4.0);
        const std::size_t target = distribution(shape(logits));
        json attrs;
        if (chance(0.4)) {
            attrs["temperature"] = choose<double>({1, 0.5, 2, 4});
            feature(op + " temperature");
        }
        return node(op, {logits, target}, attrs);
    }
    if (op == "kl_div") {
        std::size_t log_q = bounded(any_with_axes(), 4.0);
        if (chance(0.6)) {
            json attrs;
            put(attrs, "axis", -1, -1);
            log_q = node("log_softmax", {log_q}, attrs, true);
        }
        return node("kl_div", {log_q, distribution(shape(log_q))});
    }
    if (op == "mse") {
        const std::size_t a = any();
        std::size_t b = a;
        if (chance(0.1))
            feature("mse of a node with itself");
        else if (auto i = pick([&](std::size_t j) { return j != a && shape(j) == shape(a); }); i && chance(0.6))
            b = *i;
        else
            b = leaf(shape(a));
        return chance(0.5) ? node("mse", {a, b}) : node("mse", {b, a});
    }
    if (op == "sign" || op == "xnor_binarize") {
        const std::size_t x = op == "sign" ? any() : any_with_axes();
        const bool hardtanh = op == "sign" ? chance(0.5) : chance(0.7);
        if (near_any(value(x), hardtanh ? std::vector<double>{0, -1, 1} : std::vector<double>{0}))
            return avoid(op + " at a kink");
        json attrs;
        if (hardtanh != (op == "xnor_binarize") || chance(0.5)) attrs["ste"] = hardtanh ? "hardtanh" : "identity";
        feature(op + (hardtanh ? " ste hardtanh" : " ste identity"));
        return node(op, {x}, attrs);
    }
    if (op == "binarize_stochastic") {
        const std::size_t w = any();
        if (near_any(value(w), {-1, 1})) return avoid(op + " at a kink");
        json attrs;
        put(attrs, "seed", random_seed(), 1);
        return node(op, {w}, attrs);
    }
    if (op == "ternarize") {
        const std::size_t w = any();
        json attrs;
        if (chance(0.5)) attrs["delta_factor"] = choose<double>({0.7, 0.5, 1.0, 0.0, 0.3});
        return node(op, {w}, attrs);
    }
    if (op == "quantize") {
        const std::size_t x = any();
        const long long bits = between(1, 8);
        const bool is_signed = chance(0.4);
        const long long qmin = is_signed ? -(1LL << (bits - 1)) : 0;
        const long long qmax = is_signed ? (1LL << (bits - 1)) - 1 : (1LL << bits) - 1;
        const long long zero_point = chance(0.5) ? std::clamp(0LL, qmin, qmax) : between(qmin, qmax);
        const double scale = choose<double>({0.01, 0.05, 0.1, 0.25, 0.5, 1.0 / 3});
        // Where the gradient stops passing: the clamped levels begin half a step out.
        const double lo = (double(qmin - zero_point) - 0.5) * scale, hi = (double(qmax - zero_point) + 0.5) * scale;
        if (near_any(value(x), {lo, hi})) return avoid("quantize at the edge of its range");
        json attrs;
        put(attrs, "bits", bits, 8);
        attrs["scale"] = scale;
        put(attrs, "zero_point", zero_point, 0);
        if (is_signed || chance(0.3)) attrs["signed"] = is_signed;
        feature(fmt::format("quantize {} bits{}", bits, is_signed ? " signed" : ""));
        if (zero_point != 0) feature("quantize zero_point");
        return node(op, {x}, attrs);
    }
    if (op == "pow2_quantize") {
        const std::size_t w = any();
        const long long n1 = between(-2, 1), n2 = n1 - between(0, 3);
        // The bin edges: 2^(n2-1), then 3*2^(k-2) for k from n2+1 to n1.
        std::vector<double> edges{std::ldexp(1.0, (int)n2 - 1)};
        for (long long k = n2 + 1; k <= n1; ++k) edges.push_back(std::ldexp(3.0, (int)k - 2));
        Tensor magnitude = value(w);
        for (double& v : magnitude.data()) v = std::fabs(v);
        if (near_any(magnitude, edges)) return avoid("pow2_quantize at a bin edge");
        json attrs;
        attrs["n1"] = n1;
        attrs["n2"] = n2;
        if (chance(0.3)) return node(op, {w, mask_leaf(shape(w), "pow2_quantize mask")}, attrs);
        const double fraction = choose<double>({0.5, 0.25, 0.75, 0.0, 1.0});
        if (magnitude_gap(value(w), value(w).size() - count_of(fraction, value(w).size())) < opt_.kink_margin)
            return avoid("pow2_quantize at a tie of |W|");
        if (fraction != 0.5 || chance(0.5)) attrs["fraction"] = fraction;
        return node(op, {w}, attrs);
    }
    if (op == "prune_mask") {
        const std::size_t w = any();
        if (chance(0.3)) return node(op, {w, mask_leaf(shape(w), "prune_mask mask")});
        const double sparsity = choose<double>({0.5, 0.25, 0.75, 0.0, 1.0});
        if (magnitude_gap(value(w), count_of(sparsity, value(w).size())) < opt_.kink_margin)
            return avoid("prune_mask at a tie of |W|");
        json attrs;
        if (sparsity != 0.5 || chance(0.5)) attrs["sparsity"] = sparsity;
        return node(op, {w}, attrs);
    }
    feature("unsupported op " + op);
    return std::nullopt;
}

GeneratedLesson Builder::build() {
    const std::size_t first_leaves = static_cast<std::size_t>(between(1, 3));
    for (std::size_t k = 0; k < first_leaves; ++k)
        leaf(random_shape(static_cast<std::size_t>(between(1, 4)), opt_.max_leaf_elements));
    const std::vector<std::string> names = ops_.names();
    const long long wanted = between(opt_.min_ops, opt_.max_ops);
    std::vector<std::size_t> main;
    for (long long attempt = 0; (long long)main.size() < wanted && attempt < 20 * wanted; ++attempt)
        if (auto i = gen(choose(names))) main.push_back(bounded(*i, opt_.max_abs));
    if (main.empty()) main.push_back(node("neg", {any()}));

    std::size_t output = chance(0.75) ? main.back() : choose(main);
    if (chance(0.6)) {
        // Most of the time, every op node that nothing reads joins the output
        // (as a scalar added to it), so that most nodes get a gradient; the
        // rest of the time they stay off the path to the output, with none.
        std::vector<std::size_t> sinks;
        for (std::size_t i = 0; i < entries_.size(); ++i)
            if (!entries_[i].leaf && entries_[i].uses == 0 && i != output) sinks.push_back(i);
        for (std::size_t i : sinks) output = bounded(binary("add", output, to_scalar(i)), opt_.max_abs);
        if (!sinks.empty()) feature("sinks joined to the output");
    }
    if (chance(0.2)) {
        feature("reduced to a scalar loss");
        output = to_scalar(output);
    }
    finish(output);
    return std::move(out_);
}

void Builder::finish(std::size_t output) {
    json upstream;
    Tensor seed = Tensor::scalar(1.0);
    if (!shape(output).empty() || chance(0.3)) {
        seed = tensor_spec(upstream, shape(output), Range::Signed);
    } else {
        feature("scalar loss");
    }
    // The loss L = sum(out * seed) is summed in doubles, so L(v+h) - L(v-h) is
    // only known to about an ulp of the partial sums: divided by 2h, an ulp of
    // 128 is 1.4e-9, more than the 1e-9 (tolerance * floor) a gradient near 0
    // may be off by. The output is scaled down so that sum |out * seed| <= 16.
    auto magnitude = [&] {
        double m = 0;
        for (std::size_t e = 0; e < seed.size(); ++e) m += std::fabs(value(output)[e] * seed[e]);
        return m;
    };
    if (magnitude() > kLossMagnitude) {
        feature("output scaled to keep the loss small");
        double s = 1;
        while (magnitude() * s > kLossMagnitude) s /= 2;
        const std::size_t c = scalar_const(s);
        output = chance(0.5) ? node("mul", {output, c}, json::object(), true)
                             : node("mul", {c, output}, json::object(), true);
    }
    json out;
    out["node"] = entries_[output].name;
    if (!upstream.is_null()) out["upstream"] = upstream;
    for (const Entry& e : entries_) out_.values.emplace(e.name, e.value);

    // Steps now and then, and the nodes in a shuffled order (the loader sorts them).
    if (chance(0.3)) {
        feature("steps");
        std::vector<long long> pool;
        for (long long s = 0; s < 64; ++s) pool.push_back(s * 7 + 3);
        for (std::size_t k = pool.size(); k > 1; --k) std::swap(pool[k - 1], pool[below(k)]);
        std::size_t used = 0;
        for (auto* list : {&leaves_, &nodes_})
            for (json& j : *list)
                if (used < pool.size() && chance(0.5)) j["step"] = pool[used++];
    }
    if (chance(0.3) && nodes_.size() > 1) {
        feature("shuffled node order");
        for (std::size_t k = nodes_.size(); k > 1; --k) std::swap(nodes_[k - 1], nodes_[below(k)]);
    }

    // One leaf or node per line, so that a failing lesson reads well and diffs well.
    std::string text = "{\n";
    text += fmt::format("  \"name\": \"random-{}\",\n", out_.seed);
    text += fmt::format("  \"title\": \"A random graph (bnstep_graph_fuzz --seed {} --count 1{})\",\n", out_.seed,
                        opt_.max_ops == GeneratorOptions{}.max_ops ? "" : fmt::format(" --max-ops {}", opt_.max_ops));
    auto list = [&](const char* key, const std::vector<json>& items) {
        text += fmt::format("  \"{}\": [\n", key);
        for (std::size_t k = 0; k < items.size(); ++k)
            text += "    " + items[k].dump() + (k + 1 < items.size() ? ",\n" : "\n");
        text += "  ],\n";
    };
    list("leaves", leaves_);
    list("nodes", nodes_);
    text += "  \"output\": " + out.dump() + "\n}\n";
    out_.json = std::move(text);
}

std::string first_difference(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return fmt::format("shape {} vs {}", shape_str(a.shape()), shape_str(b.shape()));
    for (std::size_t e = 0; e < a.size(); ++e)
        if (!(a[e] == b[e]) && !(std::isnan(a[e]) && std::isnan(b[e])))
            return fmt::format("at {}: {} vs {}", index_str(a.unravel(e)), a[e], b[e]);
    return "";
}

// Recomputes what lies downstream of node `first` as check_gradients does.
void downstream_as_checked(const Graph& g, const Trace& t, std::vector<Tensor>& values, std::size_t first,
                           const std::vector<bool>& downstream, bool surrogate) {
    for (std::size_t j = first + 1; j < g.nodes.size(); ++j)
        if (downstream[j] && !g.nodes[j].is_leaf()) values[j] = forward_as_checked(g, t, values, j, surrogate);
}

// Does moving node i's element e by +-h put an element of an op downstream
// on another piece (a relu input across 0, another max-pool winner, another
// rounding step or pruning choice)?
bool crosses_kink(const Graph& g, const std::vector<Tensor>& base, const std::vector<Tensor>& plus,
                  const std::vector<Tensor>& minus, const std::vector<bool>& downstream, bool surrogate,
                  std::string& where) {
    for (std::size_t n = 0; n < g.nodes.size(); ++n) {
        const Node& node = g.nodes[n];
        if (!downstream[n] || node.is_leaf()) continue;
        const std::vector<long long> b = pieces_as_checked(g, base, n, surrogate);
        if (b.empty()) continue;
        const std::vector<long long> p = pieces_as_checked(g, plus, n, surrogate),
                                     m = pieces_as_checked(g, minus, n, surrogate);
        for (std::size_t k = 0; k < b.size() && k < p.size() && k < m.size(); ++k)
            if (b[k] != p[k] || b[k] != m[k]) {
                where = fmt::format("{} = {}({}) changes piece at {}", node.name, node.op->name,
                                    g.nodes[node.inputs[0]].name, index_str(base[n].unravel(k)));
                return true;
            }
    }
    return false;
}

// The worked examples that `bnstep trace` prints, for a few elements of every
// op node and of every gradient it sends: each one's result must be the value
// or the gradient contribution the executor computed. Returns "" or the first
// mismatch.
std::string check_worked_examples(const Graph& g, const Trace& t) {
    const NumFmt num{6};
    auto close = [](double a, double b) {
        return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
    };
    auto sample = [](std::size_t size) {  // first, last and a few in between
        std::vector<std::size_t> at;
        for (std::size_t k = 0; k < 5 && k < size; ++k) at.push_back(size <= 5 ? k : k * (size - 1) / 4);
        return at;
    };
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& node = g.nodes[i];
        if (node.is_leaf()) continue;
        const Tensor& v = t.nodes[i].value;
        for (std::size_t e : sample(v.size())) {
            const Worked w = node.op->explain(t.call(i), t.names(i, 0), v.unravel(e), num);
            if (!close(w.result, v[e]))
                return fmt::format(
                    "{} = {}: the worked forward example {} = {} = {} gives {:.12g}, the value is {:.12g}", node.name,
                    node.op->name, w.lhs, w.symbolic, w.numeric, w.result, v[e]);
        }
        if (!t.nodes[i].grad) continue;
        for (const EdgeGrad& edge : t.nodes[i].edges) {
            if (edge.status != EdgeGrad::Status::Flows) continue;
            for (std::size_t e : sample(edge.contribution.size())) {
                const Worked w = node.op->rule(edge.slot).explain(
                    t.call(i, edge.slot), *t.nodes[i].grad, t.names(i, edge.slot), edge.contribution.unravel(e), num);
                if (!close(w.result, edge.contribution[e]))
                    return fmt::format(
                        "{} = {}: the worked gradient example {} = {} = {} gives {:.12g}, the gradient is {:.12g}",
                        node.name, node.op->name, w.lhs, w.symbolic, w.numeric, w.result, edge.contribution[e]);
            }
        }
    }
    return "";
}

}  // namespace

double max_pool_min_gap(const Tensor& x, long long kernel, long long stride, long long padding) {
    double gap = std::numeric_limits<double>::infinity();
    for_each_window(windows_of(x.shape(), kernel, stride, padding), [&](const std::vector<std::size_t>& elems) {
        if (elems.size() < 2) return;
        double top = -std::numeric_limits<double>::infinity(), second = top;
        for (std::size_t e : elems) {
            if (x[e] > top) {
                second = top;
                top = x[e];
            } else if (x[e] > second) {
                second = x[e];
            }
        }
        gap = std::min(gap, top - second);
    });
    return gap;
}

GeneratedLesson generate_lesson(std::uint64_t seed, const GeneratorOptions& options) {
    return Builder(seed, options).build();
}

std::string_view verdict_name(Verdict v) {
    switch (v) {
        case Verdict::Passed: return "passed";
        case Verdict::Rejected: return "rejected by the loader";
        case Verdict::RunError: return "run failed";
        case Verdict::ValueMismatch: return "forward value mismatch";
        case Verdict::KinkSkipped: return "skipped: the check crossed a kink";
        case Verdict::RoundoffSkipped: return "skipped: finite-difference round-off";
        case Verdict::TruncationSkipped: return "skipped: finite-difference truncation";
        case Verdict::Failed: return "GRADIENT CHECK FAILED";
        case Verdict::ExplainMismatch: return "WORKED EXAMPLE MISMATCH";
    }
    return "?";
}

CheckResult check_lesson(const GeneratedLesson& lesson, const GradcheckOptions& options, const OpTable& ops) {
    CheckResult result;
    const std::string source = fmt::format("random-{}.json", lesson.seed);
    Graph g;
    try {
        g = parse_lesson(lesson.json, source, ops);
    } catch (const std::exception& e) {
        result.verdict = Verdict::Rejected;
        result.message = e.what();
        return result;
    }
    Trace t;
    try {
        t = run(g);
    } catch (const std::exception& e) {
        result.verdict = Verdict::RunError;
        result.message = e.what();
        return result;
    }
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const auto it = lesson.values.find(g.nodes[i].name);
        const std::string diff =
            it == lesson.values.end() ? "not generated" : first_difference(it->second, t.nodes[i].value);
        if (!diff.empty()) {
            result.verdict = Verdict::ValueMismatch;
            result.message =
                fmt::format("{}: the loaded lesson's value differs from the generator's: {}", g.nodes[i].name, diff);
            return result;
        }
    }
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        if (g.nodes[i].is_leaf()) continue;
        for (const EdgeGrad& e : t.nodes[i].edges)
            if (e.status == EdgeGrad::Status::Flows) {
                result.exercised.push_back(g.nodes[i].op->name);
                break;
            }
    }

    const GradcheckReport report = check_gradients(g, t, options);
    result.nodes_checked = report.checks.size();
    for (const NodeCheck& c : report.checks) {
        result.elements_checked += c.elements;
        result.elements_at_kinks += c.kinks;
    }
    if (report.passed()) {
        result.message = check_worked_examples(g, t);
        if (!result.message.empty()) result.verdict = Verdict::ExplainMismatch;
        return result;
    }

    // Classify every failing element of every failing node, evaluating L as
    // check_gradients does (straight-through ops by their surrogates). A
    // wrong backward rule fails at every step; a finite-difference artefact
    // does not:
    //  - kink: the +-h of the check puts an op downstream on another piece
    //    than the forward values (a relu input across 0, another max-pool
    //    winner; check_gradients already skips plus against minus);
    //  - round-off: it passes with the step 10h (10x less round-off), or with
    //    L(v+h) - L(v-h) summed per element, sum((out+ - out-) * seed);
    //  - truncation: it passes with the step h/10 (100x less h^2 error).
    auto per_element = [&](const std::vector<Tensor>& plus, const std::vector<Tensor>& minus) {
        double d = 0;
        for (std::size_t k = 0; k < g.seed.size(); ++k) d += (plus[g.output][k] - minus[g.output][k]) * g.seed[k];
        return d;
    };
    std::vector<Tensor> base;
    for (const NodeState& s : t.nodes) base.push_back(s.value);
    auto numeric_at = [&](std::size_t i, std::size_t e, double h, const std::vector<bool>& downstream, bool surrogate) {
        std::vector<Tensor> plus = base, minus = base;
        plus[i][e] += h;
        minus[i][e] -= h;
        downstream_as_checked(g, t, plus, i, downstream, surrogate);
        downstream_as_checked(g, t, minus, i, downstream, surrogate);
        return (loss(g, plus) - loss(g, minus)) / (2 * h);
    };
    auto passes = [&](double analytic, double numeric) {
        return relative_error(analytic, numeric, options.floor) <= options.tolerance;
    };
    std::size_t unexplained = 0, kinks = 0, roundoff = 0, truncation = 0;
    std::string lines;
    for (const NodeCheck& c : report.checks) {
        if (c.passed) continue;
        const std::size_t i = c.node;
        const std::vector<bool> downstream = g.downstream_of(i);
        const bool surrogate = !c.surrogates.empty();
        const Tensor& analytic = *t.nodes[i].grad;
        std::size_t failing = 0, node_kinks = 0, node_roundoff = 0, node_truncation = 0;
        std::string kink_where;
        for (std::size_t e = 0; e < analytic.size(); ++e) {
            std::vector<Tensor> plus = base, minus = base;
            plus[i][e] += options.step;
            minus[i][e] -= options.step;
            downstream_as_checked(g, t, plus, i, downstream, surrogate);
            downstream_as_checked(g, t, minus, i, downstream, surrogate);
            if (passes(analytic[e], (loss(g, plus) - loss(g, minus)) / (2 * options.step))) continue;
            ++failing;
            std::string where;
            if (crosses_kink(g, base, plus, minus, downstream, surrogate, where)) {
                ++node_kinks;
                if (kink_where.empty()) kink_where = where;
            } else if (passes(analytic[e], per_element(plus, minus) / (2 * options.step)) ||
                       passes(analytic[e], numeric_at(i, e, 10 * options.step, downstream, surrogate))) {
                ++node_roundoff;
            } else if (passes(analytic[e], numeric_at(i, e, options.step / 10, downstream, surrogate))) {
                ++node_truncation;
            }
        }
        kinks += node_kinks, roundoff += node_roundoff, truncation += node_truncation;
        unexplained += failing - node_kinks - node_roundoff - node_truncation;
        lines += fmt::format(
            "  {} {}: worst at {}: analytic {:.12g}, numeric {:.12g}, error {:.3g}\n"
            "    {} of {} elements fail: {} cross a kink{}, {} pass with less round-off (step 10h or a "
            "per-element sum), {} with less truncation (step h/10), {} unexplained\n",
            g.nodes[i].is_leaf() ? "leaf" : "node", g.nodes[i].name, index_str(c.worst), c.analytic, c.numeric,
            c.max_error, failing, analytic.size(), node_kinks, kink_where.empty() ? "" : " (" + kink_where + ")",
            node_roundoff, node_truncation, failing - node_kinks - node_roundoff - node_truncation);
        const std::size_t e = analytic.offset(c.worst);
        std::string steps;
        for (double h : {1e-3, 1e-4, 1e-6, 1e-7})
            steps += fmt::format("{}h={:g}: {:.12g}", steps.empty() ? "" : ", ", h,
                                 numeric_at(i, e, h, downstream, surrogate));
        lines += "    the worst element's numeric gradient with other steps: " + steps + "\n";
    }
    result.verdict = unexplained  ? Verdict::Failed
                     : kinks      ? Verdict::KinkSkipped
                     : truncation ? Verdict::TruncationSkipped
                                  : Verdict::RoundoffSkipped;
    result.message = lines;
    return result;
}

}  // namespace bnstep::fuzz
