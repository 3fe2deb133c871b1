// The end of a lesson: what a run would hold in memory, the output and its
// upstream gradient, and the two designs a lesson may compare.
#include <cstdint>

#include "bnstep/text_file.hpp"
#include "lesson_reader.hpp"

namespace bnstep::lesson_detail {
namespace {

// The numbers of a nested list, flattened.
json flat_numbers(const json& j) {
    json out = json::array();
    if (!j.is_array()) {
        out.push_back(j);
        return out;
    }
    for (const json& item : j)
        for (const json& x : flat_numbers(item)) out.push_back(x);
    return out;
}

// An op node of a comparison group, by name.
std::size_t read_compared_node(const LessonBuild& b, const json& names, std::size_t i, const std::string& where) {
    const Reader& r = b.r;
    const Graph& g = b.g;
    const std::string name = r.string(names[i], at(where, i));
    const auto found = g.find(name);
    if (found && g.nodes[*found].is_leaf())
        r.fail(at(where, i), fmt::format("'{}' is a leaf; a comparison lists op nodes", name));
    if (!found) {
        const std::string hint = did_you_mean(name, b.all_names);
        r.fail(at(where, i), fmt::format("unknown op node '{}'{}", name,
                                         hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
    return *found;
}

}  // namespace

// Before anything large is allocated.
void check_memory(const LessonBuild& b) {
    const Limits& limits = b.options.limits;
    std::size_t total = 0;
    for (const Node& n : b.g.nodes) total = saturating_add(total, element_count(n.shape));
    const std::size_t per_element = limits.bytes_per_element;
    if (total > limits.memory_bytes / per_element)
        b.r.fail("", fmt::format("a run would need about {} ({} elements in all, {} bytes each for {}), above the "
                                 "limit of {} ({})",
                                 total > SIZE_MAX / per_element ? "more than 16 EiB" : bytes_str(total * per_element),
                                 total, per_element, limits.bytes_per_element_use, bytes_str(limits.memory_bytes),
                                 limits.names.memory));
}

void read_output(LessonBuild& b) {
    const Reader& r = b.r;
    const LessonOptions& options = b.options;
    Graph& g = b.g;
    const json& output = r.object(r.required(b.root, "", "output", "an object naming the output node"), "/output");
    r.only_keys(output, "/output", {"node", "upstream"});
    const std::string out_name =
        r.string(r.required(output, "/output", "node", "the output node's name"), "/output/node");
    const auto out = g.find(out_name);
    if (!out) {
        const std::string hint = did_you_mean(out_name, b.all_names);
        r.fail("/output/node", fmt::format("unknown node '{}'{}", out_name,
                                           hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
    g.output = *out;
    const Shape& out_shape = g.nodes[g.output].shape;
    if (const json* up = r.optional(output, "upstream")) {
        r.object(*up, "/output/upstream");
        r.only_keys(*up, "/output/upstream", {"values", "random", "fill", "variant"});
        const bool literal = up->contains("values");
        const bool refit =
            literal && !options.shapes.empty() && element_count(out_shape) != count_numbers(up->at("values"));
        // Literal values of another shape, redrawn under a variant: read them as they fit.
        const Shape written_shape = refit ? Shape{count_numbers(up->at("values"))} : out_shape;
        const Tensor written = read_tensor(r, refit ? json{{"values", flat_numbers(up->at("values"))}} : *up,
                                           written_shape, "/output/upstream");
        g.seed_redraw = read_leaf_variant(r, *up, "/output/upstream", NodeKind::Input, written);
        // By default an upstream element is never 0: a 0 there zeroes whole rows downstream and teaches nothing.
        // (A default grid has at least 2 points, so at least 1 other than 0 remains.)
        if (!up->contains("variant") && g.seed_redraw.kind == LeafVariant::Kind::Grid) g.seed_redraw.nonzero = true;
        if (refit && (options.variant == 0 || g.seed_redraw.kind == LeafVariant::Kind::Fixed))
            throw UsageError(
                fmt::format("{}: the output '{}' is now {}, but its upstream gradient is given as literal "
                            "values; only \"random\" or \"fill\" can follow a new shape{}",
                            options.limits.names.shapes, out_name, shape_str(out_shape),
                            options.variant == 0 ? " (any upstream not \"fixed\" under a variant)" : ""));
        g.seed = refit ? Tensor(out_shape) : written;
        if (refit) b.literal_resized = true;
    } else if (out_shape.empty()) {
        g.seed = Tensor::scalar(1.0);
        g.scalar_loss = true;
    } else {
        r.fail("/output", fmt::format("the output '{}' has shape {}: give its upstream gradient as \"upstream\" "
                                      "(values, random or fill), or make the output a scalar loss",
                                      out_name, shape_str(out_shape)));
    }
}

void read_compare(LessonBuild& b) {
    const Reader& r = b.r;
    const json* compare = r.optional(b.root, "compare");
    if (!compare) return;
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
        for (std::size_t i = 0; i < names.size(); ++i)
            group.nodes.push_back(read_compared_node(b, names, i, at(where, "nodes")));
        b.g.compare.push_back(std::move(group));
    }
}

}  // namespace bnstep::lesson_detail
