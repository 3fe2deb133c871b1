// End-to-end tests of the bnstep binary's mechanics: version, help, usage
// errors and exit codes, options (precision, colour, paths, working
// directories), the width of the output. The lessons' numbers are checked in
// test_cli_lessons.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bnstep/op.hpp"
#include "batchnorm_reference.hpp"
#include "cli_support.hpp"
#include "cli_test_support.hpp"

using namespace bnstep_test;
using namespace bnstep_cli_test;
using json = nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("cli: --version prints the project version first") {
    const std::string out = ok_output({"--version"});
    CHECK(out.rfind("bnstep " + project_version() + "\n", 0) == 0);
}

TEST_CASE("cli: a bad BNSTEP_THREADS is a one-line error, not ignored") {
    for (const std::string bad : {"0", "-1", "abc", "1.5", "4294967297", "18446744073709551617", "1025"}) {
        CAPTURE(bad);
        const RunResult r = run_bnstep({"run", "batchnorm"}, "", {{"BNSTEP_THREADS", bad}});
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(lines_of(r.err).size() == 1);
        CHECK(contains(r.err, "BNSTEP_THREADS must be a whole number from 1 to 1024, got '" + bad + "'"));
    }
    // A good one is the number of threads bnstep uses.
    for (const std::string good : {"1", "3", "1024"}) {
        CAPTURE(good);
        const json v = json::parse(run_bnstep({"version", "--format", "json"}, "", {{"BNSTEP_THREADS", good}}).out);
        CHECK(v.at("system").at("threads") == std::stoi(good));
    }
    CHECK(run_bnstep({"run", "batchnorm"}, "", {{"BNSTEP_THREADS", ""}}).exit_code == 0);  // empty: unset
}

TEST_CASE("cli: --help on the app lists every command and the exit codes") {
    const std::string out = ok_output({"--help"});
    for (const char* cmd : {"lessons", "run", "trace", "check-gradients", "ops"}) {
        CAPTURE(cmd);
        CHECK(contains(out, cmd));
    }
    CHECK(contains(out, "--version"));
    CHECK(contains(out, "Exit codes"));
    SUBCASE("no arguments prints the same help and succeeds") { CHECK(ok_output({}) == out); }
    SUBCASE("-h is --help") { CHECK(ok_output({"-h"}) == out); }
}

TEST_CASE("cli: --help on every command mentions its options") {
    const std::map<std::string, std::vector<std::string>> options = {
        {"lessons", {"--format"}},
        {"run", {"lesson", "--format", "--precision", "--color"}},
        {"trace", {"lesson", "--node", "--index", "--format", "--precision", "--color"}},
        {"check-gradients", {"lessons", "--step", "--tolerance", "--floor", "--format", "--precision", "--color"}},
        {"ops", {"--format"}},
    };
    for (const auto& [cmd, opts] : options) {
        const std::string command = cmd;  // (clang 14 cannot capture a structured binding)
        CAPTURE(command);
        const std::string out = ok_output({cmd, "--help"});
        CHECK(contains(out, "Usage: bnstep " + cmd));
        for (const auto& o : opts) {
            CAPTURE(o);
            CHECK(contains(out, o));
        }
    }
}

TEST_CASE("cli: an unknown command is a usage error with a did-you-mean") {
    const std::string err = usage_error({"rn"});
    CHECK(contains(err, "unknown command 'rn'"));
    CHECK(contains(err, "did you mean 'run'?"));
    CHECK(contains(usage_error({"chek-gradients"}), "did you mean 'check-gradients'?"));
    // Nothing close: no guess, but the list of commands.
    const std::string far = usage_error({"frobnicate"});
    CHECK_FALSE(contains(far, "did you mean"));
    CHECK(contains(far, "lessons, run, trace, check-gradients, saliency, ops"));
}

TEST_CASE("cli: bad option values are usage errors of one line") {
    CHECK(contains(usage_error({"run", "--precision", "0"}), "--precision"));
    CHECK(contains(usage_error({"run", "--precision", "18"}), "--precision"));
    CHECK(contains(usage_error({"run", "--format", "xml"}), "--format"));
    CHECK(contains(usage_error({"run", "--color", "sometimes"}), "--color"));
    CHECK(contains(usage_error({"trace", "--format", "xml", "--node", "1"}), "--format"));
    CHECK(contains(usage_error({"lessons", "--format", "markdown"}), "--format"));
    CHECK(contains(usage_error({"ops", "--format", "json"}), "--format"));
    CHECK(contains(usage_error({"trace"}), "--node"));
    CHECK(contains(usage_error({"run", "--bogus"}), "--bogus"));
    CHECK(contains(usage_error({"run", "batchnorm", "extra"}), "extra"));
    CHECK(contains(usage_error({"run", "batchnrm"}), "did you mean 'batchnorm'?"));
}

// ---------------------------------------------------------------------------
// lessons

TEST_CASE("cli: run and trace output fit in 80 columns without colour") {
    auto check_width = [](const std::vector<std::string>& args) {
        const std::string out = ok_output(args);
        CAPTURE(args);
        CHECK_FALSE(has_escape(out));
        for (const auto& line : lines_of(out)) {
            CAPTURE(line);
            CHECK(columns(line) <= 80);
        }
    };
    for (const auto& f : lesson_facts()) {
        check_width({"run", f.name, "--color", "never"});
        // Every node of the lesson, by the names in the lesson file.
        const json lesson = read_json_file(lesson_path(f.name));
        for (const char* part : {"leaves", "nodes"})
            for (const json& n : lesson.at(part))
                check_width({"trace", f.name, "--node", n.at("name").get<std::string>(), "--color", "never"});
    }
}

TEST_CASE("cli: run without a lesson runs batchnorm") {
    CHECK(ok_output({"run"}) == ok_output({"run", "batchnorm"}));
    CHECK(ok_output({"run", "--format", "json"}) == ok_output({"run", "batchnorm", "--format", "json"}));
}

TEST_CASE("cli: run --precision sets the significant digits") {
    const BatchNorm& bn = reference();
    const std::string four = ok_output({"run"});
    const std::string eight = ok_output({"run", "--precision", "8"});
    // ivar[0] = 1/sqrt(3.5 + 1e-5): 0.5345 at the default 4 digits, 0.53452172 at 8.
    CHECK(contains(four, fmt_g(bn.ivar[0], 4)));
    CHECK_FALSE(contains(four, fmt_g(bn.ivar[0], 8)));
    CHECK(contains(eight, fmt_g(bn.ivar[0], 8)));
    CHECK(contains(eight, fmt_g(bn.xhat[1][0], 8)));
    CHECK(contains(ok_output({"run", "--precision", "2"}), fmt_g(bn.ivar[0], 2)));
}

// ---------------------------------------------------------------------------
// run, JSON

TEST_CASE("cli: trace --node takes a step number or a name") {
    const std::string by_step = ok_output({"trace", "--node", "7"});
    CHECK(by_step == ok_output({"trace", "--node", "xhat"}));
    CHECK(by_step == ok_output({"trace", "batchnorm", "-n", "xhat"}));
    CHECK(contains(by_step, "xhat = xmu * ivar"));
    CHECK(ok_output({"trace", "--node", "0"}) == ok_output({"trace", "--node", "x"}));
}

TEST_CASE("cli: trace refuses an unknown node or an index outside the shape") {
    SUBCASE("unknown step number") {
        const std::string err = usage_error({"trace", "--node", "99"});
        CHECK(contains(err, "no step or node '99'"));
        CHECK(contains(err, "7 (xhat)"));  // the steps it does have
    }
    SUBCASE("unknown name") {
        const std::string err = usage_error({"trace", "--node", "nope"});
        CHECK(contains(err, "no step or node 'nope'"));
        CHECK(contains(err, "gamma"));
    }
    SUBCASE("a near miss gets a did-you-mean") {
        CHECK(contains(usage_error({"trace", "--node", "xht"}), "did you mean 'xhat'?"));
        CHECK(contains(usage_error({"trace", "--node", "sqrtvr"}), "did you mean 'sqrtvar'?"));
    }
    SUBCASE("index outside the shape") {
        const std::string err = usage_error({"trace", "--node", "7", "--index", "9,9"});
        CHECK(contains(err, "--index"));
        CHECK(contains(err, "(4, 3)"));
        CHECK(contains(usage_error({"trace", "--node", "7", "--index", "1"}), "--index"));
        CHECK(contains(usage_error({"trace", "--node", "7", "--index", "1,2,0"}), "--index"));
        CHECK(contains(usage_error({"trace", "--node", "7", "--index", "a,b"}), "--index"));
        CHECK(contains(usage_error({"trace", "--node", "7", "--index", "-1,0"}), "--index"));
    }
}

// ---------------------------------------------------------------------------
// check-gradients

TEST_CASE("cli: check-gradients with an impossible tolerance fails with exit code 1") {
    const RunResult r = run_bnstep({"check-gradients", "batchnorm", "--tolerance", "1e-30"});
    CAPTURE(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.empty());
    CHECK(contains(r.out, "FAIL"));
    CHECK_FALSE(contains(r.out, " 0 failed"));

    const RunResult rj = run_bnstep({"check-gradients", "batchnorm", "--tolerance", "1e-30", "--format", "json"});
    CHECK(rj.exit_code == 1);
    const json j = json::parse(rj.out);
    CHECK(j.at("passed") == false);
    CHECK(j.at("failures").get<int>() > 0);

    // The default tolerance passes the same lesson: the option is what changed.
    CHECK(run_bnstep({"check-gradients", "batchnorm"}).exit_code == 0);
    CHECK(usage_error({"check-gradients", "--tolerance", "-1"}).size() > 0);
}

// ---------------------------------------------------------------------------
// Lessons by path, working directories

TEST_CASE("cli: a lesson given by path") {
    SUBCASE("relative to the working directory") {
        // From the source tree, lessons/batchnorm.json is the very text of the built-in lesson.
        CHECK(ok_output({"run", "lessons/batchnorm.json"}, source_dir()) == ok_output({"run", "batchnorm"}));
        CHECK(ok_output({"run", "./lessons/batchnorm.json", "--format", "json"}, source_dir()).size() > 0);
    }
    SUBCASE("absolute, from another directory") {
        TempDir tmp;
        const std::string path = lesson_path("batchnorm").string();
        const json by_path = ok_json({"run", path, "--format", "json"}, tmp.path().string());
        const json builtin = ok_json({"run", "batchnorm", "--format", "json"});
        CHECK(by_path.at("source") == path);
        CHECK(by_path.at("nodes") == builtin.at("nodes"));
        CHECK(by_path.at("gradients") == builtin.at("gradients"));
        check_close(by_path.at("gradients").at("dx"), reference().dx, kTol, "dx by path");
        // Every command takes a path.
        CHECK(ok_output({"check-gradients", path}, tmp.path().string()).size() > 0);
        // The same trace, except that its pointer to the sending step names the lesson as it was given.
        const std::string by_path_trace = ok_output({"trace", path, "--node", "xhat"}, tmp.path().string());
        const std::string builtin_trace = ok_output({"trace", "batchnorm", "--node", "xhat"}, tmp.path().string());
        // A long path wraps the pointer's line: compare the text with its line breaks taken out.
        const auto unwrapped = [](const std::string& text) {
            std::string flat;
            for (const char c : text)
                if (!std::isspace(static_cast<unsigned char>(c)) || (!flat.empty() && flat.back() != ' '))
                    flat += std::isspace(static_cast<unsigned char>(c)) ? ' ' : c;
            return flat;
        };
        CHECK(contains(unwrapped(by_path_trace), "(bnstep trace " + path + " --node 8 works it out)"));
        CHECK(contains(builtin_trace, "(bnstep trace batchnorm --node 8 works it out)"));
        CHECK(lines_of(by_path_trace).size() <= lines_of(builtin_trace).size() + 1);
    }
    SUBCASE("a copy under another name takes its name from the file's \"name\" key") {
        TempDir tmp;
        fs::copy_file(lesson_path("batchnorm-closed-form"), tmp.path() / "my-copy.json");
        const json j = ok_json({"run", "my-copy.json", "--format", "json"}, tmp.path().string());
        CHECK(j.at("lesson") == "batchnorm-closed-form");
        CHECK(j.at("source") == "my-copy.json");
        check_close(j.at("gradients").at("dx"), reference().dx_closed, kTol, "dx of the copy");
    }
}

TEST_CASE("cli: built-in lessons are found from any working directory") {
    TempDir tmp;
    const std::string dir = tmp.path().string();
    CHECK(ok_output({"run", "batchnorm"}, dir) == ok_output({"run", "batchnorm"}, source_dir()));
    CHECK(ok_output({"lessons"}, dir) == ok_output({"lessons"}, source_dir()));
    CHECK(contains(ok_output({"check-gradients"}, dir), "0 failed"));
    CHECK(ok_output({"trace", "--node", "5"}, dir) == ok_output({"trace", "--node", "5"}, source_dir()));
}

// ---------------------------------------------------------------------------
// Colour

TEST_CASE("cli: colour follows --color and NO_COLOR") {
    const std::pair<std::string, std::string> no_color_unset{"NO_COLOR", kUnsetEnv};
    SUBCASE("always") {
        CHECK(has_escape(ok_output({"run", "--color", "always"}, "", {no_color_unset})));
        CHECK(has_escape(ok_output({"trace", "--node", "7", "--color", "always"}, "", {no_color_unset})));
        CHECK(has_escape(ok_output({"check-gradients", "batchnorm", "--color", "always"}, "", {no_color_unset})));
        // An empty NO_COLOR does not count.
        CHECK(has_escape(ok_output({"run", "--color", "always"}, "", {{"NO_COLOR", ""}})));
    }
    SUBCASE("never") {
        CHECK_FALSE(has_escape(ok_output({"run", "--color", "never"}, "", {no_color_unset})));
        CHECK_FALSE(has_escape(ok_output({"trace", "--node", "7", "--color", "never"}, "", {no_color_unset})));
    }
    SUBCASE("NO_COLOR wins over --color always") {
        CHECK_FALSE(has_escape(ok_output({"run", "--color", "always"}, "", {{"NO_COLOR", "1"}})));
        CHECK_FALSE(has_escape(ok_output({"check-gradients", "--color", "always"}, "", {{"NO_COLOR", "1"}})));
    }
    SUBCASE("auto into a pipe is plain") {
        CHECK_FALSE(has_escape(ok_output({"run"}, "", {no_color_unset})));
        CHECK_FALSE(has_escape(ok_output({"run", "--color", "auto"}, "", {no_color_unset})));
        CHECK_FALSE(has_escape(ok_output({"ops"}, "", {no_color_unset})));
    }
    SUBCASE("JSON stays plain and parseable") {
        const std::string out = ok_output({"run", "--format", "json", "--color", "always"}, "", {no_color_unset});
        CHECK_FALSE(has_escape(out));
        json parsed;
        CHECK_NOTHROW(parsed = json::parse(out));
        CHECK(parsed.at("lesson") == "batchnorm");
    }
    SUBCASE("colour changes only the styling of lines that need no wrapping") {
        // The check-gradients table has no wrapped text: stripped of its escapes,
        // the coloured report is the plain one.
        std::string coloured = ok_output({"check-gradients", "--color", "always"}, "", {no_color_unset});
        coloured = std::regex_replace(coloured, std::regex("\x1b\\[[0-9;]*m"), "");
        CHECK(coloured == ok_output({"check-gradients", "--color", "never"}));
    }
}

// ---------------------------------------------------------------------------
// ops

TEST_CASE("cli: ops lists every op of the op table") {
    const std::string out = ok_output({"ops"});
    const auto names = bnstep::builtin_ops().names();
    REQUIRE(names.size() >= 10);
    std::set<std::string> line_heads;
    for (const auto& line : lines_of(out)) {
        std::smatch m;
        if (std::regex_search(line, m, std::regex(R"(^(\S+)\s)"))) line_heads.insert(m[1]);
    }
    for (const auto& n : names) {
        CAPTURE(n);
        CHECK(line_heads.count(n) == 1);
    }
    // Every op the built-in lessons use is in the table.
    for (const char* used :
         {"mean", "sub", "square", "sqrt", "reciprocal", "mul", "add", "batchnorm", "matmul", "relu"}) {
        CAPTURE(used);
        CHECK(std::find(names.begin(), names.end(), used) != names.end());
    }
    const std::string md = ok_output({"ops", "--format", "markdown"});
    for (const auto& n : names) {
        CAPTURE(n);
        CHECK(contains(md, n));
    }
}
