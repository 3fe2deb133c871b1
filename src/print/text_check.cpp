// `bnstep check-gradients` as text: one line per node, a verdict, a summary.
#include <algorithm>
#include <fmt/format.h>
#include <ostream>

#include "bnstep/print.hpp"

namespace bnstep {

void print_check_text(std::ostream& os, const std::vector<GradcheckReport>& reports, const PrintOptions& opt) {
    const Style& s = opt.style;
    if (reports.empty()) return;
    const GradcheckOptions& o = reports.front().options;
    os << s.heading("Gradient check: backward pass against (L(v+h) - L(v-h)) / 2h") << '\n';
    os << fmt::format("h = {:g}, tolerance = {:g}, error = |a - n| / max(|a|, |n|, {:g})", o.step, o.tolerance, o.floor)
       << '\n';
    std::size_t nodes = 0, failed = 0;
    for (const GradcheckReport& r : reports) {
        const Graph& g = *r.graph;
        os << '\n' << s.heading(fmt::format("lesson {}", g.name)) << "   " << g.loss_formula() << '\n';
        os << fmt::format("  {:>5}  {:<10} {:<14} {:>8}  {:>10}  {}", "step", "node", "shape", "elements", "max error",
                          "verdict")
           << '\n';
        for (const NodeCheck& c : r.checks) {
            const Node& n = g.nodes[c.node];
            std::string verdict = c.passed ? s.ok("ok") : s.bad("FAIL");
            if (!c.passed)
                verdict += fmt::format("  at {}: analytic {}, numeric {}", index_str(c.worst),
                                       NumFmt{std::max(opt.num.precision, 10)}(c.analytic),
                                       NumFmt{std::max(opt.num.precision, 10)}(c.numeric));
            os << fmt::format("  {:>5}  {:<10} {:<14} {:>8}  {:>10.2e}  {}",
                              n.step ? std::to_string(*n.step) : std::string("-"), n.name, shape_str(n.shape), c.elements,
                              c.max_error, verdict)
               << '\n';
        }
        nodes += r.checks.size();
        failed += r.failures();
        os << fmt::format("  {} nodes checked, {}", r.checks.size(),
                          r.passed() ? s.ok("all passed") : s.bad(fmt::format("{} failed", r.failures())))
           << '\n';
    }
    os << '\n'
       << fmt::format("summary: {} lesson{}, {} nodes checked, {} failed", reports.size(), reports.size() == 1 ? "" : "s",
                      nodes, failed)
       << '\n';
}

}  // namespace bnstep
