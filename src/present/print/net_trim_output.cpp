// `bnstep net-trim`: the program, one ADMM log, the trimmed weights and the
// sparsity-versus-error table, as text and as JSON.
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

std::string shape_text(const Tensor& t) { return fmt::format("{}", fmt::join(t.shape(), " x ")); }

std::size_t active_count(const Tensor& y, std::size_t unit) {
    const std::size_t n = y.shape()[0], m = y.shape()[1];
    std::size_t active = 0;
    for (std::size_t i = 0; i < n; ++i) active += y[i * m + unit] > 0;
    return active;
}

void print_program(std::ostream& os, const NetTrimReport& r, const PrintOptions& opt) {
    const Graph& g = *r.graph;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    const std::string x = g.nodes[g.nodes[r.matmul].inputs[0]].name, w = g.nodes[r.param].name,
                      y = g.nodes[r.relu].name;
    os << opt.style.heading(fmt::format("Net-Trim of {} in lesson {}{}", w, g.name, variant_suffix(g))) << '\n';
    const std::string z = g.nodes[r.matmul].name;
    os << wrap(fmt::format("The layer {} = relu({}), {} = {} {}: {} is {}, {} is {}, {} is {}.", y, z, z, x, w, x,
                           shape_text(r.x), w, shape_text(r.w), y, shape_text(r.y)),
               width, "");
    os << wrap(fmt::format("For each unit j (column j of {}) separately, with y = {}[:, j], its active set O = {{i : "
                           "y_i > 0}} and the rest Oc: minimise ||w||_1 subject to ||(X w)_O - y_O||_2 <= epsilon "
                           "and (X w)_Oc <= 0.",
                           w, y),
               width, "");
    os << wrap(fmt::format("ADMM on the split w = u, X w = z, from all zeros, rho = {:g}: w <- (I + X^T X)^-1 ((u - a) "
                           "+ X^T (z - b)); u <- soft(w + a, 1/rho); z <- the projection of X w + b onto the "
                           "constraints; a <- a + w - u; b <- b + X w - z. It stops when r <= eps_pri and s <= "
                           "eps_dual (tol = {:g}), or after {} iterations; the trimmed weights are u.",
                           r.options.rho, r.options.tolerance, r.options.iterations),
               width, "");
    std::vector<std::string> active;
    for (std::size_t j = 0; j < r.w.shape()[1]; ++j)
        active.push_back(fmt::format("unit {}: {} of {}", j, active_count(r.y, j), r.y.shape()[0]));
    os << wrap(fmt::format("Active sets: {}.", fmt::join(active, ", ")), width, "");
}

void print_log(std::ostream& os, const NetTrimReport& r, std::size_t unit, std::size_t every, const PrintOptions& opt) {
    const NetTrimSolution& s = r.solutions.back();
    const NetTrimUnit& u = s.units.at(unit);
    const NumFmt& num = opt.num;
    if (every == 0) every = std::max<std::size_t>(1, (u.log.size() + 19) / 20);
    os << '\n'
       << opt.style.heading(fmt::format("ADMM iterations of unit {} at epsilon = {}", unit, num(s.epsilon))) << '\n';
    os << fmt::format("{:>6}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}", "iter", "||u||_1", "primal r", "eps_pri",
                      "dual s", "eps_dual")
       << '\n';
    for (std::size_t k = 0; k < u.log.size(); ++k) {
        if (k >= 10 && (k + 1) % every != 0 && k + 1 != u.log.size()) continue;
        const AdmmStep& a = u.log[k];
        os << fmt::format("{:>6}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}", k + 1, num(a.objective), num(a.primal),
                          num(a.eps_primal), num(a.dual), num(a.eps_dual))
           << '\n';
    }
    os << wrap(
        fmt::format("{} after {} iterations.", u.converged ? "Converged" : "Not converged (the limit)", u.log.size()),
        static_cast<std::size_t>(opt.width), "");
}

void print_solution(std::ostream& os, const NetTrimReport& r, const NetTrimSolution& s, const PrintOptions& opt) {
    const NumFmt& num = opt.num;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << '\n'
       << opt.style.heading(fmt::format("epsilon = {}: {} trimmed", num(s.epsilon), r.graph->nodes[r.param].name))
       << '\n';
    for (const std::string& line : matrix_lines(s.trimmed, num, width - 8)) os << "        " << line << '\n';
    for (const NetTrimUnit& u : s.units)
        os << wrap(fmt::format("unit {}: {} iterations{}, ||(X u)_O - y_O||_2 = {}, max(0, (X u)_Oc) = {}", u.unit,
                               u.log.size(), u.converged ? "" : " (not converged)", num(u.active_error),
                               num(u.inactive_violation)),
                   width, "    ", "        ");
}

std::string percent(std::size_t part, std::size_t whole) {
    return whole ? fmt::format("{:.0f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole)) : "-";
}

void print_table(std::ostream& os, const NetTrimReport& r, const PrintOptions& opt) {
    const NumFmt& num = opt.num;
    const std::size_t total = r.w.size();
    os << '\n' << opt.style.heading("Sparsity against error") << '\n';
    os << fmt::format("{:>9}  {:>10}  {:>9}  {:>8}  {:>12}", "epsilon", "||W||_1", "nonzero", "sparsity",
                      "output error")
       << '\n';
    os << fmt::format("{:>9}  {:>10}  {:>9}  {:>8}  {:>12}", "original", num(r.original_l1),
                      fmt::format("{}/{}", r.original_nonzero, total), percent(total - r.original_nonzero, total),
                      num(0.0))
       << '\n';
    for (const NetTrimSolution& s : r.solutions)
        os << fmt::format("{:>9}  {:>10}  {:>9}  {:>8}  {:>12}", num(s.epsilon), num(s.l1),
                          fmt::format("{}/{}", s.nonzero, total), percent(total - s.nonzero, total),
                          num(s.relative_error))
           << '\n';
    os << wrap(fmt::format("Weights with |w| <= {:g} count as zero; the output error is ||relu(X W_trim) - Y||_F / "
                           "||Y||_F.",
                           r.options.zero_threshold),
               static_cast<std::size_t>(opt.width), "");
}

}  // namespace

void print_net_trim_text(std::ostream& os, const NetTrimReport& r, const NetTrimShow& show, const PrintOptions& opt) {
    print_program(os, r, opt);
    print_log(os, r, show.unit, show.every, opt);
    for (const NetTrimSolution& s : r.solutions) print_solution(os, r, s, opt);
    print_table(os, r, opt);
}

nlohmann::json net_trim_json(const NetTrimReport& r) {
    using json = nlohmann::json;
    const Graph& g = *r.graph;
    json solutions = json::array();
    for (const NetTrimSolution& s : r.solutions) {
        json units = json::array();
        for (const NetTrimUnit& u : s.units) {
            json log = json::array();
            for (const AdmmStep& a : u.log)
                log.push_back({{"objective", a.objective},
                               {"primal", a.primal},
                               {"eps_primal", a.eps_primal},
                               {"dual", a.dual},
                               {"eps_dual", a.eps_dual}});
            units.push_back({{"unit", u.unit},
                             {"weights", u.weights},
                             {"converged", u.converged},
                             {"iterations", u.log.size()},
                             {"active_error", u.active_error},
                             {"inactive_violation", u.inactive_violation},
                             {"multipliers", u.dual_z},
                             {"log", log}});
        }
        solutions.push_back({{"epsilon", s.epsilon},
                             {"l1", s.l1},
                             {"nonzero", s.nonzero},
                             {"relative_error", s.relative_error},
                             {"units", units}});
    }
    return {{"bnstep", kVersion},
            {"command", "net-trim"},
            {"lesson", g.name},
            {"param", g.nodes[r.param].name},
            {"input", g.nodes[g.nodes[r.matmul].inputs[0]].name},
            {"output", g.nodes[r.relu].name},
            {"shape", {{"examples", r.x.shape()[0]}, {"inputs", r.x.shape()[1]}, {"units", r.w.shape()[1]}}},
            {"rho", r.options.rho},
            {"tolerance", r.options.tolerance},
            {"max_iterations", r.options.iterations},
            {"zero_threshold", r.options.zero_threshold},
            {"original_l1", r.original_l1},
            {"original_nonzero", r.original_nonzero},
            {"solutions", solutions}};
}

}  // namespace bnstep
