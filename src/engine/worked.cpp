// Settling the digits of a worked element (see settle_worked in
// bnstep/executor.hpp): every printed line reproduces from its printed numbers.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "bnstep/arith.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/round_off.hpp"

namespace bnstep {
namespace {

// The residue the printed terms may leave around an exact 0: each is rounded
// to q digits, at most half a unit in their q-th digit.
bool within_rounding(double evaluated, double scale, int q) {
    return std::fabs(evaluated) <= std::pow(10.0, 1 - q) * scale;
}

bool agrees(double evaluated, double printed, double scale, int p, int q) {
    if (printed == 0.0 && within_rounding(evaluated, scale, q)) return true;
    // The same number up to round-off: it may fall on either side of a tie at p digits (-0.4105).
    if (zero_beside_terms(evaluated - printed, std::max(scale, std::fabs(printed)))) return true;
    return NumFmt{p}(evaluated) == NumFmt{p}(printed);
}

// The significant digits a printed number shows ("-0.7999936": 7, "0.8": 1).
int digits_shown(const std::string& printed) {
    int digits = 0;
    bool leading = true;
    for (char c : printed) {
        if (c == 'e' || c == 'E') break;
        if (c < '0' || c > '9') continue;
        if (c != '0') leading = false;
        if (!leading) ++digits;
    }
    return std::max(digits, 1);
}

// Every arithmetic chain of the notes ("-1/1.118^2 = -0.8") agrees at the
// digits it shows, and at least at p.
bool chains_agree(const Worked& w, int p, int q) {
    for (const std::string& note : w.notes)
        for (const Chain& c : arithmetic_chains(note)) {
            const auto e = eval_arithmetic(c.expr);
            if (!e || !agrees(e->value, std::stod(c.printed), e->scale, std::max(p, digits_shown(c.printed)), q))
                return false;
        }
    return true;
}

// A chain's result prints at p, from its printed operands: the number after
// each "<expr> = " of a note is rewritten from the evaluated expression.
void round_chains(Worked& w, int p) {
    for (std::string& note : w.notes) {
        std::string out;
        std::size_t at = 0;
        std::size_t from = 0;  // where the expression before " = " starts
        for (std::size_t eq = note.find(" = "); eq != std::string::npos; from = eq + 3, eq = note.find(" = ", eq + 3)) {
            if (from > eq) continue;
            const std::string_view expr = std::string_view(note).substr(from, eq - from);
            const auto number = leading_number(std::string_view(note).substr(eq + 3));
            if (!number || (leading_number(expr) && leading_number(expr)->size() == expr.size())) continue;
            const auto e = eval_arithmetic(expr);
            if (!e || std::stod(*number) == 0.0) continue;
            out += note.substr(at, eq + 3 - at) + NumFmt{p}(e->value);
            at = eq + 3 + number->size();
        }
        note = out + note.substr(at);
    }
}

}  // namespace

bool worked_reproduces(const Worked& w, int p, int q) {
    if (!w.numeric.empty()) {
        const auto e = eval_arithmetic(w.numeric);
        if (!e || !agrees(e->value, w.result, e->scale, p, q)) return false;
    }
    return chains_agree(w, p, q);
}

Worked settle_worked(const std::function<Worked(const NumFmt&)>& explain, const NumFmt& num) {
    const int p = num.precision;
    // Operands that are round-off beside the line's terms print as 0.
    const Worked plain = explain(NumFmt{p});
    const auto terms = plain.numeric.empty() ? std::nullopt : eval_arithmetic(plain.numeric);
    // Such an operand (below 1e-4 unless the terms reach 1e8) prints with an exponent: without one
    // there is nothing to set to 0, and the line need not be written again.
    const bool tiny_operand = terms && (plain.numeric.find("e-") != std::string::npos || terms->scale >= 1e8);
    const double zero_below = tiny_operand ? kRoundOffFraction * terms->scale : 0.0;
    Worked first;
    for (int q = p; q <= 17; ++q) {
        Worked w = q == p && zero_below == 0.0 ? plain : explain(NumFmt{q, zero_below});
        const std::optional<Evaluated> e = w.numeric.empty() ? std::nullopt : eval_arithmetic(w.numeric);
        const double evaluated = e ? e->value : 0.0;
        if (e) w.scale = e->scale;
        if (e && zero_beside_terms(w.result, w.scale)) w.result = 0.0;
        round_chains(w, p);
        if (q == p) first = w;
        if (!e && !w.numeric.empty()) return first;  // not arithmetic (a table lookup): as it is
        if (!worked_reproduces(w, p, q)) continue;
        if (w.result == 0.0 && !zero_beside_terms(evaluated, w.scale))
            w.notes.push_back(fmt::format("the exact result is 0: the printed terms, rounded to {} digits, leave {}", q,
                                          NumFmt{p}(evaluated)));
        return w;
    }
    return first;
}

}  // namespace bnstep
