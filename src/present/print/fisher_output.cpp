// `bnstep saliency --method fisher`: the empirical Fisher diagonal beside OBD, as text and as JSON.
#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <ostream>

#include "bnstep/variant.hpp"
#include "bnstep/print.hpp"
#include "bnstep/version.hpp"

namespace bnstep {
namespace {

// "0.5^2", "(-0.5)^2".
std::string squared(const NumFmt& num, double v) {
    return v < 0 ? fmt::format("({})^2", num(v)) : fmt::format("{}^2", num(v));
}

std::string fisher_weight_name(const FisherReport& r, const WeightSaliency& s) {
    return r.obd.graph->nodes[s.leaf].name + index_str(s.at);
}

// The example's own gradient, one matrix per ranked leaf.
void print_example_gradient(std::ostream& os, const FisherReport& r, const PrintOptions& opt) {
    const Graph& g = *r.obd.graph;
    std::vector<std::size_t> leaves;
    for (const WeightSaliency& s : r.obd.weights)
        if (std::find(leaves.begin(), leaves.end(), s.leaf) == leaves.end()) leaves.push_back(s.leaf);
    std::sort(leaves.begin(), leaves.end());
    for (std::size_t leaf : leaves) {
        Tensor grad(g.nodes[leaf].shape);
        for (const FisherWeight& f : r.weights) {
            const WeightSaliency& s = r.obd.weights[f.obd];
            if (s.leaf == leaf) grad.at(s.at) = f.example_gradient;
        }
        os << fmt::format("  dL_{}/d{} {}\n", r.example, g.nodes[leaf].name, shape_str(grad.shape()));
        if (!opt.full && grad.size() > opt.max_elements) {
            os << "    " << tensor_summary(grad, opt.num) << '\n';
            continue;
        }
        for (const std::string& line : matrix_lines(grad, opt.num, static_cast<std::size_t>(opt.width) - 4))
            os << "    " << line << '\n';
    }
}

void print_fisher_table(std::ostream& os, const FisherReport& r, const PrintOptions& opt) {
    const NumFmt& num = opt.num;
    // 80 columns: weight names of up to 7 characters, numbers of up to 9.
    os << fmt::format("{:>3} {:<7}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>5}{:>5}", "#", "weight", "w",
                      fmt::format("dL_{}/dw", r.example), "F_kk", "h_kk", "Fisher", "OBD", "OBD#", "|w|#")
       << '\n';
    for (std::size_t k = 0; k < r.weights.size(); ++k) {
        const FisherWeight& f = r.weights[k];
        const WeightSaliency& s = r.obd.weights[f.obd];
        os << fmt::format("{:>3} {:<7}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>5}{:>5}", k + 1, fisher_weight_name(r, s),
                          num(s.weight), num(f.example_gradient), num(f.fisher), num(s.hessian), num(f.saliency),
                          num(s.saliency), f.obd_rank, s.magnitude_rank)
           << '\n';
    }
}

void print_fisher_worked(std::ostream& os, const FisherReport& r, const PrintOptions& opt) {
    const FisherWeight& f = r.weights.front();
    const WeightSaliency& s = r.obd.weights[f.obd];
    const NumFmt& num = opt.num;
    const std::string w = fisher_weight_name(r, s);
    os << wrap(fmt::format("The least salient by Fisher, {}:", w), static_cast<std::size_t>(opt.width), "");
    std::vector<std::string> squares;
    for (double gn : r.worked_gradients) squares.push_back(squared(num, gn));
    const std::size_t shown = 8;
    if (squares.size() > shown && !opt.full) {
        squares.resize(shown);
        squares.emplace_back("...");
    }
    os << wrap(fmt::format("F_kk = (1/N) sum_n (dL_n/dw_k)^2 = (1/{}) ({}) = {}", r.batch, fmt::join(squares, " + "),
                           num(f.fisher)),
               static_cast<std::size_t>(opt.width), "  ", "      ");
    os << wrap(fmt::format("saliency = 0.5 * F_kk * w_k^2 = 0.5 * {} * {} = {}; OBD's, 0.5 * h_kk * w_k^2 = 0.5 * {} * "
                           "{} = {}",
                           num(f.fisher), squared(num, s.weight), num(f.saliency), num(s.hessian),
                           squared(num, s.weight), num(s.saliency)),
               static_cast<std::size_t>(opt.width), "  ", "      ");
}

void print_fisher_summary(std::ostream& os, const FisherReport& r, const PrintOptions& opt) {
    const NumFmt& num = opt.num;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << wrap(fmt::format("The mean of the per-example gradients differs from the batch gradient dL/dw by at most "
                           "{:.1e}; (1/N) sum_n L_n = {} and L = {}.",
                           r.max_mean_gradient_gap, num(r.mean_example_loss), num(r.obd.loss)),
               width, "");
    if (!r.loss_is_mean)
        os << wrap(
            "Note: the lesson's loss is not the mean of the per-example losses (its examples interact, as "
            "through batch statistics, or it sums over the batch), so F is the Fisher of the L_n, not a "
            "stand-in for the Hessian of L.",
            width, "");
    os << wrap(fmt::format("||dL/dw|| = {:.3e}; F_kk and h_kk differ by at most {:.3g} (relative to |h_kk|, floor "
                           "1e-3).",
                           r.gradient_norm, r.max_fisher_hessian_gap),
               width, "");
    os << wrap(
        "Where F approximates H: for a negative log-likelihood (cross-entropy) loss, H is the Fisher of the "
        "model's own predictive distribution (labels drawn from p, not the data's) plus the residuals p - y "
        "times the logits' second derivatives in w. The empirical Fisher puts the data's labels in place of "
        "labels drawn from p, so F_kk ~ h_kk at a minimum where the labels are distributed as the model "
        "predicts; away from a minimum, or for another loss, they can differ by far.",
        width, "");
    const std::size_t total = r.weights.size();
    os << wrap(fmt::format("Removing {} of {} weights: L = {} becomes {} without the least salient by Fisher, {} by "
                           "OBD and {} without the smallest; the Fisher and OBD choices share {}.",
                           r.obd.prune, total, num(r.obd.loss), num(r.loss_pruned_by_fisher),
                           num(r.obd.loss_pruned_by_saliency), num(r.obd.loss_pruned_by_magnitude), r.overlap_with_obd),
               width, "");
}

}  // namespace

void print_fisher_text(std::ostream& os, const FisherReport& r, const PrintOptions& opt) {
    const Graph& g = *r.obd.graph;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << opt.style.heading(fmt::format("Fisher pruning in lesson {}{}", g.name, variant_suffix(g))) << '\n';
    os << wrap(fmt::format("The empirical Fisher diagonal F_kk = (1/N) sum_n (dL_n/dw_k)^2, from each example's own "
                           "backward pass: the batch is the first axis of the input leaves (N = {}; cut into "
                           "examples: {}), and L_n is the loss of the graph on example n alone. Saliency 0.5 * F_kk * "
                           "w_k^2, beside OBD's 0.5 * h_kk * w_k^2 (h_kk from the analytic gradient, h = {:g}).",
                           r.batch, fmt::join(r.sliced, ", "), r.obd.options.gradient_step),
               width, "");
    for (const std::string& name : r.obd.skipped)
        os << wrap(fmt::format("Skipped {}: it gets no gradient from the output, so it has no saliency.", name), width,
                   "");
    os << '\n'
       << fmt::format("Example {} alone: L_{} = {}, and its gradient:\n", r.example, r.example,
                      opt.num(r.example_loss));
    print_example_gradient(os, r, opt);
    os << '\n';
    print_fisher_table(os, r, opt);
    os << '\n';
    print_fisher_worked(os, r, opt);
    os << '\n';
    print_fisher_summary(os, r, opt);
}

nlohmann::json fisher_json(const FisherReport& r) {
    using json = nlohmann::json;
    const Graph& g = *r.obd.graph;
    json weights = json::array();
    for (const FisherWeight& f : r.weights) {
        const WeightSaliency& s = r.obd.weights[f.obd];
        weights.push_back({{"leaf", g.nodes[s.leaf].name},
                           {"index", s.at},
                           {"weight", s.weight},
                           {"gradient", s.gradient},
                           {"example_gradient", f.example_gradient},
                           {"mean_example_gradient", f.mean_gradient},
                           {"fisher", f.fisher},
                           {"hessian", s.hessian},
                           {"saliency", f.saliency},
                           {"obd_saliency", s.saliency},
                           {"obd_rank", f.obd_rank},
                           {"magnitude_rank", s.magnitude_rank}});
    }
    return {{"bnstep", kVersion},
            {"command", "saliency"},
            {"method", "fisher"},
            {"lesson", g.name},
            {"loss", r.obd.loss},
            {"batch", r.batch},
            {"sliced", r.sliced},
            {"example", r.example},
            {"example_loss", r.example_loss},
            {"mean_example_loss", r.mean_example_loss},
            {"worked_gradients", r.worked_gradients},
            {"gradient_step", r.obd.options.gradient_step},
            {"weights", weights},
            {"skipped", r.obd.skipped},
            {"gradient_norm", r.gradient_norm},
            {"max_mean_gradient_gap", r.max_mean_gradient_gap},
            {"loss_is_mean", r.loss_is_mean},
            {"max_fisher_hessian_gap", r.max_fisher_hessian_gap},
            {"prune", r.obd.prune},
            {"loss_pruned_by_fisher", r.loss_pruned_by_fisher},
            {"loss_pruned_by_obd", r.obd.loss_pruned_by_saliency},
            {"loss_pruned_by_magnitude", r.obd.loss_pruned_by_magnitude},
            {"overlap_with_obd", r.overlap_with_obd}};
}

}  // namespace bnstep
