// The random lesson builder (random_graph_builder.hpp): leaves, op nodes,
// the domains of their inputs and the refusal at kinks, and the lesson text.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "bnstep/op.hpp"
#include "random_graph_builder.hpp"

namespace bnstep::fuzz {
namespace detail {
namespace {

constexpr double kLossMagnitude = 16.0;

// Values as the loader draws them for a "random" spec.
Tensor draw(const Shape& shape, long long seed, bool normal, double a, double b, long long decimals) {
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

}  // namespace

std::vector<std::size_t> divisors(std::size_t n) {
    std::vector<std::size_t> d;
    for (std::size_t k = 1; k <= n; ++k)
        if (n % k == 0) d.push_back(k);
    return d;
}

// --- randomness -------------------------------------------------------------

long long Builder::random_seed() {
    const long long s = static_cast<long long>(rng_.next() >> 34);
    return chance(0.1) ? -s : s;
}

// The largest size up to `most` that keeps `times` * size within max_elements.
long long Builder::up_to(long long most, std::size_t times) const {
    return std::max<long long>(
        1, std::min<long long>(most, (long long)(opt_.max_elements / std::max<std::size_t>(1, times))));
}

// An attribute, left out now and then when it equals the op's default.
void Builder::put(json& attrs, const std::string& name, long long v, long long fallback) {
    if (v == fallback && chance(0.5)) return;
    attrs[name] = v;
}

// --- leaves -------------------------------------------------------------------

Shape Builder::random_shape(std::size_t rank, std::size_t cap) {
    Shape s;
    for (std::size_t k = 0; k < rank; ++k) s.push_back(static_cast<std::size_t>(between(1, 4)));
    while (element_count(s) > cap) {
        std::size_t k = below(rank);
        if (s[k] > 1) --s[k];
    }
    return s;
}

json Builder::nested(const Tensor& t, std::size_t dim, std::size_t offset) {
    if (dim == t.rank()) return t[offset];
    json list = json::array();
    std::size_t stride = 1;
    for (std::size_t d = dim + 1; d < t.rank(); ++d) stride *= t.shape()[d];
    for (std::size_t k = 0; k < t.shape()[dim]; ++k) list.push_back(nested(t, dim + 1, offset + k * stride));
    return list;
}

// A "random" spec of `shape` in `range`; its values go to `values`.
json Builder::random_spec(const Shape& shape, Range range, Tensor& values) {
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
    } else if (chance(0.7)) {
        a = 0.5, b = 1.5;
        spec["low"] = a, spec["high"] = b;
    } else {
        spec["dist"] = "normal";
        normal = true, a = 1.0, b = 0.1;  // Irwin-Hall stays within 6 std: >= 0.4
        spec["mean"] = a, spec["std"] = b;
    }
    long long decimals = -1;
    if (chance(0.1)) {
        decimals = between(2, 6);
        spec["decimals"] = decimals;
        feature("decimals");
    }
    if (!normal && a == -1 && b == 1 && chance(0.5)) spec["dist"] = "uniform";
    values = draw(shape, seed, normal, a, b, decimals);
    return spec;
}

// A tensor spec ("random", "values" or "fill") of `shape` in `range`, into obj; returns the values.
Tensor Builder::tensor_spec(json& obj, const Shape& shape, Range range) {
    if (rng_.uniform() < 0.05) {
        const double fill =
            range == Range::Signed ? choose<double>({-1.0, -0.5, 0.5, 1.0, 2.0}) : choose<double>({0.5, 1.0, 1.5});
        obj["fill"] = fill;
        feature("fill");
        return Tensor(shape, fill);
    }
    Tensor t;
    json spec = random_spec(shape, range, t);
    if (chance(0.15)) {
        obj["values"] = nested(t, 0, 0);
        feature("values");
    } else {
        obj["random"] = spec;
    }
    return t;
}

std::size_t Builder::add_leaf(json j, Tensor value) {
    entries_.push_back({j["name"].get<std::string>(), std::move(value), true});
    leaves_.push_back(std::move(j));
    return entries_.size() - 1;
}

std::size_t Builder::leaf(Shape shape, Range range, const char* kind) {
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
    return add_leaf(std::move(j), std::move(v));
}

std::size_t Builder::scalar_const(double v) {
    json j;
    j["name"] = fresh("k");
    j["kind"] = "const";
    j["shape"] = json::array();
    if (chance(0.5))
        j["fill"] = v;
    else
        j["values"] = v;
    return add_leaf(std::move(j), Tensor::scalar(v));
}

// A const leaf with the given values, written out as "values".
std::size_t Builder::const_leaf(const Tensor& t, const std::string& what) {
    json j;
    j["name"] = fresh("k");
    j["kind"] = "const";
    j["shape"] = t.shape();
    j["values"] = nested(t, 0, 0);
    feature(what);
    return add_leaf(std::move(j), t);
}

// A leaf of `shape` whose rows (along the last axis) are probabilities:
// positive, each summing to 1.
std::size_t Builder::distribution_leaf(Shape shape) {
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
    return add_leaf(std::move(j), t);
}

// Rows of probabilities of `shape`, all positive: a leaf, or the softmax of a node.
std::size_t Builder::distribution(Shape shape) {  // by value: leaf() may move what shape(i) refers to
    if (!shape.empty() && chance(0.5)) {
        std::size_t x;
        if (auto i = pick([&](std::size_t j) { return this->shape(j) == shape; }); i && chance(0.5))
            x = *i;
        else
            x = leaf(shape);
        json attrs;
        put(attrs, "axis", chance(0.5) ? -1 : (long long)shape.size() - 1, -1);
        return *make("softmax", {x}, attrs, true);
    }
    return distribution_leaf(shape);
}

// A random 0/1 mask of shape, as a const leaf.
std::size_t Builder::mask_leaf(Shape shape, const std::string& what) {
    Tensor m(shape);
    const double p = choose<double>({0.3, 0.5, 0.8});
    for (double& v : m.data()) v = chance(p) ? 1.0 : 0.0;
    return const_leaf(m, what);
}

// Integer class labels below `classes`, as a const leaf.
std::size_t Builder::labels_leaf(Shape shape, std::size_t classes) {
    Tensor labels(shape);
    for (double& v : labels.data()) v = static_cast<double>(below(classes));
    return const_leaf(labels, "class labels");
}

// --- the lesson -----------------------------------------------------------------

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
        for (std::size_t i : sinks) output = bounded(*binary("add", output, to_scalar(i)), opt_.max_abs);
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

    out_.json = lesson_text(out);
}

// One leaf or node per line, so that a failing lesson reads well and diffs well.
std::string Builder::lesson_text(const json& out) {
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
    return text;
}

}  // namespace detail

GeneratedLesson generate_lesson(std::uint64_t seed, const GeneratorOptions& options) {
    return detail::Builder(seed, options).build();
}

}  // namespace bnstep::fuzz
