// The values of a lesson's leaves: shapes, literal values, seeded random
// tensors and fills.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "bnstep/rng.hpp"
#include "lesson_reader.hpp"

namespace bnstep::lesson_detail {

std::string type_of(const json& j) {
    switch (j.type()) {
        case json::value_t::null: return "null";
        case json::value_t::object: return "an object";
        case json::value_t::array: return "a list";
        case json::value_t::string: return "a string";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::discarded: return "nothing";
        default: return "a number";
    }
}

std::size_t count_numbers(const json& j) {
    if (!j.is_array()) return 1;
    std::size_t n = 0;
    for (const json& item : j) n += count_numbers(item);
    return n;
}

bool is_identifier(const std::string& s) {
    if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Shape read_shape(const Reader& r, const json& j, const std::string& where, const Limits& limits) {
    r.list(j, where);
    if (j.size() > kMaxRank)
        r.fail(where, fmt::format("rank {} is too high: bnstep tensors have rank 0 to {}", j.size(), kMaxRank));
    Shape shape;
    std::size_t count = 1;
    for (std::size_t i = 0; i < j.size(); ++i) {
        const long long d = r.integer(j[i], at(where, i));
        if (d < 1) r.fail(at(where, i), fmt::format("expected a dimension of at least 1, got {}", d));
        if (saturating_mul(count, static_cast<std::size_t>(d)) > limits.elements)
            r.fail(where, fmt::format("the shape has more than {} elements, the limit for one tensor ({})",
                                      limits.elements, limits.names.elements));
        count *= static_cast<std::size_t>(d);
        shape.push_back(static_cast<std::size_t>(d));
    }
    return shape;
}

namespace {

void read_nested(const Reader& r, const json& j, const Shape& shape, std::size_t dim, const std::string& where,
                 std::vector<double>& out) {
    if (dim == shape.size()) {
        out.push_back(r.number(j, where));
        return;
    }
    if (!j.is_array() || j.size() != shape[dim]) {
        const std::string wanted = dim + 1 == shape.size() ? fmt::format("a list of {} numbers", shape[dim])
                                                           : fmt::format("a list of {} lists", shape[dim]);
        r.fail(where, fmt::format("expected {} to fit shape {}, got {}", wanted, shape_str(shape),
                                  j.is_array() ? fmt::format("a list of {}", j.size()) : type_of(j)));
    }
    for (std::size_t i = 0; i < j.size(); ++i) read_nested(r, j[i], shape, dim + 1, at(where, i), out);
}

Tensor read_random(const Reader& r, const json& spec, const Shape& shape, const std::string& where) {
    r.object(spec, where);
    r.only_keys(spec, where, {"seed", "dist", "low", "high", "mean", "std", "decimals"});
    const long long seed = r.integer(r.required(spec, where, "seed", "an integer"), at(where, "seed"));
    std::string dist = "uniform";
    if (const json* d = r.optional(spec, "dist")) dist = r.string(*d, at(where, "dist"));
    if (dist != "uniform" && dist != "normal")
        r.fail(at(where, "dist"), fmt::format("unknown distribution '{}'; expected \"uniform\" or \"normal\"", dist));
    for (const char* key :
         dist == "uniform" ? std::vector<const char*>{"mean", "std"} : std::vector<const char*>{"low", "high"})
        if (r.optional(spec, key))
            r.fail(at(where, key), fmt::format("'{}' does not apply to dist \"{}\"; it takes {}", key, dist,
                                               dist == "uniform" ? "low and high" : "mean and std"));
    auto num = [&](const char* key, double fallback) {
        const json* j = r.optional(spec, key);
        return j ? r.number(*j, at(where, key)) : fallback;
    };
    const double a = dist == "uniform" ? num("low", -1.0) : num("mean", 0.0);
    const double b = dist == "uniform" ? num("high", 1.0) : num("std", 1.0);
    if (dist == "uniform" && !(a < b)) r.fail(where, "expected low < high");
    if (dist == "normal" && b < 0) r.fail(at(where, "std"), "expected a standard deviation >= 0");
    long long decimals = -1;
    if (const json* d = r.optional(spec, "decimals")) {
        decimals = r.integer(*d, at(where, "decimals"));
        if (decimals < 0 || decimals > 15) r.fail(at(where, "decimals"), "expected 0 to 15 decimal places");
    }
    Rng rng(static_cast<std::uint64_t>(seed));
    Tensor t(shape);
    double scale = 1.0;
    for (long long i = 0; i < decimals; ++i) scale *= 10.0;
    for (double& v : t.data()) {
        v = dist == "uniform" ? rng.uniform(a, b) : rng.normal(a, b);
        if (decimals >= 0) v = std::round(v * scale) / scale;
    }
    return t;
}

}  // namespace

Tensor read_tensor(const Reader& r, const json& obj, const Shape& shape, const std::string& where) {
    const json* values = r.optional(obj, "values");
    const json* random = r.optional(obj, "random");
    const json* fill = r.optional(obj, "fill");
    if ((values != nullptr) + (random != nullptr) + (fill != nullptr) != 1)
        r.fail(where, "expected exactly one of \"values\", \"random\" or \"fill\"");
    if (random) return read_random(r, *random, shape, at(where, "random"));
    if (fill) return Tensor(shape, r.number(*fill, at(where, "fill")));
    std::vector<double> data;
    data.reserve(element_count(shape));
    read_nested(r, *values, shape, 0, at(where, "values"), data);
    return Tensor(shape, std::move(data));
}

}  // namespace bnstep::lesson_detail
