// Settling the digits of a worked element (see settle_worked in
// bnstep/executor.hpp): every printed line reproduces from its printed numbers.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <fmt/format.h>

#include "bnstep/arith.hpp"
#include "bnstep/executor.hpp"

namespace bnstep {
namespace {

// A result this close to 0, relative to its terms, is 0 in exact arithmetic:
// a few units in the last place of the largest term.
bool rounding_zero(double result, double scale) { return std::fabs(result) <= 64 * DBL_EPSILON * scale; }

// The residue the printed terms may leave around an exact 0: each is rounded
// to q digits, at most half a unit in their q-th digit.
bool within_rounding(double evaluated, double scale, int q) {
    return std::fabs(evaluated) <= std::pow(10.0, 1 - q) * scale;
}

bool agrees(double evaluated, double printed, double scale, int p, int q) {
    if (printed == 0.0 && within_rounding(evaluated, scale, q)) return true;
    // The same number up to round-off: it may fall on either side of a tie at p digits (-0.4105).
    if (rounding_zero(evaluated - printed, std::max(scale, std::fabs(printed)))) return true;
    return NumFmt{p}(evaluated) == NumFmt{p}(printed);
}

// Every arithmetic chain of the notes ("-1/1.118^2 = -0.8") agrees at p.
bool chains_agree(const Worked& w, int p, int q) {
    for (const std::string& note : w.notes)
        for (const Chain& c : arithmetic_chains(note)) {
            const auto e = eval_arithmetic(c.expr);
            if (!e || !agrees(e->value, std::stod(c.printed), e->scale, p, q)) return false;
        }
    return true;
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
    Worked first;
    for (int q = p; q <= 17; ++q) {
        Worked w = explain(NumFmt{q});
        const std::optional<Evaluated> e = w.numeric.empty() ? std::nullopt : eval_arithmetic(w.numeric);
        const double evaluated = e ? e->value : 0.0;
        if (e) w.scale = e->scale;
        if (e && rounding_zero(w.result, w.scale)) w.result = 0.0;
        if (q == p) first = w;
        if (!e && !w.numeric.empty()) return first;  // not arithmetic (a table lookup): as it is
        if (!worked_reproduces(w, p, q)) continue;
        if (w.result == 0.0 && !rounding_zero(evaluated, w.scale))
            w.notes.push_back(fmt::format("the exact result is 0: the printed terms, rounded to {} digits, leave {}", q,
                                          NumFmt{p}(evaluated)));
        return w;
    }
    return first;
}

}  // namespace bnstep
