// When a gradient element is an exact 0, and which element to work by hand.
#include "study/study_numbers.hpp"

#include <algorithm>
#include <cmath>

#include "bnstep/print.hpp"
#include "bnstep/round_off.hpp"

namespace bnstep::study {

double edge_term_scale(const Trace& t, EdgeRef edge, const Index& at) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[edge.first];
    const EdgeGrad& e = t.edge(edge);
    const Tensor& up = *t.nodes[edge.first].grad;
    const Shape& in_shape = g.nodes[e.input].shape;
    if (e.local && e.local->shape() == up.shape()) {
        // The terms: upstream * local at every element of the node that reads `at`.
        double sum = 0.0;
        for (std::size_t k = 0; k < up.size(); ++k) {
            const Index j = up.unravel(k);
            if (project_index(j, up.shape(), in_shape) == at) sum += std::fabs(up[k] * e.local->at(j));
        }
        return sum;
    }
    double others = 1.0;
    for (std::size_t s = 0; s < n.inputs.size(); ++s)
        if (s != edge.second) others = std::max(others, largest_magnitude(t.nodes[n.inputs[s]].value));
    return std::max(largest_magnitude(e.contribution), largest_magnitude(up) * others);
}

double accumulation_term_scale(const Trace& t, std::size_t node, const Index& at) {
    double sum = 0.0;
    for (const EdgeRef& r : t.nodes[node].received) sum += std::fabs(t.edge(r).contribution.at(at));
    return sum;
}

bool edge_zero(const Trace& t, EdgeRef edge, const Index& at) {
    const Tensor& c = t.edge(edge).contribution;
    const double v = c.at(at);
    if (within_round_off(v, largest_magnitude(c))) return true;
    return within_round_off(v, edge_term_scale(t, edge, at));
}

Index element_to_work(const Trace& t, EdgeRef edge) {
    const Tensor& c = t.edge(edge).contribution;
    const std::size_t first = c.offset(default_index(c.shape()));
    for (std::size_t k = 0; k < c.size(); ++k) {
        Index at = c.unravel((first + k) % c.size());
        if (!edge_zero(t, edge, at)) return at;
    }
    return c.unravel(first);
}

}  // namespace bnstep::study
