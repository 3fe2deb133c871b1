#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/error.hpp"
#include "bnstep/op.hpp"
#include "ops/families.hpp"

namespace bnstep {

std::string_view attr_type_name(AttrType type) {
    switch (type) {
        case AttrType::Int: return "integer";
        case AttrType::Number: return "number";
        case AttrType::Bool: return "boolean";
        case AttrType::IntList: return "list of integers";
        case AttrType::Choice: return "one of";
    }
    return "?";
}

double Attrs::number(const std::string& name) const {
    if (const auto it = values_.find(name); it != values_.end()) return it->second;
    if (const auto it = integers_.find(name); it != integers_.end()) return static_cast<double>(it->second);
    throw InternalError(fmt::format("attribute '{}' was not set", name));
}

long long Attrs::integer(const std::string& name) const {
    if (const auto it = integers_.find(name); it != integers_.end()) return it->second;
    return static_cast<long long>(number(name));
}

const std::vector<long long>& Attrs::list(const std::string& name) const {
    const auto it = lists_.find(name);
    if (it == lists_.end()) throw InternalError(fmt::format("list attribute '{}' was not set", name));
    return it->second;
}

std::size_t OpDef::min_arity() const {
    std::size_t n = 0;
    for (const auto& in : inputs) n += in.optional ? 0 : 1;
    return n;
}

void OpTable::add(OpDef op) {
    if (find(op.name)) throw InternalError(fmt::format("op '{}' defined twice", op.name));
    ops_.push_back(std::move(op));
}

const OpDef* OpTable::find(std::string_view name) const {
    for (const auto& op : ops_)
        if (op.name == name) return &op;
    return nullptr;
}

OpDef* OpTable::find_mutable(std::string_view name) {
    for (auto& op : ops_)
        if (op.name == name) return &op;
    return nullptr;
}

std::vector<std::string> OpTable::names() const {
    std::vector<std::string> names;
    for (const auto& op : ops_) names.push_back(op.name);
    return names;
}

const OpTable& builtin_ops() {
    // Never destroyed: the process's exit frees it, without tearing down every formula.
    static const OpTable& table = *new OpTable([] {
        OpTable t;
        ops::add_elementwise_ops(t);
        ops::add_reduce_ops(t);
        ops::add_linalg_ops(t);
        ops::add_norm_ops(t);
        ops::add_norm_inference_ops(t);
        ops::add_conv_ops(t);
        ops::add_pool_ops(t);
        ops::add_shape_ops(t);
        ops::add_softmax_ops(t);
        ops::add_loss_ops(t);
        ops::add_elementwise_loss_ops(t);
        ops::add_binarize_ops(t);
        ops::add_quantize_ops(t);
        ops::add_pow2_quantize_ops(t);
        ops::add_weight_sharing_ops(t);
        ops::add_prune_ops(t);
        return t;
    }());
    return table;
}

std::string render(std::string_view tmpl, const std::function<std::optional<std::string>(std::string_view)>& lookup) {
    std::string out;
    std::string optional_part;
    bool in_optional = false;
    bool optional_ok = true;
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
        std::string& dest = in_optional ? optional_part : out;
        const char c = tmpl[i];
        const char next = i + 1 < tmpl.size() ? tmpl[i + 1] : '\0';
        if (c == '{' && next == '[' && !in_optional) {
            in_optional = true;
            optional_ok = true;
            optional_part.clear();
            ++i;
        } else if (c == ']' && next == '}' && in_optional) {
            in_optional = false;
            if (optional_ok) out += optional_part;
            ++i;
        } else if (c == '{') {
            const std::size_t close = tmpl.find('}', i);
            if (close == std::string_view::npos) {
                dest += tmpl.substr(i);
                break;
            }
            const std::string_view key = tmpl.substr(i + 1, close - i - 1);
            const bool name = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) {
                return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
            });
            if (!name)  // "sum_{n,i,j}": braces of the text itself
                dest += tmpl.substr(i, close - i + 1);
            else if (auto value = lookup(key); value && !(in_optional && value->empty()))
                dest += *value;
            else if (in_optional)
                optional_ok = false;
            else
                dest += key;
            i = close;
        } else {
            dest += c;
        }
    }
    return out;
}

std::string render(std::string_view tmpl, const std::map<std::string, std::string>& names) {
    return render(tmpl, [&](std::string_view key) -> std::optional<std::string> {
        const auto it = names.find(std::string(key));
        if (it == names.end()) return std::nullopt;
        return it->second;
    });
}

std::map<std::string, std::string> formula_names(const OpDef& op, const std::vector<std::string>& input_names,
                                                 const std::string& out_name, const std::vector<Shape>& in_shapes,
                                                 const Attrs& attrs) {
    std::map<std::string, std::string> names;
    for (std::size_t i = 0; i < op.inputs.size() && i < input_names.size(); ++i)
        names[op.inputs[i].name] = input_names[i];
    names["inputs"] = fmt::format("{}", fmt::join(input_names, ", "));
    names["out"] = out_name;
    for (const auto& [key, value] : attrs.all()) names[key] = fmt::format("{}", value);
    for (const auto& [key, value] : attrs.integers()) names[key] = fmt::format("{}", value);
    for (const AttrSpec& spec : op.attrs)
        if (spec.type == AttrType::Choice && attrs.has(spec.name))
            names[spec.name] = spec.choices.at(static_cast<std::size_t>(attrs.integer(spec.name)));
    for (const auto& [key, value] : attrs.lists()) names[key] = fmt::format("[{}]", fmt::join(value, ","));
    if (op.vars)
        for (auto& [key, value] : op.vars(in_shapes, attrs)) names[key] = value;
    return names;
}

}  // namespace bnstep
