#pragma once
// A small evaluator for the formula texts bnstep prints ("p*a^(p-1)",
// "1 if min < x < max else 0", "1 where |x| <= 1, else 0"), so that a test can
// compare each printed local gradient with the op's own rule. Grammar, from
// the loosest binding to the tightest:
//
//   cond    := cmp ['if' cmp 'else' cond | 'where' cmp ',' 'else' cond]
//   cmp     := sum {('<' | '<=' | '>' | '>=' | '==') sum}   a < b < c: a < b and b < c
//   sum     := product {('+' | '-') product}
//   product := unary {('*' | '/') unary}
//   unary   := ('-' | '+') unary | power                     -a^2 is -(a^2)
//   power   := atom ['^' unary]                              right-assoc; 2^-1 = 0.5
//   atom    := number | name ['[' ... ']'] | function '(' cond {',' cond} ')' | '(' cond ')' | '|' cond '|'
//
// A comparison is 1 or 0. A name with an index (dout[n,c]) stands for that
// element: its value is the name's. Functions: sqrt exp log abs sign
// nearbyint (halves to even) min max.
#include <cstddef>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bnstep::testing {

// What went wrong and where: `pos` counts characters from the text's start;
// what() is "<reason> at position <pos>".
struct FormulaError : std::runtime_error {
    FormulaError(std::size_t at, const std::string& why);
    std::size_t pos;
    std::string reason;
};

using FormulaVars = std::map<std::string, double, std::less<>>;

struct Evaluated {
    double value = 0;
    std::size_t end = 0;  // just past the expression's last character: text.substr(end) is what follows
};

// The longest expression at the start of `text` (e.g. "1/N" of "1/N for every
// element"). Throws FormulaError when none starts there or a name is unknown.
Evaluated eval_prefix(std::string_view text, const FormulaVars& vars);

// `text` as a whole; a FormulaError names the first position it cannot read.
double eval_formula(std::string_view text, const FormulaVars& vars);

}  // namespace bnstep::testing
