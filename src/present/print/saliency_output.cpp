// `bnstep saliency`: the Optimal Brain Damage table, as text and as JSON.
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <ostream>

#include "bnstep/variant.hpp"
#include "bnstep/print.hpp"
#include "bnstep/version.hpp"

namespace bnstep {

void print_saliency_text(std::ostream& os, const SaliencyReport& r, const PrintOptions& opt) {
    const Graph& g = *r.graph;
    const Style& s = opt.style;
    const NumFmt& num = opt.num;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << s.heading(fmt::format("Optimal Brain Damage saliency in lesson {}{}", g.name, variant_suffix(g))) << '\n';
    os << wrap(
        fmt::format("s_k = 0.5 * h_kk * w_k^2: the increase of the loss ({}) that a second-order expansion predicts "
                    "when w_k is set to 0 at a minimum. h_kk = (g_k(w + h) - g_k(w - h)) / 2h from the analytic "
                    "gradient g (h = {:g}), checked against (L(w + h) - 2 L(w) + L(w - h)) / h^2 (h = {:g}).",
                    g.loss_formula(), r.options.gradient_step, r.options.loss_step),
        width, "");
    for (const std::string& name : r.skipped)
        os << wrap(fmt::format("Skipped {}: it gets no gradient from the output, so it has no saliency.", name), width,
                   "");
    os << '\n'
       << fmt::format("{:>4}  {:<10} {:>10} {:>10} {:>11} {:>11} {:>10} {:>11}  {:>5}", "rank", "weight", "w", "dL/dw",
                      "h_kk", "2nd diff", "saliency", "L(w_k=0)-L", "|w|rank")
       << '\n';
    for (std::size_t k = 0; k < r.weights.size(); ++k) {
        const WeightSaliency& w = r.weights[k];
        const std::string name = g.nodes[w.leaf].name + index_str(w.at);
        os << fmt::format("{:>4}  {:<10} {:>10} {:>10} {:>11} {:>11} {:>10} {:>11}  {:>5}", k + 1, name, num(w.weight),
                          num(w.gradient), num(w.hessian), num(w.hessian_direct), num(w.saliency), num(w.loss_change),
                          w.magnitude_rank)
           << '\n';
    }
    os << '\n';
    os << wrap(
        fmt::format("The two estimates of h_kk agree to {:.1e} (largest relative difference).", r.max_disagreement),
        width, "");
    os << wrap(fmt::format("Rank correlation (Spearman) between saliency and magnitude: {:.3f}.", r.rank_correlation),
               width, "");
    os << wrap(fmt::format("Removing {} of {} weights: the {} least salient and the {} smallest share {}; L = {} "
                           "becomes {} without the least salient and {} without the smallest.",
                           r.prune, r.weights.size(), r.prune, r.prune, r.overlap, num(r.loss),
                           num(r.loss_pruned_by_saliency), num(r.loss_pruned_by_magnitude)),
               width, "");
    os << wrap(
        "OBD assumes a trained network, where dL/dw is near 0; where it is not, the first-order term -w_k * dL/dw_k "
        "also changes L, which is why the column L(w_k=0)-L can differ from the saliency.",
        width, "");
}

nlohmann::json saliency_json(const SaliencyReport& r) {
    using json = nlohmann::json;
    const Graph& g = *r.graph;
    json weights = json::array();
    for (const WeightSaliency& w : r.weights)
        weights.push_back({{"leaf", g.nodes[w.leaf].name},
                           {"index", w.at},
                           {"weight", w.weight},
                           {"gradient", w.gradient},
                           {"hessian", w.hessian},
                           {"hessian_second_difference", w.hessian_direct},
                           {"saliency", w.saliency},
                           {"loss_change", w.loss_change},
                           {"magnitude_rank", w.magnitude_rank}});
    json j = {{"bnstep", kVersion},
            {"command", "saliency"},
            {"lesson", g.name},
            {"loss", r.loss},
            {"gradient_step", r.options.gradient_step},
            {"loss_step", r.options.loss_step},
            {"weights", weights},
            {"skipped", r.skipped},
            {"max_disagreement", r.max_disagreement},
            {"rank_correlation", r.rank_correlation},
            {"prune", r.prune},
            {"overlap", r.overlap},
            {"loss_pruned_by_saliency", r.loss_pruned_by_saliency},
            {"loss_pruned_by_magnitude", r.loss_pruned_by_magnitude}};
    add_variant_json(j, g);
    return j;
}

}  // namespace bnstep
