#include "common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iostream>

#include "bnstep/error.hpp"
#include "bnstep/notation.hpp"
#include "bnstep/variant.hpp"
#include "guard.hpp"
#include "option_values.hpp"
#include "settings.hpp"
#include "variant_options.hpp"

namespace bnstep::cli {

Limits flag_named_limits() {
    Limits limits;
    limits.names.file_bytes = "--max-file-size";
    limits.names.nodes = "--max-nodes";
    limits.names.elements = "--max-elements";
    limits.names.memory = "--max-memory";
    limits.names.work = "--max-work";
    limits.names.shapes = "--set";
    return limits;
}

LessonOptions Common::lesson_options() const {
    LessonOptions o;
    o.limits = limits;
    o.variant = student.empty() ? variant : student_variant(student);
    o.student = student;
    for (const auto& s : settings) parse_setting(s, o);
    return o;
}

Graph Common::load(const std::string& name_or_path) const {
    Graph g = load_lesson(name_or_path, builtin_ops(), lesson_options());
    note_lesson(g);
    return g;
}

Graph Common::load(const std::string& name_or_path, std::uint64_t variant, const std::string& student) const {
    LessonOptions o = lesson_options();
    o.variant = variant;
    o.student = student;
    Graph g = load_lesson(name_or_path, builtin_ops(), o);
    note_lesson(g);
    return g;
}

PrintOptions Common::print() const {
    PrintOptions o;
    o.num.precision = precision;
    o.full = full;
    const char* no_color = std::getenv("NO_COLOR");
    const bool allowed = no_color == nullptr || *no_color == '\0';
    o.style.color = allowed && (color == "always" || (color == "auto" && isatty(STDOUT_FILENO)));
    o.utf8 = locale_is_utf8(std::getenv("LC_ALL"), std::getenv("LC_CTYPE"), std::getenv("LANG"));
    return o;
}

CLI::Option* add_lesson_argument(CLI::App& cmd, std::string& lesson) {
    return cmd.add_option("lesson", lesson, kLessonHelp)->type_name(kLessonType)->capture_default_str();
}

void add_common(CLI::App& cmd, Common& c, const std::vector<std::string>& formats) {
    cmd.add_option("--format", c.format, "output format")->check(CLI::IsMember(formats))->capture_default_str();
    add_whole(cmd, "--precision", c.precision, 1, 17, "significant digits of printed numbers");
    cmd.add_option("--color", c.color, "colour: auto (only on a terminal), always or never; NO_COLOR turns it off")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->capture_default_str();
}

void add_lesson_options(CLI::App& cmd, Common& c, bool prints_tensors) {
    auto* variant = add_whole(cmd, "--variant", c.variant, 0, UINT64_MAX,
                              "redraw the lesson's numbers as variant N (0: the lesson as written)");
    cmd.add_option("--student", c.student, "the variant of a student's name or ID (a stable hash of it)")
        ->type_name("NAME")
        ->excludes(variant)
        ->transform(CLI::Validator(
            [](std::string& name) {
                try {
                    name = student_name(name, "--student");
                } catch (const UsageError& e) {
                    // CLI11 puts "--student: " before the message itself.
                    return std::string(e.what()).substr(std::string("--student: ").size());
                }
                return std::string();
            },
            ""));
    cmd.add_option("--set", c.settings,
                   "resize a leaf, e.g. --set x.shape=8,32,56,56 (leaves given by random or fill; any leaf not fixed "
                   "under --variant); repeatable");
    if (prints_tensors) cmd.add_flag("--full", c.full, "print large tensors whole instead of summarised");
    const Limits defaults;
    add_size(cmd, "--max-file-size", c.limits.file_bytes,
             fmt::format("the largest lesson file read, e.g. 64M (default {}M)", defaults.file_bytes >> 20));
    add_whole(cmd, "--max-nodes", c.limits.nodes, 1, kMaxNodesLimit,
              fmt::format("the most leaves and nodes (default {})", defaults.nodes));
    add_whole(cmd, "--max-elements", c.limits.elements, 1, kMaxElementsLimit,
              fmt::format("the most elements of one tensor, and of one window of a convolution or pooling "
                          "(default {})",
                          defaults.elements));
    add_size(cmd, "--max-memory", c.limits.memory_bytes,
             fmt::format("the most memory a run may need, estimated from the shapes, e.g. 16G (default {}G)",
                         defaults.memory_bytes >> 30));
    add_size(cmd, "--max-work", c.limits.work,
             fmt::format("the most multiply-adds of one forward pass, e.g. 64G (default {}G)", defaults.work >> 30));
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << '\n'; }

std::size_t find_node(const Graph& g, const std::string& wanted) {
    if (!wanted.empty() &&
        std::all_of(wanted.begin(), wanted.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        if (wanted.size() <= 4)
            if (const auto i = g.find_step(std::stoi(wanted))) return *i;
    }
    if (const auto i = g.find(wanted)) return *i;
    std::vector<std::string> names, labels;
    for (const Node& n : g.nodes) {
        names.push_back(n.name);
        labels.push_back(n.step ? fmt::format("{} ({})", *n.step, n.name) : n.name);
    }
    const std::string hint = did_you_mean(wanted, names);
    throw UsageError(fmt::format("lesson {} has no step or node '{}'{}; it has: {}", g.name, wanted,
                                 hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                 fmt::join(labels, ", ")));
}

Index parse_index(const std::string& text, const Node& node) {
    if (text.empty()) return default_index(node.shape);
    Index index;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(',', start), text.size());
        const std::string part = text.substr(start, end - start);
        if (part.empty() || part.size() > 9 ||
            !std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
            throw UsageError(
                fmt::format("--index '{}': expected non-negative integers separated by commas, like 1,2", text));
        index.push_back(std::stoul(part));
        start = end + 1;
    }
    if (!Tensor(node.shape).contains(index))
        throw UsageError(fmt::format("--index {} does not fit {}'s shape {}: give {} numbers, each below its dimension",
                                     index_str(index), node.name, shape_str(node.shape), node.shape.size()));
    return index;
}

extern const CLI::Validator positive(
    [](std::string& text) {
        try {
            std::size_t used = 0;
            const double v = std::stod(text, &used);
            if (used == text.size() && v > 0 && std::isfinite(v)) return std::string();
        } catch (const std::exception&) {
        }
        return "expected a positive number, got '" + text + "'";
    },
    "POSITIVE");

std::optional<Index> parse_input_index(const std::string& text, const Graph& g, std::size_t node) {
    if (text.empty()) return std::nullopt;
    std::string tried;
    for (std::size_t in : g.nodes[node].inputs) {
        try {
            return parse_index(text, g.nodes[in]);
        } catch (const UsageError& e) {
            tried = e.what();
        }
    }
    if (tried.empty()) throw UsageError(fmt::format("--input-index: {} has no inputs", g.nodes[node].name));
    throw UsageError(fmt::format("--input-index fits none of {}'s inputs: {}", g.nodes[node].name, tried));
}

}  // namespace bnstep::cli
