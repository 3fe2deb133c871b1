// bnstep(1): the manual page renders without a warning, and every command and
// option that --help shows is in it, in its command's section.
#include <doctest/doctest.h>

#include <fstream>

#include "tooling_support.hpp"

using namespace bnstep_tooling_test;

namespace {

std::string manual_roff() {
    const RunResult r = run_bnstep({"man"});
    REQUIRE(r.exit_code == 0);
    REQUIRE(r.err.empty());
    return r.out;
}

// The page as man shows it, in plain ASCII on long lines.
std::string rendered(const fs::path& page) {
    const RunResult r = run_program("groff", {"-man", "-Tascii", "-P-cbou", "-rLL=250n", page.string()});
    REQUIRE(r.exit_code == 0);
    return r.out;
}

// The lines of the rendered page from a command's heading to the next heading.
std::string command_section(const std::string& page, const std::string& command) {
    std::string section;
    bool inside = false;
    for (const auto& line : lines_of(page)) {
        const bool heading = line.rfind("   ", 0) == 0 && line.size() > 3 && line[3] != ' ';
        const bool top = !line.empty() && line[0] != ' ';
        if (inside && (heading || top)) break;
        if (line == "   " + command) inside = true;
        if (inside) section += line + "\n";
    }
    return section;
}

}  // namespace

TEST_CASE("manual: groff renders bnstep(1) without a warning") {
    TempDir dir;
    const fs::path page = dir.path() / "bnstep.1";
    std::ofstream(page) << manual_roff();
    const RunResult r = run_program("groff", {"-man", "-Tutf8", "-ww", "-z", page.string()});
    CHECK(r.exit_code == 0);
    CHECK_MESSAGE(r.err.empty(), "groff's warnings:\n" << r.err);
    SUBCASE("and man -l shows it") {
        const RunResult m = run_program("man", {"-l", page.string()}, {{"MANWIDTH", "80"}, {"MANPAGER", "cat"}});
        CHECK(m.exit_code == 0);
        CHECK(contains(m.out, "bnstep - backpropagation by hand"));
        CHECK(m.err.empty());
    }
}

TEST_CASE("manual: every command and option of --help is in the page") {
    TempDir dir;
    const fs::path page = dir.path() / "bnstep.1";
    std::ofstream(page) << manual_roff();
    const std::string text = rendered(page);
    for (const char* section : {"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "SHARED OPTIONS",
                                "BUILT-IN LESSONS", "EXAMPLES", "EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"}) {
        CAPTURE(section);
        CHECK(contains(text, "\n" + std::string(section) + "\n"));
    }
    for (const char* variable : {"NO_COLOR", "PAGER", "BNSTEP_THREADS"}) CHECK(contains(text, variable));
    CHECK(contains(text, "--version"));
    CHECK(contains(text, "-h, --help"));
    const std::vector<std::string> commands = help_commands();
    REQUIRE(commands.size() >= 12);
    for (const auto& command : commands) {
        CAPTURE(command);
        const std::string section = command_section(text, command);
        REQUIRE_MESSAGE(!section.empty(), "no section for the command");
        CHECK(contains(section, "bnstep " + command));
        for (const auto& option : help_options(command)) {
            if (option == "-h" || option == "--help") continue;  // said once for every command
            CAPTURE(option);
            CHECK(contains(section, option));
        }
    }
    // The shared options are described once, each with its help.
    CHECK(contains(text, "--max-memory SIZE"));
    for (const auto& lesson : lesson_names()) {
        CAPTURE(lesson);
        CHECK(contains(text, "\n       " + lesson));
    }
}

TEST_CASE("manual: the build writes the page bnstep man prints, compressed for installing") {
    const fs::path page = build_dir() / "share" / "man" / "man1" / "bnstep.1";
    REQUIRE(fs::exists(page));
    CHECK(read_text_file(page) == manual_roff());
    if (!program("gzip").empty()) {
        const RunResult r = run_program("gzip", {"-dc", page.string() + ".gz"});
        CHECK(r.exit_code == 0);
        CHECK(r.out == manual_roff());
    }
}

TEST_CASE("manual: text from the command table cannot become a roff request") {
    const std::string roff = manual_roff();
    // Every line that starts a request is one of the man macros the page uses.
    const std::set<std::string> macros{".TH", ".SH", ".SS", ".PP", ".TP", ".TQ",
                                       ".B",  ".I",  ".BR", ".br", ".nh", ".\\\""};
    for (const auto& line : lines_of(roff)) {
        if (line.empty() || (line[0] != '.' && line[0] != '\'')) continue;
        const std::string request = line.substr(0, line.find(' '));
        CAPTURE(line);
        CHECK(macros.count(request) == 1);
    }
}
