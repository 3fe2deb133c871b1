// Which elements of a node's gradient each element of a contribution came
// from, by the op's own backward rule: its vector-Jacobian product applied to
// the gradient with one element set to NaN and the others 0. A NaN survives
// every product and sum it enters, so the input elements it reaches are those
// the rule reads that element for, a local gradient of 0 included.
#include <cmath>

#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"

namespace bnstep {

std::vector<std::vector<std::size_t>> gradient_sources(const Trace& t, std::size_t node, std::size_t slot) {
    const Graph& g = *t.graph;
    const Node& n = g.nodes[node];
    const Shape& in_shape = g.nodes[n.inputs.at(slot)].shape;
    const InputRule& rule = n.op->rule(slot);
    const OpCall call = t.call(node, slot);
    Tensor probe(n.shape);
    std::vector<std::vector<std::size_t>> sources(element_count(in_shape));
    for (std::size_t i = 0; i < probe.size(); ++i) {
        probe[i] = std::nan("");
        Tensor sent = rule.vjp(call, probe);
        if (sent.shape() != in_shape) sent = unbroadcast(sent, in_shape).value;
        if (sent.size() != sources.size())
            throw InternalError(n.label() + ": a gradient of an unexpected shape while tracing its sources");
        for (std::size_t j = 0; j < sent.size(); ++j)
            if (std::isnan(sent[j]) || sent[j] != 0.0) sources[j].push_back(i);
        probe[i] = 0.0;
    }
    return sources;
}

}  // namespace bnstep
