#include "bnstep/compare.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "bnstep/did_you_mean.hpp"
#include "compare_diagnosis.hpp"

namespace bnstep {

std::string_view kind_name(ReferenceTensor::Kind kind) {
    switch (kind) {
        case ReferenceTensor::Kind::Leaf: return "leaf";
        case ReferenceTensor::Kind::Upstream: return "upstream";
        case ReferenceTensor::Kind::Value: return "value";
        case ReferenceTensor::Kind::Gradient: return "gradient";
        case ReferenceTensor::Kind::Contribution: return "contribution";
    }
    return "";
}

std::string_view verdict_name(Verdict v) {
    switch (v) {
        case Verdict::Ok: return "ok";
        case Verdict::Wrong: return "wrong";
        case Verdict::WrongShape: return "wrong-shape";
        case Verdict::Unknown: return "unknown";
    }
    return "";
}

bool CompareReport::passed() const {
    return std::all_of(tensors.begin(), tensors.end(),
                       [](const TensorComparison& c) { return c.verdict == Verdict::Ok; });
}

namespace {

// Where a reference tensor falls in the order of computation: the forward
// pass, the upstream gradient, then the backward pass edge by edge, a
// gradient right after the last contribution it adds up.
using Position = std::tuple<std::size_t, std::size_t, std::size_t>;
std::vector<std::size_t> backward_positions(const Trace& t) {
    std::vector<std::size_t> position(t.graph->nodes.size(), 0);
    for (std::size_t p = 0; p < t.backward_order.size(); ++p) position[t.backward_order[p]] = p;
    return position;
}

Position computed_at(const Trace& t, const ReferenceTensor& r, const std::vector<std::size_t>& position) {
    using Kind = ReferenceTensor::Kind;
    switch (r.kind) {
        case Kind::Leaf:
        case Kind::Value: return {0, r.node, 0};
        case Kind::Upstream: return {1, 0, 0};
        case Kind::Gradient: {
            Position last{2, 0, 0};
            for (const auto& [consumer, slot] : t.nodes[r.node].received)
                last = std::max(last, Position{2 + position[consumer], 1 + slot, 1});
            return last;
        }
        case Kind::Contribution: return {2 + position[r.consumer], 1 + r.slot, 0};
    }
    return {0, 0, 0};
}

}  // namespace

std::vector<ReferenceTensor> reference_tensors(const Trace& t, bool answers) {
    using Kind = ReferenceTensor::Kind;
    const Graph& g = *t.graph;
    std::vector<ReferenceTensor> refs;
    std::set<std::string> taken;
    auto add = [&](ReferenceTensor r) {
        if (taken.insert(r.name).second) refs.push_back(std::move(r));
    };
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].is_leaf()) add({g.nodes[i].name, Kind::Leaf, i, 0, 0, &t.nodes[i].value});
    add({g.nodes[g.output].grad_name(), Kind::Upstream, g.output, 0, 0, &g.seed});
    if (!answers) return refs;
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (!g.nodes[i].is_leaf()) add({g.nodes[i].name, Kind::Value, i, 0, 0, &t.nodes[i].value});
    for (std::size_t node : t.backward_order) {
        const NodeState& st = t.nodes[node];
        if (node != g.output || !st.received.empty())
            add({g.nodes[node].grad_name(), Kind::Gradient, node, 0, 0, &*st.grad});
        for (const EdgeGrad& e : st.edges)
            if (e.status == EdgeGrad::Status::Flows && e.name != g.nodes[e.input].grad_name())
                add({e.name, Kind::Contribution, e.input, node, e.slot, &e.contribution});
    }
    const std::vector<std::size_t> position = backward_positions(t);
    std::stable_sort(refs.begin(), refs.end(), [&](const ReferenceTensor& a, const ReferenceTensor& b) {
        return computed_at(t, a, position) < computed_at(t, b, position);
    });
    return refs;
}

std::optional<Worked> explain_element(const Trace& t, const ReferenceTensor& r, const Index& at, const NumFmt& num) {
    using Kind = ReferenceTensor::Kind;
    switch (r.kind) {
        case Kind::Leaf:
        case Kind::Upstream: return std::nullopt;
        case Kind::Value: return worked_value(t, r.node, at, num);
        case Kind::Gradient: {
            const auto& received = t.nodes[r.node].received;
            if (received.size() != 1) return worked_accumulation(t, r.node, at, num);
            return explain_element(t, {r.name, Kind::Contribution, r.node, received[0].first, received[0].second}, at,
                                   num);
        }
        case Kind::Contribution: {
            return worked_gradient(t, r.consumer, r.slot, at, num);
        }
    }
    return std::nullopt;
}

namespace {

// Which nodes each node reaches, computed for the nodes asked about only:
// nothing when every tensor is right.
class Reach {
public:
    explicit Reach(const Graph& g) : graph_(g), rows_(g.nodes.size()) {}
    bool operator()(std::size_t from, std::size_t to) {
        if (rows_[from].empty()) rows_[from] = graph_.downstream_of(from);
        return rows_[from][to];
    }

private:
    const Graph& graph_;
    std::vector<std::vector<bool>> rows_;
};

// Is `other` on the way to `r`: computed before it, and read by the steps
// that compute it? Forward values feed every gradient (local gradients read
// them); a gradient is fed by the gradients and contributions of the nodes
// downstream of its node, a contribution by those of its sender.
bool feeds_into(const ReferenceTensor& r, const ReferenceTensor& other, Reach& downstream) {
    using Kind = ReferenceTensor::Kind;
    const bool other_forward = other.kind == Kind::Leaf || other.kind == Kind::Value;
    switch (r.kind) {
        case Kind::Leaf:
        case Kind::Upstream: return false;
        case Kind::Value: return other_forward && other.node != r.node && downstream(other.node, r.node);
        case Kind::Gradient:
            if (other_forward || other.kind == Kind::Upstream) return true;
            return (other.node != r.node && downstream(r.node, other.node)) ||
                   (other.kind == Kind::Contribution && other.node == r.node);
        case Kind::Contribution:
            return other_forward || other.kind == Kind::Upstream || downstream(r.consumer, other.node);
    }
    return false;
}

bool is_backward(const ReferenceTensor& r) {
    return r.kind == ReferenceTensor::Kind::Gradient || r.kind == ReferenceTensor::Kind::Contribution;
}

Diagnosis origin_of(const CompareReport& report, std::size_t k, Reach& downstream) {
    const ReferenceTensor& r = report.references[*report.tensors[k].reference];
    std::vector<std::string> wrong, right;
    bool gave_gradient = false;
    for (std::size_t j = 0; j < report.tensors.size(); ++j) {
        const TensorComparison& c = report.tensors[j];
        if (j == k || !c.reference) continue;
        const ReferenceTensor& other = report.references[*c.reference];
        if (!feeds_into(r, other, downstream)) continue;
        (c.verdict == Verdict::Ok ? right : wrong).push_back(c.name);
        gave_gradient = gave_gradient || is_backward(other);
    }
    if (!wrong.empty()) {
        const std::size_t shown = std::min<std::size_t>(wrong.size(), 3);
        return {
            "inherited",
            fmt::format("it is computed from {}{}, wrong already: fix {} first, the first wrong on its way, and "
                        "this may follow",
                        fmt::join(wrong.end() - static_cast<std::ptrdiff_t>(shown), wrong.end(), ", "),
                        wrong.size() > shown ? fmt::format(" and {} more", wrong.size() - shown) : "", wrong.front())};
    }
    const bool fed_by_gradients =
        std::any_of(report.references.begin(), report.references.end(),
                    [&](const ReferenceTensor& x) { return is_backward(x) && feeds_into(r, x, downstream); });
    if (!is_backward(r) || !fed_by_gradients)
        return {"local", is_backward(r) ? "it is computed from the lesson's upstream gradient alone: the mistake is "
                                          "in this step"
                                        : "the mistake is in this step of the forward pass"};
    if (gave_gradient) {
        // The nearest few: those computed last before it.
        const std::size_t shown = std::min<std::size_t>(right.size(), 4);
        const std::string more = right.size() > shown ? fmt::format(" and {} more", right.size() - shown) : "";
        return {"local",
                fmt::format("every tensor it depends on that you gave is right ({}{}): the mistake is in "
                            "this step",
                            fmt::join(right.end() - static_cast<std::ptrdiff_t>(shown), right.end(), ", "), more)};
    }
    return {"unlocated",
            "you gave none of the gradients it depends on: save them too, to see whether the error "
            "starts here or before"};
}

}  // namespace

CompareReport compare_tensors(const Trace& t, const std::vector<NamedTensor>& given, const std::string& file,
                              const CompareOptions& options) {
    const Graph& g = *t.graph;
    CompareReport report;
    report.trace = &t;
    report.file = file;
    report.references = reference_tensors(t, true);
    std::map<std::string, std::size_t, std::less<>> by_name;
    std::vector<std::string> names;
    for (std::size_t k = 0; k < report.references.size(); ++k) {
        by_name[report.references[k].name] = k;
        names.push_back(report.references[k].name);
    }
    const std::vector<std::size_t> position = backward_positions(t);

    // The given tensors in the order they are computed, names not of the lesson last.
    std::vector<std::optional<std::size_t>> reference_of(given.size());
    for (std::size_t k = 0; k < given.size(); ++k)
        if (const auto it = by_name.find(given[k].name); it != by_name.end()) reference_of[k] = it->second;
    auto key = [&](std::size_t k) {
        return reference_of[k]
                   ? std::pair{std::size_t{0}, computed_at(t, report.references[*reference_of[k]], position)}
                   : std::pair{std::size_t{1}, Position{k, 0, 0}};
    };
    std::vector<std::size_t> order(given.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
    std::vector<const Tensor*> tensors;
    for (std::size_t k : order) {
        TensorComparison c;
        c.name = given[k].name;
        c.given_shape = given[k].tensor.shape();
        c.reference = reference_of[k];
        if (!c.reference) {
            c.verdict = Verdict::Unknown;
            c.hint = did_you_mean(c.name, names);
        }
        report.tensors.push_back(std::move(c));
        tensors.push_back(&given[k].tensor);
    }

    const Closeness close{options};
    for (std::size_t k = 0; k < report.tensors.size(); ++k) {
        TensorComparison& c = report.tensors[k];
        if (!c.reference) continue;
        const Tensor& expected = *report.references[*c.reference].tensor;
        if (tensors[k]->shape() != expected.shape()) {
            c.verdict = Verdict::WrongShape;
            continue;
        }
        const ElementError e = close.largest_error(*tensors[k], expected);
        c.max_error = e.error;
        c.where = expected.unravel(e.flat);
        c.given = (*tensors[k])[e.flat];
        c.expected = expected[e.flat];
        c.verdict = e.error <= options.tolerance ? Verdict::Ok : Verdict::Wrong;
    }

    Reach downstream(g);
    std::size_t causes = 0;
    for (std::size_t k = 0; k < report.tensors.size(); ++k) {
        TensorComparison& c = report.tensors[k];
        if (c.verdict != Verdict::Wrong && c.verdict != Verdict::WrongShape) continue;
        if (!report.first_wrong) report.first_wrong = k;
        c.origin = origin_of(report, k, downstream);
        if (c.origin->code == "inherited" || causes == kMaxDiagnosed) continue;
        ++causes;
        c.cause = diagnose(t, report.references[*c.reference], *tensors[k], close);
    }
    return report;
}

}  // namespace bnstep
