#pragma once
// Every command and option as the command table defines them for CLI11, read
// back for the manual page and the shell completions: one definition serves
// --help, `man bnstep` and the completions alike.
#include <string>
#include <vector>

namespace bnstep::cli {

// What an option's value (or a positional argument) is, from the type name
// --help shows: the completions offer lessons, nodes, files or the choices.
enum class ValueKind { None, Lesson, Node, Leaf, File, Network, Choice, Other };

struct OptionSpec {
    std::vector<std::string> names;  // "-n", "--node"; a positional argument's one name ("lesson")
    std::string type;                // the value's name: "NODE", "INT", "SIZE"; the choices' "text|json"
    std::string help;
    std::string default_value;  // "" when none is shown
    ValueKind value = ValueKind::None;
    std::vector<std::string> choices;
    bool positional = false;
    bool required = false;
    bool repeatable = false;  // takes more than one value, or may be given more than once
};

struct CommandSpec {
    std::string name, help, footer;
    std::vector<OptionSpec> options;  // positional arguments and options, in --help's order; without --help

    const OptionSpec* find(const std::string& name) const;  // by any of its names ("-n", "--node")
    const OptionSpec* positional() const;                   // the first positional argument, if any
};

struct AppSpec {
    std::string description, footer;
    std::vector<OptionSpec> options;  // --help, --version
    std::vector<CommandSpec> commands;

    const CommandSpec* find(const std::string& name) const;
};

// bnstep's commands but the hidden ones, in --help's order.
AppSpec app_spec();

}  // namespace bnstep::cli
