// The quiz's diagnosis of a wrong answer: the classic mistakes of the backward
// pass, each a small function giving the wrong value(s) it would produce for
// a question, in one table; a wrong answer that matches one is named.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/study.hpp"
#include "print/text_shared.hpp"
#include "study/study_numbers.hpp"

namespace bnstep {
namespace {

// A value the mistake would give, and what went wrong to give it.
struct WrongValue {
    double value = 0.0;
    std::string why;
};

using MistakeFn = std::vector<WrongValue> (*)(const Trace& t, const Question& q);

struct Mistake {
    std::string_view name;
    MistakeFn wrong_values;
};

bool asks_gradient(const Question& q) { return q.kind != QuizKind::Local; }

std::string input_name(const Trace& t, study::EdgeRef e) { return t.graph->nodes[t.edge(e).input].name; }

std::vector<WrongValue> sign_flipped(const Trace& /*t*/, const Question& q) {
    return {{-q.answer,
             "that is the right size with the wrong sign: check the sign of each factor (the local gradient "
             "of a - b with respect to b is -1, of 1/x it is -1/x^2)"}};
}

// The element sizes the node reduces or broadcasts over, and their products.
std::vector<std::size_t> reduced_sizes(const Trace& t, study::EdgeRef ref) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[ref.first];
    const EdgeGrad& e = t.edge(ref);
    const Shape& in = g.nodes[e.input].shape;
    std::vector<std::size_t> sizes;
    auto add = [&sizes](std::size_t v) {
        if (v > 1 && std::find(sizes.begin(), sizes.end(), v) == sizes.end()) sizes.push_back(v);
    };
    std::size_t broadcast = 1;
    for (std::size_t a : e.reduced_axes) {
        add(e.unreduced.shape()[a]);
        broadcast *= e.unreduced.shape()[a];
    }
    add(broadcast);
    const std::size_t in_count = element_count(in), out_count = element_count(n.shape);
    if (in_count > out_count && in_count % out_count == 0) add(in_count / out_count);
    if (out_count > in_count && out_count % in_count == 0) add(out_count / in_count);
    if (in.size() == n.shape.size())
        for (std::size_t k = 0; k < in.size(); ++k)
            if (in[k] != n.shape[k]) add(std::max(in[k], n.shape[k]));
    if (n.op && n.op->name.find("batchnorm") != std::string::npos && !in.empty()) {
        // Batch norm averages over every axis but the channels (the last of 2, axis 1 of 4).
        const std::size_t channel = in.size() == 4 ? 1 : in.size() - 1;
        add(in[0]);
        add(element_count(in) / in[channel]);
    }
    return sizes;
}

std::vector<WrongValue> off_by_factor(const Trace& t, const Question& q) {
    if (!q.edge) return {};
    const std::string node = t.graph->nodes[q.edge->first].name;
    std::vector<WrongValue> wrong;
    for (std::size_t n : reduced_sizes(t, *q.edge)) {
        const double N = static_cast<double>(n);
        wrong.push_back({q.answer * N, fmt::format("the answer is {} times too large: a factor 1/{} is missing ({} "
                                                   "averages or spreads over {} elements here)",
                                                   n, n, node, n)});
        wrong.push_back({q.answer / N, fmt::format("the answer is {} times too small: a factor {} is missing, or a "
                                                   "1/{} that does not belong ({} reduces or broadcasts over {} "
                                                   "elements here)",
                                                   n, n, n, node, n)});
    }
    return wrong;
}

// One term of the sum over a broadcast axis.
std::vector<WrongValue> not_summed(const Trace& t, const Question& q) {
    if (!asks_gradient(q) || !q.edge) return {};
    const EdgeGrad& e = t.edge(*q.edge);
    if (e.reduced_axes.empty()) return {};
    const Shape& in = t.graph->nodes[e.input].shape;
    std::vector<WrongValue> wrong;
    for (std::size_t k = 0; k < e.unreduced.size() && wrong.size() < 256; ++k)
        if (project_index(e.unreduced.unravel(k), e.unreduced.shape(), in) == q.at)
            wrong.push_back({e.unreduced[k], fmt::format("that is one term of the sum: {} was broadcast along axis "
                                                         "{} in the forward pass, so its gradient adds the terms of "
                                                         "every element it was copied to",
                                                         input_name(t, *q.edge), fmt::join(e.reduced_axes, ", "))});
    return wrong;
}

// One of the contributions a gradient adds.
std::vector<WrongValue> one_contribution(const Trace& t, const Question& q) {
    if (q.kind != QuizKind::Upstream || q.edge) return {};
    const Graph& g = *t.graph;
    const NodeState& st = t.nodes[q.node];
    std::vector<WrongValue> wrong;
    for (const study::EdgeRef& r : st.received)
        wrong.push_back({t.edge(r).contribution.at(q.at),
                         fmt::format("that is only what {} sends back ({}): {} feeds {} nodes, so its gradient is "
                                     "the sum of the {} contributions",
                                     text::sender(g, r.first), t.edge(r).name, g.nodes[q.node].name, st.received.size(),
                                     st.received.size())});
    return wrong;
}

// sum over the node's elements j that read `at` of upstream[j] * factor[j].
double broadcast_product(const Tensor& up, const Tensor& factor, const Shape& in, const Index& at) {
    double sum = 0.0;
    for (std::size_t k = 0; k < up.size(); ++k) {
        const Index j = up.unravel(k);
        if (project_index(j, up.shape(), in) == at)
            sum += up[k] * factor.at(project_index(j, up.shape(), factor.shape()));
    }
    return sum;
}

bool is_op(const Trace& t, std::size_t node, std::string_view name) {
    const Node& n = t.graph->nodes[node];
    return n.op && n.op->name == name && n.inputs.size() == 2;
}

// A 2-D matrix element (A @ B)[i,j] with either operand transposed.
double product_element(const Tensor& a, bool ta, const Tensor& b, bool tb, std::size_t i, std::size_t j) {
    const std::size_t inner = ta ? a.shape()[0] : a.shape()[1];
    double sum = 0.0;
    for (std::size_t k = 0; k < inner; ++k)
        sum += (ta ? a.at({k, i}) : a.at({i, k})) * (tb ? b.at({j, k}) : b.at({k, j}));
    return sum;
}

// mul: upstream * a instead of upstream * b; matmul: dC @ A^T instead of dC @ B^T.
std::vector<WrongValue> own_input(const Trace& t, const Question& q) {
    if (!q.edge) return {};
    const auto [node, slot] = *q.edge;
    const Graph& g = *t.graph;
    const Node& n = g.nodes[node];
    if (!is_op(t, node, "mul") && !is_op(t, node, "matmul")) return {};
    const std::size_t own = n.inputs[slot], other = n.inputs[1 - slot];
    if (own == other) return {};
    const Tensor &a = t.nodes[own].value, &up = *t.nodes[node].grad;
    const std::string why = fmt::format(
        "that uses {}'s own input {} where the other factor {} belongs: the derivative "
        "of a product with respect to one factor is the other factor",
        n.name, g.nodes[own].name, g.nodes[other].name);
    if (n.op->name == "mul") {
        if (q.kind == QuizKind::Local) return {{a.at(project_index(q.at, n.shape, a.shape())), why}};
        return {{broadcast_product(up, a, a.shape(), q.at), why}};
    }
    if (q.kind == QuizKind::Local || a.shape() != t.nodes[other].value.shape() || a.shape().size() != 2) return {};
    // dA[i,k] = sum_j dC[i,j] * A[k,j]; dB[k,j] = sum_i B[i,k] * dC[i,j].
    if (a.shape()[0] != a.shape()[1]) return {};
    const double v = slot == 0 ? product_element(up, false, a, true, q.at[0], q.at[1])
                               : product_element(a, true, up, false, q.at[0], q.at[1]);
    return {{v, why}};
}

// matmul's dA[i,k] = sum_j dC[i,j] * B[k,j] with B[j,k] read instead (and
// dB[k,j] = sum_i A[i,k] * dC[i,j] with A[k,i]), where those elements exist.
std::optional<double> untransposed_element(const Tensor& up, const Tensor& other, std::size_t slot, const Index& at) {
    const Shape &u = up.shape(), &o = other.shape();
    if (slot == 0) {  // sum_j up[i,j] * other[j,k]
        if (u[1] > o[0] || at[1] >= o[1]) return std::nullopt;
        return product_element(up, false, other, false, at[0], at[1]);
    }
    // sum_i other[k,i] * up[i,j]
    if (u[0] > o[1] || at[0] >= o[0]) return std::nullopt;
    return product_element(other, false, up, false, at[0], at[1]);
}

// matmul: the other operand not transposed, or the element of the transposed product.
std::vector<WrongValue> transposed(const Trace& t, const Question& q) {
    if (!q.edge || q.kind == QuizKind::Local || !is_op(t, q.edge->first, "matmul")) return {};
    const auto [node, slot] = *q.edge;
    const Node& n = t.graph->nodes[node];
    const Tensor &other = t.nodes[n.inputs[1 - slot]].value, &up = *t.nodes[node].grad;
    const Tensor& result = t.edge(*q.edge).contribution;
    if (other.shape().size() != 2 || up.shape().size() != 2 || q.at.size() != 2) return {};
    std::vector<WrongValue> wrong;
    const std::string fix = "for C = A @ B, dA = dC @ B^T and dB = A^T @ dC";
    const std::string& name = t.graph->nodes[n.inputs[1 - slot]].name;
    if (const auto v = untransposed_element(up, other, slot, q.at))
        wrong.push_back(
            {*v, fmt::format("that reads {}{} where {}{} belongs, leaving {} untransposed: {}", name,
                             slot == 0 ? "[j,k]" : "[k,i]", name, slot == 0 ? "[k,j]" : "[i,k]", name, fix)});
    if (q.at[0] < result.shape()[1] && q.at[1] < result.shape()[0] && q.at[0] != q.at[1])
        wrong.push_back({result.at({q.at[1], q.at[0]}),
                         fmt::format("that is element [{},{}], of the transposed product: {}", q.at[1], q.at[0], fix)});
    return wrong;
}

// The constant factors of the local gradient as written ("2*xmu", "0.5/sqrt(v)",
// "3*a^(3-1)"): a number, not part of a name or an index, followed by * or /.
std::vector<double> constant_factors(std::string_view formula) {
    std::vector<double> factors;
    int depth = 0;
    for (std::size_t k = 0; k < formula.size(); ++k) {
        const char c = formula[k];
        if (c == '[') ++depth;
        if (c == ']') --depth;
        const bool starts = std::isdigit(static_cast<unsigned char>(c)) != 0 &&
                            (k == 0 || (!std::isalnum(static_cast<unsigned char>(formula[k - 1])) &&
                                        formula[k - 1] != '_' && formula[k - 1] != '.'));
        if (!starts || depth > 0) continue;
        std::size_t end = k;
        while (end < formula.size() && (std::isdigit(static_cast<unsigned char>(formula[end])) || formula[end] == '.'))
            ++end;
        std::size_t next = end;
        while (next < formula.size() && formula[next] == ' ') ++next;
        const double v = std::strtod(std::string(formula.substr(k, end - k)).c_str(), nullptr);
        if (next < formula.size() && (formula[next] == '*' || formula[next] == '/') && v != 0 && v != 1 &&
            std::find(factors.begin(), factors.end(), v) == factors.end())
            factors.push_back(v);
        k = end;
    }
    return factors;
}

// The 2 of d(x^2)/dx = 2x left out (or put in twice), and so on for each
// constant factor of the local gradient.
std::vector<WrongValue> dropped_constant(const Trace& t, const Question& q) {
    if (!q.edge) return {};
    const EdgeGrad& e = t.edge(*q.edge);
    std::vector<WrongValue> wrong;
    for (double c : constant_factors(e.formula)) {
        const std::string why = fmt::format(
            "that is off by the constant factor {} of the local gradient {}: "
            "keep every constant of the derivative",
            c, e.formula);
        wrong.push_back({q.answer / c, why});
        wrong.push_back({q.answer * c, why});
    }
    return wrong;
}

const Mistake kMistakes[] = {
    {"the wrong sign", sign_flipped},
    {"not summed over the broadcast axis", not_summed},
    {"only one contribution", one_contribution},
    {"the node's own input", own_input},
    {"a transposed operand", transposed},
    {"a dropped constant factor", dropped_constant},
    {"off by a factor", off_by_factor},
};

}  // namespace

std::vector<MistakeValue> mistake_values(const Trace& t, const Question& q, double tolerance) {
    std::vector<MistakeValue> values;
    for (const Mistake& m : kMistakes)
        for (const WrongValue& w : m.wrong_values(t, q)) {
            // A wrong value that is the answer too (the sign of a 0) says nothing.
            if (!std::isfinite(w.value) || answer_matches(w.value, q.answer, tolerance, q.scale)) continue;
            values.push_back({MistakeMatch{std::string(m.name), w.why}, w.value});
        }
    return values;
}

std::optional<MistakeMatch> diagnose_answer(const Trace& t, const Question& q, double given, double tolerance) {
    for (const MistakeValue& m : mistake_values(t, q, tolerance))
        if (answer_matches(given, m.value, tolerance)) return m.mistake;
    return std::nullopt;
}

}  // namespace bnstep
