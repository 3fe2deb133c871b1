#pragma once
// The random lesson builder behind generate_lesson (random_graphs.hpp): its
// leaves, op nodes and helpers in random_graph_generator.cpp, and per op
// family the shapes and attributes of a random node in random_graph_families.cpp.
//
// Values come from the op table: each input of a node is made to satisfy its
// InputRule::domain (bounded, positive, class labels, a 0/1 mask, a
// distribution), and a node whose input lies within kink_margin of a kink
// (OpDef::pieces, or its surrogate's) is refused.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bnstep/op.hpp"
#include "bnstep/rng.hpp"
#include "random_graphs.hpp"

namespace bnstep::fuzz::detail {

using json = nlohmann::ordered_json;

struct Entry {
    std::string name;
    Tensor value;
    bool leaf = false;
    std::size_t uses = 0;  // how many op nodes read it
};

enum class Range { Signed, Positive };

// An input of an op node before its domain is applied: an existing node, or
// a new leaf of a shape (class labels, a mask, a distribution, a leaf).
struct In {
    In(std::size_t node) : node(node) {}  // NOLINT: a node index reads as an input
    static In fresh(Shape shape) {
        In in(0);
        in.node.reset();
        in.shape = std::move(shape);
        return in;
    }
    std::optional<std::size_t> node;
    Shape shape;
};

std::vector<std::size_t> divisors(std::size_t n);

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

    // --- randomness (random_graph_generator.cpp) -------------------------------
    std::size_t below(std::size_t n) { return n <= 1 ? 0 : static_cast<std::size_t>(rng_.next() % n); }
    long long between(long long lo, long long hi) {
        return lo + static_cast<long long>(below(static_cast<std::size_t>(hi - lo + 1)));
    }
    bool chance(double p) { return rng_.uniform() < p; }
    template <class T>
    T choose(const std::vector<T>& v) {
        return v[below(v.size())];
    }
    long long random_seed();

    void feature(const std::string& f) { ++out_.features[f]; }
    const Shape& shape(std::size_t i) const { return entries_[i].value.shape(); }
    const Tensor& value(std::size_t i) const { return entries_[i].value; }
    std::string fresh(const char* prefix) { return fmt_name(prefix, counter_++); }
    static std::string fmt_name(const char* prefix, std::size_t n) { return prefix + std::to_string(n); }
    long long up_to(long long most, std::size_t times) const;
    void put(json& attrs, const std::string& name, long long v, long long fallback);

    // --- leaves -------------------------------------------------------------
    Shape random_shape(std::size_t rank, std::size_t cap);
    json nested(const Tensor& t, std::size_t dim, std::size_t offset);
    Tensor tensor_spec(json& obj, const Shape& shape, Range range);
    json random_spec(const Shape& shape, Range range, Tensor& values);
    std::size_t add_leaf(json j, Tensor value);
    std::size_t leaf(Shape shape, Range range = Range::Signed, const char* kind = nullptr);
    std::size_t scalar_const(double v);
    std::size_t const_leaf(const Tensor& t, const std::string& what);
    std::size_t distribution_leaf(Shape shape);
    std::size_t distribution(Shape shape);
    std::size_t mask_leaf(Shape shape, const std::string& what);
    std::size_t labels_leaf(Shape shape, std::size_t classes);

    // --- op nodes -------------------------------------------------------------
    Attrs attrs_of(const OpDef& def, const json& attrs) const;
    std::size_t node(const std::string& op, const std::vector<std::size_t>& in, const json& attrs = json::object(),
                     bool helper = false);
    // The node `op` of these inputs, each made to satisfy its domain first;
    // nothing (counted in `avoided`) when an input lies at a kink.
    std::optional<std::size_t> make(const std::string& op, const std::vector<In>& in,
                                    const json& attrs = json::object(), bool helper = false);
    std::size_t satisfy(const std::string& op, const In& in, const Domain& d, const std::vector<std::size_t>& before);
    bool at_kink(const OpDef& def, const std::vector<std::size_t>& in, const Attrs& attrs) const;
    std::optional<std::size_t> avoid(const std::string& why);

    std::optional<std::size_t> pick(const std::function<bool(std::size_t)>& ok);
    std::size_t any();
    std::size_t any_with_axes();
    Shape factor(std::size_t total, std::size_t rank);
    std::size_t of_rank(std::size_t rank);
    std::size_t bounded(std::size_t x, double limit);
    std::size_t positive(std::size_t x);
    Shape partner_shape(const Shape& s);
    std::size_t to_scalar(std::size_t x);
    std::size_t partner(std::size_t a);
    std::optional<std::size_t> binary(const std::string& op, std::size_t a, std::size_t b);

    // --- one random node of an op: shapes and attributes per family (random_graph_families.cpp)
    std::optional<std::size_t> gen(const std::string& op);
    std::optional<std::size_t> gen_elementwise(const std::string& op);
    std::optional<std::size_t> gen_reduce(const std::string& op);
    std::optional<std::size_t> gen_matmul();
    std::optional<std::size_t> gen_norm(const std::string& op);
    std::optional<std::size_t> gen_running_stat(const std::string& op);
    std::optional<std::size_t> gen_conv();
    std::optional<std::size_t> gen_pool(const std::string& op);
    std::optional<std::size_t> gen_shape(const std::string& op);
    std::optional<std::size_t> gen_concat();
    std::optional<std::size_t> gen_softmax_loss(const std::string& op);
    std::optional<std::size_t> gen_quantization(const std::string& op);
    std::optional<std::size_t> gen_pruning(const std::string& op);

    void finish(std::size_t output);
    std::string lesson_text(const json& out);
};

}  // namespace bnstep::fuzz::detail
