// The display step confirms each zero from the terms it is computed from (a
// genuine 1e-13 * 1 stays 1e-13), intermediates and operands of worked lines
// print round-off as 0, and a note's arithmetic chain prints its result at the
// precision asked for. Expected values are worked out by hand.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <deque>
#include <sstream>
#include <string>

#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/print.hpp"

using namespace bnstep;

namespace {

// Genuine small values, none of them round-off: y = x * a multiplies by 1,
// z = y + c and w = z - c, and the seed dw carries a 1e-13.
constexpr const char* kTinyLesson = R"({
  "name": "tiny", "title": "tiny genuine values", "description": "genuine tiny values",
  "leaves": [
    {"name": "x", "kind": "input", "step": 0, "shape": [4], "values": [1.0, 1e-13, 3e-15, -2.0]},
    {"name": "a", "kind": "param", "shape": [4], "values": [1.0, 1.0, 1.0, 1e-14]},
    {"name": "c", "kind": "param", "shape": [4], "values": [0.1, 0.2, 0.3, 0.4]}
  ],
  "nodes": [
    {"name": "y", "step": 1, "op": "mul", "inputs": ["x", "a"]},
    {"name": "z", "step": 2, "op": "add", "inputs": ["y", "c"]},
    {"name": "w", "step": 3, "op": "sub", "inputs": ["z", "c"]}
  ],
  "output": {"node": "w", "upstream": {"values": [1.0, 1e-13, 1.0, 1.0]}}
})";

std::size_t node_named(const Graph& g, const std::string& name) {
    std::size_t i = 0;
    while (g.nodes[i].name != name) ++i;
    return i;
}

// Where a number token starts: a digit not inside a name or an index's name.
bool starts_number(const std::string& s, std::size_t k) {
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
    if (k == 0) return true;
    const char before = s[k - 1];
    return !(std::isalnum(static_cast<unsigned char>(before)) || before == '_' || before == '.');
}

// Every number of every line, by line.
std::vector<std::vector<double>> numbers_by_line(const std::string& text) {
    std::vector<std::vector<double>> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        std::vector<double> found;
        for (std::size_t k = 0; k < line.size(); ++k) {
            if (!starts_number(line, k)) continue;
            std::size_t used = 0;
            found.push_back(std::fabs(std::stod(line.substr(k), &used)));
            k += used - 1;
        }
        lines.push_back(found);
    }
    return lines;
}

// The printed numbers below 1e-12 of the largest number within 12 lines (the
// tensor block or worked line they are printed in, and its neighbours).
std::vector<std::string> round_off_on_screen(const std::string& text) {
    // From the forward pass on: a lesson's prose may speak of "noise of about 1e-16".
    const auto lines = numbers_by_line(text.substr(text.find("FORWARD PASS")));
    std::vector<std::string> found;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        double scale = 0;
        for (std::size_t j = i < 12 ? 0 : i - 12; j < lines.size() && j <= i + 12; ++j)
            for (double v : lines[j]) scale = std::max(scale, v);
        for (double v : lines[i])
            if (v != 0.0 && v < 1e-12 * scale)
                found.push_back("line " + std::to_string(i + 1) + ": " + std::to_string(v));
    }
    return found;
}

}  // namespace

TEST_CASE("display: genuine small values are not zeroed, and only confirmed round-off is") {
    const Graph g = parse_lesson(kTinyLesson, "tiny.json");
    const Trace t = run_for_display(g);
    const std::size_t y = node_named(g, "y"), z = node_named(g, "z");
    // y = x * a elementwise: 1e-13 * 1 = 1e-13, 3e-15 * 1 = 3e-15, -2 * 1e-14 = -2e-14, each exact.
    CHECK(t.nodes[y].value[1] == 1e-13);
    CHECK(t.nodes[y].value[2] == 3e-15);
    CHECK(t.nodes[y].value[3] == -2e-14);
    // The local gradient of y = x * a for x is a: a[3] = 1e-14.
    REQUIRE(t.nodes[y].edges[0].local);
    CHECK((*t.nodes[y].edges[0].local)[3] == 1e-14);
    // dz = dw * 1, dy = dz * 1: the seed's 1e-13 passes unchanged.
    CHECK(t.nodes[z].grad->at({1}) == 1e-13);
    CHECK(t.nodes[y].grad->at({1}) == 1e-13);
    for (const RoundedZero& r : t.rounded_zeros) CHECK_MESSAGE(r.node != y, "y's tensors keep their values");
    std::ostringstream text;
    print_run_text(text, t, PrintOptions{});
    CHECK(text.str().find("y[1] is 0") == std::string::npos);
    CHECK(text.str().find("1e-13") != std::string::npos);
}

TEST_CASE("display: group-conv-shuffle prints no round-off, in tensors, intermediates or worked lines") {
    const Graph g = load_lesson("group-conv-shuffle");
    std::ostringstream text;
    print_run_text(text, run_for_display(g), PrintOptions{});
    // sum dbn2 sums a gradient whose exact per-channel sums are 0 (dbeta2 prints 0): six zeros, and
    // the worked ddwc line subtracts that sum as 0.
    const std::string& out = text.str();
    CHECK(out.find("sum dbn2 = sum of dbn2 over n, h and w, per channel   (6,)\n            [0  0  0  0  0  0]\n") !=
          std::string::npos);
    CHECK(out.find("(9 * (-0.028813) - 0 -") != std::string::npos);
    const auto found = round_off_on_screen(text.str());
    CHECK_MESSAGE(found.empty(), found.size(), " numbers, first ", found.empty() ? "" : found.front());
}

TEST_CASE("display: no built-in lesson's run text has a number below 1e-12 of its neighbours") {
    for (const BuiltinLesson& l : builtin_lessons()) {
        const Graph g = load_lesson(std::string(l.name));
        const Trace t = run_for_display(g);
        for (int p : {4, 6}) {
            std::ostringstream text;
            PrintOptions opt;
            opt.num = NumFmt{p};
            print_run_text(text, t, opt);
            const auto found = round_off_on_screen(text.str());
            CHECK_MESSAGE(found.empty(), l.name, " p=", p, ": ", found.size(), " numbers, first ",
                          found.empty() ? "" : found.front());
        }
    }
}

TEST_CASE("settle: a note's chain prints its result at the precision asked for") {
    const Graph g = load_lesson("batchnorm");
    std::ostringstream text;
    PrintOptions opt;
    opt.num = NumFmt{6};
    print_run_text(text, run_for_display(g), opt);
    // By hand: 1.118038^2 = 1.250008967, and -1/1.250008967 = -0.79999426, -0.799994 at 6 digits.
    std::string flat;  // the text with its line breaks and indents as single spaces
    for (char c : text.str())
        if (!std::isspace(static_cast<unsigned char>(c)) || (!flat.empty() && flat.back() != ' '))
            flat += std::isspace(static_cast<unsigned char>(c)) ? ' ' : c;
    const std::string chain = "-1/1.118038^2 = -0.799994";
    const std::size_t at = flat.find(chain);
    REQUIRE(at != std::string::npos);
    CHECK(!std::isdigit(static_cast<unsigned char>(flat[at + chain.size()])));  // not -0.7999936
}
