#include "cli/commands.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/print.hpp"
#include "bnstep/version.hpp"

namespace bnstep::cli {
namespace {

// Options most commands share.
struct Common {
    std::string format = "text";
    int precision = 4;
    std::string color = "auto";
    bool full = false;
    std::vector<std::string> settings;  // --set x.shape=...
    std::string max_file_size, max_memory;
    std::size_t max_nodes = 0, max_elements = 0;

    LessonOptions lesson_options() const {
        LessonOptions o;
        if (!max_file_size.empty()) o.limits.file_bytes = parse_size(max_file_size, "--max-file-size");
        if (!max_memory.empty()) o.limits.memory_bytes = parse_size(max_memory, "--max-memory");
        if (max_nodes) o.limits.nodes = max_nodes;
        if (max_elements) o.limits.elements = max_elements;
        for (const auto& s : settings) parse_setting(s, o);
        return o;
    }

    PrintOptions print() const {
        PrintOptions o;
        o.num.precision = precision;
        o.full = full;
        const char* no_color = std::getenv("NO_COLOR");
        const bool allowed = no_color == nullptr || *no_color == '\0';
        o.style.color = allowed && (color == "always" || (color == "auto" && isatty(STDOUT_FILENO)));
        return o;
    }
};

void add_common(CLI::App& cmd, Common& c, const std::vector<std::string>& formats) {
    cmd.add_option("--format", c.format, "output format")->check(CLI::IsMember(formats))->capture_default_str();
    cmd.add_option("--precision", c.precision, "significant digits of printed numbers")
        ->check(CLI::Range(1, 17))
        ->capture_default_str();
    cmd.add_option("--color", c.color, "colour: auto (only on a terminal), always or never; NO_COLOR turns it off")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->capture_default_str();
}

// Options of the commands that load a lesson: resizing leaves, printing everything.
void add_lesson_options(CLI::App& cmd, Common& c, bool prints_tensors) {
    cmd.add_option("--set", c.settings,
                   "resize a leaf, e.g. --set x.shape=8,32,56,56 (leaves given by random or fill); repeatable");
    if (prints_tensors) cmd.add_flag("--full", c.full, "print large tensors whole instead of summarised");
    const Limits defaults;
    cmd.add_option("--max-file-size", c.max_file_size,
                   fmt::format("the largest lesson file read, e.g. 64M (default {}M)", defaults.file_bytes >> 20));
    cmd.add_option("--max-nodes", c.max_nodes, fmt::format("the most leaves and nodes (default {})", defaults.nodes))
        ->check(CLI::PositiveNumber);
    cmd.add_option("--max-elements", c.max_elements,
                   fmt::format("the most elements of one tensor (default {})", defaults.elements))
        ->check(CLI::PositiveNumber);
    cmd.add_option("--max-memory", c.max_memory,
                   fmt::format("the most memory a run may need, estimated from the shapes, e.g. 16G (default {}G)",
                               defaults.memory_bytes >> 30));
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << '\n'; }

std::size_t find_node(const Graph& g, const std::string& wanted) {
    if (!wanted.empty() && std::all_of(wanted.begin(), wanted.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
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
                                 hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), fmt::join(labels, ", ")));
}

Index parse_index(const std::string& text, const Node& node) {
    if (text.empty()) return default_index(node.shape);
    Index index;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(',', start), text.size());
        const std::string part = text.substr(start, end - start);
        if (part.empty() || part.size() > 9 || !std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
            throw UsageError(fmt::format("--index '{}': expected non-negative integers separated by commas, like 1,2", text));
        index.push_back(std::stoul(part));
        start = end + 1;
    }
    if (!Tensor(node.shape).contains(index))
        throw UsageError(fmt::format("--index {} does not fit {}'s shape {}: give {} numbers, each below its dimension",
                                     index_str(index), node.name, shape_str(node.shape), node.shape.size()));
    return index;
}

const CLI::Validator positive(
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

// --input-index: it must fit at least one input of the node.
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

struct Command {
    const char* name;
    const char* help;
    std::function<std::function<int()>(CLI::App&)> setup;  // adds options, returns the action
};

std::vector<Command> commands() {
    return {
        {"lessons", "list the built-in lessons",
         [](CLI::App& cmd) {
             auto format = std::make_shared<std::string>("text");
             cmd.add_option("--format", *format, "output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
             return [format] {
                 nlohmann::json list = nlohmann::json::array();
                 for (const auto& lesson : builtin_lessons()) {
                     const Graph g = parse_lesson(lesson.json, "lessons/" + std::string(lesson.name) + ".json");
                     if (*format == "json")
                         list.push_back({{"name", g.name}, {"title", g.title}, {"nodes", g.nodes.size()}});
                     else
                         std::cout << fmt::format("{:<24} {:>3} nodes  {}\n", g.name, g.nodes.size(), g.title);
                 }
                 if (*format == "json") print_json({{"bnstep", kVersion}, {"command", "lessons"}, {"lessons", list}});
                 return kOk;
             };
         }},
        {"run", "forward and backward pass of a lesson, every node explained",
         [](CLI::App& cmd) {
             auto lesson = std::make_shared<std::string>("batchnorm");
             auto common = std::make_shared<Common>();
             cmd.add_option("lesson", *lesson, "a built-in lesson's name or a path to a .json lesson")->capture_default_str();
             add_common(cmd, *common, {"text", "json"});
             add_lesson_options(cmd, *common, true);
             return [lesson, common] {
                 const Graph g = load_lesson(*lesson, builtin_ops(), common->lesson_options());
                 const Trace t = run(g);
                 if (common->format == "json")
                     print_json(run_json(t));
                 else
                     print_run_text(std::cout, t, common->print());
                 return kOk;
             };
         }},
        {"trace", "one node in depth, with one element worked by hand",
         [](CLI::App& cmd) {
             auto lesson = std::make_shared<std::string>("batchnorm");
             auto node = std::make_shared<std::string>();
             auto index = std::make_shared<std::string>();
             auto common = std::make_shared<Common>();
             cmd.add_option("lesson", *lesson, "a built-in lesson's name or a path to a .json lesson")->capture_default_str();
             cmd.add_option("--node,-n", *node, "the node: its step number or its name")->required();
             cmd.add_option("--index,-i", *index,
                            "the element of the node to work out, e.g. 1,2 (default: 1 on every axis longer than 1); "
                            "the inputs' gradients use the matching element");
             auto input_index = std::make_shared<std::string>();
             cmd.add_option("--input-index", *input_index,
                            "the element of the inputs' gradients to work out instead, e.g. 0,0,7,3 (for each input "
                            "whose rank it fits)");
             add_common(cmd, *common, {"text", "json"});
             add_lesson_options(cmd, *common, true);
             return [lesson, node, index, input_index, common] {
                 const Graph g = load_lesson(*lesson, builtin_ops(), common->lesson_options());
                 const std::size_t i = find_node(g, *node);
                 const Index at = parse_index(*index, g.nodes[i]);
                 const std::optional<Index> input_at = parse_input_index(*input_index, g, i);
                 const Trace t = run(g);
                 const PrintOptions opt = common->print();
                 if (common->format == "json")
                     print_json(trace_json(t, i, at, opt.num, input_at));
                 else
                     print_trace_text(std::cout, t, i, at, opt, input_at);
                 return kOk;
             };
         }},
        {"check-gradients", "numeric against analytic gradient, every node (default: every built-in lesson)",
         [](CLI::App& cmd) {
             auto lessons = std::make_shared<std::vector<std::string>>();
             auto options = std::make_shared<GradcheckOptions>();
             auto common = std::make_shared<Common>();
             cmd.add_option("lessons", *lessons, "built-in lesson names or .json paths (default: all built-in lessons)");
             cmd.add_option("--step", options->step, "h, the step of the centred differences")
                 ->check(positive)
                 ->capture_default_str();
             cmd.add_option("--tolerance", options->tolerance, "the largest relative error that passes")
                 ->check(positive)
                 ->capture_default_str();
             cmd.add_option("--floor", options->floor,
                            "the smallest denominator of the relative error, so gradients near 0 compare absolutely")
                 ->check(positive)
                 ->capture_default_str();
             add_common(cmd, *common, {"text", "json"});
             add_lesson_options(cmd, *common, false);
             return [lessons, options, common] {
                 std::vector<std::string> names = *lessons;
                 if (names.empty())
                     for (const auto& l : builtin_lessons()) names.emplace_back(l.name);
                 std::vector<Graph> graphs;
                 const LessonOptions lesson_options = common->lesson_options();
                 for (const auto& name : names) graphs.push_back(load_lesson(name, builtin_ops(), lesson_options));
                 std::vector<Trace> traces;
                 std::vector<GradcheckReport> reports;
                 for (const Graph& g : graphs) traces.push_back(run(g));
                 for (std::size_t k = 0; k < graphs.size(); ++k) reports.push_back(check_gradients(graphs[k], traces[k], *options));
                 if (common->format == "json")
                     print_json(check_json(reports));
                 else
                     print_check_text(std::cout, reports, common->print());
                 for (const auto& r : reports)
                     if (!r.passed()) return kCheckFailed;
                 return kOk;
             };
         }},
        {"ops", "the op table: each op's forward rule and local-gradient formulas",
         [](CLI::App& cmd) {
             auto common = std::make_shared<Common>();
             cmd.add_option("--format", common->format, "output format")
                 ->check(CLI::IsMember({"text", "markdown"}))
                 ->capture_default_str();
             cmd.add_option("--color", common->color, "colour: auto (only on a terminal), always or never")
                 ->check(CLI::IsMember({"auto", "always", "never"}))
                 ->capture_default_str();
             return [common] {
                 if (common->format == "markdown")
                     std::cout << op_reference_markdown(builtin_ops());
                 else
                     std::cout << op_list_text(builtin_ops(), common->print().style);
                 return kOk;
             };
         }},
    };
}

}  // namespace

int run(int argc, char** argv) {
    CLI::App app{"bnstep: backpropagation by hand, one node at a time.\n"
                 "Every forward value, local gradient, upstream and downstream gradient, with the arithmetic shown.",
                 "bnstep"};
    app.set_version_flag("--version", fmt::format("bnstep {}", kVersion), "print the version and exit");
    app.footer("Exit codes: 0 success, 1 a gradient check failed (or a NaN appeared), 2 a usage or lesson error.\n"
               "Run 'bnstep COMMAND --help' for a command's options.");
    std::vector<std::string> names;
    std::function<int()> action;
    const auto table = commands();
    for (const auto& c : table) {
        CLI::App* sub = app.add_subcommand(c.name, c.help);
        auto act = c.setup(*sub);
        sub->callback([&action, act] { action = act; });
        names.emplace_back(c.name);
    }
    if (argc >= 2 && argv[1][0] != '-' && std::find(names.begin(), names.end(), argv[1]) == names.end()) {
        const std::string hint = did_you_mean(argv[1], names);
        throw UsageError(fmt::format("unknown command '{}'{}; commands: {} (see bnstep --help)", argv[1],
                                     hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), fmt::join(names, ", ")));
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        const bool command = argc >= 2 && std::find(names.begin(), names.end(), argv[1]) != names.end();
        std::cerr << "bnstep: error: " << e.what() << " (see bnstep " << (command ? std::string(argv[1]) + " " : "")
                  << "--help)\n";
        return kUsage;
    }
    if (!action) {
        std::cout << app.help();
        return kOk;
    }
    return action();
}

}  // namespace bnstep::cli
