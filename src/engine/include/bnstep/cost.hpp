#pragma once
// What each node costs: the parameters it reads (weights) and the
// multiply-adds of one forward evaluation, with the formulas behind them.
#include <string>
#include <vector>

#include "bnstep/graph.hpp"

namespace bnstep {

struct NodeCost {
    std::size_t node = 0;
    std::size_t weights = 0;
    std::string weights_formula;  // "K*(C/groups)*R*S = 4*1*3*3", or the params read
    double macs = 0;
    std::string macs_formula;  // empty for ops whose multiply-adds are not counted
};

struct GroupCost {
    std::string label;
    std::vector<std::string> nodes;
    std::size_t weights = 0;
    double macs = 0;
};

struct CostReport {
    std::vector<NodeCost> nodes;    // nodes with weights or counted multiply-adds, forward order
    std::size_t total_weights = 0;  // over the nodes that feed the output
    double total_macs = 0;
    std::vector<GroupCost> compare;  // the lesson's two designs, if it compares any
};

CostReport cost_summary(const Graph& g);

}  // namespace bnstep
