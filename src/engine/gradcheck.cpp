#include "bnstep/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "bnstep/rng.hpp"
#include "bnstep/parallel.hpp"

namespace bnstep {
namespace {

enum class Mode { True, Surrogate };

// Which piece each element of an op's output lies on, per node downstream of
// the perturbed one (in the order Perturbation::downstream lists them).
using Pieces = std::vector<std::vector<long long>>;

// Re-evaluates what a moved node changes, and the loss it is checked against:
// - whole: everything downstream of the node, and L = sum(output * seed);
// - local: only the node's consumers j, and L_i = sum_j <out_j, dout_j> (plus
//   <v, seed> for the output), whose derivative is the node's gradient when
//   every consumer's gradient dout_j is right; checking every node so proves
//   every gradient, from the output's seed down, at a cost per node that does
//   not grow with the graph above it (PyTorch's gradcheck checks ops so).
class Perturbation {
public:
    // `consumers`: the node's consumers (Graph::consumers) for a local check; null for a whole one.
    Perturbation(const Graph& g, const Trace& t, std::vector<Tensor>& values, std::size_t node,
                 const std::vector<std::size_t>* consumers)
        : g_(g), t_(t), values_(values), node_(node), local_(consumers != nullptr) {
        if (consumers) {
            for (std::size_t j : *consumers)
                if (t.nodes[j].grad && (saved_.empty() || saved_.back().first != j)) keep(j);
            return;
        }
        const std::vector<bool> downstream = g.downstream_of(node);
        for (std::size_t j = node + 1; j < g.nodes.size(); ++j)
            if (downstream[j]) keep(j);
    }
    ~Perturbation() {
        for (auto& [j, value] : saved_) values_[j] = std::move(value);
    }
    Perturbation(const Perturbation&) = delete;
    Perturbation& operator=(const Perturbation&) = delete;

    const std::vector<std::size_t>& surrogates() const { return surrogates_; }
    // The nodes downstream of the perturbed one, in topological order.
    std::size_t downstream(std::size_t k) const { return saved_[k].first; }
    // Floating-point operations, roughly, of one evaluation.
    double work() const {
        double w = 0.0;
        for (const auto& [j, value] : saved_) w += 10.0 * double(value.size());
        return w;
    }

    // The loss at the values as they are, and sum |term| of it: the scale of its round-off.
    double current_loss() const { return loss_terms(false); }
    double loss_magnitude() const { return loss_terms(true); }

    // L with element e of the node moved to `value`; the pieces of the ops
    // downstream go to `pieces` when given.
    double loss_at(std::size_t e, double value, Mode mode, Pieces* pieces) {
        const double original = values_[node_][e];
        values_[node_][e] = value;
        const double l = evaluate(mode, pieces);
        values_[node_][e] = original;
        return l;
    }

    // L with the node's whole value moved by t * direction.
    double loss_along(const Tensor& direction, double t, Mode mode, Pieces* pieces) {
        const Tensor original = values_[node_];
        Tensor& v = values_[node_];
        for (std::size_t e = 0; e < v.size(); ++e) v[e] += t * direction[e];
        const double l = evaluate(mode, pieces);
        values_[node_] = original;
        return l;
    }

private:
    double evaluate(Mode mode, Pieces* pieces) {
        if (pieces) pieces->assign(saved_.size(), {});
        const bool surrogate = mode == Mode::Surrogate;
        if (local_) {
            // Each consumer sees the moved node and every other input as it was:
            // its new value is not written where another consumer would read it.
            double l = node_ == g_.output ? sum_of_products(values_[node_], g_.seed, false) : 0.0;
            for (std::size_t k = 0; k < saved_.size(); ++k) {
                const std::size_t j = saved_[k].first;
                Tensor out = forward_as_checked(g_, t_, values_, j, surrogate);
                if (pieces) {
                    std::swap(values_[j], out);
                    (*pieces)[k] = pieces_as_checked(g_, values_, j, surrogate);
                    std::swap(values_[j], out);
                }
                l += sum_of_products(out, *t_.nodes[j].grad, false);
            }
            return l;
        }
        for (std::size_t k = 0; k < saved_.size(); ++k) {
            const std::size_t j = saved_[k].first;
            if (g_.nodes[j].is_leaf()) continue;
            values_[j] = forward_as_checked(g_, t_, values_, j, surrogate);
            if (pieces) (*pieces)[k] = pieces_as_checked(g_, values_, j, surrogate);
        }
        return current_loss();
    }

    void keep(std::size_t j) {
        saved_.emplace_back(j, values_[j]);
        if (g_.nodes[j].op && g_.nodes[j].op->surrogate) surrogates_.push_back(j);
    }

    static double sum_of_products(const Tensor& value, const Tensor& weight, bool magnitude) {
        double l = 0.0;
        for (std::size_t k = 0; k < value.size(); ++k)
            l += magnitude ? std::fabs(value[k] * weight[k]) : value[k] * weight[k];
        return l;
    }

    double loss_terms(bool magnitude) const {
        double l = !local_ || node_ == g_.output ? sum_of_products(values_[g_.output], g_.seed, magnitude) : 0.0;
        if (local_)
            for (const auto& [j, unused] : saved_) l += sum_of_products(values_[j], *t_.nodes[j].grad, magnitude);
        return l;
    }

    const Graph& g_;
    const Trace& t_;
    std::vector<Tensor>& values_;
    std::size_t node_;
    bool local_;
    std::vector<std::pair<std::size_t, Tensor>> saved_;
    std::vector<std::size_t> surrogates_;
};

// The first op output element on different pieces in the two evaluations:
// (its position in the downstream list, the element).
std::optional<std::pair<std::size_t, std::size_t>> first_change(const Pieces& a, const Pieces& b) {
    for (std::size_t j = 0; j < a.size(); ++j)
        for (std::size_t k = 0; k < a[j].size() && k < b[j].size(); ++k)
            if (a[j][k] != b[j][k]) return std::make_pair(j, k);
    return std::nullopt;
}

// Why a centred difference cannot check this element, or "".
std::string unresolvable(double v, double h, double plus, double minus) {
    if (v + h == v || v - h == v)
        return fmt::format("the step h = {:g} is lost in the round-off of the value {:g} (v + h == v)", h, v);
    if (!std::isfinite(plus) || !std::isfinite(minus))
        return fmt::format("L overflowed when the value {:g} moved by h (L(v + h) = {:g}, L(v - h) = {:g})", v, plus,
                           minus);
    return "";
}

// Why the comparison would pass whatever the numeric gradient, or "": the
// floor, raised to the round-off of L, is so large that a numeric difference
// of 0 passes against the largest analytic gradient of the node.
std::string vacuous(double largest, double floor, const GradcheckOptions& options) {
    const double tolerance = options.tolerance, h = options.step;
    if (!(floor > options.floor) || largest == 0.0 || largest > tolerance * floor) return "";
    return fmt::format(
        "the round-off of L exceeds the change a step of h makes: tolerance * floor = {:.3g} is above the "
        "largest gradient {:.3g} (L changes by at most 2h * {:.3g} = {:.3g}), so any numeric difference "
        "would pass",
        tolerance * floor, largest, largest, 2 * h * largest);
}

// Matches within this relative error count for one-sided differences, whose
// error is first order in h.
constexpr double kOneSidedTolerance = 1e-3;

std::string which_side(double analytic, double left, double right, double floor) {
    const bool l = relative_error(analytic, left, floor) <= kOneSidedTolerance;
    const bool r = relative_error(analytic, right, floor) <= kOneSidedTolerance;
    return l && r ? "both" : l ? "left" : r ? "right" : "neither";
}

// The two (or, through a surrogate, four) evaluations of one element.
struct ElementLosses {
    double plus = 0.0, minus = 0.0;
    double plain = 0.0;  // the plain centred difference through the true ops, when a surrogate is differentiated
    std::optional<std::pair<std::size_t, std::size_t>> change;  // a kink between the two
};

GradcheckMode resolve(const GradcheckOptions& options, const Trace& trace) {
    if (options.mode != GradcheckMode::Auto) return options.mode;
    std::size_t elements = 0;
    for (std::size_t i : trace.backward_order) elements += trace.nodes[i].grad->size();
    if (elements > kAutoFullElements) return GradcheckMode::Directional;
    return trace.nodes.size() > kAutoLocalNodes ? GradcheckMode::Local : GradcheckMode::Full;
}

// `count` distinct elements of [0, size), drawn with the seed, in increasing order; all when size <= count.
std::vector<std::size_t> sample(std::size_t size, std::size_t count, std::uint64_t seed) {
    std::vector<std::size_t> all(size);
    for (std::size_t e = 0; e < size; ++e) all[e] = e;
    if (size <= count) return all;
    Rng rng(seed);
    for (std::size_t k = 0; k < count; ++k) std::swap(all[k], all[k + rng.next() % (size - k)]);
    all.resize(count);
    std::sort(all.begin(), all.end());
    return all;
}

// A direction of unit length, uniform entries scaled, drawn with the seed.
Tensor random_direction(const Shape& shape, std::uint64_t seed) {
    Rng rng(seed);
    Tensor d(shape);
    double norm = 0.0;
    for (double& v : d.data()) {
        v = rng.uniform(-1.0, 1.0);
        norm += v * v;
    }
    norm = std::sqrt(norm);
    if (norm > 0)
        for (double& v : d.data()) v /= norm;
    return d;
}

}  // namespace

std::string mode_name(GradcheckMode mode) {
    switch (mode) {
        case GradcheckMode::Auto: return "auto";
        case GradcheckMode::Full: return "full";
        case GradcheckMode::Sparse: return "sparse";
        case GradcheckMode::Directional: return "directional";
        case GradcheckMode::Local: return "local";
    }
    return "auto";
}

std::size_t GradcheckReport::failures() const {
    return static_cast<std::size_t>(
        std::count_if(checks.begin(), checks.end(), [](const NodeCheck& c) { return !c.passed; }));
}

Tensor forward_as_checked(const Graph& g, const Trace& t, const std::vector<Tensor>& values, std::size_t j,
                          bool surrogate) {
    const OpDef& op = *g.nodes[j].op;
    if (surrogate && op.surrogate) return op.surrogate->forward(call_of(g, values, j), t.call(j));
    return op.forward(call_of(g, values, j));
}

std::vector<long long> pieces_as_checked(const Graph& g, const std::vector<Tensor>& values, std::size_t j,
                                         bool surrogate) {
    const OpDef& op = *g.nodes[j].op;
    const PiecesFn& fn = surrogate && op.surrogate ? op.surrogate->pieces : op.pieces;
    return fn ? fn(call_of(g, values, j)) : std::vector<long long>{};
}

double relative_error(double analytic, double numeric, double floor) {
    const double scale = std::max({std::fabs(analytic), std::fabs(numeric), floor});
    return std::fabs(analytic - numeric) / scale;
}

GradcheckReport check_gradients(const Graph& g, const Trace& trace, const GradcheckOptions& options) {
    GradcheckReport report;
    report.graph = &g;
    report.options = options;
    report.mode = resolve(options, trace);
    std::vector<Tensor> values;
    for (const NodeState& s : trace.nodes) values.push_back(s.value);
    const double h = options.step;
    const std::vector<std::vector<std::size_t>> consumers =
        report.mode == GradcheckMode::Local ? g.consumers() : std::vector<std::vector<std::size_t>>{};
    auto local_consumers = [&](std::size_t i) { return consumers.empty() ? nullptr : &consumers[i]; };
    report.floor = options.floor;

    // The loss a node's check differentiates, and its floor: options.floor,
    // raised to the loss's round-off, eps * sum |terms| / h, over the tolerance.
    struct Scale {
        double base = 0.0, floor = 0.0;
        std::string unusable;  // why no difference of the loss can be compared, or ""
    };
    auto scale_of = [&](const Perturbation& p) {
        Scale sc;
        sc.base = p.current_loss();
        const double roundoff = std::numeric_limits<double>::epsilon() * p.loss_magnitude() / h;
        sc.floor = std::max(options.floor, roundoff / options.tolerance);
        if (!std::isfinite(sc.floor))
            sc.unusable =
                "L overflows: the round-off of L, eps * (the sum of |its terms|) / h, is not finite, so no "
                "difference of L can be compared";
        report.floor = std::max(report.floor, sc.floor);
        return sc;
    };

    // Centred differences, element by element, over `elements` of node i.
    // The losses are computed first, the elements shared between threads
    // (each with its own copy of the values; one thread works on `values`
    // itself, so a node's cost does not grow with the graph upstream of it),
    // then compared in element order.
    auto check_elements = [&](NodeCheck& check, Mode mode, const std::vector<std::size_t>& elements,
                              Perturbation& on_values, const Scale& sc) {
        const double floor = sc.floor, base_loss = sc.base;
        const Tensor& analytic = *trace.nodes[check.node].grad;
        const std::size_t i = check.node;
        std::vector<ElementLosses> losses(elements.size());
        parallel_ranges(
            elements.size(), on_values.work() * double(elements.size()), [&](std::size_t first, std::size_t last) {
                const bool alone = first == 0 && last == elements.size();
                std::vector<Tensor> copy;
                if (!alone) copy = values;
                std::optional<Perturbation> own_copy;
                if (!alone) own_copy.emplace(g, trace, copy, i, local_consumers(i));
                Perturbation& p = alone ? on_values : *own_copy;
                const std::vector<Tensor>& own = alone ? values : copy;
                Pieces plus_pieces, minus_pieces;
                for (std::size_t k = first; k < last; ++k) {
                    const std::size_t e = elements[k];
                    const double v = own[i][e];
                    ElementLosses& r = losses[k];
                    r.plus = p.loss_at(e, v + h, mode, &plus_pieces);
                    r.minus = p.loss_at(e, v - h, mode, &minus_pieces);
                    if (mode == Mode::Surrogate)
                        r.plain =
                            (p.loss_at(e, v + h, Mode::True, nullptr) - p.loss_at(e, v - h, Mode::True, nullptr)) /
                            (2 * h);
                    if (const auto change = first_change(plus_pieces, minus_pieces))
                        r.change = std::make_pair(p.downstream(change->first), change->second);
                }
            });
        double largest = 0.0;
        check.not_checkable = sc.unusable;
        for (std::size_t k = 0; k < elements.size(); ++k) {
            const std::size_t e = elements[k];
            const double plus = losses[k].plus, minus = losses[k].minus;
            largest = std::max(largest, std::fabs(analytic[e]));
            if (check.not_checkable.empty()) {
                if (const std::string why = unresolvable(values[i][e], h, plus, minus); !why.empty())
                    check.not_checkable =
                        fmt::format("at {}: {}", analytic.rank() ? index_str(analytic.unravel(e)) : "the scalar", why);
            }
            if (mode == Mode::Surrogate) {
                const double plain = losses[k].plain;
                const double error = relative_error(analytic[e], plain, floor);
                if (k == 0 || error > check.plain_max_error || std::isnan(error)) {
                    check.plain_max_error = error;
                    check.plain_numeric = plain;
                    check.plain_worst = analytic.unravel(e);
                }
            }
            if (const auto& change = losses[k].change) {
                ++check.kinks;
                if (!check.first_kink) {
                    KinkCrossing k;
                    k.at = analytic.unravel(e);
                    k.where = change->first;
                    k.where_at = values[change->first].unravel(change->second);
                    k.left = (base_loss - minus) / h;
                    k.right = (plus - base_loss) / h;
                    k.analytic = analytic[e];
                    k.matches = which_side(k.analytic, k.left, k.right, floor);
                    check.first_kink = std::move(k);
                }
                continue;
            }
            const double numeric = (plus - minus) / (2 * h);
            const double error = relative_error(analytic[e], numeric, floor);
            if (check.compared == 0 || error > check.max_error || std::isnan(error)) {
                check.max_error = error;
                check.worst = analytic.unravel(e);
                check.analytic = analytic[e];
                check.numeric = numeric;
            }
            ++check.compared;
        }
        if (check.not_checkable.empty()) check.not_checkable = vacuous(largest, floor, options);
        check.passed = check.not_checkable.empty() && (check.compared == 0 || check.max_error <= options.tolerance);
    };

    for (std::size_t i : trace.backward_order) {
        const Tensor& analytic = *trace.nodes[i].grad;
        Perturbation p(g, trace, values, i, local_consumers(i));
        const Scale sc = scale_of(p);
        const double floor = sc.floor;
        const Mode mode = p.surrogates().empty() ? Mode::True : Mode::Surrogate;
        NodeCheck check;
        check.node = i;
        check.elements = analytic.size();
        check.surrogates = p.surrogates();
        check.mode = report.mode;
        const std::uint64_t node_seed = options.seed * 1000003u + i;
        if (report.mode == GradcheckMode::Directional) {
            const Tensor dir = random_direction(analytic.shape(), node_seed);
            double along = 0.0;
            for (std::size_t e = 0; e < analytic.size(); ++e) along += analytic[e] * dir[e];
            Pieces plus_pieces, minus_pieces;
            const double plus = p.loss_along(dir, h, mode, &plus_pieces);
            const double minus = p.loss_along(dir, -h, mode, &minus_pieces);
            check.directional_analytic = along;
            check.directional_numeric = (plus - minus) / (2 * h);
            check.directional_error = relative_error(along, check.directional_numeric, floor);
            if (mode == Mode::Surrogate) {
                check.plain_numeric =
                    (p.loss_along(dir, h, Mode::True, nullptr) - p.loss_along(dir, -h, Mode::True, nullptr)) / (2 * h);
                check.plain_max_error = relative_error(along, check.plain_numeric, floor);
            }
            check.max_error = check.directional_error;
            check.analytic = along;
            check.numeric = check.directional_numeric;
            check.compared = 1;
            check.passed = check.directional_error <= options.tolerance;
            double largest = 0.0;
            for (std::size_t e = 0; e < analytic.size(); ++e) largest = std::max(largest, std::fabs(analytic[e]));
            if (!std::isfinite(plus) || !std::isfinite(minus))
                check.not_checkable = fmt::format(
                    "L overflowed when the value moved by h along the direction "
                    "(L(v + h dir) = {:g}, L(v - h dir) = {:g})",
                    plus, minus);
            if (check.not_checkable.empty()) check.not_checkable = sc.unusable;
            if (check.not_checkable.empty()) check.not_checkable = vacuous(largest, floor, options);
            check.passed = check.passed && check.not_checkable.empty();
            if (check.not_checkable.empty() && (!check.passed || first_change(plus_pieces, minus_pieces))) {
                NodeCheck full;
                full.node = i;
                full.elements = analytic.size();
                full.surrogates = check.surrogates;
                full.mode = GradcheckMode::Full;
                full.fell_back = true;
                full.directional_analytic = check.directional_analytic;
                full.directional_numeric = check.directional_numeric;
                full.directional_error = check.directional_error;
                check = std::move(full);
                // A node too large for a full check within the run's bounds is sampled instead.
                const std::size_t count = analytic.size() <= kAutoFullElements ? analytic.size() : options.samples;
                if (count < analytic.size()) check.mode = GradcheckMode::Sparse;
                check_elements(check, mode, sample(analytic.size(), count, node_seed), p, sc);
            }
        } else {
            const std::size_t count = report.mode == GradcheckMode::Sparse ? options.samples : analytic.size();
            check_elements(check, mode, sample(analytic.size(), count, node_seed), p, sc);
        }
        report.checks.push_back(std::move(check));
    }
    return report;
}

}  // namespace bnstep
