#pragma once
// What a gradient check moves, private to the engine: a node's value moved by
// h (one element, or along a direction), and the loss re-evaluated over what
// that changes, with the pieces of the ops downstream.
#include <cmath>
#include <utility>
#include <vector>

#include "bnstep/executor.hpp"
#include "bnstep/gradcheck.hpp"

namespace bnstep::gradcheck_detail {

enum class Mode { True, Surrogate };

// Which piece each element of an op's output lies on, per node downstream of
// the perturbed one (in the order Perturbation::downstream lists them).
using Pieces = std::vector<std::vector<long long>>;

// Re-evaluates what a moved node changes, and the loss it is checked against:
// - whole: everything downstream of the node, and L = sum(output * seed);
// - local: only the node's consumers j, and L_i = sum_j <out_j, dout_j> (plus
//   <v, seed> for the output), whose derivative is the node's gradient when
//   every consumer's gradient dout_j is right; checking every node so proves
//   every gradient, from the output's seed down, at a cost per node that does
//   not grow with the graph above it (PyTorch's gradcheck checks ops so).
class Perturbation {
public:
    // `consumers`: the node's consumers (Graph::consumers) for a local check; null for a whole one.
    Perturbation(const Graph& g, const Trace& t, std::vector<Tensor>& values, std::size_t node,
                 const std::vector<std::size_t>* consumers)
        : g_(g), t_(t), values_(values), node_(node), local_(consumers != nullptr) {
        if (consumers) {
            for (std::size_t j : *consumers)
                if (t.nodes[j].grad && (saved_.empty() || saved_.back().first != j)) keep(j);
            return;
        }
        const std::vector<bool> downstream = g.downstream_of(node);
        for (std::size_t j = node + 1; j < g.nodes.size(); ++j)
            if (downstream[j]) keep(j);
    }
    ~Perturbation() {
        for (auto& [j, value] : saved_) values_[j] = std::move(value);
    }
    Perturbation(const Perturbation&) = delete;
    Perturbation& operator=(const Perturbation&) = delete;

    const std::vector<std::size_t>& surrogates() const { return surrogates_; }
    // The nodes downstream of the perturbed one, in topological order.
    std::size_t downstream(std::size_t k) const { return saved_[k].first; }
    // Floating-point operations, roughly, of one evaluation.
    double work() const {
        double w = 0.0;
        for (const auto& [j, value] : saved_) w += 10.0 * double(value.size());
        return w;
    }

    // The loss at the values as they are, and sum |term| of it: the scale of its round-off.
    double current_loss() const { return loss_terms(false); }
    double loss_magnitude() const { return loss_terms(true); }

    // L with element e of the node moved to `value`; the pieces of the ops
    // downstream go to `pieces` when given.
    double loss_at(std::size_t e, double value, Mode mode, Pieces* pieces) {
        const double original = values_[node_][e];
        values_[node_][e] = value;
        const double l = evaluate(mode, pieces);
        values_[node_][e] = original;
        return l;
    }

    // L with the node's whole value moved by t * direction.
    double loss_along(const Tensor& direction, double t, Mode mode, Pieces* pieces) {
        const Tensor original = values_[node_];
        Tensor& v = values_[node_];
        for (std::size_t e = 0; e < v.size(); ++e) v[e] += t * direction[e];
        const double l = evaluate(mode, pieces);
        values_[node_] = original;
        return l;
    }

private:
    double evaluate(Mode mode, Pieces* pieces) {
        if (pieces) pieces->assign(saved_.size(), {});
        const bool surrogate = mode == Mode::Surrogate;
        if (local_) {
            // Each consumer sees the moved node and every other input as it was:
            // its new value is not written where another consumer would read it.
            double l = node_ == g_.output ? sum_of_products(values_[node_], g_.seed, false) : 0.0;
            for (std::size_t k = 0; k < saved_.size(); ++k) {
                const std::size_t j = saved_[k].first;
                Tensor out = forward_as_checked(g_, t_, values_, j, surrogate);
                if (pieces) {
                    std::swap(values_[j], out);
                    (*pieces)[k] = pieces_as_checked(g_, values_, j, surrogate);
                    std::swap(values_[j], out);
                }
                l += sum_of_products(out, *t_.nodes[j].grad, false);
            }
            return l;
        }
        for (std::size_t k = 0; k < saved_.size(); ++k) {
            const std::size_t j = saved_[k].first;
            if (g_.nodes[j].is_leaf()) continue;
            values_[j] = forward_as_checked(g_, t_, values_, j, surrogate);
            if (pieces) (*pieces)[k] = pieces_as_checked(g_, values_, j, surrogate);
        }
        return current_loss();
    }

    void keep(std::size_t j) {
        saved_.emplace_back(j, values_[j]);
        if (g_.nodes[j].op && g_.nodes[j].op->surrogate) surrogates_.push_back(j);
    }

    static double sum_of_products(const Tensor& value, const Tensor& weight, bool magnitude) {
        double l = 0.0;
        for (std::size_t k = 0; k < value.size(); ++k)
            l += magnitude ? std::fabs(value[k] * weight[k]) : value[k] * weight[k];
        return l;
    }

    double loss_terms(bool magnitude) const {
        double l = !local_ || node_ == g_.output ? sum_of_products(values_[g_.output], g_.seed, magnitude) : 0.0;
        if (local_)
            for (const auto& [j, unused] : saved_) l += sum_of_products(values_[j], *t_.nodes[j].grad, magnitude);
        return l;
    }

    const Graph& g_;
    const Trace& t_;
    std::vector<Tensor>& values_;
    std::size_t node_;
    bool local_;
    std::vector<std::pair<std::size_t, Tensor>> saved_;
    std::vector<std::size_t> surrogates_;
};

}  // namespace bnstep::gradcheck_detail
