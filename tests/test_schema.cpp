// lessons/lesson.schema.json against the loader (src/engine/lesson.cpp) and the op
// table: the schema must declare exactly what the loader accepts, so that an
// editor that validates with it agrees with `bnstep run`.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/op.hpp"

namespace {

using json = nlohmann::json;
using Keys = std::set<std::string>;

const json& schema() {
    static const json s = [] {
        std::ifstream file(BNSTEP_SOURCE_DIR "/lessons/lesson.schema.json");
        REQUIRE_MESSAGE(file.good(), "cannot read lessons/lesson.schema.json");
        std::ostringstream text;
        text << file.rdbuf();
        return json::parse(text.str());
    }();
    return s;
}

// The object schema of one context: the root ("") or a $defs entry.
const json& object_schema(const std::string& def) {
    const json& s = def.empty() ? schema() : schema().at("$defs").at(def);
    REQUIRE_MESSAGE(s.contains("properties"), "schema " << (def.empty() ? "root" : def) << " has no properties");
    return s;
}

// "{a, b}", so that a failed comparison of two key sets shows them.
std::string str(const Keys& keys) {
    std::string out = "{";
    for (const std::string& k : keys) out += (out.size() > 1 ? ", " : "") + k;
    return out + "}";
}

Keys keys_of(const json& obj) {
    Keys keys;
    for (const auto& [key, value] : obj.items()) keys.insert(key);
    return keys;
}

Keys declared(const std::string& def) { return keys_of(object_schema(def).at("properties")); }

Keys required(const std::string& def) {
    Keys keys;
    const json& s = object_schema(def);
    if (s.contains("required"))
        for (const auto& k : s.at("required")) keys.insert(k.get<std::string>());
    return keys;
}

// The smallest lessons the loader accepts: a scalar output (so "upstream" may
// be left out), one leaf given by "fill" or by "random", or an explicit upstream.
json minimal_lesson() {
    return json::parse(R"({"title": "t",
        "leaves": [{"name": "x", "kind": "param", "shape": [2], "fill": 1.5}],
        "nodes": [{"name": "y", "op": "sum", "inputs": ["x"]}],
        "output": {"node": "y"}})");
}

json lesson_with_random() {
    json l = minimal_lesson();
    l["leaves"][0].erase("fill");
    l["leaves"][0]["random"] = {{"seed", 1}};
    return l;
}

json lesson_with_upstream() {
    json l = minimal_lesson();
    l["output"]["upstream"] = {{"fill", 1}};
    return l;
}

// "compare" takes two groups, each a label and a list of op nodes.
json lesson_with_compare() {
    json l = minimal_lesson();
    l["compare"] = json::parse(R"([{"label": "a", "nodes": ["y"]}, {"label": "b", "nodes": ["y"]}])");
    return l;
}

// One object of a lesson that the schema describes with one of its object schemas.
struct Context {
    std::string label;
    std::string def;      // "" for the root, else the $defs entry
    json lesson;          // a valid lesson holding such an object
    std::string pointer;  // where the object is in `lesson`
    bool tensor;          // exactly one of values/random/fill
};

std::vector<Context> contexts() {
    return {
        {"top level", "", minimal_lesson(), "", false},
        {"leaf", "leaf", minimal_lesson(), "/leaves/0", true},
        {"node", "node", minimal_lesson(), "/nodes/0", false},
        {"random spec", "random", lesson_with_random(), "/leaves/0/random", false},
        {"output", "output", minimal_lesson(), "/output", false},
        {"upstream", "upstream", lesson_with_upstream(), "/output/upstream", true},
        {"compare group", "compare_group", lesson_with_compare(), "/compare/0", false},
    };
}

// A value for `key` that fits the minimal lessons; for a key this table does
// not know, one made from the schema's own declaration of it.
json sample_value(const std::string& def, const std::string& key, const json& declaration) {
    static const json known = json::parse(R"({
        "": {"$schema": "lesson.schema.json", "name": "sample", "description": "d",
             "compare": [{"label": "a", "nodes": ["y"]}, {"label": "b", "nodes": ["y"]}]},
        "leaf": {"kind": "input", "step": 0, "values": [1, 2], "random": {"seed": 1}, "fill": 2, "note": "n"},
        "node": {"step": 1, "attrs": {"axis": 0}, "note": "n"},
        "random": {"seed": 5, "dist": "normal", "low": -2, "high": 2, "mean": 1, "std": 0.5, "decimals": 2},
        "output": {"upstream": {"fill": 1}},
        "upstream": {"values": 2, "random": {"seed": 3}, "fill": 1},
        "compare_group": {}
    })");
    if (known.at(def).contains(key)) return known.at(def).at(key);
    if (declaration.contains("default")) return declaration.at("default");
    if (declaration.contains("const")) return declaration.at("const");
    if (declaration.contains("enum")) return declaration.at("enum").at(0);
    const std::string type = declaration.value("type", "string");
    if (type == "number" || type == "integer") return 1;
    if (type == "boolean") return true;
    if (type == "object") return json::object();
    if (type == "array") return json::array();
    return "s";
}

// parse_lesson's error, or "" when it accepts the lesson.
std::string load_error(const json& lesson) {
    try {
        bnstep::parse_lesson(lesson.dump(), "sample.json");
    } catch (const bnstep::LessonError& e) {
        return e.what();
    }
    return "";
}

// The rule of the node schema's allOf that applies to `op`, or null.
const json* op_rule(const std::string& op) {
    for (const json& rule : object_schema("node").at("allOf"))
        if (rule.at("if").at("properties").at("op").value("const", "") == op) return &rule;
    return nullptr;
}

std::string attr_json_type(bnstep::AttrType type) {
    switch (type) {
        case bnstep::AttrType::Int: return "integer";
        case bnstep::AttrType::Number: return "number";
        case bnstep::AttrType::Bool: return "boolean";
        case bnstep::AttrType::IntList: return "array";
        case bnstep::AttrType::Choice: return "string";
    }
    return "?";
}

}  // namespace

TEST_CASE("schema: lessons/lesson.schema.json is a draft 2020-12 object schema") {
    CHECK(schema().at("$schema") == "https://json-schema.org/draft/2020-12/schema");
    CHECK(schema().at("type") == "object");
    for (const char* def : {"leaf", "node", "random", "output", "upstream", "compare_group"})
        CHECK(schema().at("$defs").contains(def));
}

TEST_CASE("schema: the op enum is the op table") {
    Keys in_schema;
    for (const auto& op : object_schema("node").at("properties").at("op").at("enum"))
        in_schema.insert(op.get<std::string>());
    const std::vector<std::string> names = bnstep::builtin_ops().names();
    const Keys in_table(names.begin(), names.end());
    CHECK(str(in_schema) == str(in_table));
}

TEST_CASE("schema: each op's input count and attributes match the op table") {
    std::size_t rules = 0;
    for (const json& rule : object_schema("node").at("allOf")) {
        const std::string name = rule.at("if").at("properties").at("op").value("const", "");
        CAPTURE(name);
        CHECK(bnstep::builtin_ops().find(name) != nullptr);
        ++rules;
    }
    CHECK(rules == bnstep::builtin_ops().all().size());
    for (const bnstep::OpDef& op : bnstep::builtin_ops().all()) {
        CAPTURE(op.name);
        const json* rule = op_rule(op.name);
        REQUIRE_MESSAGE(rule != nullptr, "the node schema has no allOf rule for op " << op.name);
        const json& then = rule->at("then");
        const json& inputs = then.at("properties").at("inputs");
        CHECK(inputs.at("minItems").get<std::size_t>() == op.min_arity());
        if (op.variadic)
            CHECK_FALSE(inputs.contains("maxItems"));  // any number of pieces
        else
            CHECK(inputs.at("maxItems").get<std::size_t>() == op.max_arity());
        const json& attrs = then.at("properties").at("attrs");
        Keys declared_attrs, required_attrs, table_attrs, table_required;
        if (attrs.contains("properties")) declared_attrs = keys_of(attrs.at("properties"));
        if (attrs.contains("required"))
            for (const auto& k : attrs.at("required")) required_attrs.insert(k.get<std::string>());
        for (const bnstep::AttrSpec& spec : op.attrs) {
            table_attrs.insert(spec.name);
            if (!spec.fallback) table_required.insert(spec.name);
            if (declared_attrs.count(spec.name)) {
                const json& decl = attrs.at("properties").at(spec.name);
                CHECK(decl.at("type") == attr_json_type(spec.type));
                // A list attribute: integers, 1 to 8 of them as the loader
                // reads it; shape and perm describe a tensor, which has at
                // most as many axes as a leaf's shape.
                if (spec.type == bnstep::AttrType::IntList) {
                    CHECK(decl.at("items").at("type") == "integer");
                    CHECK(decl.at("minItems") == 1);
                    CHECK(decl.at("maxItems") == schema().at("$defs").at("shape").at("maxItems"));
                }
                if (spec.type == bnstep::AttrType::Choice) {
                    std::vector<std::string> words;
                    for (const auto& w : decl.at("enum")) words.push_back(w.get<std::string>());
                    CHECK(words == spec.choices);
                    CHECK(decl.at("default") == spec.choices.at(static_cast<std::size_t>(*spec.fallback)));
                } else if (spec.fallback && spec.type == bnstep::AttrType::Bool)
                    CHECK(decl.at("default") == (*spec.fallback != 0.0));
                else if (spec.fallback)
                    CHECK(decl.at("default").get<double>() == *spec.fallback);
            }
        }
        CHECK(str(declared_attrs) == str(table_attrs));
        CHECK(str(required_attrs) == str(table_required));
        if (table_attrs.empty())
            CHECK(attrs.value("maxProperties", -1) == 0);
        else
            CHECK(attrs.value("additionalProperties", true) == false);
        const bool attrs_required =
            then.contains("required") && then.at("required").size() == 1 && then.at("required").at(0) == "attrs";
        CHECK(attrs_required == !table_required.empty());
    }
}

TEST_CASE("schema: every key the built-in lessons use is declared") {
    REQUIRE(!bnstep::builtin_lessons().empty());
    auto check_keys = [](const json& obj, const std::string& def, const std::string& where) {
        const Keys allowed = declared(def);
        for (const auto& item : obj.items()) {
            const std::string key = item.key();
            CAPTURE(where);
            CHECK_MESSAGE(allowed.count(key) == 1, "key '" << key << "' is not declared in the schema");
        }
    };
    for (const auto& lesson : bnstep::builtin_lessons()) {
        CAPTURE(lesson.name);
        const json l = json::parse(lesson.json);
        check_keys(l, "", "/");
        CHECK(l.value("$schema", "") == "lesson.schema.json");
        for (std::size_t i = 0; i < l.at("leaves").size(); ++i) {
            const json& leaf = l.at("leaves").at(i);
            const std::string where = "/leaves/" + std::to_string(i);
            check_keys(leaf, "leaf", where);
            if (leaf.contains("random")) check_keys(leaf.at("random"), "random", where + "/random");
        }
        for (std::size_t i = 0; i < l.at("nodes").size(); ++i) {
            const json& node = l.at("nodes").at(i);
            const std::string where = "/nodes/" + std::to_string(i);
            check_keys(node, "node", where);
            if (!node.contains("attrs")) continue;
            const json* rule = op_rule(node.at("op").get<std::string>());
            REQUIRE(rule != nullptr);
            const json& attrs = rule->at("then").at("properties").at("attrs");
            const Keys allowed = attrs.contains("properties") ? keys_of(attrs.at("properties")) : Keys{};
            for (const auto& item : node.at("attrs").items()) {
                const std::string key = item.key();
                CAPTURE(where);
                CHECK_MESSAGE(allowed.count(key) == 1, "attribute '" << key << "' is not declared in the schema");
            }
        }
        if (l.contains("compare"))
            for (std::size_t i = 0; i < l.at("compare").size(); ++i)
                check_keys(l.at("compare").at(i), "compare_group", "/compare/" + std::to_string(i));
        const json& output = l.at("output");
        check_keys(output, "output", "/output");
        if (output.contains("upstream")) {
            check_keys(output.at("upstream"), "upstream", "/output/upstream");
            if (output.at("upstream").contains("random"))
                check_keys(output.at("upstream").at("random"), "random", "/output/upstream/random");
        }
    }
}

TEST_CASE("schema: every key the schema declares is accepted by the loader") {
    for (const Context& c : contexts()) {
        CAPTURE(c.label);
        REQUIRE(load_error(c.lesson) == "");
        const json& properties = object_schema(c.def).at("properties");
        for (const auto& item : properties.items()) {
            const std::string key = item.key();
            const json& declaration = item.value();
            CAPTURE(key);
            json lesson = c.lesson;
            json& obj = lesson[json::json_pointer(c.pointer)];
            // A key the minimal lesson already has keeps its value.
            if (obj.contains(key)) {
                CHECK(load_error(lesson) == "");
                continue;
            }
            if (c.tensor && (key == "values" || key == "random" || key == "fill"))
                for (const char* other : {"values", "random", "fill"}) obj.erase(other);
            obj[key] = sample_value(c.def, key, declaration);
            // mean and std belong to the normal distribution.
            if (c.def == "random" && (key == "mean" || key == "std")) obj["dist"] = "normal";
            CHECK(load_error(lesson) == "");
        }
    }
}

TEST_CASE("schema: objects are closed where the loader rejects unknown keys") {
    for (const Context& c : contexts()) {
        CAPTURE(c.label);
        CHECK(object_schema(c.def).value("additionalProperties", true) == false);
        json lesson = c.lesson;
        lesson[json::json_pointer(c.pointer)]["bogus"] = 1;
        CHECK(load_error(lesson).find("unknown key 'bogus'") != std::string::npos);
    }
}

TEST_CASE("schema: required keys are the keys the loader requires") {
    for (const Context& c : contexts()) {
        CAPTURE(c.label);
        const Keys req = required(c.def);
        const Keys all = declared(c.def);
        for (const std::string& key : req)
            CHECK_MESSAGE(all.count(key) == 1, "required key '" << key << "' is not declared");
        // Each required key: leaving it out is a load error that names it.
        for (const std::string& key : req) {
            CAPTURE(key);
            json lesson = c.lesson;
            lesson[json::json_pointer(c.pointer)].erase(key);
            const std::string error = load_error(lesson);
            CHECK_MESSAGE(error.find("missing key '" + key + "'") != std::string::npos, "got: " << error);
        }
        // The minimal lesson holds nothing but required keys (and, for a
        // tensor, the one of values/random/fill that the schema's oneOf asks
        // for), so the loader needs no more than the schema requires.
        for (const auto& item : c.lesson[json::json_pointer(c.pointer)].items()) {
            const std::string key = item.key();
            CAPTURE(key);
            const bool tensor_key = c.tensor && (key == "values" || key == "random" || key == "fill");
            CHECK((req.count(key) == 1 || tensor_key));
        }
    }
    // values, random and fill: exactly one, as the schema's oneOf says.
    for (const Context& c : contexts()) {
        if (!c.tensor) continue;
        CAPTURE(c.label);
        json none = c.lesson;
        for (const char* k : {"values", "random", "fill"}) none[json::json_pointer(c.pointer)].erase(k);
        CHECK(load_error(none).find("expected exactly one of") != std::string::npos);
        json two = c.lesson;
        two[json::json_pointer(c.pointer)]["fill"] = 1;
        two[json::json_pointer(c.pointer)]["random"] = {{"seed", 2}};
        CHECK(load_error(two).find("expected exactly one of") != std::string::npos);
    }
    // Without "upstream" the output must be a scalar (the schema cannot say so).
    json lesson = lesson_with_upstream();
    lesson["nodes"][0]["attrs"] = {{"keepdims", true}};
    lesson["output"].erase("upstream");
    CHECK(load_error(lesson).find("give its upstream gradient") != std::string::npos);
}

TEST_CASE("schema: compare holds exactly two groups, as the loader requires") {
    const json& compare = object_schema("").at("properties").at("compare");
    CHECK(compare.at("type") == "array");
    CHECK(compare.at("minItems") == 2);
    CHECK(compare.at("maxItems") == 2);
    CHECK(compare.at("items").at("$ref") == "#/$defs/compare_group");
    CHECK(object_schema("compare_group").at("properties").at("nodes").at("minItems") == 1);
    REQUIRE(load_error(lesson_with_compare()) == "");
    for (std::size_t n : {0u, 1u, 3u}) {
        CAPTURE(n);
        json lesson = lesson_with_compare();
        lesson["compare"] = json::array();
        for (std::size_t i = 0; i < n; ++i) lesson["compare"].push_back({{"label", "g"}, {"nodes", {"y"}}});
        CHECK(load_error(lesson).find("/compare") != std::string::npos);
    }
    json empty_nodes = lesson_with_compare();
    empty_nodes["compare"][1]["nodes"] = json::array();
    CHECK(load_error(empty_nodes).find("/compare/1/nodes") != std::string::npos);
}

TEST_CASE("schema: list attributes are lists of 1 to 8 integers, as the loader reads them") {
    // reshape's shape: the schema's bounds, checked against the loader.
    auto lesson = [](const json& shape) {
        json l = json::parse(R"({"title": "t",
            "leaves": [{"name": "x", "kind": "param", "shape": [2, 3], "fill": 1}],
            "nodes": [{"name": "y", "op": "reshape", "inputs": ["x"]}],
            "output": {"node": "y", "upstream": {"fill": 1}}})");
        l["nodes"][0]["attrs"] = {{"shape", shape}};
        l["output"]["upstream"] = {{"fill", 1}};
        return l;
    };
    CHECK(load_error(lesson(json::parse("[6]"))) == "");
    CHECK(load_error(lesson(json::parse("[3, -1]"))) == "");
    CHECK(load_error(lesson(json::parse("[1, 1, 2, 3]"))) == "");
    // A tensor has at most 4 axes (the schema says maxItems 4): the loader
    // reads up to 8 integers, and the shape rule then rejects a fifth axis.
    CHECK(load_error(lesson(json::parse("[1, 1, 1, 2, 3]"))) != "");
    CHECK(load_error(lesson(json::array())).find("1 to 8 integers") != std::string::npos);
    CHECK(load_error(lesson(json::parse("[1, 1, 1, 1, 1, 1, 1, 2, 3]"))).find("1 to 8 integers") != std::string::npos);
    CHECK(load_error(lesson(json::parse("[6.5]"))).find("expected an integer") != std::string::npos);
    CHECK(load_error(lesson(6)).find("expected a list") != std::string::npos);
    // What the schema's items say of each size: -1 (once) or at least 1.
    CHECK(load_error(lesson(json::parse("[0, 6]"))) != "");
    CHECK(load_error(lesson(json::parse("[-1, -1]"))) != "");
    const json* rule = op_rule("reshape");
    REQUIRE(rule != nullptr);
    const json& decl = rule->at("then").at("properties").at("attrs").at("properties").at("shape");
    CHECK(decl.at("items").at("minimum") == -1);
    CHECK(decl.at("items").at("not").at("const") == 0);
    CHECK(decl.at("maxContains") == 1);
    CHECK(decl.at("maxItems") == 4);
}
