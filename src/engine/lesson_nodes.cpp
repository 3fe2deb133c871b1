// The op nodes of a lesson: their ops, attributes and inputs resolved, then
// placed in topological order with shapes inferred and sizes checked.
#include <optional>
#include <cstdint>

#include "lesson_reader.hpp"

namespace bnstep::lesson_detail {
namespace {

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

// Every name in LessonOptions::shapes must be a leaf's.
void check_new_shape_names(const LessonBuild& b) {
    for (const auto& [name, shape] : b.options.shapes) {
        const auto it = b.by_name.find(name);
        if (it != b.by_name.end() && b.nodes[it->second].kind != NodeKind::Op) continue;
        std::vector<std::string> leaf_names;
        for (const Node& n : b.nodes)
            if (n.kind != NodeKind::Op) leaf_names.push_back(n.name);
        const std::string hint = did_you_mean(name, leaf_names);
        throw UsageError(fmt::format(
            "{} {}.shape: lesson {} has no leaf '{}'{}; its leaves: {}", b.options.limits.names.shapes, name, b.g.name,
            name, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), fmt::join(leaf_names, ", ")));
    }
}

void check_arity(const Reader& r, const OpDef* op, const Decl& decl) {
    const std::size_t n = decl.input_names.size();
    if (n >= op->min_arity() && n <= op->max_arity()) return;
    std::vector<std::string> wanted;
    for (const auto& in : op->inputs) wanted.push_back(in.optional ? "[" + in.name + "]" : in.name);
    if (op->variadic) wanted.back() += ", ...";
    r.fail(at(decl.where, "inputs"),
           fmt::format("op '{}' takes {} input{} ({}), got {}", op->name,
                       op->variadic                         ? fmt::format("at least {}", op->min_arity())
                       : op->min_arity() == op->max_arity() ? std::to_string(op->max_arity())
                                                            : fmt::format("{} to {}", op->min_arity(), op->max_arity()),
                       op->max_arity() == 1 ? "" : "s", fmt::join(wanted, ", "), n));
}

// Op node i's op, attributes and inputs (by declaration).
void resolve_node(LessonBuild& b, std::size_t i) {
    const Reader& r = b.r;
    const Decl& decl = b.decls[i];
    const OpDef* op = b.ops.find(decl.op_name);
    if (!op) {
        const std::string hint = did_you_mean(decl.op_name, b.ops.names());
        r.fail(at(decl.where, "op"), fmt::format("unknown op '{}'{}; known ops: {}", decl.op_name,
                                                 hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                                 fmt::join(b.ops.names(), ", ")));
    }
    b.nodes[i].op = op;
    check_arity(r, op, decl);
    b.nodes[i].attrs = read_attrs(r, *op, decl.attrs, at(decl.where, "attrs"));
    for (std::size_t k = 0; k < decl.input_names.size(); ++k) {
        const std::string& name = decl.input_names[k];
        const auto found = b.by_name.find(name);
        if (found == b.by_name.end()) {
            const std::string hint = did_you_mean(name, b.all_names);
            r.fail(decl.input_where[k], fmt::format("unknown input '{}'{}", name,
                                                    hint.empty() ? " (no leaf or node has that name)"
                                                                 : fmt::format(" (did you mean '{}'?)", hint)));
        }
        if (found->second == i)
            r.fail(decl.input_where[k], fmt::format("node '{}' uses itself as an input (a self-loop)", name));
        b.inputs[i].push_back(found->second);
    }
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

// An op node's shape from its inputs' (already placed in `g`).
void infer_shape(const Reader& r, const Graph& g, Node& node, const std::vector<Shape>& in_shapes) {
    try {
        node.shape = node.op->shape(in_shapes, node.attrs);
    } catch (const AttrError& e) {
        r.fail(node.location, fmt::format("invalid attribute of {} = {}: {}", node.name, node.op->name, e.what()));
    } catch (const ShapeError& e) {
        std::vector<std::string> described;
        for (std::size_t in : node.inputs)
            described.push_back(fmt::format("{} {}", g.nodes[in].name, shape_str(g.nodes[in].shape)));
        r.fail(node.location, fmt::format("shape mismatch in {} = {}({}): {}", node.name, node.op->name,
                                          fmt::join(described, ", "), e.what()));
    }
}

// Topological order, the declaration order on ties; a cycle is an error.
std::vector<std::size_t> checked_order(const LessonBuild& b) {
    std::vector<std::size_t> cycle;
    std::vector<std::size_t> order = topological_order(b.inputs, cycle);
    if (!cycle.empty()) {
        std::vector<std::string> names;
        for (std::size_t i : cycle) names.push_back(b.all_names[i]);
        b.r.fail(b.decls[cycle.front()].where,
                 fmt::format("the graph has a cycle: {} (each node must depend only on earlier values)",
                             fmt::join(names, " -> ")));
    }
    return order;
}

}  // namespace

void resolve_nodes(LessonBuild& b) {
    for (const Node& n : b.nodes) b.all_names.push_back(n.name);
    check_new_shape_names(b);
    b.inputs.assign(b.nodes.size(), {});
    for (std::size_t i = 0; i < b.nodes.size(); ++i)
        if (b.nodes[i].kind == NodeKind::Op) resolve_node(b, i);
}

void place_nodes(LessonBuild& b) {
    const std::vector<std::size_t> order = checked_order(b);
    Graph& g = b.g;
    b.position.assign(b.nodes.size(), 0);
    for (std::size_t k = 0; k < order.size(); ++k) b.position[order[k]] = k;
    std::size_t work = 0;  // multiply-adds of one forward pass, saturated
    for (std::size_t k = 0; k < order.size(); ++k) {
        Node node = std::move(b.nodes[order[k]]);
        for (std::size_t in : b.inputs[order[k]]) node.inputs.push_back(b.position[in]);
        if (node.kind == NodeKind::Op) {
            std::vector<Shape> in_shapes;
            for (std::size_t in : node.inputs) in_shapes.push_back(g.nodes[in].shape);
            infer_shape(b.r, g, node, in_shapes);
            check_node_size(b.r, node, in_shapes, b.options.limits, work);
        }
        g.nodes.push_back(std::move(node));
    }
    for (const auto& name : b.resized_names) g.resized.push_back(*g.find(name));
    g.work = work;
}

// An input no gradient passes through (a buffer, a label, a mask) must not
// depend on a value that gets a gradient: the backward pass treats it as a
// constant, and the gradient check, moving that value, would differentiate
// through it and report a difference the lesson did not mean.
void check_constant_inputs(const LessonBuild& b) {
    const Graph& g = b.g;
    const std::vector<bool> gets = g.gets_gradient();
    std::vector<std::optional<std::size_t>> source(g.nodes.size());  // a node it depends on that gets a gradient
    std::vector<std::size_t> decl_of(g.nodes.size());
    for (std::size_t d = 0; d < b.position.size(); ++d) decl_of[b.position[d]] = d;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        if (gets[i]) source[i] = i;
        for (std::size_t s = 0; s < n.inputs.size(); ++s) {
            const std::size_t in = n.inputs[s];
            if (!source[i] && source[in]) source[i] = source[in];
            if (n.is_leaf() || n.op->rule(s).differentiable || !source[in]) continue;
            const Decl& decl = b.decls[decl_of[i]];
            const std::string why =
                *source[in] == in ? "it gets a gradient"
                                  : fmt::format("it depends on '{}', which gets a gradient", g.nodes[*source[in]].name);
            b.r.fail(decl.input_where[s],
                     fmt::format("'{}' is the input {} of {}, which no gradient passes through, but {}; compute it "
                                 "from constants and data that get no gradient",
                                 g.nodes[in].name, n.op->rule(s).name, n.op->name, why));
        }
    }
}

}  // namespace bnstep::lesson_detail
