// The declarations of a lesson, in its order: leaves (kind, shape, a new shape
// the caller asks for) and op nodes as written; their values come last, once
// the sizes are known to fit.
#include "lesson_reader.hpp"

namespace bnstep::lesson_detail {
namespace {

// What every leaf and node declares: a unique name, an optional unique step, a note.
void declare(LessonBuild& b, const json& item, const std::string& where) {
    const Reader& r = b.r;
    r.object(item, where);
    Node node;
    node.location = where;
    node.name = r.string(r.required(item, where, "name", "a string"), at(where, "name"));
    if (!is_identifier(node.name))
        r.fail(at(where, "name"),
               fmt::format("'{}' is not a valid name (letters, digits and _, not starting with a digit)", node.name));
    if (const auto prev = b.by_name.find(node.name); prev != b.by_name.end())
        r.fail(at(where, "name"),
               fmt::format("duplicate name '{}' (first declared at {})", node.name, b.decls[prev->second].where));
    if (const json* s = r.optional(item, "step")) {
        const long long step = r.integer(*s, at(where, "step"));
        if (step < 0 || step > 9999) r.fail(at(where, "step"), "expected a step number from 0 to 9999");
        node.step = static_cast<int>(step);
        if (const auto prev = b.by_step.find(*node.step); prev != b.by_step.end())
            r.fail(at(where, "step"), fmt::format("step {} is already node '{}'", step, prev->second));
        b.by_step[*node.step] = node.name;
    }
    if (const json* n = r.optional(item, "note")) node.note = r.text(*n, at(where, "note"));
    if (const json* z = r.optional(item, "zero_gradient"))
        node.zero_gradient = r.boolean(*z, at(where, "zero_gradient"));
    b.by_name[node.name] = b.nodes.size();
    b.nodes.push_back(std::move(node));
    b.decls.push_back({where, "", {}, {}, nullptr});
}

NodeKind read_kind(const Reader& r, const json& item, const std::string& where) {
    const std::string kind =
        r.string(r.required(item, where, "kind", "\"input\", \"param\" or \"const\""), at(where, "kind"));
    if (kind == "input") return NodeKind::Input;
    if (kind == "param") return NodeKind::Param;
    if (kind == "const") return NodeKind::Const;
    r.fail(at(where, "kind"), fmt::format("unknown kind '{}'; expected \"input\", \"param\" or \"const\"", kind));
}

// The shape the caller gives a leaf in LessonOptions::shapes, if any.
void apply_new_shape(LessonBuild& b, Node& node, const json& item) {
    const LessonOptions& options = b.options;
    const auto it = options.shapes.find(node.name);
    if (it == options.shapes.end()) return;
    const bool fixed = item.contains("variant") && item["variant"] == "fixed";
    if (item.contains("values") && it->second != node.shape && (options.variant == 0 || fixed))
        throw UsageError(fmt::format(
            "{} {}.shape: {} gives literal values of shape {}; only a leaf with \"random\" or \"fill\" can be "
            "resized{}",
            options.limits.names.shapes, node.name, node.name, shape_str(node.shape),
            options.variant == 0 ? " (any leaf not \"fixed\" under a variant)" : ", and it is \"fixed\" in every variant"));
    if (it->second != node.shape) b.resized_names.push_back(node.name);
    node.shape = it->second;
    if (element_count(node.shape) > options.limits.elements)
        throw UsageError(fmt::format("{} {}.shape: {} elements, above the limit for one tensor of {} ({})",
                                     options.limits.names.shapes, node.name, element_count(node.shape),
                                     options.limits.elements, options.limits.names.elements));
}

}  // namespace

void read_leaves(LessonBuild& b) {
    const Reader& r = b.r;
    const Limits& limits = b.options.limits;
    const json& leaves =
        r.list(r.required(b.root, "", "leaves", "a list of leaves: inputs, params and consts"), "/leaves");
    if (const json* node_list = r.optional(b.root, "nodes");
        node_list && node_list->is_array() && leaves.size() + node_list->size() > limits.nodes)
        r.fail("", fmt::format("{} leaves and nodes, above the limit of {} ({})", leaves.size() + node_list->size(),
                               limits.nodes, limits.names.nodes));
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        const std::string where = at("/leaves", i);
        const json& item = leaves[i];
        declare(b, item, where);
        r.only_keys(item, where,
                    {"name", "kind", "step", "shape", "values", "random", "fill", "note", "zero_gradient", "variant"});
        Node& node = b.nodes.back();
        node.kind = read_kind(r, item, where);
        node.shape = read_shape(r, r.required(item, where, "shape", "a list of dimensions, [] for a scalar"),
                                at(where, "shape"), limits);
        apply_new_shape(b, node, item);
        b.leaf_items.emplace_back(b.nodes.size() - 1, &item);
    }
}

void read_node_declarations(LessonBuild& b) {
    const Reader& r = b.r;
    const json& items = r.list(r.required(b.root, "", "nodes", "a list of op nodes"), "/nodes");
    if (items.empty()) r.fail("/nodes", "expected at least one op node");
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string where = at("/nodes", i);
        const json& item = items[i];
        declare(b, item, where);
        r.only_keys(item, where, {"name", "step", "op", "inputs", "attrs", "note", "zero_gradient"});
        Decl& decl = b.decls.back();
        decl.op_name = r.string(r.required(item, where, "op", "the op's name"), at(where, "op"));
        const json& inputs = r.list(r.required(item, where, "inputs", "a list of input names"), at(where, "inputs"));
        for (std::size_t k = 0; k < inputs.size(); ++k) {
            decl.input_names.push_back(r.string(inputs[k], at(at(where, "inputs"), k)));
            decl.input_where.push_back(at(at(where, "inputs"), k));
        }
        decl.attrs = r.optional(item, "attrs");
    }
}

void read_leaf_values(LessonBuild& b) {
    for (const auto& [index, item] : b.leaf_items) {
        Node& leaf = b.g.nodes[b.position[index]];
        // Literal values resized under a variant: read as written, redrawn at the new shape.
        const Shape written_shape = item->contains("values")
                                        ? read_shape(b.r, item->at("shape"), at(leaf.location, "shape"), b.options.limits)
                                        : leaf.shape;
        const Tensor written = read_tensor(b.r, *item, written_shape, leaf.location);
        leaf.redraw = read_leaf_variant(b.r, *item, leaf.location, leaf.kind, written);
        if (written_shape != leaf.shape && leaf.redraw.kind == LeafVariant::Kind::Fixed)
            throw UsageError(fmt::format("{} {}.shape: {} keeps its literal values of shape {} in every variant (a "
                                         "const, a fill, or \"variant\": \"fixed\"), so it cannot be resized",
                                         b.options.limits.names.shapes, leaf.name, leaf.name,
                                         shape_str(written_shape)));
        leaf.value = written_shape == leaf.shape ? written : Tensor(leaf.shape);
    }
}

}  // namespace bnstep::lesson_detail
