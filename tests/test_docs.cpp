// The docs quote bnstep's text output in ```text blocks. These tests run the
// commands each doc cites in its ```sh blocks and check that every quoted
// line still appears in their output, so an excerpt cannot drift from what
// the binary prints.
//
// The rules, for each docs/*.md except ops.md (checked whole by
// test_op_reference.cpp) and json-output.md (JSON, not text):
//   - the commands are the lines of ```sh blocks that start with `bnstep `,
//     except lines containing '|' or '>'; a trailing `# comment` is dropped;
//   - each runs from the repository root, in a UTF-8 locale (formulas write
//     "∂"), with `--color never` added to `run`, `trace` and `check-gradients`;
//   - every non-blank line of every ```text block, trimmed, must be a
//     substring of all the commands' stdout and stderr put together, except
//     lines that are "..." or start with "..." or "…", and blocks whose
//     opening fence follows a line `<!-- not checked -->`;
//   - a command exits 0, or 1 or 2 if the doc quotes the first line of its
//     standard error (an error shown on purpose); never an unknown command;
//   - a ```sh block whose opening fence follows a line `<!-- not run -->` is
//     not run (a command the doc describes before bnstep has it);
//   - a fenced block whose opening fence follows a line `<!-- file: NAME -->`
//     is a file the commands read (a roster, a class's answers): a doc with
//     such blocks runs its commands in a scratch directory holding them, so
//     that what they write stays out of the source tree; so does a doc whose
//     commands write a file (-o, --output, --out).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <regex>
#include <string>
#include <vector>

#include "cli_support.hpp"

using namespace bnstep_test;
namespace fs = std::filesystem;

namespace {

struct TextLine {
    int line_number = 0;  // 1-based, in the doc
    std::string text;     // trimmed
};

struct Command {
    int line_number = 0;
    std::string text;               // as written, without a trailing comment
    std::vector<std::string> args;  // after `bnstep`, with --color never where it applies
};

struct DocExcerpts {
    std::vector<Command> commands;
    std::vector<TextLine> checked;                           // lines of ```text blocks to find in the output
    int text_blocks = 0;                                     // checked blocks
    int unchecked_blocks = 0;                                // blocks marked <!-- not checked -->
    int unrun_blocks = 0;                                    // ```sh blocks marked <!-- not run -->
    std::vector<std::pair<std::string, std::string>> files;  // <!-- file: NAME --> blocks: name, text
};

const std::string kNotChecked = "<!-- not checked -->";
const std::string kNotRun = "<!-- not run -->";
const std::string kFilePrefix = "<!-- file: ", kFileSuffix = " -->";

std::string trim(const std::string& s) {
    const auto begin = s.find_first_not_of(" \t\r");
    if (begin == std::string::npos) return "";
    const auto end = s.find_last_not_of(" \t\r");
    return s.substr(begin, end - begin + 1);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Splits a command line into words the way a shell would for the simple
// commands the docs cite: blanks separate words, and '...' or "..." quote.
std::vector<std::string> split_words(const std::string& line) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    char quote = 0;
    for (const char c : line) {
        if (quote != 0) {
            if (c == quote)
                quote = 0;
            else
                word += c;
        } else if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else if (c == ' ' || c == '\t') {
            if (in_word) words.push_back(word);
            word.clear();
            in_word = false;
        } else {
            word += c;
            in_word = true;
        }
    }
    if (in_word) words.push_back(word);
    return words;
}

bool exempt(const std::string& trimmed) {
    return trimmed.empty() || trimmed == "..." || starts_with(trimmed, "...") || starts_with(trimmed, "\u2026");
}

// Reads the commands and the checked text lines of a markdown text.
DocExcerpts parse_doc(const std::string& markdown) {
    DocExcerpts doc;
    const std::vector<std::string> lines = lines_of(markdown);
    enum class Block { None, Sh, Text, Other, File, Unrun };
    Block block = Block::None;
    bool checked_block = true;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string line = trim(lines[i]);
        const int number = static_cast<int>(i) + 1;
        if (block == Block::None) {
            if (!starts_with(line, "```")) continue;
            const std::string lang = trim(line.substr(3));
            const std::string before = i > 0 ? trim(lines[i - 1]) : "";
            if (starts_with(before, kFilePrefix) && before.size() > kFilePrefix.size() + kFileSuffix.size() &&
                before.compare(before.size() - kFileSuffix.size(), kFileSuffix.size(), kFileSuffix) == 0) {
                block = Block::File;
                doc.files.emplace_back(
                    before.substr(kFilePrefix.size(), before.size() - kFilePrefix.size() - kFileSuffix.size()), "");
            } else if ((lang == "sh" || lang == "bash" || lang == "shell" || lang == "console") && before == kNotRun) {
                block = Block::Unrun;
                ++doc.unrun_blocks;
            } else if (lang == "sh" || lang == "bash" || lang == "shell" || lang == "console") {
                block = Block::Sh;
            } else if (lang == "text") {
                block = Block::Text;
                checked_block = !(i > 0 && trim(lines[i - 1]) == kNotChecked);
                if (checked_block)
                    ++doc.text_blocks;
                else
                    ++doc.unchecked_blocks;
            } else {
                block = Block::Other;
            }
            continue;
        }
        if (line == "```") {
            block = Block::None;
            continue;
        }
        if (block == Block::File) doc.files.back().second += lines[i] + "\n";
        if (block == Block::Sh) {
            if (!starts_with(line, "bnstep ") && line != "bnstep") continue;
            if (line.find('|') != std::string::npos || line.find('>') != std::string::npos) continue;
            const std::string command = trim(line.substr(0, line.find('#')));
            std::vector<std::string> words = split_words(command);
            words.erase(words.begin());  // "bnstep"
            if (!words.empty() && (words[0] == "run" || words[0] == "trace" || words[0] == "check-gradients")) {
                words.push_back("--color");
                words.push_back("never");
            }
            doc.commands.push_back({number, command, words});
        } else if (block == Block::Text && checked_block) {
            if (!exempt(line)) doc.checked.push_back({number, line});
        }
    }
    return doc;
}

// The docs this file checks: every docs/*.md but the two that hold no text
// output of bnstep, and check-your-backward.md, whose workflow writes files:
// tests/test_cli_exercise.cpp runs it in a scratch directory.
std::vector<std::string> checked_doc_names() {
    const std::set<std::string> skipped{"ops.md", "json-output.md", "check-your-backward.md"};
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(fs::path(source_dir()) / "docs")) {
        const std::string name = entry.path().filename().string();
        if (entry.is_regular_file() && entry.path().extension() == ".md" && skipped.count(name) == 0)
            names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Runs the doc's commands and checks its excerpts; returns the number of
// lines checked.
int check_doc(const std::string& name) {
    const std::string doc_path = "docs/" + name;
    CAPTURE(doc_path);
    const fs::path path = fs::path(source_dir()) / "docs" / name;
    REQUIRE(fs::exists(path));
    const DocExcerpts doc = parse_doc(read_text_file(path));
    if (doc.text_blocks > 0)
        REQUIRE_MESSAGE(!doc.commands.empty(), doc_path << " quotes output but cites no bnstep command");

    // A doc that gives files, or whose commands write them, runs in a scratch directory holding its files.
    const bool writes = std::any_of(doc.commands.begin(), doc.commands.end(), [](const auto& c) {
        return std::any_of(c.args.begin(), c.args.end(),
                           [](const std::string& w) { return w == "-o" || w == "--output" || w == "--out"; });
    });
    std::optional<TempDir> scratch;
    if (!doc.files.empty() || writes) scratch.emplace();
    for (const auto& named : doc.files) {
        const std::string& file = named.first;  // a named reference for CAPTURE (clang 14)
        CAPTURE(file);
        REQUIRE_MESSAGE((!file.empty() && file.find('/') == std::string::npos && file[0] != '.'),
                        doc_path << ": a <!-- file: NAME --> block names a plain file name");
        std::ofstream(scratch->path() / file, std::ios::binary) << named.second;
    }
    // The repository's folders stay reachable from there (docs/examples/..., lessons/...), by links.
    if (scratch)
        for (const char* folder : {"docs", "lessons", "examples", "tests", "networks", "bench"})
            if (!fs::exists(scratch->path() / folder))
                fs::create_directory_symlink(fs::path(source_dir()) / folder, scratch->path() / folder);
    const std::string cwd = scratch ? scratch->path().string() : source_dir();

    std::string all_output;
    std::string quoted;  // every checked line, to look up error lines in
    for (const TextLine& t : doc.checked) quoted += t.text + "\n";
    for (const Command& c : doc.commands) {
        const int line = c.line_number;
        const std::string& command = c.text;
        CAPTURE(line);
        CAPTURE(command);
        const RunResult r = run_bnstep(c.args, cwd, {{"LC_ALL", "C.UTF-8"}});  // the docs quote "∂"
        CHECK_FALSE(r.timed_out);
        CHECK_FALSE(contains(r.err, "unknown command"));
        const int exit_code = r.exit_code;
        CAPTURE(exit_code);
        CHECK((exit_code == 0 || exit_code == 1 || exit_code == 2));
        if (exit_code != 0) {
            // A failing command is only cited to show its error.
            const std::string first_error_line = trim(lines_of(r.err).empty() ? "" : lines_of(r.err).front());
            CAPTURE(first_error_line);
            CHECK_MESSAGE((!first_error_line.empty() && contains(quoted, first_error_line)),
                          "the command fails, and the doc does not quote its error");
        }
        all_output += r.out;
        all_output += "\n";
        all_output += r.err;
        all_output += "\n";
    }

    // Numbers of 1e-7 and below are round-off (finite-difference errors, the
    // noise of an exact zero): their last digits depend on the compiler's use
    // of fused multiply-adds, so they are compared as "tiny", not digit by digit.
    const std::regex tiny(R"(-?\d+(\.\d+)?e-(0[7-9]|[1-9]\d))");
    all_output = std::regex_replace(all_output, tiny, "<tiny>");
    for (const TextLine& t : doc.checked) {
        const int line = t.line_number;
        const std::string excerpt = std::regex_replace(t.text, tiny, "<tiny>");
        CAPTURE(line);
        CAPTURE(excerpt);
        CHECK_MESSAGE(contains(all_output, excerpt),
                      doc_path << ":" << line << " is not in the output of the doc's commands");
    }
    return static_cast<int>(doc.checked.size());
}

void check_named_doc(const std::string& name) {
    const int checked = check_doc(name);
    MESSAGE(name << ": " << checked << " lines checked");
    CHECK(checked > 0);
}

}  // namespace

TEST_CASE("docs: the excerpt reader finds commands, checked lines and exemptions") {
    const std::string markdown =
        "Intro\n"
        "```sh\n"
        "bnstep run conv2d   # the lesson\n"
        "bnstep trace conv2d --node 1 > out.txt\n"
        "bnstep lessons | head\n"
        "cmake --build build\n"
        "bnstep check-gradients 'a b.json'\n"
        "bnstep lessons\n"
        "```\n"
        "```text\n"
        "  step 1  y = conv2d(x, w)  \n"
        "\n"
        "...\n"
        "... more\n"
        "\u2026 and more\n"
        "```\n"
        "```json\n"
        "{\"not\": \"checked\"}\n"
        "```\n"
        "<!-- not checked -->\n"
        "```text\n"
        "free text\n"
        "```\n"
        "  ```text\n"
        "  indented\n"
        "  ```\n"
        "<!-- not run -->\n"
        "```sh\n"
        "bnstep quiz --export gift\n"
        "```\n"
        "<!-- file: roster.csv -->\n"
        "```csv\n"
        "name,id\n"
        "ada,s1\n"
        "```\n";
    const DocExcerpts doc = parse_doc(markdown);
    CHECK(doc.unrun_blocks == 1);
    REQUIRE(doc.files.size() == 1);
    CHECK(doc.files[0].first == "roster.csv");
    CHECK(doc.files[0].second == "name,id\nada,s1\n");
    REQUIRE(doc.commands.size() == 3);
    CHECK(doc.commands[0].line_number == 3);
    CHECK(doc.commands[0].args == std::vector<std::string>{"run", "conv2d", "--color", "never"});
    CHECK(doc.commands[1].args == std::vector<std::string>{"check-gradients", "a b.json", "--color", "never"});
    CHECK(doc.commands[2].args == std::vector<std::string>{"lessons"});
    REQUIRE(doc.checked.size() == 2);
    CHECK(doc.checked[0].text == "step 1  y = conv2d(x, w)");
    CHECK(doc.checked[0].line_number == 11);
    CHECK(doc.checked[1].text == "indented");
    CHECK(doc.text_blocks == 2);
    CHECK(doc.unchecked_blocks == 1);
}

TEST_CASE("docs: walkthrough-batchnorm.md excerpts match bnstep's output") {
    check_named_doc("walkthrough-batchnorm.md");
}
TEST_CASE("docs: lesson-format.md excerpts match bnstep's output") { check_named_doc("lesson-format.md"); }
TEST_CASE("docs: lesson-conv2d.md excerpts match bnstep's output") { check_named_doc("lesson-conv2d.md"); }
TEST_CASE("docs: lesson-conv2d-stride.md excerpts match bnstep's output") {
    check_named_doc("lesson-conv2d-stride.md");
}
TEST_CASE("docs: lesson-depthwise-separable.md excerpts match bnstep's output") {
    check_named_doc("lesson-depthwise-separable.md");
}
TEST_CASE("docs: lesson-group-conv-shuffle.md excerpts match bnstep's output") {
    check_named_doc("lesson-group-conv-shuffle.md");
}
TEST_CASE("docs: lesson-fire-module.md excerpts match bnstep's output") { check_named_doc("lesson-fire-module.md"); }
TEST_CASE("docs: lesson-batchnorm2d.md excerpts match bnstep's output") { check_named_doc("lesson-batchnorm2d.md"); }

TEST_CASE("docs: teaching.md's commands work, in a scratch directory with its roster") {
    check_named_doc("teaching.md");
}

TEST_CASE("docs: any other doc's excerpts match bnstep's output too") {
    // A doc added later is checked here until it gets a test case of its own.
    const std::set<std::string> named{"walkthrough-batchnorm.md",
                                      "lesson-format.md",
                                      "lesson-conv2d.md",
                                      "lesson-conv2d-stride.md",
                                      "lesson-depthwise-separable.md",
                                      "lesson-group-conv-shuffle.md",
                                      "lesson-fire-module.md",
                                      "lesson-batchnorm2d.md",
                                      "teaching.md"};
    for (const std::string& name : checked_doc_names())
        if (named.count(name) == 0) check_doc(name);
}
