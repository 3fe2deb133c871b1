#pragma once
// The lesson loader's shared parts, private to the engine: the Reader that
// checks JSON values and fails with "<file>: <location>: <what>", the values
// of leaves (lesson_values.cpp), and the state the phases of parse_lesson pass
// along (lesson.cpp drives them).
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "bnstep/did_you_mean.hpp"
#include "bnstep/error.hpp"
#include "bnstep/graph.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/visible.hpp"

namespace bnstep::lesson_detail {

using json = nlohmann::json;

// "an object", "a list" ... for messages.
std::string type_of(const json& j);

class Reader {
public:
    explicit Reader(std::string source) : source_(std::move(source)) {}

    [[noreturn]] void fail(const std::string& where, const std::string& what) const {
        throw LessonError(fmt::format("{}: {}: {}", source_, where.empty() ? "/" : where, what));
    }

    const std::string& source() const { return source_; }

    void only_keys(const json& obj, const std::string& where, const std::vector<std::string>& allowed) const {
        for (const auto& [key, value] : obj.items()) {
            if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
            const std::string hint = did_you_mean(key, allowed);
            fail(where,
                 fmt::format("unknown key '{}'{}; expected one of: {}", key,
                             hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), fmt::join(allowed, ", ")));
        }
    }

    const json* optional(const json& obj, const std::string& key) const {
        const auto it = obj.find(key);
        return it == obj.end() ? nullptr : &*it;
    }

    const json& required(const json& obj, const std::string& where, const std::string& key,
                         const std::string& expected) const {
        const json* j = optional(obj, key);
        if (!j) fail(where, fmt::format("missing key '{}' ({})", key, expected));
        return *j;
    }

    const json& object(const json& j, const std::string& where) const {
        if (!j.is_object()) fail(where, fmt::format("expected an object, got {}", type_of(j)));
        return j;
    }

    const json& list(const json& j, const std::string& where) const {
        if (!j.is_array()) fail(where, fmt::format("expected a list, got {}", type_of(j)));
        return j;
    }

    std::string string(const json& j, const std::string& where) const {
        if (!j.is_string()) fail(where, fmt::format("expected a string, got {}", type_of(j)));
        return j.get<std::string>();
    }

    // Free text a lesson shows (title, notes ...), with control characters made visible.
    std::string text(const json& j, const std::string& where) const { return visible(string(j, where)); }

    double number(const json& j, const std::string& where) const {
        if (!j.is_number()) fail(where, fmt::format("expected a number, got {}", type_of(j)));
        const double v = j.get<double>();
        if (!std::isfinite(v)) fail(where, "expected a finite number, got an infinite one");
        return v;
    }

    long long integer(const json& j, const std::string& where) const {
        // JSON reads a whole number beyond 64 bits as a float: it is too large, not a fraction.
        constexpr double kTwoTo63 = 9223372036854775808.0;
        if (j.is_number_float() && std::isfinite(j.get<double>()) && std::fabs(j.get<double>()) >= kTwoTo63)
            fail(where, fmt::format("integer too large: expected -9223372036854775808 to 9223372036854775807, got {}",
                                    j.dump()));
        if (!j.is_number_integer())
            fail(where, fmt::format("expected an integer, got {}", j.is_number() ? j.dump() : type_of(j)));
        if (j.is_number_unsigned() && j.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
            fail(where, fmt::format("integer too large: expected at most 9223372036854775807, got {}", j.dump()));
        return j.get<long long>();
    }

    bool boolean(const json& j, const std::string& where) const {
        if (!j.is_boolean()) fail(where, fmt::format("expected true or false, got {}", type_of(j)));
        return j.get<bool>();
    }

private:
    std::string source_;
};

inline std::string at(const std::string& where, const std::string& key) { return where + "/" + key; }
inline std::string at(const std::string& where, std::size_t i) { return where + "/" + std::to_string(i); }

// How many numbers a nested list of numbers holds.
std::size_t count_numbers(const json& j);
bool is_identifier(const std::string& s);
// A list of dimensions, each at least 1, of at most Limits::elements in all.
Shape read_shape(const Reader& r, const json& j, const std::string& where, const Limits& limits);
// A tensor given by exactly one of "values", "random" or "fill" in `obj`.
Tensor read_tensor(const Reader& r, const json& obj, const Shape& shape, const std::string& where);

// What a lesson says of a node beyond its Node: resolved once all are declared.
struct Decl {
    std::string where;
    std::string op_name;
    std::vector<std::string> input_names;
    std::vector<std::string> input_where;
    const json* attrs = nullptr;
};

// What the phases of parse_lesson read and build, in the order they run.
struct LessonBuild {
    const Reader& r;
    const OpTable& ops;
    const LessonOptions& options;
    const json& root;
    Graph g;
    // Every declaration, leaves first, in the lesson's order.
    std::vector<Node> nodes;
    std::vector<Decl> decls;
    std::map<std::string, std::size_t> by_name;
    std::map<int, std::string> by_step;
    std::vector<std::string> resized_names;
    std::vector<std::pair<std::size_t, const json*>> leaf_items;  // values are read once the sizes are known to fit
    std::vector<std::string> all_names;                           // by declaration
    std::vector<std::vector<std::size_t>> inputs;                 // by declaration
    std::vector<std::size_t> position;                            // declaration -> index in g.nodes
};

// The phases, in the order parse_lesson runs them.
void read_leaves(LessonBuild& b);                  // lesson_declare.cpp: names, kinds, shapes (and new shapes)
void read_node_declarations(LessonBuild& b);       // lesson_declare.cpp: names, ops and inputs as written
void resolve_nodes(LessonBuild& b);                // lesson_nodes.cpp: ops, attributes and inputs
void place_nodes(LessonBuild& b);                  // lesson_nodes.cpp: topological order, then shapes and sizes
void check_memory(const LessonBuild& b);           // lesson_output.cpp: what a run would hold
void read_leaf_values(LessonBuild& b);             // lesson_declare.cpp
void read_output(LessonBuild& b);                  // lesson_output.cpp: the output and its upstream gradient
void check_constant_inputs(const LessonBuild& b);  // lesson_nodes.cpp: buffers, labels and masks get no gradient
void read_compare(LessonBuild& b);                 // lesson_output.cpp
void read_variant_rules(LessonBuild& b);           // lesson_variant.cpp: the lesson-level "variant" object
void apply_variant(LessonBuild& b);                // lesson_variant.cpp: under a variant, the draw (variant.cpp)

// How a leaf (or the upstream gradient) is redrawn: its "variant" key in
// `item`, or the default for how it is given (`written`: its values as written).
LeafVariant read_leaf_variant(const Reader& r, const json& item, const std::string& where, NodeKind kind,
                              const Tensor& written);

}  // namespace bnstep::lesson_detail
