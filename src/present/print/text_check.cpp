// `bnstep check-gradients` as text: one line per node, a verdict, details
// for checks through a surrogate or across a kink, a summary.
#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ostream>

#include "bnstep/variant.hpp"
#include "bnstep/print.hpp"

namespace bnstep {
namespace {

std::string node_ref(const Graph& g, std::size_t i) {
    const Node& n = g.nodes[i];
    return n.step ? fmt::format("step {} ({})", *n.step, n.name) : n.name;
}

// The lines under a node's row: what the surrogate and the kinks changed.
void details(std::ostream& os, const Graph& g, const NodeCheck& c, const NumFmt& num, const Style& s) {
    const std::string pad = "         ";
    if (c.mode == GradcheckMode::Sparse && c.compared + c.kinks < c.elements)
        os << pad << s.dim(fmt::format("sparse: {} of {} elements sampled", c.compared + c.kinks, c.elements)) << '\n';
    if (c.fell_back)
        os << pad
           << fmt::format("directional: <grad, dir> {}, numeric {}, error {:.2e}; checked again element by element",
                          num(c.directional_analytic), num(c.directional_numeric), c.directional_error)
           << '\n';
    if (!c.surrogates.empty()) {
        std::vector<std::string> via;
        for (std::size_t j : c.surrogates) {
            const Node& n = g.nodes[j];
            via.push_back(fmt::format("{} {} ({})", node_ref(g, j), n.op->name, n.op->surrogate->name(n.attrs)));
        }
        os << pad
           << s.dim(fmt::format("surrogate: differentiated through the straight-through estimator of {}",
                                fmt::join(via, ", ")))
           << '\n';
        os << pad
           << s.dim(fmt::format("plain differences through the true ops disagree, as they should: max error {:.2e} "
                                "(at {}: {})",
                                c.plain_max_error, index_str(c.plain_worst), num(c.plain_numeric)))
           << '\n';
    }
    if (c.first_kink) {
        const KinkCrossing& k = *c.first_kink;
        const std::string side = k.matches == "neither" ? "neither (the kink lies strictly within +-h)"
                                                        : fmt::format("the {} one", k.matches);
        os << pad
           << fmt::format(
                  "kink: {} element{} not compared: +-h crosses a point where an op is not differentiable; "
                  "first at {}: {} changes piece at {}; one-sided differences left {}, right {}; "
                  "analytic {} matches {}",
                  c.kinks, c.kinks == 1 ? "" : "s", index_str(k.at), node_ref(g, k.where), index_str(k.where_at),
                  num(k.left), num(k.right), num(k.analytic), side)
           << '\n';
    }
}

}  // namespace

std::string check_verdict(const NodeCheck& c) {
    if (!c.not_checkable.empty()) return "NOT CHECKABLE";
    if (!c.passed) return "FAIL";
    if (c.compared == 0) return "KINK";
    return c.surrogates.empty() ? "ok" : "ok (surrogate)";
}

void print_check_text(std::ostream& os, const std::vector<GradcheckReport>& reports, const PrintOptions& opt) {
    const Style& s = opt.style;
    if (reports.empty()) return;
    const GradcheckOptions& o = reports.front().options;
    const NumFmt wide{std::max(opt.num.precision, 10)};
    os << s.heading("Gradient check: backward pass against (L(v+h) - L(v-h)) / 2h") << '\n';
    os << fmt::format("h = {:g}, tolerance = {:g}, error = |a - n| / max(|a|, |n|, {:g})", o.step, o.tolerance, o.floor)
       << '\n';
    std::size_t nodes = 0, failed = 0, through_surrogates = 0, with_kinks = 0;
    for (const GradcheckReport& r : reports) {
        const Graph& g = *r.graph;
        os << '\n'
           << s.heading(fmt::format("lesson {}{}", g.name, variant_suffix(g))) << "   " << g.loss_formula() << "   "
           << s.dim(
                  fmt::format("mode {}{}", mode_name(r.mode), r.options.mode == GradcheckMode::Auto ? " (auto)" : ""));
        if (!(r.floor <= o.floor)) os << s.dim(fmt::format(", floor {:.2g} (the round-off of L)", r.floor));
        os << '\n';
        if (r.mode == GradcheckMode::Local)
            os << wrap(
                std::string("local: each node is moved through its consumers j only, and L is L_i = sum_j <out_j, "
                            "dout_j> with their analytic gradients: right exactly when each consumer's backward "
                            "rule is, so every node passing proves every gradient from the output down"),
                80, "  ");
        os << fmt::format("  {:>5}  {:<10} {:<14} {:>8}  {:>10}  {}", "step", "node", "shape", "elements", "max error",
                          "verdict")
           << '\n';
        for (const NodeCheck& c : r.checks) {
            const Node& n = g.nodes[c.node];
            const std::string word = check_verdict(c);
            std::string verdict = word == "FAIL" || !c.not_checkable.empty() ? s.bad(word)
                                  : word == "KINK"                           ? s.grad(word)
                                                                             : s.ok(word);
            if (!c.not_checkable.empty())
                verdict += ": " + c.not_checkable;
            else if (!c.passed)
                verdict += fmt::format("  at {}: analytic {}, numeric {}", index_str(c.worst), wide(c.analytic),
                                       wide(c.numeric));
            const std::string error = c.compared == 0 ? std::string("-") : fmt::format("{:.2e}", c.max_error);
            os << fmt::format("  {:>5}  {:<10} {:<14} {:>8}  {:>10}  {}",
                              n.step ? std::to_string(*n.step) : std::string("-"), n.name, shape_str(n.shape),
                              c.elements, error, verdict)
               << '\n';
            details(os, g, c, opt.num, s);
            through_surrogates += c.surrogates.empty() ? 0 : 1;
            with_kinks += c.kinks ? 1 : 0;
        }
        nodes += r.checks.size();
        failed += r.failures();
        os << fmt::format("  {} nodes checked, {}", r.checks.size(),
                          r.passed() ? s.ok("all passed") : s.bad(fmt::format("{} failed", r.failures())))
           << '\n';
    }
    os << '\n'
       << fmt::format("summary: {} lesson{}, {} nodes checked, {} failed", reports.size(),
                      reports.size() == 1 ? "" : "s", nodes, failed);
    if (through_surrogates) os << fmt::format(", {} through a surrogate", through_surrogates);
    if (with_kinks) os << fmt::format(", {} with elements at a kink", with_kinks);
    os << '\n';
}

}  // namespace bnstep
