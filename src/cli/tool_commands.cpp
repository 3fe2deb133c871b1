// The commands about bnstep itself: its version, its manual page, the shell
// completions, and the hidden __complete the completion scripts call.
#include <fmt/format.h>

#include <iostream>

#include "build_info.hpp"
#include "common.hpp"
#include "completion.hpp"
#include "completion_scripts.hpp"
#include "manual.hpp"

namespace bnstep::cli {

namespace {

std::function<int()> version_command(CLI::App& cmd) {
    auto format = std::make_shared<std::string>("text");
    cmd.add_option("--format", *format, "output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
    return [format] {
        if (*format == "json")
            print_json(version_json());
        else
            std::cout << version_text() << "\n";
        return kOk;
    };
}

std::function<int()> man_command(CLI::App& cmd) {
    cmd.footer("Read it without installing: bnstep man | man -l -");
    return [] {
        std::cout << manual_page(app_spec());
        return kOk;
    };
}

std::function<int()> completions_command(CLI::App& cmd) {
    auto shell = std::make_shared<std::string>();
    cmd.add_option("shell", *shell, "the shell to complete for")->check(CLI::IsMember(completion_shells()))->required();
    cmd.footer(
        "Try it in the running shell: source <(bnstep completions bash); the build installs all three "
        "(see man bnstep, FILES).");
    return [shell] {
        std::cout << completion_script(*shell);
        return kOk;
    };
}

// __complete line WORD...   what to offer for the last word of `bnstep WORD...`
// __complete nodes LESSON   the steps and names of a lesson's nodes
// __complete lessons        the built-in lessons
int complete(const std::vector<std::string>& args) {
    if (args.empty()) throw UsageError("__complete: expected line, nodes or lessons");
    const std::string& what = args.front();
    Completion c;
    if (what == "line") {
        c = complete_line(app_spec(), std::vector<std::string>(args.begin() + 1, args.end()));
    } else if (what == "nodes" && args.size() == 2) {
        c.candidates = node_candidates(args[1]);
    } else if (what == "lessons" && args.size() == 1) {
        c.candidates = lesson_candidates();
    } else {
        throw UsageError("__complete: expected line WORD..., nodes LESSON or lessons");
    }
    std::cout << completion_lines(c);
    return kOk;
}

std::function<int()> complete_command(CLI::App& cmd) {
    cmd.prefix_command();  // every word after __complete is the line's, options included
    return [&cmd] { return complete(cmd.remaining()); };
}

}  // namespace

std::vector<Command> tool_commands() {
    return {
        {"version", "the version, the git commit and the build (--format json adds the machine, for bug reports)",
         version_command},
        {"man", "the manual page, in roff (installed as man bnstep)", man_command},
        {"completions", "the completion script for bash, zsh or fish", completions_command},
        {"__complete", "what the shell completions offer", complete_command, true},
    };
}

}  // namespace bnstep::cli
