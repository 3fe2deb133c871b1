// The op reference, generated from the op table (docs/ops.md is its output).
#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/print.hpp"

namespace bnstep {
namespace {

// A template with the op's inputs, attributes and `out` written as their own
// names, optional inputs kept; variables of a node's shapes (N) are dropped.
std::string generic(const OpDef& op, std::string_view tmpl) {
    return render(tmpl, [&](std::string_view key) -> std::optional<std::string> {
        const bool known =
            key == "out" ||
            std::any_of(op.inputs.begin(), op.inputs.end(), [&](const auto& in) { return in.name == key; }) ||
            std::any_of(op.attrs.begin(), op.attrs.end(), [&](const auto& a) { return a.name == key; });
        if (known) return std::string(key);
        return std::nullopt;
    });
}

std::string default_text(const AttrSpec& a) {
    if (!a.fallback) return ", required";
    if (a.type == AttrType::Bool) return *a.fallback != 0.0 ? ", default true" : ", default false";
    if (a.type == AttrType::Choice)
        return fmt::format(" {}, default {}", fmt::join(a.choices, ", "),
                           a.choices.at(static_cast<std::size_t>(*a.fallback)));
    return fmt::format(", default {}", *a.fallback);
}

}  // namespace

std::string op_reference_markdown(const OpTable& ops) {
    std::string s =
        "# Op reference\n\n"
        "Generated from the op table by `bnstep ops --format markdown`; a test checks that this file is current.\n\n"
        "Each op lists its forward rule and, for each input, the local gradient `∂out/∂input`. In the backward pass "
        "the downstream gradient is the upstream gradient times the local gradient (for elementwise ops, element by "
        "element); where an input was broadcast in the forward pass, that product is then summed over the broadcast "
        "axes. Names in square brackets are optional inputs. Leaves are not ops: `input` and `param` leaves receive "
        "gradients, `const` leaves do not.\n";
    std::string family;
    for (const OpDef& op : ops.all()) {
        if (op.family != family) {
            family = op.family;
            s += fmt::format("\n## {}\n", family);
        }
        std::vector<std::string> inputs;
        for (const auto& in : op.inputs) inputs.push_back(in.optional ? "[" + in.name + "]" : in.name);
        s += fmt::format("\n### `{}`\n\n{}\n\n- inputs: {}\n- forward: `out = {}`\n", op.name, op.summary,
                         fmt::join(inputs, ", "), generic(op, op.forward_formula));
        for (const auto& in : op.inputs)
            s += fmt::format("- gradient for `{}`: {}\n", in.name,
                             in.differentiable
                                 ? fmt::format("`{}`{}", generic(op, in.formula),
                                               in.local ? "" : " (not elementwise: no local value is shown)")
                                 : std::string("none (not differentiable)"));
        for (const auto& a : op.attrs)
            s += fmt::format("- attribute `{}` ({}{}): {}\n", a.name, attr_type_name(a.type), default_text(a), a.help);
    }
    return s;
}

std::string op_list_text(const OpTable& ops, const Style& style, std::size_t width) {
    std::string s;
    const std::string indent(13, ' ');
    for (const OpDef& op : ops.all()) {
        std::vector<std::string> inputs, attrs;
        for (const auto& in : op.inputs) inputs.push_back(in.optional ? "[" + in.name + "]" : in.name);
        for (const auto& a : op.attrs) attrs.push_back(a.fallback ? "[" + a.name + "]" : a.name);
        const std::string call =
            attrs.empty() ? fmt::format("{}({})", op.name, fmt::join(inputs, ", "))
                          : fmt::format("{}({}; {})", op.name, fmt::join(inputs, ", "), fmt::join(attrs, ", "));
        s += style.node(fmt::format("{:<11}", op.name)) + "  " + call + "\n";
        s += wrap("out = " + generic(op, op.forward_formula), width, indent, indent + "    ");
        for (const auto& in : op.inputs)
            if (in.differentiable) s += wrap(generic(op, in.formula), width, indent, indent + "    ");
    }
    return s;
}

}  // namespace bnstep
