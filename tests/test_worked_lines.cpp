// Every number on screen reproduces by hand: each worked line of each built-in
// lesson, evaluated with its printed numbers (bnstep/arith.hpp), gives its
// printed result at the printed precision, and no printed tensor holds
// round-off where the exact value is 0.
#include <doctest/doctest.h>

#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "bnstep/arith.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/print.hpp"

using namespace bnstep;

namespace {

// Worked lines that are not arithmetic by nature, by op and input slot (-1:
// the forward element), with the reason; each must indeed fail to evaluate.
struct NotArithmetic {
    const char* op;
    int slot;
    const char* why;
};
const std::vector<NotArithmetic>& not_arithmetic() {
    static const std::vector<NotArithmetic> list = {
        {"shared_weights", -1, "a table lookup: Ws[i,j] = C[idx[i,j]], the centroid its cluster index names"},
    };
    return list;
}

bool listed(const std::string& op, int slot) {
    for (const NotArithmetic& n : not_arithmetic())
        if (op == n.op && slot == n.slot) return true;
    return false;
}

// The printed line agrees with its printed result at p: the same digits, or a
// printed 0 that the rounding of the printed terms (q >= p digits) explains.
// A result on a tie at p digits (-0.4105 at 3) may round either way: the
// evaluated line is then the printed result up to round-off (1e-12 relative).
bool agrees_at(double evaluated, double scale, double result, int p) {
    const std::string printed = NumFmt{p}(result);
    if (printed == "0") return std::fabs(evaluated) <= std::pow(10.0, 1 - p) * scale;
    return NumFmt{p}(evaluated) == printed ||
           std::fabs(evaluated - result) <= 1e-12 * std::max(scale, std::fabs(result));
}

// The significant digits a printed number shows ("-0.7999936": 7).
int shown_digits(const std::string& printed) {
    int digits = 0;
    for (char c : printed) {
        if (c == 'e' || c == 'E') break;
        if (std::isdigit(static_cast<unsigned char>(c)) && (digits > 0 || c != '0')) ++digits;
    }
    return std::max(digits, 1);
}

// What is wrong with `w` at precision p, or "" when every line reproduces.
std::string fault(const Worked& w, int p) {
    if (!w.numeric.empty()) {
        const auto e = eval_arithmetic(w.numeric);
        if (!e) return "does not evaluate: " + w.numeric;
        if (!agrees_at(e->value, e->scale, w.result, p))
            return w.numeric + " evaluates to " + NumFmt{17}(e->value) + ", printed " + NumFmt{p}(w.result);
    }
    for (const std::string& note : w.notes)
        for (const Chain& c : arithmetic_chains(note)) {
            const auto e = eval_arithmetic(c.expr);
            // At the digits the chain shows: a result printed with more digits than its operands
            // carry must still be what they give.
            if (!e || !agrees_at(e->value, e->scale, std::stod(c.printed), std::max(p, shown_digits(c.printed))))
                return "note '" + note + "': " + c.expr + " = " + NumFmt{17}(e ? e->value : NAN);
        }
    return "";
}

std::vector<Index> elements_of(const Shape& shape) {
    Tensor probe(shape);
    std::vector<Index> at{default_index(shape), probe.unravel(0), probe.unravel(probe.size() - 1),
                          probe.unravel(probe.size() / 2)};
    std::sort(at.begin(), at.end());
    at.erase(std::unique(at.begin(), at.end()), at.end());
    return at;
}

struct Tally {
    std::vector<std::string> faults;
    std::set<std::pair<std::string, int>> unlisted_ok;  // listed cases that evaluated
    std::set<std::pair<std::string, int>> listed_seen;
    std::size_t lines = 0;
};

void check_line(Tally& tally, const Worked& w, int p, const std::string& where, const std::string& op, int slot) {
    ++tally.lines;
    const std::string f = fault(w, p);
    if (listed(op, slot)) {
        tally.listed_seen.insert({op, slot});
        if (f.empty() || f.rfind("does not evaluate", 0) != 0) tally.unlisted_ok.insert({op, slot});
        return;
    }
    if (!f.empty()) tally.faults.push_back(where + " p=" + std::to_string(p) + ": " + w.lhs + ": " + f);
}

void check_lesson(Tally& tally, const std::string& name) {
    const Graph g = load_lesson(name);
    const Trace t = run_for_display(g);
    for (int p = 3; p <= 6; ++p) {
        const NumFmt num{p};
        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            const Node& n = g.nodes[i];
            const std::string where = name + " " + n.name;
            if (!n.is_leaf())
                for (const Index& at : elements_of(n.shape))
                    check_line(tally, worked_value(t, i, at, num), p, where, n.op->name, -1);
            if (!t.nodes[i].grad) continue;
            if (t.nodes[i].received.size() > 1)
                for (const Index& at : elements_of(n.shape))
                    check_line(tally, worked_accumulation(t, i, at, num), p, where, "accumulation", -2);
            for (const EdgeGrad& e : t.nodes[i].edges) {
                if (e.status != EdgeGrad::Status::Flows) continue;
                for (const Index& at : elements_of(g.nodes[e.input].shape))
                    check_line(tally, worked_gradient(t, i, e.slot, at, num), p, where, n.op->name,
                               static_cast<int>(e.slot));
            }
        }
    }
}

}  // namespace

TEST_CASE("worked lines: every worked line of every built-in lesson reproduces from its printed numbers") {
    Tally tally;
    for (const BuiltinLesson& l : builtin_lessons()) check_lesson(tally, std::string(l.name));
    MESSAGE(tally.lines, " worked lines checked");
    CHECK(tally.lines > 1000);
    std::ostringstream report;
    for (std::size_t k = 0; k < tally.faults.size() && k < 60; ++k) report << tally.faults[k] << '\n';
    CHECK_MESSAGE(tally.faults.empty(), tally.faults.size(), " lines do not reproduce:\n", report.str());
    for (const NotArithmetic& n : not_arithmetic())
        CHECK_MESSAGE(tally.listed_seen.count({n.op, n.slot}) == 1, n.op, " slot ", n.slot,
                      " is listed but not in a lesson");
    for (const auto& listed_case : tally.unlisted_ok)
        CHECK_MESSAGE(false, listed_case.first, " slot ", listed_case.second,
                      " is listed as not arithmetic but evaluates");
}
