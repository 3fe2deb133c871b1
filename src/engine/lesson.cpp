// Lesson JSON -> validated Graph. Every check happens here, before anything
// runs; each failure names the file, the JSON location or node, and what
// was expected. parse_lesson drives the phases, each in the file along its
// seam (lesson_declare.cpp, lesson_nodes.cpp, lesson_output.cpp; the values of
// leaves in lesson_values.cpp).
#include "bnstep/lesson.hpp"

#include <filesystem>

#include "bnstep/text_file.hpp"
#include "json_reader.hpp"
#include "lesson_reader.hpp"

namespace bnstep::lesson_detail {
namespace {

// The document, within the size, depth and node limits, and its top-level keys.
json read_root(const Reader& r, std::string_view text, const Limits& limits) {
    if (text.size() > limits.file_bytes)
        throw LessonError(fmt::format("{}: the lesson is {}, above the limit of {} ({})", r.source(),
                                      bytes_str(text.size()), bytes_str(limits.file_bytes), limits.names.file_bytes));
    json root = read_lesson_json(text, r.source(), {limits.json_depth, limits.nodes, limits.names.nodes});
    r.object(root, "");
    r.only_keys(root, "", {"$schema", "name", "title", "description", "leaves", "nodes", "output", "compare", "variant"});
    return root;
}

// Title, description and name.
void read_header(LessonBuild& b, const std::string& source) {
    const Reader& r = b.r;
    Graph& g = b.g;
    g.source = visible(source);
    g.title = r.text(r.required(b.root, "", "title", "a string"), "/title");
    if (const json* d = r.optional(b.root, "description")) g.description = r.text(*d, "/description");
    if (const json* n = r.optional(b.root, "name")) g.name = r.text(*n, "/name");
    if (g.name.empty()) g.name = visible(std::filesystem::path(source).stem().string());
}

}  // namespace
}  // namespace bnstep::lesson_detail

namespace bnstep {

Graph parse_lesson(std::string_view text, const std::string& source, const OpTable& ops, const LessonOptions& options) {
    using namespace lesson_detail;
    const Reader r(source);
    const json root = read_root(r, text, options.limits);
    LessonBuild b{r, ops, options, root, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
    read_header(b, source);
    b.g.variant = options.variant;
    b.g.student = options.student;
    read_leaves(b);
    read_node_declarations(b);
    resolve_nodes(b);
    place_nodes(b);
    check_memory(b);
    read_leaf_values(b);
    read_output(b);
    check_constant_inputs(b);
    read_compare(b);
    read_variant_rules(b);
    apply_variant(b);
    return std::move(b.g);
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
