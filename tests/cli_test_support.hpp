#pragma once
// What the end-to-end tests of the command (test_cli.cpp: its mechanics;
// test_cli_lessons.cpp: the lessons' numbers) share: running bnstep and
// reading its JSON, the batch-norm reference computed from the lesson's
// literals, and what the lesson files say, read independently of bnstep.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "batchnorm_reference.hpp"
#include "bnstep/op.hpp"
#include "cli_support.hpp"

namespace bnstep_cli_test {

using namespace bnstep_test;
using json = nlohmann::json;
namespace fs = std::filesystem;

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;

inline constexpr double kTol = 1e-12;

inline json read_json_file(const fs::path& path) { return json::parse(read_text_file(path)); }

inline fs::path lesson_path(const std::string& name) { return fs::path(source_dir()) / "lessons" / (name + ".json"); }

inline const json& leaf(const json& lesson, const std::string& name) {
    for (const json& l : lesson.at("leaves"))
        if (l.at("name") == name) return l;
    FAIL("lesson has no leaf " << name);
    throw;  // unreachable
}

inline BatchNorm batchnorm_from_lesson(const json& lesson) {
    BatchNorm b;
    b.x = leaf(lesson, "x").at("values").get<Mat>();
    b.gamma = leaf(lesson, "gamma").at("values").get<Vec>();
    b.beta = leaf(lesson, "beta").at("values").get<Vec>();
    b.eps = leaf(lesson, "eps").at("values").get<double>();
    b.dout = lesson.at("output").at("upstream").at("values").get<Mat>();
    b.compute();
    return b;
}

inline const BatchNorm& reference() {
    static const BatchNorm bn = batchnorm_from_lesson(read_json_file(lesson_path("batchnorm")));
    return bn;
}

inline void check_close(const json& got, const Vec& want, double tol, const std::string& what) {
    CAPTURE(what);
    REQUIRE(got.is_array());
    REQUIRE(got.size() == want.size());
    for (std::size_t j = 0; j < want.size(); ++j) {
        CAPTURE(j);
        CHECK(std::abs(got[j].get<double>() - want[j]) <= tol);
    }
}

inline void check_close(const json& got, const Mat& want, double tol, const std::string& what) {
    CAPTURE(what);
    REQUIRE(got.is_array());
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        CAPTURE(i);
        check_close(got[i], want[i], tol, what);
    }
}

// Runs bnstep, requires success with nothing on stderr, returns stdout.
inline std::string ok_output(const std::vector<std::string>& args, const std::string& cwd = "",
                             const std::vector<std::pair<std::string, std::string>>& env = {}) {
    const RunResult r = run_bnstep(args, cwd, env);
    CAPTURE(args);
    CAPTURE(r.err);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.empty());
    return r.out;
}

inline json ok_json(const std::vector<std::string>& args, const std::string& cwd = "") {
    const std::string out = ok_output(args, cwd);
    json j;
    REQUIRE_NOTHROW(j = json::parse(out));
    return j;
}

// A usage error: exit code 2, one line on stderr, nothing on stdout.
inline std::string usage_error(const std::vector<std::string>& args) {
    const RunResult r = run_bnstep(args);
    CAPTURE(args);
    CAPTURE(r.err);
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("bnstep: error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    return r.err;
}

inline const json& node_named(const json& run, const std::string& name) {
    for (const json& n : run.at("nodes"))
        if (n.at("name") == name) return n;
    FAIL("no node " << name << " in the JSON output");
    throw;  // unreachable
}

inline const json& input_named(const json& node, const std::string& name) {
    for (const json& in : node.at("inputs"))
        if (in.at("name") == name) return in;
    FAIL("node " << node.at("name") << " has no input " << name);
    throw;  // unreachable
}

inline std::string fmt_g(double v, int precision) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, v);
    return buffer;
}

inline bool has_word(const std::string& text, const std::string& word) {
    return std::regex_search(text, std::regex("(^|[^A-Za-z0-9_])" + word + "($|[^A-Za-z0-9_])"));
}

// The step numbers of the lines that start with "step N", in order.
inline std::vector<int> step_headings(const std::string& text) {
    std::vector<int> steps;
    const std::regex heading(R"(^step (\d+)\s)");
    for (const std::string& line : lines_of(text)) {
        std::smatch m;
        if (std::regex_search(line, m, heading)) steps.push_back(std::stoi(m[1]));
    }
    return steps;
}

// What the lesson files say, read independently of bnstep.
struct LessonFacts {
    std::string name, title;
    std::size_t node_count = 0;            // leaves and op nodes
    std::set<std::string> differentiable;  // every leaf that is not a const, and every op node
};

inline std::vector<LessonFacts> lesson_facts() {
    std::vector<LessonFacts> facts;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(fs::path(source_dir()) / "lessons"))
        if (entry.path().extension() == ".json" && !contains(entry.path().filename().string(), ".schema."))
            files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
        const json j = read_json_file(file);
        LessonFacts f;
        f.name = j.at("name");
        f.title = j.at("title");
        f.node_count = j.at("leaves").size() + j.at("nodes").size();
        // The nodes that get a gradient: not constants, and on a path to the output
        // through inputs the op table declares differentiable (not a label, a mask or a buffer).
        std::map<std::string, std::vector<std::string>> inputs;
        for (const json& n : j.at("nodes")) {
            const bnstep::OpDef* op = bnstep::builtin_ops().find(n.at("op").get<std::string>());
            const auto names = n.at("inputs").get<std::vector<std::string>>();
            for (std::size_t s = 0; s < names.size(); ++s)
                if (op->rule(s).differentiable) inputs[n.at("name")].push_back(names[s]);
        }
        std::set<std::string> consts;
        for (const json& l : j.at("leaves"))
            if (l.at("kind") == "const") consts.insert(l.at("name").get<std::string>());
        std::vector<std::string> todo{j.at("output").at("node").get<std::string>()};
        while (!todo.empty()) {
            const std::string name = todo.back();
            todo.pop_back();
            if (consts.count(name) || !f.differentiable.insert(name).second) continue;
            for (const auto& in : inputs[name]) todo.push_back(in);
        }
        facts.push_back(f);
    }
    return facts;
}

inline const LessonFacts& fact_of(const std::vector<LessonFacts>& facts, const std::string& name) {
    for (const auto& f : facts)
        if (f.name == name) return f;
    FAIL("no lesson " << name);
    throw;  // unreachable
}

inline std::string project_version() {
    const std::string cmake = read_text_file(fs::path(source_dir()) / "CMakeLists.txt");
    std::smatch m;
    REQUIRE(std::regex_search(cmake, m, std::regex(R"(project\(bnstep VERSION ([0-9][0-9.]*))")));
    return m[1];
}

inline bool has_escape(const std::string& s) { return contains(s, "\x1b["); }

}  // namespace bnstep_cli_test
