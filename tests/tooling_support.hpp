#pragma once
// What the tests of bnstep as an installed tool share (the manual page, the
// shell completions, `cmake --install` and the Debian package): finding the
// programs they drive, and what the lesson files and --help say, read
// independently of the code that generates the page and the completions.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cli_support.hpp"

namespace bnstep_tooling_test {

using namespace bnstep_test;
namespace fs = std::filesystem;

inline fs::path build_dir() { return BNSTEP_BUILD_DIR; }

// A program on PATH, or "" when it is not installed.
inline std::string program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        std::size_t end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
        start = end + 1;
    }
    return "";
}

// Runs `program args...`, failing the test when it cannot.
inline RunResult run_program(const std::string& name, const std::vector<std::string>& args,
                             const std::vector<std::pair<std::string, std::string>>& env = {}, int timeout = 120) {
    const std::string path = program(name);
    REQUIRE_MESSAGE(!path.empty(), name << " is not installed (./quickstart.sh test installs it)");
    std::vector<std::string> argv{path};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, "", env, Stdin::DevNull, timeout);
}

// The built-in lessons, as the lessons/ folder has them.
inline std::set<std::string> lesson_names() {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(fs::path(source_dir()) / "lessons"))
        if (e.path().extension() == ".json" && e.path().stem() != "lesson.schema") names.insert(e.path().stem());
    return names;
}

// Every name and step number a lesson file gives its leaves and nodes.
inline std::set<std::string> node_words(const std::string& lesson) {
    const auto j = nlohmann::json::parse(read_text_file(fs::path(source_dir()) / "lessons" / (lesson + ".json")));
    std::set<std::string> words;
    for (const char* part : {"leaves", "nodes"})
        for (const auto& n : j.at(part)) {
            words.insert(n.at("name").get<std::string>());
            if (n.contains("step")) words.insert(std::to_string(n.at("step").get<int>()));
        }
    return words;
}

// The commands `bnstep --help` lists.
inline std::vector<std::string> help_commands() {
    const RunResult r = run_bnstep({"--help"});
    REQUIRE(r.exit_code == 0);
    std::vector<std::string> commands;
    bool in_list = false;
    for (const auto& line : lines_of(r.out)) {
        if (line == "Subcommands:") {
            in_list = true;
            continue;
        }
        std::smatch m;
        if (in_list && std::regex_match(line, m, std::regex(R"(  ([a-z][a-z0-9-]*)\s.*)")))
            commands.push_back(m[1]);
        else if (in_list && line.empty())
            break;
    }
    return commands;
}

// The option names `bnstep COMMAND --help` shows ("--format", "-n", ...).
inline std::set<std::string> help_options(const std::string& command) {
    const RunResult r = run_bnstep({command, "--help"});
    REQUIRE(r.exit_code == 0);
    std::set<std::string> options;
    const std::regex name(R"((?:^|[ ,])(--?[A-Za-z][A-Za-z0-9-]*))");
    for (const auto& line : lines_of(r.out)) {
        if (line.rfind("  -", 0) != 0) continue;  // an option's line starts with its names
        const std::string names = line.substr(0, line.find("  ", 2));
        for (std::sregex_iterator it(names.begin(), names.end(), name), end; it != end; ++it) options.insert((*it)[1]);
    }
    return options;
}

}  // namespace bnstep_tooling_test
