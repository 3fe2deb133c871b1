// Lesson JSON -> validated Graph. Every check happens here, before anything
// runs; each failure names the file, the JSON location or node, and what
// was expected.
#include "bnstep/lesson.hpp"

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <map>
#include <queue>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bnstep/error.hpp"
#include "bnstep/rng.hpp"
#include "bnstep/text_file.hpp"
#include "bnstep/visible.hpp"
#include "json_reader.hpp"

namespace bnstep {
namespace {

using json = nlohmann::json;

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

std::string at(const std::string& where, const std::string& key) { return where + "/" + key; }

// How many numbers a nested list of numbers holds.
std::size_t count_numbers(const json& j) {
    if (!j.is_array()) return 1;
    std::size_t n = 0;
    for (const json& item : j) n += count_numbers(item);
    return n;
}
std::string at(const std::string& where, std::size_t i) { return where + "/" + std::to_string(i); }

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

// A tensor given by exactly one of "values", "random" or "fill" in `obj`.
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

struct Decl {
    std::string where;
    std::string op_name;
    std::vector<std::string> input_names;
    std::vector<std::string> input_where;
    const json* attrs = nullptr;
};

Attrs read_attrs(const Reader& r, const OpDef& op, const json* attrs, const std::string& where) {
    Attrs out;
    std::vector<std::string> names;
    for (const auto& spec : op.attrs) names.push_back(spec.name);
    if (attrs) {
        r.object(*attrs, where);
        for (const auto& [key, value] : attrs->items()) {
            if (std::find(names.begin(), names.end(), key) == names.end()) {
                const std::string hint = did_you_mean(key, names);
                r.fail(
                    at(where, key),
                    fmt::format("op '{}' has no attribute '{}'{}; {}", op.name, key,
                                hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                names.empty() ? "it takes none" : fmt::format("it takes: {}", fmt::join(names, ", "))));
            }
        }
    }
    for (const auto& spec : op.attrs) {
        const json* j = attrs ? r.optional(*attrs, spec.name) : nullptr;
        const std::string w = at(where, spec.name);
        if (!j) {
            if (!spec.fallback)
                r.fail(where, fmt::format("op '{}' needs attribute '{}' ({}: {})", op.name, spec.name,
                                          attr_type_name(spec.type), spec.help));
            if (spec.type == AttrType::Int)
                out.set_integer(spec.name, static_cast<long long>(*spec.fallback));
            else
                out.set(spec.name, *spec.fallback);
        } else if (spec.type == AttrType::IntList) {
            r.list(*j, w);
            if (j->empty() || j->size() > 8) r.fail(w, "expected a list of 1 to 8 integers");
            std::vector<long long> values;
            for (std::size_t k = 0; k < j->size(); ++k) values.push_back(r.integer((*j)[k], at(w, k)));
            out.set_list(spec.name, std::move(values));
        } else if (spec.type == AttrType::Choice) {
            const auto choice =
                std::find(spec.choices.begin(), spec.choices.end(), j->is_string() ? j->get<std::string>() : "");
            if (choice == spec.choices.end())
                r.fail(w, fmt::format("expected one of {} ({})", fmt::join(spec.choices, ", "), spec.help));
            out.set(spec.name, static_cast<double>(choice - spec.choices.begin()));
        } else if (spec.type == AttrType::Bool) {
            out.set(spec.name, r.boolean(*j, w) ? 1.0 : 0.0);
        } else if (spec.type == AttrType::Int) {
            out.set_integer(spec.name, r.integer(*j, w));
        } else {
            out.set(spec.name, r.number(*j, w));
        }
    }
    return out;
}

// An op node's output and its window against Limits::elements, and the run's
// multiply-adds so far against Limits::work.
void check_node_size(const Reader& r, const Node& node, const std::vector<Shape>& in_shapes, const Limits& limits,
                     std::size_t& work) {
    const std::size_t elements = element_count(node.shape);
    if (elements > limits.elements)
        r.fail(node.location, fmt::format("{} would have shape {}, more than {} elements, the limit for one "
                                          "tensor ({})",
                                          node.name, shape_str(node.shape), limits.elements, limits.names.elements));
    std::size_t taps = 1;
    if (node.op->window_taps) {
        taps = node.op->window_taps(in_shapes, node.attrs);
        if (taps > limits.elements)
            r.fail(node.location,
                   fmt::format("each element of {} = {} reads a window of {} elements, more than the "
                               "limit of {} ({})",
                               node.name, node.op->name, taps == SIZE_MAX ? "more than 2^64" : std::to_string(taps),
                               limits.elements, limits.names.elements));
    }
    // The op's own count of multiply-adds where it has one, else one per element it reads.
    std::size_t node_work = saturating_mul(elements, taps);
    if (node.op->cost) {
        const double macs = node.op->cost(in_shapes, node.shape, node.attrs).macs;
        node_work = macs >= 1.8e19 ? SIZE_MAX : static_cast<std::size_t>(macs);
    }
    work = saturating_add(work, node_work);
    if (work > limits.work)
        r.fail(node.location, fmt::format("a forward pass would take more than {} multiply-adds by {} = {}, the limit "
                                          "({})",
                                          limits.work, node.name, node.op->name, limits.names.work));
}

// Topological order, the declaration order on ties; a cycle is an error.
std::vector<std::size_t> topological_order(const Reader& r, const std::vector<std::vector<std::size_t>>& inputs,
                                           const std::vector<std::string>& names, const std::vector<Decl>& decls) {
    const std::size_t n = inputs.size();
    std::vector<std::size_t> missing(n, 0);
    std::vector<std::vector<std::size_t>> readers(n);
    for (std::size_t i = 0; i < n; ++i) {
        missing[i] = inputs[i].size();
        for (std::size_t in : inputs[i]) readers[in].push_back(i);
    }
    std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
    for (std::size_t i = 0; i < n; ++i)
        if (missing[i] == 0) ready.push(i);
    std::vector<std::size_t> order;
    while (!ready.empty()) {
        const std::size_t i = ready.top();
        ready.pop();
        order.push_back(i);
        for (std::size_t reader : readers[i])
            if (--missing[reader] == 0) ready.push(reader);
    }
    if (order.size() == n) return order;
    // Walk back along unfinished inputs until a node repeats: that is a cycle.
    std::size_t start = 0;
    while (missing[start] == 0) ++start;
    std::vector<std::size_t> path{start};
    std::vector<int> seen(n, -1);
    seen[start] = 0;
    for (;;) {
        const std::size_t cur = path.back();
        std::size_t next = cur;
        for (std::size_t in : inputs[cur])
            if (missing[in] != 0) {
                next = in;
                break;
            }
        if (seen[next] >= 0) {
            std::vector<std::string> cycle;
            for (std::size_t k = path.size(); k-- > static_cast<std::size_t>(seen[next]);)
                cycle.push_back(names[path[k]]);
            cycle.push_back(names[path.back()]);
            r.fail(decls[path.back()].where,
                   fmt::format("the graph has a cycle: {} (each node must depend only on earlier values)",
                               fmt::join(cycle, " -> ")));
        }
        seen[next] = static_cast<int>(path.size());
        path.push_back(next);
    }
}

}  // namespace

std::string did_you_mean(std::string_view wanted, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(1, std::min<std::size_t>(3, wanted.size() / 3));
    bool found = false;
    for (const auto& c : candidates) {
        // Edit distance with transpositions (optimal string alignment), ignoring case.
        auto same = [&](std::size_t i, std::size_t j) {
            return std::tolower(static_cast<unsigned char>(wanted[i])) ==
                   std::tolower(static_cast<unsigned char>(c[j]));
        };
        std::vector<std::vector<std::size_t>> d(wanted.size() + 1, std::vector<std::size_t>(c.size() + 1));
        for (std::size_t i = 0; i <= wanted.size(); ++i) d[i][0] = i;
        for (std::size_t j = 0; j <= c.size(); ++j) d[0][j] = j;
        for (std::size_t i = 1; i <= wanted.size(); ++i)
            for (std::size_t j = 1; j <= c.size(); ++j) {
                d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (same(i - 1, j - 1) ? 0 : 1)});
                if (i > 1 && j > 1 && same(i - 1, j - 2) && same(i - 2, j - 1))
                    d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        const std::size_t distance = d[wanted.size()][c.size()];
        if (distance <= best_distance && (!found || distance < best_distance)) {
            best = c;
            best_distance = distance;
            found = true;
        }
    }
    return best;
}

Graph parse_lesson(std::string_view text, const std::string& source, const OpTable& ops, const LessonOptions& options) {
    const Reader r(source);
    if (text.size() > options.limits.file_bytes)
        throw LessonError(fmt::format("{}: the lesson is {}, above the limit of {} ({})", source,
                                      bytes_str(text.size()), bytes_str(options.limits.file_bytes),
                                      options.limits.names.file_bytes));
    const json root =
        read_lesson_json(text, source, {options.limits.json_depth, options.limits.nodes, options.limits.names.nodes});
    r.object(root, "");
    r.only_keys(root, "", {"$schema", "name", "title", "description", "leaves", "nodes", "output", "compare"});

    Graph g;
    g.source = visible(source);
    g.title = r.text(r.required(root, "", "title", "a string"), "/title");
    if (const json* d = r.optional(root, "description")) g.description = r.text(*d, "/description");
    if (const json* n = r.optional(root, "name")) g.name = r.text(*n, "/name");
    if (g.name.empty()) g.name = visible(std::filesystem::path(source).stem().string());

    // Every declaration, leaves first, in the lesson's order.
    std::vector<Node> nodes;
    std::vector<Decl> decls;
    std::map<std::string, std::size_t> by_name;
    std::map<int, std::string> by_step;
    std::vector<std::string> resized_names;
    auto declare = [&](const json& item, const std::string& where) {
        r.object(item, where);
        Node node;
        node.location = where;
        node.name = r.string(r.required(item, where, "name", "a string"), at(where, "name"));
        if (!is_identifier(node.name))
            r.fail(
                at(where, "name"),
                fmt::format("'{}' is not a valid name (letters, digits and _, not starting with a digit)", node.name));
        if (const auto prev = by_name.find(node.name); prev != by_name.end())
            r.fail(at(where, "name"),
                   fmt::format("duplicate name '{}' (first declared at {})", node.name, decls[prev->second].where));
        if (const json* s = r.optional(item, "step")) {
            const long long step = r.integer(*s, at(where, "step"));
            if (step < 0 || step > 9999) r.fail(at(where, "step"), "expected a step number from 0 to 9999");
            node.step = static_cast<int>(step);
            if (const auto prev = by_step.find(*node.step); prev != by_step.end())
                r.fail(at(where, "step"), fmt::format("step {} is already node '{}'", step, prev->second));
            by_step[*node.step] = node.name;
        }
        if (const json* n = r.optional(item, "note")) node.note = r.text(*n, at(where, "note"));
        by_name[node.name] = nodes.size();
        nodes.push_back(std::move(node));
        decls.push_back({where, "", {}, {}, nullptr});
    };

    const json& leaves =
        r.list(r.required(root, "", "leaves", "a list of leaves: inputs, params and consts"), "/leaves");
    std::vector<std::pair<std::size_t, const json*>> leaf_items;
    if (const json* node_list = r.optional(root, "nodes");
        node_list && node_list->is_array() && leaves.size() + node_list->size() > options.limits.nodes)
        r.fail("", fmt::format("{} leaves and nodes, above the limit of {} ({})", leaves.size() + node_list->size(),
                               options.limits.nodes, options.limits.names.nodes));
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        const std::string where = at("/leaves", i);
        const json& item = leaves[i];
        declare(item, where);
        r.only_keys(item, where, {"name", "kind", "step", "shape", "values", "random", "fill", "note"});
        Node& node = nodes.back();
        const std::string kind =
            r.string(r.required(item, where, "kind", "\"input\", \"param\" or \"const\""), at(where, "kind"));
        if (kind == "input")
            node.kind = NodeKind::Input;
        else if (kind == "param")
            node.kind = NodeKind::Param;
        else if (kind == "const")
            node.kind = NodeKind::Const;
        else
            r.fail(at(where, "kind"),
                   fmt::format("unknown kind '{}'; expected \"input\", \"param\" or \"const\"", kind));
        node.shape = read_shape(r, r.required(item, where, "shape", "a list of dimensions, [] for a scalar"),
                                at(where, "shape"), options.limits);
        if (const auto it = options.shapes.find(node.name); it != options.shapes.end()) {
            if (item.contains("values") && it->second != node.shape)
                throw UsageError(
                    fmt::format("{} {}.shape: {} gives literal values of shape {}; only a leaf "
                                "with \"random\" or \"fill\" can be resized",
                                options.limits.names.shapes, node.name, node.name, shape_str(node.shape)));
            if (it->second != node.shape) resized_names.push_back(node.name);
            node.shape = it->second;
            if (element_count(node.shape) > options.limits.elements)
                throw UsageError(fmt::format("{} {}.shape: {} elements, above the limit for one tensor of {} ({})",
                                             options.limits.names.shapes, node.name, element_count(node.shape),
                                             options.limits.elements, options.limits.names.elements));
        }
        leaf_items.emplace_back(nodes.size() - 1, &item);  // values are read once the sizes are known to fit
    }

    const json& items = r.list(r.required(root, "", "nodes", "a list of op nodes"), "/nodes");
    if (items.empty()) r.fail("/nodes", "expected at least one op node");
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string where = at("/nodes", i);
        const json& item = items[i];
        declare(item, where);
        r.only_keys(item, where, {"name", "step", "op", "inputs", "attrs", "note"});
        Decl& decl = decls.back();
        decl.op_name = r.string(r.required(item, where, "op", "the op's name"), at(where, "op"));
        const json& inputs = r.list(r.required(item, where, "inputs", "a list of input names"), at(where, "inputs"));
        for (std::size_t k = 0; k < inputs.size(); ++k) {
            decl.input_names.push_back(r.string(inputs[k], at(at(where, "inputs"), k)));
            decl.input_where.push_back(at(at(where, "inputs"), k));
        }
        decl.attrs = r.optional(item, "attrs");
    }

    // Ops, attributes and inputs.
    std::vector<std::string> all_names;
    for (const Node& n : nodes) all_names.push_back(n.name);
    for (const auto& [name, shape] : options.shapes) {
        const auto it = by_name.find(name);
        if (it == by_name.end() || nodes[it->second].kind == NodeKind::Op) {
            std::vector<std::string> leaf_names;
            for (const Node& n : nodes)
                if (n.kind != NodeKind::Op) leaf_names.push_back(n.name);
            const std::string hint = did_you_mean(name, leaf_names);
            throw UsageError(fmt::format(
                "{} {}.shape: lesson {} has no leaf '{}'{}; its leaves: {}", options.limits.names.shapes, name, g.name,
                name, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), fmt::join(leaf_names, ", ")));
        }
    }
    std::vector<std::vector<std::size_t>> inputs(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const Decl& decl = decls[i];
        if (nodes[i].kind != NodeKind::Op) continue;
        const OpDef* op = ops.find(decl.op_name);
        if (!op) {
            const std::string hint = did_you_mean(decl.op_name, ops.names());
            r.fail(at(decl.where, "op"), fmt::format("unknown op '{}'{}; known ops: {}", decl.op_name,
                                                     hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                                     fmt::join(ops.names(), ", ")));
        }
        nodes[i].op = op;
        const std::size_t n = decl.input_names.size();
        if (n < op->min_arity() || n > op->max_arity()) {
            std::vector<std::string> wanted;
            for (const auto& in : op->inputs) wanted.push_back(in.optional ? "[" + in.name + "]" : in.name);
            if (op->variadic) wanted.back() += ", ...";
            r.fail(at(decl.where, "inputs"),
                   fmt::format("op '{}' takes {} input{} ({}), got {}", op->name,
                               op->variadic ? fmt::format("at least {}", op->min_arity())
                               : op->min_arity() == op->max_arity()
                                   ? std::to_string(op->max_arity())
                                   : fmt::format("{} to {}", op->min_arity(), op->max_arity()),
                               op->max_arity() == 1 ? "" : "s", fmt::join(wanted, ", "), n));
        }
        nodes[i].attrs = read_attrs(r, *op, decl.attrs, at(decl.where, "attrs"));
        for (std::size_t k = 0; k < n; ++k) {
            const std::string& name = decl.input_names[k];
            const auto found = by_name.find(name);
            if (found == by_name.end()) {
                const std::string hint = did_you_mean(name, all_names);
                r.fail(decl.input_where[k], fmt::format("unknown input '{}'{}", name,
                                                        hint.empty() ? " (no leaf or node has that name)"
                                                                     : fmt::format(" (did you mean '{}'?)", hint)));
            }
            if (found->second == i)
                r.fail(decl.input_where[k], fmt::format("node '{}' uses itself as an input (a self-loop)", name));
            inputs[i].push_back(found->second);
        }
    }

    // Order, then shapes in that order.
    const std::vector<std::size_t> order = topological_order(r, inputs, all_names, decls);
    std::vector<std::size_t> position(nodes.size());
    for (std::size_t k = 0; k < order.size(); ++k) position[order[k]] = k;
    std::size_t work = 0;  // multiply-adds of one forward pass, saturated
    for (std::size_t k = 0; k < order.size(); ++k) {
        Node node = std::move(nodes[order[k]]);
        for (std::size_t in : inputs[order[k]]) node.inputs.push_back(position[in]);
        if (node.kind == NodeKind::Op) {
            std::vector<Shape> in_shapes;
            for (std::size_t in : node.inputs) in_shapes.push_back(g.nodes[in].shape);
            try {
                node.shape = node.op->shape(in_shapes, node.attrs);
            } catch (const AttrError& e) {
                r.fail(node.location,
                       fmt::format("invalid attribute of {} = {}: {}", node.name, node.op->name, e.what()));
            } catch (const ShapeError& e) {
                std::vector<std::string> described;
                for (std::size_t in : node.inputs)
                    described.push_back(fmt::format("{} {}", g.nodes[in].name, shape_str(g.nodes[in].shape)));
                r.fail(node.location, fmt::format("shape mismatch in {} = {}({}): {}", node.name, node.op->name,
                                                  fmt::join(described, ", "), e.what()));
            }
            check_node_size(r, node, in_shapes, options.limits, work);
        }
        g.nodes.push_back(std::move(node));
    }

    for (const auto& name : resized_names) g.resized.push_back(*g.find(name));
    g.work = work;

    // What a run would hold in memory, before anything large is allocated.
    std::size_t total = 0;
    for (const Node& n : g.nodes) total = saturating_add(total, element_count(n.shape));
    const std::size_t per_element = options.limits.bytes_per_element;
    if (total > options.limits.memory_bytes / per_element)
        r.fail("", fmt::format("a run would need about {} ({} elements in all, {} bytes each for {}), above the limit "
                               "of {} ({})",
                               total > SIZE_MAX / per_element ? "more than 16 EiB" : bytes_str(total * per_element),
                               total, per_element, options.limits.bytes_per_element_use,
                               bytes_str(options.limits.memory_bytes), options.limits.names.memory));
    for (const auto& [index, item] : leaf_items) {
        Node& leaf = g.nodes[position[index]];
        leaf.value = read_tensor(r, *item, leaf.shape, leaf.location);
    }

    // The output and its upstream gradient.
    const json& output = r.object(r.required(root, "", "output", "an object naming the output node"), "/output");
    r.only_keys(output, "/output", {"node", "upstream"});
    const std::string out_name =
        r.string(r.required(output, "/output", "node", "the output node's name"), "/output/node");
    const auto out = g.find(out_name);
    if (!out) {
        const std::string hint = did_you_mean(out_name, all_names);
        r.fail("/output/node", fmt::format("unknown node '{}'{}", out_name,
                                           hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
    g.output = *out;
    const Shape& out_shape = g.nodes[g.output].shape;
    if (const json* up = r.optional(output, "upstream")) {
        r.object(*up, "/output/upstream");
        r.only_keys(*up, "/output/upstream", {"values", "random", "fill"});
        if (up->contains("values") && !options.shapes.empty() &&
            element_count(out_shape) != count_numbers(up->at("values")))
            throw UsageError(
                fmt::format("{}: the output '{}' is now {}, but its upstream gradient is given as literal "
                            "values; only \"random\" or \"fill\" can follow a new shape",
                            options.limits.names.shapes, out_name, shape_str(out_shape)));
        g.seed = read_tensor(r, *up, out_shape, "/output/upstream");
    } else if (out_shape.empty()) {
        g.seed = Tensor::scalar(1.0);
        g.scalar_loss = true;
    } else {
        r.fail("/output", fmt::format("the output '{}' has shape {}: give its upstream gradient as \"upstream\" "
                                      "(values, random or fill), or make the output a scalar loss",
                                      out_name, shape_str(out_shape)));
    }

    if (const json* compare = r.optional(root, "compare")) {
        r.list(*compare, "/compare");
        if (compare->size() != 2) r.fail("/compare", "expected a list of two groups of nodes to compare");
        for (std::size_t k = 0; k < 2; ++k) {
            const std::string where = at("/compare", k);
            const json& item = r.object((*compare)[k], where);
            r.only_keys(item, where, {"label", "nodes"});
            CostGroup group;
            group.label = r.text(r.required(item, where, "label", "a string naming the design"), at(where, "label"));
            const json& names = r.list(r.required(item, where, "nodes", "a list of node names"), at(where, "nodes"));
            if (names.empty()) r.fail(at(where, "nodes"), "expected at least one node");
            for (std::size_t i = 0; i < names.size(); ++i) {
                const std::string name = r.string(names[i], at(at(where, "nodes"), i));
                const auto found = g.find(name);
                if (found && g.nodes[*found].is_leaf())
                    r.fail(at(at(where, "nodes"), i), fmt::format("'{}' is a leaf; a comparison lists op nodes", name));
                if (!found) {
                    const std::string hint = did_you_mean(name, all_names);
                    r.fail(at(at(where, "nodes"), i),
                           fmt::format("unknown op node '{}'{}", name,
                                       hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
                }
                group.nodes.push_back(*found);
            }
            g.compare.push_back(std::move(group));
        }
    }
    return g;
}

Graph load_lesson(const std::string& name_or_path, const OpTable& ops, const LessonOptions& options) {
    const bool is_path = name_or_path.find('/') != std::string::npos || name_or_path == "." || name_or_path == ".." ||
                         (name_or_path.size() > 5 && name_or_path.ends_with(".json"));
    if (!is_path) {
        std::vector<std::string> names;
        for (const auto& lesson : builtin_lessons()) {
            if (lesson.name != name_or_path) {
                names.emplace_back(lesson.name);
                continue;
            }
            Graph g = parse_lesson(lesson.json, "lessons/" + name_or_path + ".json", ops, options);
            g.builtin = true;
            return g;
        }
        const std::string hint = did_you_mean(name_or_path, names);
        throw LessonError(fmt::format("unknown lesson '{}'{}; built-in lessons: {} (or give a path to a .json file)",
                                      name_or_path, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                      fmt::join(names, ", ")));
    }
    const std::string text = read_text_file(name_or_path, options.limits.file_bytes,
                                            fmt::format("for a lesson ({})", options.limits.names.file_bytes));
    return parse_lesson(text, name_or_path, ops, options);
}

}  // namespace bnstep
