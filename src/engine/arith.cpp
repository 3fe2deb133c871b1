// The formula evaluator (see formula_eval.hpp): recursive descent over the
// text, evaluating as it goes. An operator whose operand does not parse ends
// the expression before it (a Mismatch, caught where the parser can stop),
// which is how the prose after a formula is left alone; an unknown name is an
// error wherever it is.
#include "formula_eval.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <vector>

namespace bnstep::testing {

FormulaError::FormulaError(std::size_t at, const std::string& why)
    : std::runtime_error(why + " at position " + std::to_string(at)), pos(at), reason(why) {}

namespace {

struct Mismatch : FormulaError {
    using FormulaError::FormulaError;
};

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

class Parser {
public:
    Parser(std::string_view text, const FormulaVars& vars) : s_(text), vars_(vars) {}

    std::size_t pos = 0;  // just past the last token read

    double cond() {
        const double a = cmp();
        const std::size_t at = pos;
        try {
            if (word("if")) {
                const double c = cmp();
                expect_word("else");
                const double b = cond();
                return c != 0 ? a : b;
            }
            if (word("where")) {
                const double c = cmp();
                if (!symbol(",")) throw Mismatch(pos, "expected ', else'");
                expect_word("else");
                const double b = cond();
                return c != 0 ? a : b;
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
    bool then(std::string_view op, Operand operand, double& value) {
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

    double cmp() {
        double left = sum(), right = 0;
        bool all = true, chained = false;
        for (;;) {
            auto next = [&] { return sum(); };
            bool holds;
            if (then("<=", next, right))
                holds = left <= right;
            else if (then(">=", next, right))
                holds = left >= right;
            else if (then("==", next, right))
                holds = left == right;
            else if (then("<", next, right))
                holds = left < right;
            else if (then(">", next, right))
                holds = left > right;
            else
                break;
            all = all && holds;
            chained = true;
            left = right;
        }
        return chained ? (all ? 1.0 : 0.0) : left;
    }

    double sum() {
        double v = product(), t = 0;
        auto next = [&] { return product(); };
        for (;;) {
            if (then("+", next, t))
                v += t;
            else if (then("-", next, t))
                v -= t;
            else
                return v;
        }
    }

    double product() {
        double v = unary(), t = 0;
        auto next = [&] { return unary(); };
        for (;;) {
            if (then("*", next, t))
                v *= t;
            else if (then("/", next, t))
                v /= t;
            else
                return v;
        }
    }

    double unary() {
        if (symbol("-")) return -unary();
        if (symbol("+")) return unary();
        const double base = atom();
        double exponent = 0;
        return then(
                   "^", [&] { return unary(); }, exponent)
                   ? std::pow(base, exponent)
                   : base;
    }

    double atom() {
        skip_space();
        const std::size_t start = pos;
        if (symbol("(")) return closed_by(")");
        if (symbol("|")) return std::fabs(closed_by("|"));
        if (pos < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos])) || s_[pos] == '.')) return number();
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
        return it->second;
    }

    double closed_by(std::string_view close) {
        const double v = cond();
        if (!symbol(close)) throw Mismatch(pos, "expected '" + std::string(close) + "'");
        return v;
    }

    double number() {
        const std::size_t start = pos;
        while (pos < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos])) || s_[pos] == '.')) ++pos;
        if (pos < s_.size() && (s_[pos] == 'e' || s_[pos] == 'E')) {  // 1e-05
            std::size_t e = pos + 1;
            if (e < s_.size() && (s_[e] == '-' || s_[e] == '+')) ++e;
            if (e < s_.size() && std::isdigit(static_cast<unsigned char>(s_[e]))) {
                pos = e;
                while (pos < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos]))) ++pos;
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

    double call(const std::string& name, std::size_t start) {
        symbol("(");
        std::vector<double> args{cond()};
        while (symbol(",")) args.push_back(cond());
        if (!symbol(")")) throw Mismatch(pos, "expected ')'");
        const std::map<std::string, double (*)(double), std::less<>> one = {
            {"sqrt", [](double x) { return std::sqrt(x); }},
            {"exp", [](double x) { return std::exp(x); }},
            {"log", [](double x) { return std::log(x); }},
            {"abs", [](double x) { return std::fabs(x); }},
            {"sign", [](double x) { return x > 0   ? 1.0
                                           : x < 0 ? -1.0
                                                   : 0.0; }},
            {"nearbyint", [](double x) { return std::nearbyint(x); }}};
        if (const auto f = one.find(name); f != one.end() && args.size() == 1) return f->second(args[0]);
        if (name == "min" && args.size() == 2) return std::min(args[0], args[1]);
        if (name == "max" && args.size() == 2) return std::max(args[0], args[1]);
        throw FormulaError(start, "unknown function '" + name + "' of " + std::to_string(args.size()) + " argument(s)");
    }
};

}  // namespace

Evaluated eval_prefix(std::string_view text, const FormulaVars& vars) {
    Parser p(text, vars);
    const double v = p.cond();
    return {v, p.pos};
}

double eval_formula(std::string_view text, const FormulaVars& vars) {
    const Evaluated e = eval_prefix(text, vars);
    std::size_t rest = e.end;
    while (rest < text.size() && text[rest] == ' ') ++rest;
    if (rest != text.size()) throw FormulaError(rest, "unexpected '" + std::string(text.substr(rest)) + "'");
    return e.value;
}

}  // namespace bnstep::testing
