// Hostile lessons, options and output channels, end to end: each case is a
// one-line error with exit code 2 (or an honest "not checkable" and exit 1),
// never a crash, a hang, a wrapped number or a check that passes without
// comparing. docs/robustness.md states the guarantees these tests hold.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {

using bnstep_test::contains;
using bnstep_test::lines_of;
using bnstep_test::run_bnstep;
using bnstep_test::TempDir;

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
    const auto path = dir.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
}

// A lesson of one op node y = op(x, ...) whose output takes an upstream of ones.
std::string one_op(const std::string& op, const std::string& x_shape, const std::string& attrs,
                   const std::string& extra_leaf = "", const std::string& extra_input = "") {
    return R"({"title": "t", "leaves": [{"name": "x", "kind": "param", "shape": )" + x_shape + R"(, "fill": 1})" +
           extra_leaf + R"(], "nodes": [{"name": "y", "op": ")" + op + R"(", "inputs": ["x")" + extra_input +
           R"(], "attrs": )" + attrs + R"(}], "output": {"node": "y", "upstream": {"fill": 1}}})";
}

const std::string kConvWeight = R"(, {"name": "w", "kind": "param", "shape": [1, 1, 1, 1], "fill": 1})";

void refused(const bnstep_test::RunResult& r, const std::string& part) {
    CHECK(!r.timed_out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(lines_of(r.err).size() == 1);
    CHECK_MESSAGE(contains(r.err, part), r.err);
    CHECK_MESSAGE(!contains(r.err, "internal error"), r.err);
}

const std::vector<std::vector<std::string>> kEveryCommand = {{"run"},
                                                             {"run", "--format", "json"},
                                                             {"trace", "--node", "y"},
                                                             {"check-gradients"},
                                                             {"saliency"},
                                                             {"quiz"},
                                                             {"quiz", "--format", "json"},
                                                             {"worksheet"},
                                                             {"worksheet", "--format", "latex"},
                                                             {"graph"},
                                                             {"graph", "--format", "mermaid", "--values"}};

void refused_by_every_command(const std::string& path, const std::string& part, std::vector<std::string> extra = {}) {
    for (auto args : kEveryCommand) {
        args.insert(args.begin() + 1, path);
        args.insert(args.end(), extra.begin(), extra.end());
        CAPTURE(args[0]);
        CAPTURE(args.size());
        refused(run_bnstep(args, "", {}, bnstep_test::Stdin::DevNull, 20), part);
    }
}

// Runs `script` with /bin/sh, "$B" being bnstep, and returns its result.
bnstep_test::RunResult shell(const std::string& script) {
    const std::string path = bnstep_test::binary_path();
    return bnstep_test::run_command({"/bin/sh", "-c", "B='" + path + "'; " + script});
}

}  // namespace

TEST_CASE("robustness: shape arithmetic that would overflow is refused before anything is allocated") {
    TempDir dir;
    const std::string huge_padding =
        write(dir, "pad.json",
              one_op("conv2d", "[1, 1, 1, 1]", R"({"padding": 4611686018427387904})", kConvWeight, R"(, "w")"));
    refused_by_every_command(huge_padding, "more than 100000000 elements, the limit for one tensor (--max-elements)");
    // Raising the limit to its largest value does not let the wrapped size through: (2^63 + 1)^2 is past 2^64.
    refused(run_bnstep({"run", huge_padding, "--max-elements", "9223372036854775808"}),
            "more than 9223372036854775808");
    const std::string max_padding =
        write(dir, "pad2.json",
              one_op("conv2d", "[1, 1, 1, 1]", R"({"padding": 9223372036854775807})", kConvWeight, R"(, "w")"));
    refused(run_bnstep({"run", max_padding}), "(--max-elements)");
    const std::string huge_dilation =
        write(dir, "dil.json",
              one_op("conv2d", "[1, 1, 4, 4]", R"({"dilation": 9223372036854775807})",
                     R"(, {"name": "w", "kind": "param", "shape": [1, 1, 3, 3], "fill": 1})", R"(, "w")"));
    refused(run_bnstep({"run", huge_dilation}), "does not fit");

    // A reshape to two sizes whose product wraps to exactly the element count (1 mod 2^64).
    std::uint64_t a = 3, inverse = 0;
    for (;; a += 2) {
        inverse = a;  // Newton's iteration for a^-1 mod 2^64
        for (int k = 0; k < 6; ++k) inverse *= 2 - a * inverse;
        if (inverse < (std::uint64_t{1} << 63)) break;
    }
    REQUIRE(a * inverse == 1);
    const std::string wrap =
        write(dir, "reshape.json",
              one_op("reshape", "[1]", R"({"shape": [)" + std::to_string(a) + ", " + std::to_string(inverse) + "]}"));
    refused(run_bnstep({"run", wrap, "--max-elements", "9223372036854775808"}), "cannot reshape (1,) (1 elements)");
}

TEST_CASE(
    "robustness: windows are bounded: larger than the padded input, padding past half the kernel, too many taps") {
    TempDir dir;
    const std::string taps =
        write(dir, "taps.json", one_op("max_pool2d", "[1, 1, 1, 1]", R"({"kernel": 1048576, "padding": 524288})"));
    refused_by_every_command(
        taps, "reads a window of 1099511627776 elements, more than the limit of 100000000 (--max-elements)");
    refused(run_bnstep({"run", write(dir, "pad.json",
                                     one_op("avg_pool2d", "[1, 1, 4, 4]", R"({"kernel": 3, "padding": 2})"))}),
            "padding must be from 0 to half the kernel (1), got 2");
    refused(run_bnstep({"run", write(dir, "big.json",
                                     one_op("max_pool2d", "[1, 1, 2, 2]", R"({"kernel": 5, "padding": 1})"))}),
            "does not fit the 2x2 input");
    refused(run_bnstep({"run", write(dir, "conv.json",
                                     one_op("conv2d", "[1, 1, 2, 2]", "{}",
                                            R"(, {"name": "w", "kind": "param", "shape": [1, 1, 5, 5], "fill": 1})",
                                            R"(, "w")"))}),
            "does not fit the 2x2 input");
    // The work of a forward pass: 4128^2 outputs, each a 1024-tap window, is past the default --max-work (2^34).
    const std::string work =
        write(dir, "work.json",
              one_op("conv2d", "[1, 1, 4159, 4159]", "{}",
                     R"(, {"name": "w", "kind": "param", "shape": [1, 1, 32, 32], "fill": 1})", R"(, "w")"));
    refused(run_bnstep({"graph", work}), "(--max-work)");
}

TEST_CASE("robustness: saliency runs on every built-in lesson, and a param without gradient is skipped or refused") {
    const auto list = run_bnstep({"lessons", "--format", "json"});
    REQUIRE(list.exit_code == 0);
    const auto lessons = nlohmann::json::parse(list.out);
    for (const auto& lesson : lessons["lessons"]) {
        const auto r = run_bnstep({"saliency", lesson["name"].get<std::string>()});
        CAPTURE(lesson["name"]);
        CHECK((r.exit_code == 0 || r.exit_code == 2));
        if (r.exit_code == 2) CHECK(lines_of(r.err).size() == 1);
        if (r.exit_code == 0) CHECK(r.err.empty());
    }
    const auto r = run_bnstep({"saliency", "depthwise-separable", "--format", "json"});
    REQUIRE(r.exit_code == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["skipped"] == nlohmann::json::array({"w_std"}));
    for (const auto& w : j["weights"]) CHECK(w["leaf"] != "w_std");
    refused(run_bnstep({"saliency", "depthwise-separable", "--param", "w_std"}), "--param w_std: it gets no gradient");
    // Class labels declared as a param: cross_entropy's labels get no gradient.
    TempDir dir;
    const std::string labels = write(dir, "labels.json", R"({"title": "t", "leaves": [
        {"name": "z", "kind": "param", "shape": [2, 3], "values": [[1, 2, 3], [0, 1, 0]]},
        {"name": "y", "kind": "param", "shape": [2], "values": [2, 0]}],
      "nodes": [{"name": "L", "op": "cross_entropy", "inputs": ["z", "y"]}], "output": {"node": "L"}})");
    const auto s = run_bnstep({"saliency", labels});
    CHECK(s.exit_code == 0);
    CHECK(contains(s.out, "Skipped y: it gets no gradient"));
}

TEST_CASE("robustness: a gradient check never passes without comparing") {
    TempDir dir;
    // L = 1e300 + 1: a step of 1e-5 is lost in the round-off of 1e150, and the floor
    // raised to L's round-off (2e294) would let any numeric gradient pass.
    const std::string square = write(dir, "square.json", R"({"title": "t", "leaves": [
        {"name": "p", "kind": "param", "shape": [2], "values": [1e150, 1]}],
      "nodes": [{"name": "y", "op": "square", "inputs": ["p"]}, {"name": "L", "op": "sum", "inputs": ["y"]}],
      "output": {"node": "L"}})");
    auto r = run_bnstep({"check-gradients", square});
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "NOT CHECKABLE"));
    CHECK(!contains(r.out, "all passed"));
    r = run_bnstep({"check-gradients", square, "--format", "json"});
    CHECK(r.exit_code == 1);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["passed"] == false);
    for (const auto& node : j["lessons"][0]["nodes"]) {
        CHECK(node["passed"] == false);
        CHECK(node["checkable"] == false);
        CHECK(node["not_checkable_reason"].is_string());
    }
    // The values 1e308 through neg: L is finite, but sum |output * seed| overflows, so the floor is infinite.
    const std::string neg = write(dir, "neg.json", R"({"title": "t", "leaves": [
        {"name": "p", "kind": "param", "shape": [2], "values": [1e308, -1e308]}],
      "nodes": [{"name": "y", "op": "neg", "inputs": ["p"]}], "output": {"node": "y", "upstream": {"fill": 1}}})");
    r = run_bnstep({"check-gradients", neg, "--format", "json"});
    CHECK(r.exit_code == 1);
    j = nlohmann::json::parse(r.out);
    CHECK(j["passed"] == false);
    CHECK(j["lessons"][0]["floor"].is_null());
    CHECK(contains(j["lessons"][0]["nodes"][0]["not_checkable_reason"].get<std::string>(), "not finite"));
    // The built-in lessons are still checked and pass.
    CHECK(run_bnstep({"check-gradients"}).exit_code == 0);
}

TEST_CASE("robustness: parsing is linear and the node count bites while reading") {
    TempDir dir;
    // 600,000 small objects: the callback parser took time quadratic in their number (hours here).
    std::string objects = R"({"title": "t", "padding": [)";
    for (int k = 0; k < 600000; ++k) objects += k ? ",{}" : "{}";
    objects += "]}";
    refused(run_bnstep({"run", write(dir, "objects.json", objects)}, "", {}, bnstep_test::Stdin::DevNull, 20),
            "unknown key 'padding'");
    // The 10,001st item is refused where it stands, before the rest of the file is read.
    std::string chain =
        R"({"title": "t", "leaves": [{"name": "x", "kind": "param", "shape": [1], "fill": 1}], "nodes": [)";
    for (int k = 1; k <= 100000; ++k)
        chain += (k > 1 ? "," : "") + std::string(R"({"name": "n)") + std::to_string(k) +
                 R"(", "op": "neg", "inputs": [")" + (k == 1 ? std::string("x") : "n" + std::to_string(k - 1)) +
                 R"("]})";
    chain += R"(], "output": {"node": "n100000", "upstream": {"fill": 1}}})";
    refused(run_bnstep({"run", write(dir, "chain.json", chain)}), "/nodes/9999: at least 10001 leaves and nodes");
    // A legal chain of 9,999 nodes is checked node by node through each node's consumer (47 s when
    // every node's move was carried to the output).
    std::string legal =
        R"({"title": "t", "leaves": [{"name": "x", "kind": "param", "shape": [2], "fill": 1}], "nodes": [)";
    for (int k = 1; k <= 9998; ++k)
        legal += (k > 1 ? "," : "") + std::string(R"({"name": "n)") + std::to_string(k) +
                 R"(", "op": "neg", "inputs": [")" + (k == 1 ? std::string("x") : "n" + std::to_string(k - 1)) +
                 R"("]})";
    legal += R"(], "output": {"node": "n9998", "upstream": {"fill": 1}}})";
    const auto r = run_bnstep({"check-gradients", write(dir, "legal.json", legal), "--format", "json"}, "", {},
                              bnstep_test::Stdin::DevNull, 20);
    CHECK(!r.timed_out);
    REQUIRE(r.exit_code == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["lessons"][0]["mode"] == "local");
    CHECK(j["lessons"][0]["nodes"].size() == 9999);
}

TEST_CASE("robustness: memory: the estimate covers the JSON text, and running out is a one-line error") {
    TempDir dir;
    const std::string big = write(dir, "big.json", one_op("neg", "[10000, 8000]", "{}"));
    refused(run_bnstep({"run", big, "--format", "json"}), "(--max-memory)");
    refused(run_bnstep({"check-gradients", big}), "(--max-memory)");
    if (!bnstep_test::kUnderSanitizer) {
        // With 1.5 GB of address space and the estimate lifted, the allocation fails: a one-line error, not an abort.
        const std::string mid = write(dir, "mid.json", one_op("neg", "[10000, 4000]", "{}"));
        const auto r = shell("ulimit -v 1500000; \"$B\" run '" + mid + "' --format json --max-memory 64G >/dev/null");
        CHECK(r.exit_code == 2);
        CHECK(lines_of(r.err).size() == 1);
        CHECK_MESSAGE(contains(r.err, "out of memory: lesson"), r.err);
        CHECK_MESSAGE(contains(r.err, "(10000, 4000)"), r.err);
    }
}

TEST_CASE("robustness: only regular files are read as lessons and answers, with the size limit while reading") {
    TempDir dir;
    const std::string fifo = (dir.path() / "lesson.fifo.json").string();
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    refused(run_bnstep({"run", fifo}, "", {}, bnstep_test::Stdin::DevNull, 10),
            "is a FIFO (named pipe); expected a regular file");
    refused(run_bnstep({"run", "/dev/zero"}), "/dev/zero: is a character device");
    refused(run_bnstep({"run", "/dev/urandom"}), "/dev/urandom: is a character device");
    refused(run_bnstep({"run", "/proc/self/status"}), "/proc/self/status:1:1: malformed JSON");
    refused(run_bnstep({"run", "/proc/self/environ", "--max-file-size", "1"}),
            "more than 1 bytes, the limit for a lesson (--max-file-size)");
    refused(run_bnstep({"run", dir.path().string() + "/"}), "is a directory");
    refused(run_bnstep({"quiz", "--answers", dir.path().string()}), "is a directory; expected a regular file");
    refused(run_bnstep({"quiz", "--answers", fifo}, "", {}, bnstep_test::Stdin::DevNull, 10), "is a FIFO");
    const auto endless = shell("\"$B\" quiz < /dev/zero");
    CHECK(endless.exit_code == 2);
    CHECK(contains(endless.err, "standard input: more than 1.0 MiB"));
}

TEST_CASE("robustness: write errors are reported, a closed pipe ends quietly") {
    auto r = shell("\"$B\" run batchnorm > /dev/full");
    CHECK(r.exit_code == 2);
    CHECK(r.err == "bnstep: error: cannot write output: No space left on device\n");
    r = shell("\"$B\" lessons >&-");
    CHECK(r.exit_code == 2);
    CHECK(r.err == "bnstep: error: cannot write output: Bad file descriptor\n");
    // More than a pipe holds, to a reader that leaves after one line: no message.
    r = shell("\"$B\" run conv2d --set x.shape=2,3,40,40 --full | head -n 1; exit 0");
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(lines_of(r.out).size() == 1);
    r = shell("trap '' PIPE; \"$B\" run conv2d --set x.shape=2,3,40,40 --full | head -n 1 >/dev/null; exit 0");
    CHECK(r.err.empty());
}

TEST_CASE("robustness: lesson text cannot reach the terminal or LaTeX as commands") {
    TempDir dir;
    const std::string lesson =
        write(dir, "evil.json",
              R"({"title": "Evil\u001b[2J\u001b]0;owned\u0007 title\n\\input{/etc/passwd}\\write18{rm -rf x}",
      "description": "line one\nbnstep: error: forged\u0000cut \u202e reversed",
      "leaves": [{"name": "x", "kind": "param", "shape": [2], "values": [1, 2], "note": "\r\u009b31m note"}],
      "nodes": [{"name": "y", "op": "square", "inputs": ["x"], "note": "$\\def\\x{}$ # % & ~ ^ _ { }"}],
      "output": {"node": "y", "upstream": {"fill": 1}}})");
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"run", lesson},
                                               {"trace", lesson, "--node", "y"},
                                               {"worksheet", lesson},
                                               {"graph", lesson},
                                               {"graph", lesson, "--format", "mermaid"},
                                               {"quiz", lesson},
                                               {"check-gradients", lesson}}) {
        const auto r = run_bnstep(args);
        CAPTURE(args[0]);
        CHECK(r.exit_code <= 1);
        for (const char c : r.out) {
            const auto u = static_cast<unsigned char>(c);
            CHECK_MESSAGE((u >= 0x20 || c == '\n'), "a raw control character in the output");
        }
        CHECK(!contains(r.out, "\xc2\x9b"));
        CHECK(!contains(r.out, "\xe2\x80\xae"));
    }
    const auto run = run_bnstep({"run", lesson});
    CHECK(contains(run.out, "Evil\\x1b[2J\\x1b]0;owned\\x07 title\\n"));
    CHECK(contains(run.out, "\\u202e"));
    const auto latex = run_bnstep({"worksheet", lesson, "--format", "latex", "--answers"});
    REQUIRE(latex.exit_code == 0);
    CHECK(!contains(latex.out, "\\input{"));
    CHECK(!contains(latex.out, "\\write18"));
    CHECK(!contains(latex.out, "\\def\\x"));
    CHECK(contains(latex.out, "\\textbackslash{}input\\{/etc/passwd\\}"));
    // Keys, op names and paths in errors: one line, control characters visible.
    const std::string key = write(dir, "key\x1b[2J.json", R"({"title": "t", "\u001b[31mred\nbnstep: ok": 1})");
    auto r = run_bnstep({"run", key});
    refused(r, "unknown key '\\x1b[31mred\\nbnstep: ok'");
    CHECK(contains(r.err, "key\\x1b[2J.json"));
    r = run_bnstep({"run", "--format", "\x1b[2Jjson\nx"});
    refused(r, "\\x1b[2Jjson\\nx");
}

TEST_CASE("robustness: numeric options are validated, never saturated or wrapped") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"check-gradients", "batchnorm", "--seed", "-1"},
         "--seed: must be a whole number from 0 to 18446744073709551615, got '-1'"},
        {{"check-gradients", "batchnorm", "--seed", "18446744073709551616"}, "from 0 to 18446744073709551615"},
        {{"quiz", "--seed", "1e3"}, "--seed: must be a whole number"},
        {{"saliency", "--prune", "-1"}, "--prune: must be a whole number from 1 to"},
        {{"run", "--max-nodes", "99999999999999999999"}, "--max-nodes: must be a whole number from 1 to 10000000"},
        {{"run", "--max-memory", "17179869185G"},
         "--max-memory '17179869185G': too large; it must be at most 17179869183G"},
        {{"run", "--max-file-size", "17179869184G"}, "--max-file-size '17179869184G': too large"},
        {{"run", "--max-file-size", ""}, "--max-file-size '': expected a whole number"},
        {{"run", "--max-memory", "0"}, "--max-memory '0': must be at least 1"},
        {{"run", "--max-elements", "0"}, "--max-elements: must be a whole number from 1 to 9223372036854775808"},
        {{"run", "--max-work", "1T"}, "--max-work '1T': expected a whole number"},
        {{"check-gradients", "--samples", "0"}, "--samples: must be a whole number from 1"},
    };
    for (const auto& one : cases) {  // (clang 14 cannot capture a structured binding)
        const std::vector<std::string>& args = one.first;
        CAPTURE(args);
        const auto r = run_bnstep(args);
        refused(r, one.second);
        CHECK(r.err.size() < 200);
    }
}

TEST_CASE("robustness: every command refuses generated bad option values with one line and exit code 2") {
    const std::vector<std::string> bad_whole = {
        "-1", "", "abc", "1.5", "1e3", "0x10", " 5", "5 ", "+5", "99999999999999999999999", "18446744073709551616"};
    const std::vector<std::string> bad_positive = {"0", "-1", "", "nan", "inf", "1e999", "abc", "-0"};
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> options = {
        {{"run", "trace", "check-gradients", "saliency", "quiz", "worksheet", "graph"},
         {"--max-nodes", "--max-elements", "--max-file-size", "--max-memory", "--max-work"}},
        {{"check-gradients", "quiz"}, {"--seed"}},
        {{"check-gradients"}, {"--samples"}},
        {{"saliency"}, {"--prune"}},
        {{"run", "trace", "check-gradients", "quiz", "worksheet", "graph"}, {"--precision"}},
    };
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> positive = {
        {{"check-gradients"}, {"--step", "--tolerance", "--floor"}},
        {{"saliency"}, {"--step", "--loss-step"}},
        {{"quiz"}, {"--tolerance"}},
    };
    std::size_t tried = 0;
    auto expect_refusal = [&](const std::string& command, const std::string& option, const std::string& value) {
        std::vector<std::string> args{command};
        if (command == "trace") args.insert(args.end(), {"--node", "1"});
        args.insert(args.end(), {option, value});
        CAPTURE(args);
        const auto r = run_bnstep(args);
        CHECK(r.exit_code == 2);
        CHECK(lines_of(r.err).size() == 1);
        CHECK(contains(r.err, option));
        ++tried;
    };
    // Every command with each of its numeric options, two bad values each (one
    // under the sanitizers), the values taken in turn from the lists so that all
    // of them are tried.
    const int per_option = bnstep_test::kUnderSanitizer ? 1 : 2;
    std::size_t next_whole = 0, next_positive = 0;
    for (const auto& family : options)
        for (const auto& command : family.first)
            for (const auto& option : family.second)
                for (int k = 0; k < per_option; ++k)
                    expect_refusal(command, option, bad_whole[next_whole++ % bad_whole.size()]);
    for (const auto& family : positive)
        for (const auto& command : family.first)
            for (const auto& option : family.second)
                for (int k = 0; k < per_option; ++k)
                    expect_refusal(command, option, bad_positive[next_positive++ % bad_positive.size()]);
    CHECK(tried > 50 * static_cast<std::size_t>(per_option));
}

TEST_CASE("robustness: integer attributes stay integers") {
    TempDir dir;
    const std::string seed =
        write(dir, "seed.json", one_op("binarize_stochastic", "[2]", R"({"seed": 9007199254740993})"));
    auto r = run_bnstep({"run", seed, "--format", "json"});
    if (r.exit_code == 2 && contains(r.err, "unknown op")) {
        MESSAGE("no stochastic_binarize op: the seed is checked through conv2d's stride instead");
    } else {
        REQUIRE(r.exit_code == 0);
        CHECK(contains(r.out, "\"seed\": 9007199254740993"));
    }
    const std::string stride =
        write(dir, "stride.json",
              one_op("conv2d", "[1, 1, 1, 1]", R"({"stride": 9223372036854775807})", kConvWeight, R"(, "w")"));
    r = run_bnstep({"run", stride, "--format", "json"});
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, "\"stride\": 9223372036854775807"));
    r = run_bnstep({"graph", write(dir, "neg.json",
                                   one_op("conv2d", "[1, 1, 1, 1]", R"({"stride": -9223372036854775807})", kConvWeight,
                                          R"(, "w")"))});
    refused(r, "-9223372036854775807");
    refused(run_bnstep({"run", write(dir, "big.json",
                                     one_op("conv2d", "[1, 1, 1, 1]", R"({"stride": 18446744073709551616})",
                                            kConvWeight, R"(, "w")"))}),
            "integer too large");
    refused(
        run_bnstep({"run", write(dir, "big2.json",
                                 one_op("conv2d", "[1, 1, 1, 1]", R"({"padding": 1e300})", kConvWeight, R"(, "w")"))}),
        "integer too large");
    refused(
        run_bnstep({"run", write(dir, "frac.json",
                                 one_op("conv2d", "[1, 1, 1, 1]", R"({"padding": 1.5})", kConvWeight, R"(, "w")"))}),
        "expected an integer, got 1.5");
}
