#include "ops/explain.hpp"

#include <cfloat>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/arith.hpp"

namespace bnstep::ops {

SymIndex concrete(const Index& index) {
    SymIndex s;
    for (std::size_t i : index) s.push_back(std::to_string(i));
    return s;
}

std::string element(const std::string& name, const Shape& operand, const SymIndex& pos) {
    if (operand.empty()) return name;
    const std::size_t lead = pos.size() - operand.size();
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < operand.size(); ++i) parts.push_back(operand[i] == 1 ? "0" : pos[lead + i]);
    return fmt::format("{}[{}]", name, fmt::join(parts, ","));
}

std::string sum_letter(std::size_t nth) {
    static const char* letters[] = {"k", "l", "m", "n"};
    return nth < 4 ? letters[nth] : fmt::format("k{}", nth);
}

std::string sum_prefix(const std::vector<std::string>& letters) {
    if (letters.empty()) return "";
    if (letters.size() == 1) return "sum_" + letters[0] + " ";
    return fmt::format("sum_{{{}}} ", fmt::join(letters, ","));
}

std::string join_terms(const std::vector<std::string>& terms) {
    constexpr std::size_t shown = 4;
    if (terms.size() <= shown + 2) return fmt::format("{}", fmt::join(terms, " + "));
    std::vector<std::string> head(terms.begin(), terms.begin() + shown);
    return fmt::format("{} + ... + {}  ({} terms)", fmt::join(head, " + "), terms.back(), terms.size());
}

std::string join_terms(const std::vector<std::string>& terms, const NumFmt& num) {
    constexpr std::size_t shown = 4;
    if (terms.size() <= shown + 2) return fmt::format("{}", fmt::join(terms, " + "));
    double middle = 0, scale = 0;
    for (std::size_t i = shown; i + 1 < terms.size(); ++i) {
        const auto e = eval_arithmetic(terms[i]);
        if (!e) return join_terms(terms);  // not arithmetic: elided as words
        middle += e->value;
        scale += e->scale;
    }
    if (std::fabs(middle) <= 64 * DBL_EPSILON * scale) middle = 0.0;  // terms that cancel exactly
    std::vector<std::string> head(terms.begin(), terms.begin() + shown);
    return fmt::format("{} + [{} more terms: {}] + {}", fmt::join(head, " + "), terms.size() - shown - 1, num(middle),
                       terms.back());
}

std::vector<Index> broadcast_sources(const Shape& out_shape, const Shape& in_shape, const Index& in_at) {
    const Tensor probe(out_shape);
    const std::size_t target = Tensor(in_shape).offset(in_at);
    std::vector<Index> found;
    for (std::size_t i = 0; i < probe.size(); ++i) {
        Index at = probe.unravel(i);
        if (broadcast_source(in_shape, at) == target) found.push_back(std::move(at));
    }
    return found;
}

Worked sum_of_products(std::string lhs, std::string symbolic, std::size_t count,
                       const std::function<std::pair<double, double>(std::size_t)>& factors, const NumFmt& num) {
    Worked w{std::move(lhs), std::move(symbolic), "", 0.0, 0.0, {}};
    std::vector<std::string> terms;
    for (std::size_t s = 0; s < count; ++s) {
        const auto [x, y] = factors(s);
        terms.push_back(fmt::format("({})({})", num(x), num(y)));
        w.result += x * y;
    }
    w.numeric = join_terms(terms, num);
    return w;
}

std::string drop_double_parens(std::string s) {
    for (std::size_t i = s.find("(("); i != std::string::npos; i = s.find("((", i + 1)) {
        const std::size_t close = s.find(')', i + 2);
        if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ')') continue;
        if (s.find('(', i + 2) < close) continue;
        s.erase(close, 1);
        s.erase(i, 1);
    }
    return s;
}

}  // namespace bnstep::ops
