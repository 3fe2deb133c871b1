// Malformed lessons: every one in tests/bad_lessons/ must be refused with one
// helpful line on stderr (the file, the JSON location or node, what was
// expected), nothing on stdout, and the documented exit code: 2 for a lesson
// error, 1 for a NaN or infinity at run time. The expectations live in
// tests/bad_lessons/expected.tsv.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "cli_support.hpp"

using namespace bnstep_test;
namespace fs = std::filesystem;

namespace {

const std::string kKnownBug = "#known-bug";

struct BadCase {
    std::string file;
    int exit_code = 0;
    std::vector<std::string> substrings;
};

fs::path bad_dir() { return fs::path(source_dir()) / "tests" / "bad_lessons"; }

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
        const std::size_t tab = line.find('\t', start);
        fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) break;
        start = tab + 1;
    }
    return fields;
}

BadCase parse_row(const std::vector<std::string>& fields, const std::string& line) {
    INFO("expected.tsv row: ", line);
    REQUIRE(fields.size() >= 3);
    REQUIRE(fields.size() <= 4);
    BadCase c;
    c.file = fields[0];
    REQUIRE((fields[1] == "1" || fields[1] == "2"));
    c.exit_code = std::stoi(fields[1]);
    for (std::size_t k = 2; k < fields.size(); ++k) {
        REQUIRE_FALSE(fields[k].empty());
        c.substrings.push_back(fields[k]);
    }
    return c;
}

struct Table {
    std::vector<BadCase> active;
    std::vector<BadCase> known_bugs;  // rows disabled until a bug in src/ is fixed
};

Table read_table() {
    Table t;
    for (std::string line : lines_of(read_text_file(bad_dir() / "expected.tsv"))) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        if (line.rfind(kKnownBug + "\t", 0) == 0) {
            t.known_bugs.push_back(parse_row(split_tabs(line.substr(kKnownBug.size() + 1)), line));
            continue;
        }
        if (line[0] == '#') continue;
        t.active.push_back(parse_row(split_tabs(line), line));
    }
    return t;
}

// The common shape of every refusal: one line on stderr, naming the file,
// nothing on stdout.
void check_refusal(const RunResult& r, const std::string& file, int exit_code,
                   const std::vector<std::string>& substrings) {
    CAPTURE(file);
    CAPTURE(r.err);
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.exit_code == exit_code);
    CHECK(r.out.empty());
    REQUIRE_FALSE(r.err.empty());
    CHECK(r.err.rfind("bnstep: ", 0) == 0);
    CHECK(r.err.back() == '\n');
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(contains(r.err, file));
    for (const auto& s : substrings) {
        CAPTURE(s);
        CHECK(contains(r.err, s));
    }
    // A lesson error is a user's mistake, never an internal one.
    CHECK_FALSE(contains(r.err, "internal error"));
}

const BadCase& find_case(const Table& t, const std::string& file) {
    const auto it = std::find_if(t.active.begin(), t.active.end(), [&](const BadCase& c) { return c.file == file; });
    REQUIRE_MESSAGE(it != t.active.end(), file << " has no active row in expected.tsv");
    return *it;
}

}  // namespace

TEST_CASE("bad lessons: expected.tsv and the directory agree") {
    const Table t = read_table();
    CHECK(t.active.size() >= 25);

    std::set<std::string> listed;
    for (const auto* rows : {&t.active, &t.known_bugs})
        for (const BadCase& c : *rows) {
            CAPTURE(c.file);
            CHECK_MESSAGE(listed.insert(c.file).second, "listed twice");
            CHECK(fs::is_regular_file(bad_dir() / c.file));
        }
    for (const auto& entry : fs::directory_iterator(bad_dir())) {
        if (entry.path().extension() != ".json") continue;
        const std::string name = entry.path().filename().string();
        CAPTURE(name);
        CHECK_MESSAGE(listed.count(name) == 1, "a lesson in tests/bad_lessons has no row in expected.tsv");
    }

    // Both kinds of failure are represented.
    const auto count_code = [&](int code) {
        return std::count_if(t.active.begin(), t.active.end(), [&](const BadCase& c) { return c.exit_code == code; });
    };
    CHECK(count_code(2) >= 25);
    CHECK(count_code(1) >= 1);
}

TEST_CASE("bad lessons: bnstep run refuses each with one helpful line") {
    const Table t = read_table();
    REQUIRE_FALSE(t.active.empty());
    for (const BadCase& c : t.active) {
        const RunResult r = run_bnstep({"run", c.file}, bad_dir().string());
        check_refusal(r, c.file, c.exit_code, c.substrings);
        // The prefix tells the two kinds apart.
        CAPTURE(c.file);
        CHECK(r.err.rfind(c.exit_code == 1 ? "bnstep: numeric fault: " : "bnstep: error: ", 0) == 0);
    }
}

TEST_CASE("bad lessons: the same message whether the path is relative to the working directory or not") {
    // Given as tests/bad_lessons/<file> from the source tree, the message names that path.
    const RunResult r = run_bnstep({"run", "tests/bad_lessons/unknown_op.json"}, source_dir());
    check_refusal(r, "tests/bad_lessons/unknown_op.json", 2, find_case(read_table(), "unknown_op.json").substrings);
    // The JSON --format changes nothing: the error is still one text line on stderr.
    const RunResult j = run_bnstep({"run", "unknown_op.json", "--format", "json"}, bad_dir().string());
    CHECK(j.err == run_bnstep({"run", "unknown_op.json"}, bad_dir().string()).err);
    CHECK(j.out.empty());
}

TEST_CASE("bad lessons: check-gradients and trace validate the lesson too") {
    const Table t = read_table();
    const std::string dir = bad_dir().string();
    for (const std::string file : {"unknown_op.json", "cycle_two_nodes.json", "shape_rank5.json",
                                   "upstream_wrong_shape.json", "duplicate_step.json", "nan_log_of_negative.json"}) {
        const BadCase& c = find_case(t, file);
        check_refusal(run_bnstep({"check-gradients", file}, dir), file, c.exit_code, c.substrings);
        // The lesson is validated before the node is looked up, so even a
        // node that does not exist gets the lesson's own error.
        check_refusal(run_bnstep({"trace", file, "--node", "y"}, dir), file, c.exit_code, c.substrings);
        if (c.exit_code == 2) {
            check_refusal(run_bnstep({"trace", file, "--node", "no_such_node"}, dir), file, c.exit_code, c.substrings);
        } else {
            // A lesson that loads but faults at run time: the unknown node is
            // reported first, since nothing has run yet.
            const RunResult r = run_bnstep({"trace", file, "--node", "no_such_node"}, dir);
            CHECK(r.exit_code == 2);
            CHECK(contains(r.err, "no step or node 'no_such_node'"));
        }
    }
}

TEST_CASE("bad lessons: check-gradients stops at a bad lesson among good ones") {
    const Table t = read_table();
    const BadCase& c = find_case(t, "cycle_two_nodes.json");
    // A built-in lesson first, then the broken file: no partial report on stdout.
    const RunResult r = run_bnstep({"check-gradients", "batchnorm", "cycle_two_nodes.json"}, bad_dir().string());
    check_refusal(r, "cycle_two_nodes.json", c.exit_code, c.substrings);
}

TEST_CASE("bad lessons: a missing file and a directory are refused with exit code 2") {
    TempDir tmp;
    const std::string dir = tmp.path().string();

    SUBCASE("missing file, relative") {
        const RunResult r = run_bnstep({"run", "no_such_lesson.json"}, dir);
        check_refusal(r, "no_such_lesson.json", 2, {"cannot read the file", "No such file"});
    }
    SUBCASE("missing file in a missing directory") {
        const RunResult r = run_bnstep({"run", "nowhere/lesson.json"}, dir);
        check_refusal(r, "nowhere/lesson.json", 2, {"cannot read the file"});
    }
    SUBCASE("missing file, check-gradients and trace") {
        check_refusal(run_bnstep({"check-gradients", "no_such_lesson.json"}, dir), "no_such_lesson.json", 2,
                      {"cannot read the file"});
        check_refusal(run_bnstep({"trace", "no_such_lesson.json", "--node", "1"}, dir), "no_such_lesson.json", 2,
                      {"cannot read the file"});
    }
    SUBCASE("a directory") {
        fs::create_directory(tmp.path() / "lessons.json");
        const RunResult r = run_bnstep({"run", "lessons.json"}, dir);
        check_refusal(r, "lessons.json", 2, {"is a directory"});
        const RunResult sub = run_bnstep({"run", "./"}, dir);
        check_refusal(sub, "./", 2, {"is a directory"});
    }
    SUBCASE("a directory given by absolute path") {
        const RunResult r = run_bnstep({"run", bad_dir().string()}, dir);
        check_refusal(r, bad_dir().string(), 2, {"is a directory"});
    }
    SUBCASE("an unknown built-in lesson name") {
        const RunResult r = run_bnstep({"run", "batchnrm"}, dir);
        check_refusal(r, "batchnrm", 2, {"unknown lesson 'batchnrm'", "did you mean 'batchnorm'?"});
    }
}
