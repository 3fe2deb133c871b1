// The JSON Schema of a lesson file, generated: lessons/lesson.schema.json is
// the output of `bnstep ops --format schema`. The fixed part below describes
// what the loader (src/engine/lesson.cpp) reads; the op part (the op enum and
// one rule per op: its input count and attributes) comes from the op table.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "bnstep/op.hpp"
#include "bnstep/print.hpp"

namespace bnstep {
namespace {

using ojson = nlohmann::ordered_json;

// Everything but the ops. $defs/node gets its "op" enum and its "allOf" of
// per-op rules from the op table (node_op and op_rule below).
constexpr const char* kFixedPart = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "bnstep lesson",
  "description": "A bnstep lesson: a computational graph of leaves (inputs, parameters, constants) and op nodes, with the output node and its upstream gradient. This schema follows the loader in src/engine/lesson.cpp; docs/lesson-format.md explains every key. The loader also checks what a schema cannot: names and steps are unique, every input names a leaf or node, the graph has no cycle, shapes agree through every op, values fit the declared shape, the nodes named in compare exist and are op nodes, random.low < random.high, an output without \"upstream\" is a scalar, and an integer is written without a fraction or exponent (1, not 1.0).",
  "type": "object",
  "additionalProperties": false,
  "required": ["title", "leaves", "nodes", "output"],
  "properties": {
    "$schema": {
      "description": "Ignored by bnstep; the built-in lessons set it to \"lesson.schema.json\" so that editors find this schema. The loader accepts any value."
    },
    "name": {
      "type": "string",
      "description": "The lesson's name in output. Absent or empty: the file name without its extension."
    },
    "title": {"type": "string", "description": "One line, printed first."},
    "description": {"type": "string", "description": "A paragraph printed under the title."},
    "leaves": {
      "type": "array",
      "items": {"$ref": "#/$defs/leaf"},
      "description": "Inputs, parameters and constants, in the order they are printed."
    },
    "nodes": {
      "type": "array",
      "minItems": 1,
      "items": {"$ref": "#/$defs/node"},
      "description": "The op nodes. Declaration order breaks ties in the topological order."
    },
    "output": {"$ref": "#/$defs/output"},
    "compare": {
      "type": "array",
      "minItems": 2,
      "maxItems": 2,
      "items": {"$ref": "#/$defs/compare_group"},
      "description": "Two groups of op nodes to compare: run ends its COST section with the weights and multiply-adds of each group and their ratio (second / first). The nodes need not feed the output."
    },
    "variant": {"$ref": "#/$defs/lesson_variant"}
  },
  "$defs": {
    "name": {
      "type": "string",
      "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
      "description": "ASCII letters, digits and _, not starting with a digit; unique among leaves and nodes."
    },
    "step": {
      "type": "integer",
      "minimum": 0,
      "maximum": 9999,
      "description": "The step number shown in output and accepted by trace --node; unique in the lesson."
    },
    "note": {"type": "string", "description": "A comment printed under the node."},
    "zero_gradient": {
      "type": "boolean",
      "description": "The lesson says this gradient is exactly 0, and that is the point: the quiz may ask for it."
    },
    "shape": {
      "type": "array",
      "maxItems": 4,
      "items": {"type": "integer", "minimum": 1},
      "description": "Dimensions, rank 0 to 4; [] is a scalar. At most 100000000 elements."
    },
    "values": {
      "description": "A number for a scalar, else nested lists, one level per dimension.",
      "anyOf": [
        {"type": "number"},
        {"$ref": "#/$defs/values1"},
        {"$ref": "#/$defs/values2"},
        {"$ref": "#/$defs/values3"},
        {"$ref": "#/$defs/values4"}
      ]
    },
    "values1": {"type": "array", "minItems": 1, "items": {"type": "number"}},
    "values2": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/values1"}},
    "values3": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/values2"}},
    "values4": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/values3"}},
    "fill": {"type": "number", "description": "Every element equal to this number."},
    "random": {
      "type": "object",
      "additionalProperties": false,
      "required": ["seed"],
      "description": "Seeded pseudo-random values (splitmix64, the same on every platform). dist uniform takes low and high; dist normal takes mean and std; the keys of the other distribution are rejected.",
      "if": {"properties": {"dist": {"const": "normal"}}, "required": ["dist"]},
      "then": {"properties": {"low": false, "high": false}},
      "else": {"properties": {"mean": false, "std": false}},
      "properties": {
        "seed": {"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807},
        "dist": {"enum": ["uniform", "normal"], "default": "uniform"},
        "low": {
          "type": "number",
          "default": -1,
          "description": "uniform: the lower bound (included); must be below high."
        },
        "high": {"type": "number", "default": 1, "description": "uniform: the upper bound (excluded)."},
        "mean": {"type": "number", "default": 0, "description": "normal: the mean."},
        "std": {"type": "number", "minimum": 0, "default": 1, "description": "normal: the standard deviation."},
        "decimals": {
          "type": "integer",
          "minimum": 0,
          "maximum": 15,
          "description": "Round every value to this many decimal places."
        }
      }
    },
    "tensor": {
      "description": "Exactly one of values, random or fill.",
      "oneOf": [{"required": ["values"]}, {"required": ["random"]}, {"required": ["fill"]}]
    },
    "leaf": {
      "type": "object",
      "additionalProperties": false,
      "required": ["name", "kind", "shape"],
      "$ref": "#/$defs/tensor",
      "properties": {
        "name": {"$ref": "#/$defs/name"},
        "kind": {"enum": ["input", "param", "const"], "description": "input and param get gradients, const does not."},
        "step": {"$ref": "#/$defs/step"},
        "shape": {"$ref": "#/$defs/shape"},
        "values": {"$ref": "#/$defs/values"},
        "random": {"$ref": "#/$defs/random"},
        "fill": {"$ref": "#/$defs/fill"},
        "note": {"$ref": "#/$defs/note"},
        "zero_gradient": {"$ref": "#/$defs/zero_gradient"},
        "variant": {"$ref": "#/$defs/leaf_variant"}
      }
    },
    "leaf_variant": {
      "description": "How --variant N redraws this leaf (docs/lesson-format.md, Variants). \"fixed\": its written values in every variant. An object: each element k / 10^decimals for an integer k drawn uniformly with low <= k / 10^decimals <= high (at least 2 such points), or one of choices; nonzero: never 0. Absent: a random leaf redraws from its own range (normal: mean +- 2 std) with 1 or 2 decimals, an input or param given by values between its smallest and largest value with the decimals they use, a const given by values or fill and a fill are fixed; the upstream gradient as an input, leaving out 0.",
      "oneOf": [
        {"const": "fixed"},
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["low", "high"],
          "properties": {
            "low": {"type": "number", "minimum": -1e12, "maximum": 1e12, "description": "The smallest value drawn (included); below high."},
            "high": {"type": "number", "minimum": -1e12, "maximum": 1e12, "description": "The largest value drawn (included)."},
            "decimals": {"type": "integer", "minimum": 0, "maximum": 2, "default": 1, "description": "The grid: multiples of 10^-decimals."},
            "nonzero": {"type": "boolean", "default": false, "description": "Never draw 0."}
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["choices"],
          "properties": {
            "choices": {"type": "array", "minItems": 1, "items": {"type": "number"}, "description": "Each element is one of these, drawn uniformly."},
            "nonzero": {"type": "boolean", "default": false, "description": "Leave out the choices equal to 0."}
          }
        }
      ]
    },
    "lesson_variant": {
      "type": "object",
      "additionalProperties": false,
      "description": "What every variant of the lesson keeps (docs/lesson-format.md, Variants). A drawn variant is drawn again (at most 100 times) when the forward pass fails, a required property fails, an op is degenerate, the gradient check meets a kink or fails, or an element is 0 by cancellation where the lesson as written and a reference draw are not both 0.",
      "properties": {
        "require": {
          "type": "array",
          "items": {"$ref": "#/$defs/variant_require"},
          "description": "Properties of forward values every variant keeps."
        },
        "description": {"type": "string", "description": "The description shown for every variant but 0 (for a lesson whose own description quotes its numbers)."},
        "notes": {
          "type": "object",
          "additionalProperties": {"type": "string"},
          "description": "Leaf or node name -> its note under a variant."
        },
        "allow": {
          "type": "array",
          "items": {"enum": ["kink", "cancellation", "degenerate"]},
          "description": "Degenerate cases the lesson asks for, not checked: kink (the gradient check's kinks), cancellation (a 0 by cancellation), degenerate (an op's degenerate case, e.g. a column of zero variance)."
        }
      }
    },
    "variant_require": {
      "type": "object",
      "additionalProperties": false,
      "required": ["node"],
      "minProperties": 2,
      "description": "A property of a node's forward value: every test given must hold (strict comparisons).",
      "properties": {
        "node": {"$ref": "#/$defs/name", "description": "A leaf or node name."},
        "why": {"type": "string", "description": "Why the lesson needs it."},
        "all_above": {"type": "number", "description": "Every element > this."},
        "all_below": {"type": "number", "description": "Every element < this."},
        "some_above": {"type": "number", "description": "Some element > this."},
        "some_below": {"type": "number", "description": "Some element < this."},
        "some_abs_above": {"type": "number", "description": "Some |element| > this."},
        "some_abs_below": {"type": "number", "description": "Some |element| < this."}
      }
    },
    "node": {
      "type": "object",
      "additionalProperties": false,
      "required": ["name", "op", "inputs"],
      "properties": {
        "name": {"$ref": "#/$defs/name"},
        "step": {"$ref": "#/$defs/step"},
        "op": {"description": "An op of the op table: see docs/ops.md or `bnstep ops`."},
        "inputs": {
          "type": "array",
          "items": {"$ref": "#/$defs/name"},
          "description": "Names of leaves or other nodes, in the op's input order."
        },
        "attrs": {
          "type": "object",
          "description": "The op's attributes (see docs/ops.md); unknown ones are an error. An attribute is a number, an integer, a boolean, or a list of integers (shape, perm)."
        },
        "note": {"$ref": "#/$defs/note"},
        "zero_gradient": {"$ref": "#/$defs/zero_gradient"}
      }
    },
    "upstream": {
      "type": "object",
      "additionalProperties": false,
      "$ref": "#/$defs/tensor",
      "description": "dout, the gradient of the loss with respect to the output, in the output's shape. The loss is L = sum(output * upstream).",
      "properties": {
        "values": {"$ref": "#/$defs/values"},
        "random": {"$ref": "#/$defs/random"},
        "fill": {"$ref": "#/$defs/fill"},
        "variant": {"$ref": "#/$defs/leaf_variant"}
      }
    },
    "output": {
      "type": "object",
      "additionalProperties": false,
      "required": ["node"],
      "properties": {
        "node": {"$ref": "#/$defs/name", "description": "The output node: a leaf or node name."},
        "upstream": {"$ref": "#/$defs/upstream"}
      },
      "description": "Without upstream the output must be a scalar: it is the loss, with seed gradient 1."
    },
    "compare_group": {
      "type": "object",
      "additionalProperties": false,
      "required": ["label", "nodes"],
      "description": "One design of a comparison: a label and the op nodes that make it up.",
      "properties": {
        "label": {"type": "string", "description": "The name printed for the group."},
        "nodes": {
          "type": "array",
          "minItems": 1,
          "items": {"$ref": "#/$defs/name"},
          "description": "Names of op nodes (not leaves) whose costs are added."
        }
      }
    }
  }
})json";

// The most axes a tensor has: the "maxItems" of $defs/shape.
constexpr int kMaxRank = 4;

// 1 rather than 1.0: JSON Schema does not tell them apart, and the reader
// sees the number as the op reference shows it.
ojson number(double v) {
    if (std::nearbyint(v) == v && std::fabs(v) < 9.0e15) return static_cast<long long>(v);
    return v;
}

ojson attr_rule(const AttrSpec& spec) {
    ojson rule;
    const AttrRange& range = spec.range;
    // The bounds, on the value or, for a list, on each element.
    auto bounds = [&range](ojson& on) {
        if (range.min) on[range.above_min ? "exclusiveMinimum" : "minimum"] = number(*range.min);
        if (range.max) on["maximum"] = number(*range.max);
    };
    switch (spec.type) {
        case AttrType::Int:
            rule["type"] = "integer";
            bounds(rule);
            break;
        case AttrType::Number:
            rule["type"] = "number";
            bounds(rule);
            break;
        case AttrType::Bool: rule["type"] = "boolean"; break;
        case AttrType::Choice:
            rule["type"] = "string";
            rule["enum"] = spec.choices;
            break;
        case AttrType::IntList: {
            // The loader reads 1 to 8 integers; a list describes a tensor's
            // axes (shape, perm), and a tensor has at most kMaxRank.
            rule["type"] = "array";
            rule["minItems"] = 1;
            rule["maxItems"] = kMaxRank;
            ojson items = {{"type", "integer"}};
            if (range.fits) {
                ojson in_range = ojson::object();
                bounds(in_range);
                items["anyOf"] = {in_range, {{"const", *range.fits}}};
            } else {
                bounds(items);
            }
            rule["items"] = items;
            if (range.fits) {
                rule["contains"] = {{"const", *range.fits}};
                rule["minContains"] = 0;
                rule["maxContains"] = 1;
            }
            break;
        }
    }
    rule["description"] = spec.help;
    if (spec.fallback) {
        switch (spec.type) {
            case AttrType::Choice: rule["default"] = spec.choices.at(static_cast<std::size_t>(*spec.fallback)); break;
            case AttrType::Bool: rule["default"] = *spec.fallback != 0.0; break;
            default: rule["default"] = number(*spec.fallback);
        }
    }
    return rule;
}

// The rule of $defs/node's allOf for one op: its input count and attributes.
ojson op_rule(const OpDef& op) {
    ojson inputs = {{"minItems", op.min_arity()}};
    if (!op.variadic) inputs["maxItems"] = op.max_arity();
    ojson attrs;
    ojson required = ojson::array();
    if (op.attrs.empty()) {
        attrs["maxProperties"] = 0;
    } else {
        attrs["additionalProperties"] = false;
        attrs["properties"] = ojson::object();
        for (const AttrSpec& spec : op.attrs) {
            attrs["properties"][spec.name] = attr_rule(spec);
            if (!spec.fallback) required.push_back(spec.name);
        }
        if (!required.empty()) attrs["required"] = required;
    }
    ojson then = {{"properties", {{"inputs", inputs}, {"attrs", attrs}}}};
    if (!required.empty()) then["required"] = ojson::array({"attrs"});
    return {{"if", {{"properties", {{"op", {{"const", op.name}}}}}, {"required", ojson::array({"op"})}}},
            {"then", then}};
}

// Pretty-printed with 2-space indents; an array or object stays on one line
// when that line fits in kWidth columns.
constexpr std::size_t kWidth = 80;

std::string compact(const ojson& v) {
    if (v.is_object()) {
        if (v.empty()) return "{}";
        std::string out = "{";
        for (auto it = v.begin(); it != v.end(); ++it)
            out += (it == v.begin() ? "" : ", ") + ojson(it.key()).dump() + ": " + compact(it.value());
        return out + "}";
    }
    if (v.is_array()) {
        if (v.empty()) return "[]";
        std::string out = "[";
        for (std::size_t i = 0; i < v.size(); ++i) out += (i == 0 ? "" : ", ") + compact(v[i]);
        return out + "]";
    }
    return v.dump();
}

// `v` at `indent` columns, after `lead` (a key and ": ", or nothing) and
// before `tail` (a comma, or nothing).
void pretty(std::string& out, const ojson& v, std::size_t indent, const std::string& lead, const std::string& tail) {
    out.append(indent, ' ');
    out += lead;
    const std::string one_line = compact(v);
    if (!v.is_structured() || v.empty() || indent + lead.size() + one_line.size() + tail.size() <= kWidth) {
        out += one_line + tail + "\n";
        return;
    }
    out += v.is_object() ? "{\n" : "[\n";
    std::size_t i = 0;
    for (auto it = v.begin(); it != v.end(); ++it, ++i) {
        const std::string comma = i + 1 < v.size() ? "," : "";
        pretty(out, it.value(), indent + 2, v.is_object() ? ojson(it.key()).dump() + ": " : "", comma);
    }
    out.append(indent, ' ');
    out += (v.is_object() ? "}" : "]") + tail + "\n";
}

}  // namespace

std::string lesson_schema_json(const OpTable& ops) {
    ojson schema = ojson::parse(kFixedPart);
    ojson& node = schema["$defs"]["node"];
    ojson& op = node["properties"]["op"];
    const ojson description = op["description"];
    op = {{"enum", ops.names()}, {"description", description}};
    node["allOf"] = ojson::array();
    for (const OpDef& def : ops.all()) node["allOf"].push_back(op_rule(def));
    std::string out;
    pretty(out, schema, 0, "", "");
    return out;
}

}  // namespace bnstep
