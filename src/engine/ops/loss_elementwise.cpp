// Losses that add up one term per element of two tensors of the same shape,
// then divide by N: kl_div (PyTorch's reduction 'batchmean') and mse
// (reduction 'mean'). Each is declared by its term and, per input, the term's
// derivative; the builder below makes the shape rule, forward, VJP and
// worked examples.
#include <cmath>
#include <fmt/format.h>

#include "ops/explain.hpp"
#include "ops/families.hpp"

namespace bnstep::ops {
namespace {

using Term = std::function<double(double a, double b)>;
// The term or a derivative written for one element: by names (a[k,l]) or by values.
using TermText = std::function<std::string(const std::string& a, const std::string& b)>;

// The arithmetic of such a loss; its names and formulas are in its OpDef row.
struct Terms {
    std::function<std::size_t(const Shape&)> divisor;  // N
    Term term;
    TermText text;
    std::vector<std::pair<Term, TermText>> derivatives;  // per input, of the term, before the division by N
    std::size_t min_rank = 0;
};

std::vector<std::string> letters_for(const Shape& shape) {
    std::vector<std::string> letters;
    for (std::size_t a = 0; a < shape.size(); ++a) letters.push_back(sum_letter(a));
    return letters;
}

// Fills in the shape rule, forward, worked examples and VJPs of the row `op`.
OpDef pair_loss(OpDef op, const Terms& loss) {
    op.vars = [divisor = loss.divisor](const std::vector<Shape>& in, const Attrs&) {
        return std::map<std::string, std::string>{{"N", std::to_string(divisor(in[0]))}};
    };
    op.shape = [a = op.inputs.at(0).name, b = op.inputs.at(1).name, min_rank = loss.min_rank](
                   const std::vector<Shape>& in, const Attrs&) {
        if (in[0].size() < min_rank)
            throw ShapeError(fmt::format("{} must have at least {} axis, got a scalar", a, min_rank));
        if (in[1] != in[0])
            throw ShapeError(fmt::format("{} and {} must have the same shape, got {} and {}", a, b, shape_str(in[0]),
                                         shape_str(in[1])));
        return Shape{};
    };
    op.forward = [loss](const OpCall& call) {
        const Tensor& a = call.input(0);
        const Tensor& b = call.input(1);
        double total = 0.0;
        for (std::size_t e = 0; e < a.size(); ++e) total += loss.term(a[e], b[e]);
        return Tensor::scalar(total / static_cast<double>(loss.divisor(a.shape())));
    };
    op.explain = [loss](const OpCall& call, const Names& names, const Index&, const NumFmt& num) {
        const Tensor& a = call.input(0);
        const Tensor& b = call.input(1);
        const std::size_t n = loss.divisor(a.shape());
        const std::vector<std::string> letters = letters_for(a.shape());
        std::vector<std::string> terms;
        double total = 0.0;
        for (std::size_t e = 0; e < a.size(); ++e) {
            terms.push_back(loss.text(num.operand(a[e]), num.operand(b[e])));
            total += loss.term(a[e], b[e]);
        }
        Worked w;
        w.lhs = names.out;
        w.symbolic =
            fmt::format("(1/{}) * {}{}", n, sum_prefix(letters),
                        loss.text(element(names.in[0], a.shape(), letters), element(names.in[1], a.shape(), letters)));
        w.numeric = fmt::format("(1/{}) * ({})", n, join_terms(terms, num));
        w.result = total / static_cast<double>(n);
        return w;
    };
    for (std::size_t k = 0; k < op.inputs.size(); ++k) {
        InputRule& rule = op.inputs[k];
        const Term derivative = loss.derivatives.at(k).first;  // named copies: lambdas capture them
        const TermText text = loss.derivatives.at(k).second;
        rule.vjp = [loss, d = derivative](const OpCall& call, const Tensor& up) {
            const Tensor& a = call.input(0);
            const Tensor& b = call.input(1);
            const double n = static_cast<double>(loss.divisor(a.shape()));
            Tensor g(a.shape());
            for (std::size_t e = 0; e < g.size(); ++e) g[e] = up[0] * d(a[e], b[e]) / n;
            return g;
        };
        rule.explain = [loss, derivative, text](const OpCall& call, const Tensor& up, const Names& names,
                                                const Index& at, const NumFmt& num) {
            const Tensor& a = call.input(0);
            const Tensor& b = call.input(1);
            const std::size_t n = loss.divisor(a.shape());
            const double av = a.at(at), bv = b.at(at);
            Worked w;
            w.lhs = element(names.downstream, a.shape(), concrete(at));
            w.symbolic = fmt::format(
                "{} * ({}) / {}", names.upstream,
                text(element(names.in[0], a.shape(), concrete(at)), element(names.in[1], a.shape(), concrete(at))), n);
            w.numeric = fmt::format("{} * ({}) / {}", num.operand(up[0]), text(num.operand(av), num.operand(bv)), n);
            w.result = up[0] * derivative(av, bv) / static_cast<double>(n);
            return w;
        };
    }
    return op;
}

// p * log(p) with 0 * log(0) = 0, torch's xlogy(p, p); NaN for p < 0.
double xlogx(double p) { return p == 0.0 ? 0.0 : p * std::log(p); }

OpDef kl_div() {
    using K = Domain::Kind;
    return pair_loss(
        {.name = "kl_div",
         .family = "loss",
         .summary = "KL divergence of q from p, as torch.nn.functional.kl_div(log_q, p, reduction='batchmean'): "
                    "(1/N) * sum p * (log p - log_q), N the size of axis 0 (the batch); a rank-1 input is one "
                    "distribution, N = 1 (torch's 'batchmean' would divide it by its length). log_q holds "
                    "log-probabilities (log_softmax); p >= 0, and an element with p = 0 adds 0 (0 * log 0 = 0)",
         .forward_formula = "(1/N) * sum {p} * (log({p}) - {log_q}){[, N = {N}]}",
         .inputs = {{.name = "log_q", .domain = {K::Any, 4.0}, .formula = "d{log_q} = -{p} / N{[, N = {N}]}"},
                    {.name = "p",
                     .domain = {K::Distribution},
                     .formula = "d{p} = (log({p}) + 1 - {log_q}) / N{[, N = {N}]}; at {p} = 0 the derivative is "
                                "-infinity (log 0), reported as a non-finite gradient"}}},
        {.divisor = [](const Shape& s) { return s.size() >= 2 ? s[0] : std::size_t{1}; },
         .term = [](double lq, double p) { return xlogx(p) - p * lq; },
         .text =
             [](const std::string& lq, const std::string& p) {
                 if (p == "0") return std::string("0");  // 0 * log 0 = 0
                 return fmt::format("{p} * (log({p}) - {lq})", fmt::arg("p", p), fmt::arg("lq", lq));
             },
         .derivatives =
             {{[](double, double p) { return -p; }, [](const std::string&, const std::string& p) { return "-" + p; }},
              {[](double lq, double p) { return std::log(p) + 1.0 - lq; },
               [](const std::string& lq, const std::string& p) { return fmt::format("log({}) + 1 - {}", p, lq); }}},
         .min_rank = 1});
}

OpDef mse() {
    return pair_loss(
        {.name = "mse",
         .family = "loss",
         .summary = "mean squared error, as torch.nn.functional.mse_loss (reduction 'mean'): (1/N) * sum (a - b)^2 "
                    "over all N elements; a and b of the same shape",
         .forward_formula = "(1/N) * sum ({a} - {b})^2{[, N = {N}]}",
         .inputs = {{.name = "a", .formula = "d{a} = 2 * ({a} - {b}) / N{[, N = {N}]}"},
                    {.name = "b", .formula = "d{b} = -2 * ({a} - {b}) / N{[, N = {N}]}"}}},
        {.divisor = [](const Shape& s) { return element_count(s); },
         .term = [](double a, double b) { return (a - b) * (a - b); },
         .text = [](const std::string& a, const std::string& b) { return fmt::format("({} - {})^2", a, b); },
         .derivatives =
             {{[](double a, double b) { return 2.0 * (a - b); },
               [](const std::string& a, const std::string& b) { return fmt::format("2 * ({} - {})", a, b); }},
              {[](double a, double b) { return -2.0 * (a - b); },
               [](const std::string& a, const std::string& b) { return fmt::format("-2 * ({} - {})", a, b); }}}});
}

}  // namespace

void add_elementwise_loss_ops(OpTable& t) {
    t.add(kl_div());
    t.add(mse());
}

}  // namespace bnstep::ops
