// `bnstep saliency --method obs`: layer-wise Optimal Brain Surgeon, as text and as JSON.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <ostream>

#include "bnstep/variant.hpp"
#include "bnstep/print.hpp"
#include "bnstep/version.hpp"

namespace bnstep {
namespace {

void print_obs_matrix(std::ostream& os, const std::string& title, const Tensor& t, const PrintOptions& opt) {
    os << "  " << title << '\n';
    if (!opt.full && t.size() > opt.max_elements) {
        os << "    " << tensor_summary(t, opt.num) << '\n';
        return;
    }
    for (const std::string& line : matrix_lines(t, opt.num, static_cast<std::size_t>(opt.width) - 4))
        os << "    " << line << '\n';
}

std::string obs_weight_name(const ObsReport& r, const Index& at) { return r.graph->nodes[r.leaf].name + index_str(at); }

// The first removal, its formulas with the numbers in.
void print_obs_worked(std::ostream& os, const ObsReport& r, const PrintOptions& opt) {
    const ObsRemoval& s = r.steps.front();
    const NumFmt& num = opt.num;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    const std::size_t q = s.at[0], j = s.at[1];
    const std::string w = obs_weight_name(r, s.at);
    os << wrap(fmt::format("The least salient weight, {} (q = {}, column j = {}), worked out:", w, q, j), width, "");
    os << fmt::format("  L_q = w_q^2 / (2 [H^-1]_qq) = {} / (2 * {}) = {}\n",
                      s.weight < 0 ? fmt::format("({})^2", num(s.weight)) : fmt::format("{}^2", num(s.weight)),
                      num(s.inverse), num(s.saliency));
    if (r.d > 12 && !opt.full) {
        os << wrap(fmt::format("dw (column {}) = -(w_q / [H^-1]_qq) H^-1 e_q: {} entries (--full prints them)", j, r.d),
                   width, "  ");
    } else {
        std::vector<std::string> column, update;
        for (std::size_t i = 0; i < r.d; ++i) {
            column.push_back(num(r.inverse.at({i, q})));
            update.push_back(num(s.update[i]));
        }
        os << fmt::format("  dw (column {}) = -(w_q / [H^-1]_qq) H^-1 e_q\n", j);
        os << wrap(fmt::format("= -({} / {}) * [{}]", num(s.weight), num(s.inverse), fmt::join(column, ", ")), width,
                   "                 ", "                   ");
        os << wrap(fmt::format("= [{}]", fmt::join(update, ", ")), width, "                 ", "                   ");
    }
    if (r.options.damping > 0)
        os << wrap(fmt::format("so {} becomes exactly 0 (its entry of dw is -w_q) and the other weights of column {} "
                               "move to make up for it; the layer's output changes by x @ dW, and E = 1/(2n) ||x @ "
                               "dW||^2 = {}. With lambda = {:g}, L_q is the error of the damped problem, E + lambda/2 "
                               "||dw||^2, not E itself: the prediction is that of H + lambda I.",
                               w, j, num(s.error_after), r.options.damping),
                   width, "  ");
    else
        os << wrap(fmt::format("so {} becomes exactly 0 (its entry of dw is -w_q) and the other weights of column {} "
                               "move to make up for it; the layer's output changes by x @ dW, and E = 1/(2n) ||x @ "
                               "dW||^2 = {}, the saliency L_q: the error is quadratic, so the prediction is exact.",
                               w, j, num(s.error_after)),
                   width, "  ");
}

void print_obs_table(std::ostream& os, const ObsReport& r, const PrintOptions& opt) {
    const NumFmt& num = opt.num;
    // 80 columns: weight names of up to 7 characters, numbers of up to 9.
    os << fmt::format("{:>3} {:<7}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>8}", "#", "weight", "w", "H_qq", "[H^-1]_qq",
                      "OBS L_q", "E alone", "OBD", "|w|rank")
       << '\n';
    for (std::size_t k = 0; k < r.weights.size(); ++k) {
        const ObsWeight& w = r.weights[k];
        os << fmt::format("{:>3} {:<7}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>8}", k + 1, obs_weight_name(r, w.at),
                          num(w.weight), num(w.hessian), num(w.inverse), num(w.saliency), num(w.error_alone),
                          num(w.obd_saliency), w.magnitude_rank)
           << '\n';
    }
}

void print_obs_steps(std::ostream& os, const ObsReport& r, const PrintOptions& opt) {
    const NumFmt& num = opt.num;
    os << fmt::format("{:>4}  {:<10} {:>10} {:>11} {:>11} {:>11}", "step", "removed", "w now", "[H_R^-1]_qq", "L_q",
                      "E after")
       << '\n';
    for (std::size_t k = 0; k < r.steps.size(); ++k) {
        const ObsRemoval& s = r.steps[k];
        os << fmt::format("{:>4}  {:<10} {:>10} {:>11} {:>11} {:>11}", k + 1, obs_weight_name(r, s.at), num(s.weight),
                          num(s.inverse), num(s.saliency), num(s.error_after))
           << '\n';
    }
}

std::string obs_names(const ObsReport& r, const std::vector<Index>& at) {
    std::vector<std::string> names;
    for (const Index& i : at) names.push_back(obs_weight_name(r, i));
    return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

void print_obs_text(std::ostream& os, const ObsReport& r, const PrintOptions& opt) {
    const Graph& g = *r.graph;
    const NumFmt& num = opt.num;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    const std::string x = g.nodes[r.input].name, w = g.nodes[r.leaf].name, y = g.nodes[r.matmul].name;
    os << opt.style.heading(fmt::format("Layer-wise Optimal Brain Surgeon on {} in lesson {}{}", w, g.name, variant_suffix(g))) << '\n';
    os << wrap(fmt::format("The layer {} = {} @ {}: {} is ({}, {}), n = {} examples of d = {} inputs, and {} is ({}, "
                           "{}). Removing weights changes the output by {} @ dW; the layer-wise error E = 1/(2n) ||{} "
                           "@ dW||_F^2 is quadratic, with the same Hessian H = {}^T {} / n for every column of {} "
                           "(indexed by {}'s row q).",
                           y, x, w, x, r.n, r.d, r.n, r.d, w, r.d, r.m, x, x, x, x, w, w),
               width, "");
    os << '\n';
    print_obs_matrix(os, fmt::format("H = {}^T {} / n", x, x), r.hessian, opt);
    print_obs_matrix(os, r.options.damping > 0 ? fmt::format("(H + {:g} I)^-1", r.options.damping) : "H^-1", r.inverse,
                     opt);
    if (r.options.damping > 0)
        os << wrap(
            fmt::format("Damping: H + lambda I with lambda = {:g} is inverted{}; the saliencies are the error of "
                        "that damped problem, and every E below is measured on the layer's real output.",
                        r.options.damping, r.singular ? " because H is singular" : ""),
            width, "");
    os << '\n';
    os << wrap(
        "OBS saliency L_q = w_q^2 / (2 [H^-1]_qq): the increase of E when w_q is removed and the rest of its "
        "column re-fitted by dw = -(w_q / [H^-1]_qq) H^-1 e_q. 'E alone' is E measured after doing so; OBD's "
        "saliency 0.5 H_qq w_q^2 ignores H's off-diagonal terms and updates nothing.",
        width, "");
    print_obs_table(os, r, opt);
    os << '\n';
    print_obs_worked(os, r, opt);
    os << '\n';
    os << wrap(fmt::format("Removing K = {} of {} weights one at a time: after each removal, that column's inverse is "
                           "recomputed over the weights it still has R, [H_R^-1] = (H_RR)^-1, and the saliencies "
                           "with the updated weights.",
                           r.prune, r.weights.size()),
               width, "");
    print_obs_steps(os, r, opt);
    print_obs_matrix(os, fmt::format("{} after OBS", w), r.pruned, opt);
    os << '\n';
    os << wrap(fmt::format("E after removing {}: {} by OBS ({}), {} by OBD ({}), {} by magnitude ({}).", r.prune,
                           num(r.error_obs),
                           obs_names(r,
                                     [&] {
                                         std::vector<Index> at;
                                         for (const ObsRemoval& s : r.steps) at.push_back(s.at);
                                         return at;
                                     }()),
                           num(r.error_obd), obs_names(r, r.obd_removed), num(r.error_magnitude),
                           obs_names(r, r.magnitude_removed)),
               width, "");
    os << wrap(fmt::format("The lesson's loss L = {} becomes {} (OBS), {} (OBD) and {} (magnitude).", num(r.loss),
                           num(r.loss_obs), num(r.loss_obd), num(r.loss_magnitude)),
               width, "");
}

nlohmann::json obs_json(const ObsReport& r) {
    using json = nlohmann::json;
    const Graph& g = *r.graph;
    json weights = json::array(), steps = json::array();
    for (const ObsWeight& w : r.weights)
        weights.push_back({{"index", w.at},
                           {"weight", w.weight},
                           {"hessian", w.hessian},
                           {"inverse", w.inverse},
                           {"saliency", w.saliency},
                           {"error_alone", w.error_alone},
                           {"obd_saliency", w.obd_saliency},
                           {"magnitude_rank", w.magnitude_rank}});
    for (const ObsRemoval& s : r.steps)
        steps.push_back({{"index", s.at},
                         {"weight", s.weight},
                         {"inverse", s.inverse},
                         {"saliency", s.saliency},
                         {"update", s.update},
                         {"error_after", s.error_after}});
    return {{"bnstep", kVersion},
            {"command", "saliency"},
            {"method", "obs"},
            {"lesson", g.name},
            {"param", g.nodes[r.leaf].name},
            {"layer", g.nodes[r.matmul].name},
            {"input", g.nodes[r.input].name},
            {"examples", r.n},
            {"damping", r.options.damping},
            {"singular", r.singular},
            {"hessian", tensor_json(r.hessian)},
            {"inverse", tensor_json(r.inverse)},
            {"weights", weights},
            {"prune", r.prune},
            {"steps", steps},
            {"pruned", tensor_json(r.pruned)},
            {"obd_removed", r.obd_removed},
            {"magnitude_removed", r.magnitude_removed},
            {"error_obs", r.error_obs},
            {"error_obd", r.error_obd},
            {"error_magnitude", r.error_magnitude},
            {"loss", r.loss},
            {"loss_obs", r.loss_obs},
            {"loss_obd", r.loss_obd},
            {"loss_magnitude", r.loss_magnitude}};
}

}  // namespace bnstep
