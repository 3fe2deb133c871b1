// Losses on logits, with PyTorch's conventions, each a scalar: cross_entropy
// against class labels and soft_cross_entropy against a target distribution.
// Logits are (N, C), one row per example, or (C,) for one example (N = 1).
// kl_div and mse are in loss_elementwise.cpp.
#include <cmath>
#include <fmt/format.h>

#include "ops/explain.hpp"
#include "ops/families.hpp"
#include "ops/softmax_math.hpp"

namespace bnstep::ops {
namespace {

// Logits (N, C) or (C,): N examples of C classes each.
struct Batch {
    std::size_t n = 1, classes = 1;
    bool batched = false;
    AxisRows rows{Shape{1}, 0};

    explicit Batch(const Shape& logits) {
        if (logits.size() != 1 && logits.size() != 2)
            throw ShapeError(fmt::format("logits must be (N, C) or (C,), got {}", shape_str(logits)));
        batched = logits.size() == 2;
        n = batched ? logits[0] : 1;
        classes = logits.back();
        rows = AxisRows(logits, logits.size() - 1);
    }
    double divisor() const { return static_cast<double>(n); }
    std::string row(const std::string& name, std::size_t i) const {
        return batched ? fmt::format("{}[{}]", name, i) : name;
    }
    // "(1/N) * " with N written out, or nothing for one example.
    std::string mean_of() const { return batched ? fmt::format("(1/{}) * ", n) : ""; }
};

std::map<std::string, std::string> n_var(const std::vector<Shape>& in, const Attrs&) {
    if (in[0].size() != 1 && in[0].size() != 2) return {};
    return {{"N", std::to_string(Batch(in[0]).n)}};
}

void require_same_shape(const std::vector<Shape>& in, const char* first, const char* second) {
    if (in[1] != in[0])
        throw ShapeError(
            fmt::format("{} must have the shape of {} {}, got {}", second, first, shape_str(in[0]), shape_str(in[1])));
}

// The labels as class indices; a ValueError for one that is not an integer from 0 to C-1.
std::vector<std::size_t> class_labels(const Tensor& labels, std::size_t classes) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const double v = labels[i];
        const std::string which = labels.rank() == 0 ? "the label" : "label " + index_str(labels.unravel(i));
        if (!std::isfinite(v) || v != std::floor(v) || v < 0 || v >= static_cast<double>(classes))
            throw ValueError(fmt::format("{} is {}: a class label must be an integer from 0 to {} (C = {} classes)",
                                         which, v, classes - 1, classes));
        out.push_back(static_cast<std::size_t>(v));
    }
    return out;
}

// Lines "logsumexp(z[n]/T) = m + log(sum_k exp(z[n,k]/T - m)) = ..." for the first rows.
std::vector<std::string> logsumexp_notes(const Batch& b, const Tensor& z, double t, const std::string& name,
                                         const NumFmt& num) {
    constexpr std::size_t shown = 3;
    std::vector<std::string> notes;
    const std::string over = t == 1.0 ? "" : fmt::format("/{}", t);
    for (std::size_t i = 0; i < b.n && i < shown; ++i) {
        const SoftmaxRow r = softmax_row(z, b.rows, i, t);
        std::vector<std::string> exps;
        for (double e : r.exps) exps.push_back(num(e));
        const std::string zk = b.batched ? fmt::format("{}[{},k]", name, i) : name + "[k]";
        notes.push_back(fmt::format("logsumexp({}{o}) = m + log(sum_k exp({}{o} - m)) = {} + log({}) = {}",
                                    b.row(name, i), zk, num.operand(r.max), join_terms(exps, num), num(r.logsumexp()),
                                    fmt::arg("o", over)));
    }
    if (b.n > shown) notes.push_back(fmt::format("(and likewise for the other {} rows)", b.n - shown));
    return notes;
}

// ---- cross_entropy(logits, labels) ----

Tensor ce_logits_vjp(const OpCall& call, const Tensor& up) {
    const Tensor& z = call.input(0);
    const Batch b(z.shape());
    const auto labels = class_labels(call.input(1), b.classes);
    Tensor dz(z.shape());
    for (std::size_t i = 0; i < b.n; ++i) {
        const SoftmaxRow r = softmax_row(z, b.rows, i, 1.0);
        for (std::size_t c = 0; c < b.classes; ++c)
            dz[b.rows.at(i, c)] = up[0] * (r.softmax(c) - (c == labels[i] ? 1.0 : 0.0)) / b.divisor();
    }
    return dz;
}

Worked ce_logits_explain(const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
    const Tensor& z = call.input(0);
    const Batch b(z.shape());
    const auto labels = class_labels(call.input(1), b.classes);
    const std::size_t i = b.batched ? at[0] : 0, c = at.back();
    const SoftmaxRow r = softmax_row(z, b.rows, i, 1.0);
    const double p = r.softmax(c), hot = c == labels[i] ? 1.0 : 0.0;
    const std::string zrow = b.row(names.in[0], i), yi = b.row(names.in[1], i);
    Worked w;
    w.lhs = element(names.downstream, z.shape(), concrete(at));
    w.symbolic = fmt::format("{} * (softmax({})[{}] - onehot({})[{}]) / {}", names.upstream, zrow, c, yi, c, b.n);
    w.numeric = fmt::format("{} * ({} - {}) / {}", num.operand(up[0]), num(p), num(hot), b.n);
    w.result = up[0] * (p - hot) / b.divisor();
    w.notes.push_back(fmt::format("softmax({})[{}] = exp({} - logsumexp({})) = exp({} - {}) = {}", zrow, c,
                                  element(names.in[0], z.shape(), concrete(at)), zrow, num.operand(z.at(at)),
                                  num.operand(r.logsumexp()), num(p)));
    w.notes.push_back(fmt::format("{} = {}, so onehot({})[{}] = {}", yi, labels[i], yi, c, num(hot)));
    return w;
}

Shape ce_shape(const std::vector<Shape>& in, const Attrs&) {
    const Batch b(in[0]);
    const Shape want = b.batched ? Shape{b.n} : Shape{};
    if (in[1] != want)
        throw ShapeError(fmt::format("labels must have shape {} for logits {}, got {}", shape_str(want),
                                     shape_str(in[0]), shape_str(in[1])));
    return Shape{};
}

Tensor ce_forward(const OpCall& call) {
    const Tensor& z = call.input(0);
    const Batch b(z.shape());
    const auto labels = class_labels(call.input(1), b.classes);
    double total = 0.0;
    for (std::size_t i = 0; i < b.n; ++i) total += softmax_row(z, b.rows, i, 1.0).log_softmax(labels[i]);
    return Tensor::scalar(-total / b.divisor());
}

Worked ce_explain(const OpCall& call, const Names& names, const Index&, const NumFmt& num) {
    const Tensor& z = call.input(0);
    const Batch b(z.shape());
    const auto labels = class_labels(call.input(1), b.classes);
    const std::string& zn = names.in[0];
    const std::string& yn = names.in[1];
    std::vector<std::string> terms;
    double total = 0.0;
    for (std::size_t i = 0; i < b.n; ++i) {
        const SoftmaxRow r = softmax_row(z, b.rows, i, 1.0);
        terms.push_back(fmt::format("({} - {})", num(r.scaled[labels[i]]), num.operand(r.logsumexp())));
        total += r.log_softmax(labels[i]);
    }
    Worked w;
    w.lhs = names.out;
    w.symbolic = b.batched ? fmt::format("-{}sum_n ({z}[n,{y}[n]] - logsumexp({z}[n]))", b.mean_of(), fmt::arg("z", zn),
                                         fmt::arg("y", yn))
                           : fmt::format("-({z}[{y}] - logsumexp({z}))", fmt::arg("z", zn), fmt::arg("y", yn));
    w.numeric = fmt::format("-{}({})", b.mean_of(), join_terms(terms, num));
    w.result = -total / b.divisor();
    w.notes = logsumexp_notes(b, z, 1.0, zn, num);
    return w;
}

OpDef cross_entropy_op() {
    return {
        .name = "cross_entropy",
        .family = "loss",
        .summary =
            "mean over the N examples of -log softmax(logits)[label], as torch.nn.functional.cross_entropy "
            "(reduction 'mean'): logits (N, C) with labels (N,), or (C,) with a scalar label; every label an "
            "integer from 0 to C-1",
        .forward_formula = "-(1/N) * sum_n log_softmax({logits}[n])[{labels}[n]]{[, N = {N}]}",
        .inputs = {{.name = "logits",
                    .domain = {Domain::Kind::Any, 4.0},
                    .formula =
                        "d{logits} = (softmax({logits}) - onehot({labels})) / N{[, N = {N}]}, softmax along each row",
                    .vjp = ce_logits_vjp,
                    .explain = ce_logits_explain},
                   {.name = "labels",
                    .differentiable = false,
                    .domain = {Domain::Kind::ClassLabels},
                    .formula = "none: {labels} are class indices (integers)"}},
        .shape = ce_shape,
        .forward = ce_forward,
        .explain = ce_explain,
        .vars = n_var,
        .intermediates = [](const OpCall& call, const Names& names) {
            const Tensor& z = call.input(0);
            return std::vector<Intermediate>{{fmt::format("softmax({})", names.in[0]),
                                              "along each row: exp(z_c - m) / sum_k exp(z_k - m), m the row's largest",
                                              softmax_along(z, z.rank() - 1, 1.0)}};
        }};
}

// ---- soft_cross_entropy(logits, target; temperature) ----

Tensor softce_logits_vjp(const OpCall& call, const Tensor& up) {
    const Tensor& z = call.input(0);
    const Tensor& target = call.input(1);
    const Batch b(z.shape());
    const double t = temperature_attr(*call.attrs);
    Tensor dz(z.shape());
    for (std::size_t i = 0; i < b.n; ++i) {
        const SoftmaxRow r = softmax_row(z, b.rows, i, t);
        double mass = 0.0;
        for (std::size_t c = 0; c < b.classes; ++c) mass += target[b.rows.at(i, c)];
        for (std::size_t c = 0; c < b.classes; ++c) {
            const std::size_t e = b.rows.at(i, c);
            dz[e] = up[0] * (r.softmax(c) * mass - target[e]) / (t * b.divisor());
        }
    }
    return dz;
}

Worked softce_logits_explain(const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                             const NumFmt& num) {
    const Tensor& z = call.input(0);
    const Tensor& target = call.input(1);
    const Batch b(z.shape());
    const double t = temperature_attr(*call.attrs);
    const std::size_t i = b.batched ? at[0] : 0, c = at.back();
    const SoftmaxRow r = softmax_row(z, b.rows, i, t);
    double mass = 0.0;
    for (std::size_t k = 0; k < b.classes; ++k) mass += target[b.rows.at(i, k)];
    const double q = r.softmax(c), p = target.at(at);
    const std::string over = t == 1.0 ? "" : fmt::format("/{}", t);
    const std::string zrow = b.row(names.in[0], i), trow = b.row(names.in[1], i);
    const std::string t_at = element(names.in[1], z.shape(), concrete(at));
    Worked w;
    w.lhs = element(names.downstream, z.shape(), concrete(at));
    w.symbolic = fmt::format("{} * (softmax({}{})[{}] * sum_k {}[k] - {}) / ({} * {})", names.upstream, zrow, over, c,
                             trow, t_at, t, b.n);
    w.numeric = fmt::format("{} * ({} * {} - {}) / ({} * {})", num.operand(up[0]), num(q), num.operand(mass),
                            num.operand(p), t, b.n);
    w.result = up[0] * (q * mass - p) / (t * b.divisor());
    w.notes.push_back(fmt::format("softmax({}{})[{}] = exp({}{} - m) / sum_k exp({}[k]{} - m) = {}", zrow, over, c,
                                  element(names.in[0], z.shape(), concrete(at)), over, zrow, over, num(q)));
    w.notes.push_back(fmt::format("sum_k {}[k] = {}", trow, num(mass)));
    return w;
}

Tensor softce_target_vjp(const OpCall& call, const Tensor& up) {
    const Tensor& z = call.input(0);
    const Batch b(z.shape());
    Tensor dt = log_softmax_along(z, z.rank() - 1, temperature_attr(*call.attrs));
    for (double& v : dt.data()) v = up[0] * -v / b.divisor();
    return dt;
}

Worked softce_target_explain(const OpCall& call, const Tensor& up, const Names& names, const Index& at,
                             const NumFmt& num) {
    const Tensor& z = call.input(0);
    const Batch b(z.shape());
    const double t = temperature_attr(*call.attrs);
    const std::size_t i = b.batched ? at[0] : 0, c = at.back();
    const SoftmaxRow r = softmax_row(z, b.rows, i, t);
    const double ls = log_softmax_along(z, z.rank() - 1, t).at(at);
    const std::string over = t == 1.0 ? "" : fmt::format("/{}", t);
    const std::string zrow = b.row(names.in[0], i);
    Worked w;
    w.lhs = element(names.downstream, z.shape(), concrete(at));
    w.symbolic = fmt::format("{} * -log_softmax({}{})[{}] / {}", names.upstream, zrow, over, c, b.n);
    w.numeric = fmt::format("{} * -{} / {}", num.operand(up[0]), num.operand(ls), b.n);
    w.result = up[0] * -ls / b.divisor();
    w.notes.push_back(fmt::format("log_softmax({}{o})[{}] = {}{o} - logsumexp({}{o}) = {} - {} = {}", zrow, c,
                                  element(names.in[0], z.shape(), concrete(at)), zrow, scaled_operand(z.at(at), t, num),
                                  num.operand(r.logsumexp()), num(ls), fmt::arg("o", over)));
    return w;
}

Shape softce_shape(const std::vector<Shape>& in, const Attrs& attrs) {
    static_cast<void>(Batch(in[0]));
    require_same_shape(in, "logits", "target");
    temperature_attr(attrs);
    return Shape{};
}

Tensor softce_forward(const OpCall& call) {
    const Tensor& z = call.input(0);
    const Tensor& target = call.input(1);
    const Batch b(z.shape());
    const double t = temperature_attr(*call.attrs);
    double total = 0.0;
    for (std::size_t i = 0; i < b.n; ++i) {
        const SoftmaxRow r = softmax_row(z, b.rows, i, t);
        for (std::size_t c = 0; c < b.classes; ++c) total += target[b.rows.at(i, c)] * r.log_softmax(c);
    }
    return Tensor::scalar(-total / b.divisor());
}

Worked softce_explain(const OpCall& call, const Names& names, const Index&, const NumFmt& num) {
    const Tensor& z = call.input(0);
    const Tensor& target = call.input(1);
    const Batch b(z.shape());
    const double t = temperature_attr(*call.attrs);
    const Tensor ls = log_softmax_along(z, z.rank() - 1, t);
    const std::string over = t == 1.0 ? "" : fmt::format("/{}", t);
    const std::string& zn = names.in[0];
    const std::string& tn = names.in[1];
    Worked w = sum_of_products(
        names.out,
        b.batched ? fmt::format("-{}sum_{{n,c}} {}[n,c] * log_softmax({}[n]{})[c]", b.mean_of(), tn, zn, over)
                  : fmt::format("-sum_c {}[c] * log_softmax({}{})[c]", tn, zn, over),
        z.size(),
        [&](std::size_t e) {
            return std::pair{target[e], ls[e]};
        },
        num);
    w.numeric = fmt::format("-{}({})", b.mean_of(), w.numeric);
    w.result = -w.result / b.divisor();
    w.notes.push_back(b.batched ? fmt::format("log_softmax({z}[n]{o})[c] = {z}[n,c]{o} - logsumexp({z}[n]{o})",
                                              fmt::arg("z", zn), fmt::arg("o", over))
                                : fmt::format("log_softmax({z}{o})[c] = {z}[c]{o} - logsumexp({z}{o})",
                                              fmt::arg("z", zn), fmt::arg("o", over)));
    for (const std::string& line : logsumexp_notes(b, z, t, zn, num)) w.notes.push_back(line);
    return w;
}

// softmax and log_softmax of logits/T: the backward's q and the forward's terms.
std::vector<Intermediate> softce_intermediates(const OpCall& call, const Names& names) {
    const Tensor& z = call.input(0);
    const double t = temperature_attr(*call.attrs);
    const std::string arg = t == 1.0 ? names.in[0] : fmt::format("{}/{}", names.in[0], t);
    return {{fmt::format("softmax({})", arg), "along each row, the student's distribution q at temperature T",
             softmax_along(z, z.rank() - 1, t)},
            {fmt::format("log_softmax({})", arg), "along each row", log_softmax_along(z, z.rank() - 1, t)}};
}

OpDef soft_cross_entropy_op() {
    return {.name = "soft_cross_entropy",
            .family = "loss",
            .summary =
                "distillation loss: mean over the N examples of -sum_c target_c * log_softmax(logits/T)_c, the cross "
                "entropy against a target distribution (torch.nn.functional.cross_entropy of logits/T with "
                "probability targets); logits and target (N, C) or (C,)",
            .forward_formula =
                "-(1/N) * sum_n sum_c {target}[n,c] * log_softmax({logits}[n]/{temperature})[c]{[, N = {N}]}",
            .inputs =
                {{.name = "logits",
                  .domain = {Domain::Kind::Any, 4.0},
                  .formula =
                      "d{logits} = (softmax({logits}/{temperature}) * sum_c {target} - {target}) / ({temperature} * N)"
                      "{[, N = {N}]}; (q - p)/(T*N) when each row of {target} sums to 1",
                  .vjp = softce_logits_vjp,
                  .explain = softce_logits_explain},
                 {.name = "target",
                  .domain = {Domain::Kind::Distribution},
                  .formula = "d{target} = -log_softmax({logits}/{temperature}) / N{[, N = {N}]}",
                  .vjp = softce_target_vjp,
                  .explain = softce_target_explain}},
            .attrs = {{"temperature",
                       AttrType::Number,
                       1.0,
                       "T > 0: the logits are divided by T first",
                       {.min = 0, .above_min = true}}},
            .shape = softce_shape,
            .forward = softce_forward,
            .explain = softce_explain,
            .vars = n_var,
            .intermediates = softce_intermediates};
}

}  // namespace

void add_loss_ops(OpTable& t) {
    t.add(cross_entropy_op());
    t.add(soft_cross_entropy_op());
}

}  // namespace bnstep::ops
