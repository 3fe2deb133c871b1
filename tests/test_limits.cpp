// Hostile inputs too large to keep in tests/bad_lessons/, made here: a 100 MB
// file, JSON nested 100000 deep, 10001 nodes; the options that raise each
// limit; and a UTF-8 byte order mark, which is skipped as RFC 8259 allows.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "settings.hpp"
#include "cli_support.hpp"

using bnstep_test::contains;
using bnstep_test::run_bnstep;
using bnstep_test::TempDir;

namespace {

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
    const auto path = dir.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
}

// A chain x -> n1 -> n2 -> ... of `count` neg nodes.
std::string chain(std::size_t count) {
    std::string nodes;
    for (std::size_t i = 1; i <= count; ++i)
        nodes += (i > 1 ? ",\n" : "") + std::string(R"({"name": "n)") + std::to_string(i) +
                 R"(", "op": "neg", "inputs": [")" + (i == 1 ? std::string("x") : "n" + std::to_string(i - 1)) +
                 R"("]})";
    return R"({"title": "chain", "leaves": [{"name": "x", "kind": "input", "shape": [2], "fill": 1}], "nodes": [)" +
           nodes + R"(], "output": {"node": "n)" + std::to_string(count) + R"(", "upstream": {"fill": 1}}})";
}

void one_line_error(const bnstep_test::RunResult& r, int code, const std::string& part) {
    CHECK(r.exit_code == code);
    CHECK(r.out.empty());
    CHECK(bnstep_test::lines_of(r.err).size() == 1);
    CHECK_MESSAGE(contains(r.err, part), r.err);
}

}  // namespace

TEST_CASE("limits: a 100 MB file is refused before it is read, unless --max-file-size allows it") {
    TempDir dir;
    const std::string path = write(dir, "big.json", std::string(100u << 20, ' '));
    one_line_error(run_bnstep({"run", path}), 2,
                   "the file is 100.0 MiB, above the limit of 16.0 MiB for a lesson (--max-file-size)");
    // Allowed, it is read and found to be no lesson at all.
    one_line_error(run_bnstep({"run", path, "--max-file-size", "200M"}), 2, "malformed JSON");
}

TEST_CASE("limits: JSON nested 100000 deep is refused cleanly, not by a stack overflow") {
    TempDir dir;
    const std::string path = write(dir, "deep.json", std::string(100000, '[') + std::string(100000, ']'));
    one_line_error(run_bnstep({"run", path}), 2, "JSON nested more than 64 levels deep");
    const std::string objects = write(dir, "objects.json", [] {
        std::string s;
        for (int i = 0; i < 100000; ++i) s += R"({"a":)";
        return s + "1" + std::string(100000, '}');
    }());
    one_line_error(run_bnstep({"run", objects}), 2, "JSON nested more than 64 levels deep");
}

TEST_CASE("limits: the number of nodes is bounded, and --max-nodes raises it") {
    TempDir dir;
    const std::string path = write(dir, "many.json", chain(10'000));
    one_line_error(run_bnstep({"run", path}), 2, "10001 leaves and nodes, above the limit of 10000 (--max-nodes)");
    const auto ok = run_bnstep({"run", path, "--max-nodes", "20000", "--format", "json"});
    CHECK(ok.exit_code == 0);
}

TEST_CASE("limits: tensor size and memory are checked before anything is allocated") {
    // 10^12 elements: refused at the shape, whatever the memory.
    one_line_error(run_bnstep({"run", bnstep_test::source_dir() + "/tests/bad_lessons/huge_dimension.json"}), 2,
                   "the limit for one tensor (--max-elements)");
    // The options raise the limits (and are checked themselves).
    TempDir dir;
    const std::string path = write(dir, "mid.json", R"({"title": "t",
        "leaves": [{"name": "x", "kind": "input", "shape": [300, 300], "fill": 1}],
        "nodes": [{"name": "y", "op": "neg", "inputs": ["x"]}], "output": {"node": "y", "upstream": {"fill": 1}}})");
    one_line_error(run_bnstep({"run", path, "--max-elements", "1000"}), 2, "more than 1000 elements");
    one_line_error(run_bnstep({"run", path, "--max-memory", "1M"}), 2, "above the limit of 1.0 MiB (--max-memory)");
    CHECK(run_bnstep({"run", path, "--max-memory", "1G"}).exit_code == 0);
    one_line_error(run_bnstep({"run", path, "--max-memory", "lots"}), 2, "--max-memory 'lots'");
    CHECK(bnstep::cli::parse_size("16M", "--x") == (16u << 20));
    CHECK(bnstep::cli::parse_size("3G", "--x") == (std::size_t{3} << 30));
    CHECK(bnstep::cli::parse_size("512", "--x") == 512);
    CHECK_THROWS_AS(bnstep::cli::parse_size("1.5G", "--x"), bnstep::UsageError);
}

TEST_CASE("limits: a UTF-8 byte order mark is skipped (RFC 8259 allows it)") {
    TempDir dir;
    const std::string lesson = bnstep_test::read_text_file(bnstep_test::source_dir() + "/lessons/conv2d.json");
    const std::string path = write(dir, "bom.json", "\xEF\xBB\xBF" + lesson);
    const auto with_bom = run_bnstep({"run", path, "--format", "json"});
    const auto plain = run_bnstep({"run", "conv2d", "--format", "json"});
    REQUIRE(with_bom.exit_code == 0);
    CHECK(contains(with_bom.out, R"("lesson": "conv2d")"));
    CHECK(with_bom.out.size() == plain.out.size() + (path.size() - std::string("lessons/conv2d.json").size()));
}
