#pragma once
// What the commands share: common options, finding a node or an element, and
// the command table's entry type. Each commands file adds its own entries.
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bnstep/graph.hpp"
#include "bnstep/did_you_mean.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/print.hpp"
#include "commands.hpp"

namespace bnstep::cli {

// The help of every command's lesson argument.
inline constexpr const char* kLessonHelp = "a built-in lesson's name or a path to a .json lesson";

// The type names --help shows that the shell completions act on: a lesson
// (built-in names and .json files), a node or a leaf of that lesson, any file.
inline constexpr const char* kLessonType = "LESSON";
inline constexpr const char* kNodeType = "NODE";
inline constexpr const char* kLeafType = "LEAF";
inline constexpr const char* kFileType = "FILE";
inline constexpr const char* kNetworkType = "NETWORK";  // cost: a built-in network or a .json file

// The optional lesson argument most commands take.
CLI::Option* add_lesson_argument(CLI::App& cmd, std::string& lesson);

// The default limits, each named in messages by the option that sets it.
Limits flag_named_limits();

// Options most commands share.
struct Common {
    std::string format = "text";
    int precision = 4;
    std::string color = "auto";
    bool full = false;
    std::vector<std::string> settings;    // --set x.shape=...
    Limits limits = flag_named_limits();  // --max-file-size, --max-nodes, --max-elements, --max-memory, --max-work
    std::uint64_t variant = 0;            // --variant N
    std::string student;                  // --student NAME (sets the variant)

    LessonOptions lesson_options() const;
    // What the command holds per element of every tensor, measured with
    // /usr/bin/time at 1e6 and 2e6 elements per tensor (docs/robustness.md),
    // with a margin: --max-memory is checked against it.
    void memory_per_element(std::size_t bytes, const std::string& what) {
        limits.bytes_per_element = bytes;
        limits.bytes_per_element_use = what;
    }
    // The lesson, loaded with these options (and remembered for an out-of-memory message).
    Graph load(const std::string& name_or_path) const;
    // One variant of it, for the commands that write many (a roster's own variant, or a name's).
    Graph load(const std::string& name_or_path, std::uint64_t variant, const std::string& student) const;
    PrintOptions print() const;
};

void add_common(CLI::App& cmd, Common& c, const std::vector<std::string>& formats);
// Options of the commands that load a lesson: resizing leaves, printing everything.
void add_lesson_options(CLI::App& cmd, Common& c, bool prints_tensors);
void print_json(const nlohmann::json& j);
// A node by step number or name; a UsageError listing the lesson's nodes otherwise.
std::size_t find_node(const Graph& g, const std::string& wanted);
// "1,2" as an element of `node` (default: 1 on every axis longer than 1).
Index parse_index(const std::string& text, const Node& node);
// --input-index: it must fit at least one input of the node.
std::optional<Index> parse_input_index(const std::string& text, const Graph& g, std::size_t node);
extern const CLI::Validator positive;

struct Command {
    const char* name;
    const char* help;
    std::function<std::function<int()>(CLI::App&)> setup;  // adds options, returns the action
    bool hidden = false;  // left out of --help, the manual and the completions (__complete)
};

// bnstep itself, before any command: its description, --help, --version and footer.
std::unique_ptr<CLI::App> make_app();

// The command table, in the order of `bnstep --help`.
std::vector<Command> core_commands();   // commands.cpp: lessons, run, trace, check-gradients, saliency, ops, net-trim
std::vector<Command> study_commands();  // study_commands.cpp: quiz, worksheet, graph
std::vector<Command> exercise_commands();     // exercise_commands.cpp: export, compare
std::vector<Command> compression_commands();  // compression_commands.cpp: compress, cost
std::vector<Command> tool_commands();         // tool_commands.cpp: version, man, completions, __complete
std::vector<Command> all_commands();          // commands.cpp: all of them

// `run --step` (study_commands.cpp): check_step_mode throws a UsageError unless
// the output is text and standard input is a terminal to read keys from.
void check_step_mode(const std::string& format);
int run_step_mode(const Trace& trace, const PrintOptions& opt, const RunView& view);

}  // namespace bnstep::cli
