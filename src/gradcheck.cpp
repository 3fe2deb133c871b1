#include "bnstep/gradcheck.hpp"

#include <algorithm>
#include <cmath>

namespace bnstep {

std::size_t GradcheckReport::failures() const {
    return static_cast<std::size_t>(std::count_if(checks.begin(), checks.end(), [](const NodeCheck& c) { return !c.passed; }));
}

double relative_error(double analytic, double numeric, double floor) {
    const double scale = std::max({std::fabs(analytic), std::fabs(numeric), floor});
    return std::fabs(analytic - numeric) / scale;
}

GradcheckReport check_gradients(const Graph& g, const Trace& trace, const GradcheckOptions& options) {
    GradcheckReport report;
    report.graph = &g;
    report.options = options;
    std::vector<Tensor> values;
    for (const NodeState& s : trace.nodes) values.push_back(s.value);
    for (std::size_t i : trace.backward_order) {
        const Tensor& analytic = *trace.nodes[i].grad;
        const std::vector<bool> downstream = g.downstream_of(i);
        // Only what lies downstream changes: keep those values to put back.
        std::vector<std::pair<std::size_t, Tensor>> saved;
        for (std::size_t j = i; j < g.nodes.size(); ++j)
            if (downstream[j]) saved.emplace_back(j, values[j]);
        NodeCheck check;
        check.node = i;
        check.elements = analytic.size();
        for (std::size_t e = 0; e < analytic.size(); ++e) {
            const double original = values[i][e];
            values[i][e] = original + options.step;
            forward_downstream(g, values, i, downstream);
            const double plus = loss(g, values);
            values[i][e] = original - options.step;
            forward_downstream(g, values, i, downstream);
            const double minus = loss(g, values);
            values[i][e] = original;
            const double numeric = (plus - minus) / (2 * options.step);
            const double error = relative_error(analytic[e], numeric, options.floor);
            if (e == 0 || error > check.max_error || std::isnan(error)) {
                check.max_error = error;
                check.worst = analytic.unravel(e);
                check.analytic = analytic[e];
                check.numeric = numeric;
            }
        }
        for (auto& [j, value] : saved) values[j] = std::move(value);
        check.passed = check.max_error <= options.tolerance;
        report.checks.push_back(std::move(check));
    }
    return report;
}

}  // namespace bnstep
