#pragma once
// Numeric gradients by centred differences, compared with the analytic ones:
// for every node that gets a gradient, each element of its value is moved by
// +h and -h, only what lies downstream of it is recomputed, and
//   n = (L(v + h) - L(v - h)) / 2h,   error = |a - n| / max(|a|, |n|, floor).
#include <string>
#include <vector>

#include "bnstep/executor.hpp"

namespace bnstep {

struct GradcheckOptions {
    double step = 1e-5;       // h
    double tolerance = 1e-5;  // largest relative error that passes
    double floor = 1e-4;      // smallest denominator, so gradients near 0 compare absolutely
};

struct NodeCheck {
    std::size_t node = 0;
    std::size_t elements = 0;
    double max_error = 0.0;  // the largest relative error over the node's elements
    Index worst;             // where it was
    double analytic = 0.0;   // the two gradients there
    double numeric = 0.0;
    bool passed = true;
};

struct GradcheckReport {
    const Graph* graph = nullptr;
    GradcheckOptions options;
    std::vector<NodeCheck> checks;  // in backward order
    std::size_t failures() const;
    bool passed() const { return failures() == 0; }
};

double relative_error(double analytic, double numeric, double floor);

GradcheckReport check_gradients(const Graph& g, const Trace& trace, const GradcheckOptions& options);

}  // namespace bnstep
