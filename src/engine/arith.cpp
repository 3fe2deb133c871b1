// The evaluator of printed arithmetic (see bnstep/arith.hpp): recursive descent
// over the text, evaluating as it goes. An operator whose operand does not parse
// ends the expression before it (a Mismatch, caught where the parser can stop),
// which is how the prose after a formula is left alone; an unknown name is an
// error wherever it is.
#include "bnstep/arith.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <vector>

namespace bnstep {

FormulaError::FormulaError(std::size_t at, const std::string& why)
    : std::runtime_error(why + " at position " + std::to_string(at)), pos(at), reason(why) {}

namespace {

struct Mismatch : FormulaError {
    using FormulaError::FormulaError;
};

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// A value and the magnitude of the terms it is computed from.
struct Val {
    double v = 0;
    double s = 0;
};
Val plain(double v) { return {v, std::fabs(v)}; }

class ArithParser {
public:
    ArithParser(std::string_view text, const FormulaVars& vars) : s_(text), vars_(vars) {}

    std::size_t pos = 0;  // just past the last token read

    Val cond() {
        const Val a = cmp();
        const std::size_t at = pos;
        try {
            const bool if_ = word("if");
            if (if_ || word("where")) {
                const Val c = cmp();
                if (!if_ && !symbol(",")) throw Mismatch(pos, "expected ', else'");
                expect_word("else");
                const Val b = cond();
                return c.v != 0 ? a : b;
            }
        } catch (const Mismatch&) {
            pos = at;
        }
        return a;
    }

private:
    std::string_view s_;
    const FormulaVars& vars_;

    void skip_space() {
        while (pos < s_.size() && s_[pos] == ' ') ++pos;
    }
    // Reads `tok` if it comes next; a failed attempt leaves `pos` where it was.
    bool symbol(std::string_view tok) {
        const std::size_t at = pos;
        skip_space();
        if (s_.substr(pos, tok.size()) == tok) {
            pos += tok.size();
            return true;
        }
        pos = at;
        return false;
    }
    bool word(std::string_view w) {
        const std::size_t at = pos;
        if (symbol(w) && (pos == s_.size() || !is_name_char(s_[pos]))) return true;
        pos = at;
        return false;
    }
    void expect_word(std::string_view w) {
        if (!word(w)) throw Mismatch(pos, "expected '" + std::string(w) + "'");
    }

    // One more operand after an operator, or nothing (and `pos` back before the operator).
    template <class Operand>
    bool then(std::string_view op, Operand operand, Val& value) {
        const std::size_t at = pos;
        if (!symbol(op)) return false;
        try {
            value = operand();
            return true;
        } catch (const Mismatch&) {
            pos = at;
            return false;
        }
    }

    Val cmp() {
        Val left = sum(), right;
        bool all = true, chained = false;
        for (;;) {
            auto next = [&] { return sum(); };
            bool holds;
            if (then("<=", next, right))
                holds = left.v <= right.v;
            else if (then(">=", next, right))
                holds = left.v >= right.v;
            else if (then("==", next, right))
                holds = left.v == right.v;
            else if (then("<", next, right))
                holds = left.v < right.v;
            else if (then(">", next, right))
                holds = left.v > right.v;
            else
                break;
            all = all && holds;
            chained = true;
            left = right;
        }
        return chained ? plain(all ? 1.0 : 0.0) : left;
    }

    Val sum() {
        Val v = product(), t;
        auto next = [&] { return product(); };
        for (;;) {
            if (then("+", next, t))
                v = {v.v + t.v, v.s + t.s};
            else if (then("-", next, t))
                v = {v.v - t.v, v.s + t.s};
            else
                return v;
        }
    }

    Val product() {
        Val v = unary(), t;
        auto next = [&] { return unary(); };
        for (;;) {
            if (then("*", next, t) || (pos < s_.size() && s_[pos] == '(' && then("", next, t)))
                v = {v.v * t.v, v.s * t.s};
            else if (then("/", next, t))
                v = {v.v / t.v, v.s / std::fabs(t.v)};
            else
                return v;
        }
    }

    Val unary() {
        if (symbol("-")) {
            const Val a = unary();
            return {-a.v, a.s};
        }
        if (symbol("+")) return unary();
        const Val base = atom();
        Val exponent;
        if (!then(
                "^", [&] { return unary(); }, exponent))
            return base;
        return plain(std::pow(base.v, exponent.v));
    }

    Val atom() {
        skip_space();
        const std::size_t start = pos;
        if (symbol("(")) return closed_by(")");
        if (symbol("|")) {
            const Val a = closed_by("|");
            return {std::fabs(a.v), a.s};
        }
        if (symbol("[")) return elided(start);
        if (pos < s_.size() && (is_digit(s_[pos]) || s_[pos] == '.')) return plain(number());
        if (pos == s_.size() || !(std::isalpha(static_cast<unsigned char>(s_[pos])) || s_[pos] == '_'))
            throw Mismatch(pos, "expected a number, a name, '(' or '|'");
        while (pos < s_.size() && is_name_char(s_[pos])) ++pos;
        const std::string name(s_.substr(start, pos - start));
        if (name == "if" || name == "else" || name == "where") throw Mismatch(start, "expected an operand");
        if (pos < s_.size() && s_[pos] == '(') return call(name, start);
        if (pos < s_.size() && s_[pos] == '[') {  // an element: the index is for the reader
            const std::size_t close = s_.find(']', pos);
            if (close == std::string_view::npos) throw Mismatch(pos, "unclosed '['");
            pos = close + 1;
        }
        const auto it = vars_.find(name);
        if (it == vars_.end()) throw FormulaError(start, "unknown name '" + name + "'");
        return plain(it->second);
    }

    // "[19 more terms: 0.1234]": the words are for the reader, the number is the part's value.
    Val elided(std::size_t start) {
        const std::size_t colon = s_.find(':', pos), close = s_.find(']', pos);
        if (colon == std::string_view::npos || close == std::string_view::npos || colon > close)
            throw Mismatch(start, "expected '[words: number]'");
        pos = colon + 1;
        const Val v = unary();
        if (!symbol("]")) throw Mismatch(pos, "expected ']'");
        return v;
    }

    Val closed_by(std::string_view close) {
        const Val v = cond();
        if (!symbol(close)) throw Mismatch(pos, "expected '" + std::string(close) + "'");
        return v;
    }

    double number() {
        const std::size_t start = pos;
        while (pos < s_.size() && (is_digit(s_[pos]) || s_[pos] == '.')) ++pos;
        if (pos < s_.size() && (s_[pos] == 'e' || s_[pos] == 'E')) {  // 1e-05
            std::size_t e = pos + 1;
            if (e < s_.size() && (s_[e] == '-' || s_[e] == '+')) ++e;
            if (e < s_.size() && is_digit(s_[e])) {
                pos = e;
                while (pos < s_.size() && is_digit(s_[pos])) ++pos;
            }
        }
        const std::string digits(s_.substr(start, pos - start));
        std::size_t used = 0;
        double v = 0;
        try {
            v = std::stod(digits, &used);
        } catch (const std::exception&) {
        }
        if (used != digits.size()) throw FormulaError(start, "bad number '" + digits + "'");
        return v;
    }

    Val call(const std::string& name, std::size_t start) {
        symbol("(");
        std::vector<Val> args{cond()};
        while (symbol(",")) args.push_back(cond());
        if (!symbol(")")) throw Mismatch(pos, "expected ')'");
        const auto round_even = [](double x) { return x - std::remainder(x, 1.0); };  // halves to even
        const std::map<std::string, double (*)(double), std::less<>> one = {
            {"sqrt", [](double x) { return std::sqrt(x); }},
            {"exp", [](double x) { return std::exp(x); }},
            {"log", [](double x) { return std::log(x); }},
            {"round_half_even", round_even},
            {"nearbyint", round_even}};
        if (args.size() == 1) {
            const Val a = args[0];
            if (name == "abs") return {std::fabs(a.v), a.s};
            if (name == "sign") return plain(a.v > 0 ? 1.0 : a.v < 0 ? -1.0 : 0.0);
            if (const auto f = one.find(name); f != one.end()) return plain(f->second(a.v));
        }
        if (name == "min" && args.size() == 2) return args[0].v <= args[1].v ? args[0] : args[1];
        if (name == "max" && args.size() == 2) return args[0].v >= args[1].v ? args[0] : args[1];
        throw FormulaError(start, "unknown function '" + name + "' of " + std::to_string(args.size()) + " argument(s)");
    }
};

}  // namespace

Evaluated eval_prefix(std::string_view text, const FormulaVars& vars) {
    ArithParser p(text, vars);
    const Val v = p.cond();
    return {v.v, p.pos, v.s};
}

Evaluated eval_whole(std::string_view text, const FormulaVars& vars) {
    const Evaluated e = eval_prefix(text, vars);
    std::size_t rest = e.end;
    while (rest < text.size() && text[rest] == ' ') ++rest;
    if (rest != text.size()) throw FormulaError(rest, "unexpected '" + std::string(text.substr(rest)) + "'");
    return e;
}

double eval_formula(std::string_view text, const FormulaVars& vars) { return eval_whole(text, vars).value; }

std::optional<Evaluated> eval_arithmetic(std::string_view text) {
    try {
        return eval_whole(text, {});
    } catch (const FormulaError&) {
        return std::nullopt;
    }
}

std::optional<std::string> leading_number(std::string_view text) {
    std::size_t n = 0;
    if (n < text.size() && text[n] == '-') ++n;
    const std::size_t digits = n;
    while (n < text.size() && (is_digit(text[n]) || text[n] == '.')) ++n;
    if (n == digits) return std::nullopt;
    if (n + 1 < text.size() && (text[n] == 'e' || text[n] == 'E')) {
        std::size_t e = n + 1;
        if (e < text.size() && (text[e] == '-' || text[e] == '+')) ++e;
        if (e < text.size() && is_digit(text[e])) {
            n = e;
            while (n < text.size() && is_digit(text[n])) ++n;
        }
    }
    if (n < text.size() && (is_name_char(text[n]) || text[n] == '(' || text[n] == '[')) return std::nullopt;
    return std::string(text.substr(0, n));
}

std::vector<Chain> arithmetic_chains(std::string_view line) {
    std::vector<std::string_view> parts;
    for (std::size_t at = 0;;) {
        const std::size_t eq = line.find(" = ", at);
        parts.push_back(line.substr(at, eq == std::string_view::npos ? std::string_view::npos : eq - at));
        if (eq == std::string_view::npos) break;
        at = eq + 3;
    }
    std::vector<Chain> chains;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        const std::string_view expr = parts[i];
        if (leading_number(expr) && leading_number(expr)->size() == expr.size()) continue;  // a number alone
        if (!eval_arithmetic(expr)) continue;
        if (const auto printed = leading_number(parts[i + 1])) chains.push_back({std::string(expr), *printed});
    }
    return chains;
}

}  // namespace bnstep
