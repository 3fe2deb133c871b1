#pragma once
// The evaluator of printed arithmetic: the formulas bnstep prints ("p*a^(p-1)",
// "1 if min < x < max else 0", "1 where |x| <= 1, else 0") and the worked lines
// ("(0.5)(-1) + 2(1/4) + [19 more terms: 0.1234]"). The worked elements are
// settled with it (each printed line evaluates, with its printed numbers, to
// its printed result), and the tests compare the printed local gradients with
// the op's own rules. Grammar, from the loosest binding to the tightest:
//
//   cond    := cmp ['if' cmp 'else' cond | 'where' cmp ',' 'else' cond]
//   cmp     := sum {('<' | '<=' | '>' | '>=' | '==') sum}   a < b < c: a < b and b < c
//   sum     := product {('+' | '-') product}
//   product := unary {('*' | '/') unary | '(' ...}           juxtaposed: (0.5)(-1) and 2(1/4) multiply
//   unary   := ('-' | '+') unary | power                     -a^2 is -(a^2)
//   power   := atom ['^' unary]                              right-assoc; 2^-1 = 0.5
//   atom    := number | name ['[' ... ']'] | function '(' cond {',' cond} ')' | '(' cond ')' | '|' cond '|'
//            | '[' words ':' number ']'                      an elided part of a sum: "[19 more terms: 0.1234]"
//
// Juxtaposition needs the '(' right after the factor ("2 (ste identity)" is a
// number and prose). A comparison is 1 or 0. A name with an index (dout[n,c])
// stands for that element: its value is the name's. Functions: sqrt exp log abs
// sign round_half_even (and its old name nearbyint) min max.
//
// Beside the value, the evaluator returns the magnitude of the terms, the
// scale: |a|+|b| for a sum or a difference, |a|*|b| for a product, |a|/|b| for
// a quotient, the scale of the operand for a sign, |x| and parentheses, the
// chosen branch's for a condition, and |value| for a number, a name, a power
// and the other functions. A result within a few units in the last place of
// its scale is 0 in exact arithmetic.
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bnstep {

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
    double scale = 0;     // the magnitude of the terms (see above)
};

// The longest expression at the start of `text` (e.g. "1/N" of "1/N for every
// element"). Throws FormulaError when none starts there or a name is unknown.
Evaluated eval_prefix(std::string_view text, const FormulaVars& vars);

// `text` as a whole; a FormulaError names the first position it cannot read.
double eval_formula(std::string_view text, const FormulaVars& vars);
Evaluated eval_whole(std::string_view text, const FormulaVars& vars);

// `text` as a whole with numbers only; nothing when it is not such an expression.
std::optional<Evaluated> eval_arithmetic(std::string_view text);

// One arithmetic chain of a note: "<expr> = <number>" in "x/scale = 0.3/0.1 = 3".
struct Chain {
    std::string expr;
    std::string printed;  // the number the chain gives, as printed
};
// The chains of a line: each part between " = " that is an expression of numbers
// alone (at least one operator) followed by a part that starts with a number.
std::vector<Chain> arithmetic_chains(std::string_view line);

// The text of a number, as it starts `text` ("-0.8" of "-0.8 (clipped)"), or nothing.
std::optional<std::string> leading_number(std::string_view text);

}  // namespace bnstep
