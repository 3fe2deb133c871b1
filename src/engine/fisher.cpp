#include "bnstep/fisher.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <numeric>

#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"

namespace bnstep {
namespace {

// The leaves cut into examples: every input leaf (they must share their first
// axis, N) and every const leaf whose first axis is N.
std::vector<std::size_t> batch_leaves(const Graph& g, std::size_t& batch) {
    std::vector<std::size_t> inputs, sliced;
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].kind == NodeKind::Input && !g.nodes[i].shape.empty()) inputs.push_back(i);
    if (inputs.empty())
        throw UsageError(
            fmt::format("Fisher pruning needs per-example gradients, and lesson {} has no leaf of kind "
                        "input whose first axis is the batch of examples",
                        g.name));
    batch = g.nodes[inputs.front()].shape[0];
    for (std::size_t i : inputs)
        if (g.nodes[i].shape[0] != batch)
            throw UsageError(
                fmt::format("Fisher pruning: lesson {}'s input leaves {} {} and {} {} disagree on the "
                            "batch (their first axis)",
                            g.name, g.nodes[inputs.front()].name, shape_str(g.nodes[inputs.front()].shape),
                            g.nodes[i].name, shape_str(g.nodes[i].shape)));
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        const bool data = n.kind == NodeKind::Input || n.kind == NodeKind::Const;
        if (data && !n.shape.empty() && n.shape[0] == batch) sliced.push_back(i);
    }
    return sliced;
}

// The lesson's graph on example n alone: each sliced leaf keeps a batch axis of one.
// `shell` is g without its sliced leaves' values: copying it keeps each example's cost its own, not the batch's.
Graph example_graph(const Graph& g, const Graph& shell, const std::vector<std::size_t>& sliced, std::size_t n) {
    Graph one = shell;
    for (std::size_t i : sliced) {
        Node& leaf = one.nodes[i];
        Shape shape = leaf.shape;
        shape[0] = 1;
        const std::size_t block = element_count(shape);
        const auto first = g.nodes[i].value.data().begin() + static_cast<std::ptrdiff_t>(n * block);
        leaf.value = Tensor(shape, std::vector<double>(first, first + static_cast<std::ptrdiff_t>(block)));
        leaf.shape = shape;
    }
    for (Node& node : one.nodes) {
        if (node.kind != NodeKind::Op) continue;
        std::vector<Shape> in_shapes;
        for (std::size_t in : node.inputs) in_shapes.push_back(one.nodes[in].shape);
        try {
            node.shape = node.op->shape(in_shapes, node.attrs);
        } catch (const ShapeError& e) {
            throw UsageError(fmt::format("Fisher pruning: lesson {} does not run on one example: {} = {}: {}", g.name,
                                         node.name, node.op->name, e.what()));
        }
    }
    if (one.nodes[one.output].shape != g.nodes[g.output].shape)
        throw UsageError(
            fmt::format("Fisher pruning: lesson {}'s output {} has shape {} on one example, not {}: the "
                        "loss must be a scalar over the batch",
                        g.name, g.nodes[g.output].name, shape_str(one.nodes[one.output].shape),
                        shape_str(g.nodes[g.output].shape)));
    return one;
}

Graph example_shell(const Graph& g, const std::vector<std::size_t>& sliced) {
    Graph shell = g;
    for (std::size_t i : sliced) shell.nodes[i].value = Tensor();
    return shell;
}

Trace example_trace(const Graph& g, const Graph& shell, const std::vector<std::size_t>& sliced, std::size_t n) {
    try {
        return run(example_graph(g, shell, sliced, n), TraceDetail::Gradients);
    } catch (const NumericError& e) {
        throw UsageError(fmt::format("Fisher pruning: lesson {} on example {} alone: {}", g.name, n, e.what()));
    }
}

// Every example's own backward pass: the gradients of the ranked weights, squared and summed.
void per_example_gradients(FisherReport& r, const Graph& g, const Graph& shell,
                           const std::vector<std::size_t>& sliced) {
    const std::vector<WeightSaliency>& w = r.obd.weights;
    std::vector<double> squares(w.size(), 0.0), sums(w.size(), 0.0);
    double losses = 0.0;
    for (std::size_t n = 0; n < r.batch; ++n) {
        const Trace t = example_trace(g, shell, sliced, n);
        double l = 0.0;  // sum(output * seed), as `loss` computes it
        const Tensor& out = t.nodes[g.output].value;
        for (std::size_t i = 0; i < out.size(); ++i) l += out[i] * g.seed[i];
        losses += l;
        if (n == r.example) r.example_loss = l;
        for (std::size_t k = 0; k < w.size(); ++k) {
            const double gk = (*t.nodes[w[k].leaf].grad).at(w[k].at);
            squares[k] += gk * gk;
            sums[k] += gk;
            if (n == r.example) r.weights[k].example_gradient = gk;
        }
    }
    const double count = static_cast<double>(r.batch);
    r.mean_example_loss = losses / count;
    for (std::size_t k = 0; k < w.size(); ++k) {
        FisherWeight& f = r.weights[k];
        f.fisher = squares[k] / count;
        f.mean_gradient = sums[k] / count;
        f.saliency = 0.5 * f.fisher * w[k].weight * w[k].weight;
    }
}

}  // namespace

FisherReport compute_fisher(const Graph& g, const FisherOptions& options) {
    FisherReport r;
    const std::vector<std::size_t> sliced = batch_leaves(g, r.batch);
    for (std::size_t i : sliced) r.sliced.push_back(g.nodes[i].name);
    if (options.example >= r.batch)
        throw UsageError(fmt::format("{} {}: lesson {} has {} examples, numbered 0 to {}", options.example_name,
                                     options.example, g.name, r.batch, r.batch - 1));
    // Two forward and backward passes per example (about 6 passes on a batch of one, each with its own overhead)
    // beside OBD's ranking.
    std::size_t per_example = pass_work(g) / std::max<std::size_t>(r.batch, 1);
    per_example = saturating_add(per_example, saturating_mul(g.nodes.size(), 1000));
    if (saturating_mul(saturating_mul(r.batch, 6), per_example) > options.saliency.max_work)
        throw UsageError(
            fmt::format("Fisher pruning on lesson {} would run {} examples of about {} multiply-adds "
                        "each, more than the limit of {} ({})",
                        g.name, r.batch, 6 * per_example, options.saliency.max_work, options.saliency.max_work_name));
    for (const std::string& name : options.saliency.params) {
        const auto leaf = g.find(name);
        if (leaf && std::find(sliced.begin(), sliced.end(), *leaf) != sliced.end())
            throw UsageError(
                fmt::format("{} {}: Fisher pruning cuts {} into examples, so it has no per-example "
                            "gradient to rank; name a param leaf",
                            options.saliency.params_name, name, name));
    }
    r.obd = compute_saliency(g, options.saliency);
    r.example = options.example;
    r.weights.resize(r.obd.weights.size());
    for (std::size_t k = 0; k < r.weights.size(); ++k) {
        r.weights[k].obd = k;
        r.weights[k].obd_rank = k + 1;
    }
    const Graph shell = example_shell(g, sliced);
    per_example_gradients(r, g, shell, sliced);

    double norm2 = 0.0;
    for (std::size_t k = 0; k < r.weights.size(); ++k) {
        const WeightSaliency& s = r.obd.weights[k];
        const FisherWeight& f = r.weights[k];
        norm2 += s.gradient * s.gradient;
        r.max_mean_gradient_gap = std::max(r.max_mean_gradient_gap, std::fabs(f.mean_gradient - s.gradient));
        r.max_fisher_hessian_gap =
            std::max(r.max_fisher_hessian_gap, std::fabs(f.fisher - s.hessian) / std::max(std::fabs(s.hessian), 1e-3));
    }
    r.gradient_norm = std::sqrt(norm2);
    const double scale = std::max({1.0, std::fabs(r.obd.loss), r.gradient_norm});
    r.loss_is_mean =
        std::fabs(r.mean_example_loss - r.obd.loss) <= 1e-9 * scale && r.max_mean_gradient_gap <= 1e-9 * scale;
    std::stable_sort(r.weights.begin(), r.weights.end(),
                     [](const FisherWeight& a, const FisherWeight& b) { return a.saliency < b.saliency; });

    const WeightSaliency& worked = r.obd.weights[r.weights.front().obd];
    for (std::size_t n = 0; n < r.batch; ++n)
        r.worked_gradients.push_back((*example_trace(g, shell, sliced, n).nodes[worked.leaf].grad).at(worked.at));

    Graph pruned = g;
    for (std::size_t k = 0; k < r.obd.prune; ++k) {
        const WeightSaliency& s = r.obd.weights[r.weights[k].obd];
        pruned.nodes[s.leaf].value.at(s.at) = 0.0;
        r.overlap_with_obd += r.weights[k].obd < r.obd.prune;
    }
    r.loss_pruned_by_fisher = loss(pruned, forward(pruned));
    return r;
}

}  // namespace bnstep
