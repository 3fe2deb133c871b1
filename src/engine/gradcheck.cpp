// The gradient check: each node's analytic gradient against centred
// differences of the loss, in the mode the options ask for (full, sparse,
// directional or local), each mode a function of its own.
#include "bnstep/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "bnstep/parallel.hpp"
#include "bnstep/rng.hpp"
#include "gradcheck_perturbation.hpp"

namespace bnstep::gradcheck_detail {
namespace {

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

// What every node's check shares.
struct Checker {
    const Graph& g;
    const Trace& trace;
    const GradcheckOptions& options;
    GradcheckReport& report;
    std::vector<Tensor> values;  // the trace's, moved and restored by each Perturbation
    double h = 0.0;
    std::vector<std::vector<std::size_t>> consumers;  // local mode only

    const std::vector<std::size_t>* local_consumers(std::size_t i) const {
        return consumers.empty() ? nullptr : &consumers[i];
    }
};

// The loss a node's check differentiates, and its floor: options.floor,
// raised to the loss's round-off, eps * sum |terms| / h, over the tolerance.
struct Scale {
    double base = 0.0, floor = 0.0;
    std::string unusable;  // why no difference of the loss can be compared, or ""
};

Scale scale_of(Checker& c, const Perturbation& p) {
    Scale sc;
    sc.base = p.current_loss();
    const double roundoff = std::numeric_limits<double>::epsilon() * p.loss_magnitude() / c.h;
    sc.floor = std::max(c.options.floor, roundoff / c.options.tolerance);
    if (!std::isfinite(sc.floor))
        sc.unusable =
            "L overflows: the round-off of L, eps * (the sum of |its terms|) / h, is not finite, so no "
            "difference of L can be compared";
    c.report.floor = std::max(c.report.floor, sc.floor);
    return sc;
}

// The losses at +-h of `elements` of node i, the elements shared between
// threads (each with its own copy of the values; one thread works on `values`
// itself, so a node's cost does not grow with the graph upstream of it).
std::vector<ElementLosses> element_losses(Checker& c, std::size_t i, Mode mode,
                                          const std::vector<std::size_t>& elements, Perturbation& on_values) {
    const double h = c.h;
    std::vector<ElementLosses> losses(elements.size());
    parallel_ranges(
        elements.size(), on_values.work() * double(elements.size()), [&](std::size_t first, std::size_t last) {
            const bool alone = first == 0 && last == elements.size();
            std::vector<Tensor> copy;
            if (!alone) copy = c.values;
            std::optional<Perturbation> own_copy;
            if (!alone) own_copy.emplace(c.g, c.trace, copy, i, c.local_consumers(i));
            Perturbation& p = alone ? on_values : *own_copy;
            const std::vector<Tensor>& own = alone ? c.values : copy;
            Pieces plus_pieces, minus_pieces;
            for (std::size_t k = first; k < last; ++k) {
                const std::size_t e = elements[k];
                const double v = own[i][e];
                ElementLosses& r = losses[k];
                r.plus = p.loss_at(e, v + h, mode, &plus_pieces);
                r.minus = p.loss_at(e, v - h, mode, &minus_pieces);
                if (mode == Mode::Surrogate)
                    r.plain =
                        (p.loss_at(e, v + h, Mode::True, nullptr) - p.loss_at(e, v - h, Mode::True, nullptr)) / (2 * h);
                if (const auto change = first_change(plus_pieces, minus_pieces))
                    r.change = std::make_pair(p.downstream(change->first), change->second);
            }
        });
    return losses;
}

// The one-sided differences at an element whose +-h crossed a kink.
KinkCrossing kink_at(const Checker& c, const Tensor& analytic, std::size_t e, const ElementLosses& l, const Scale& sc) {
    KinkCrossing k;
    k.at = analytic.unravel(e);
    k.where = l.change->first;
    k.where_at = c.values[l.change->first].unravel(l.change->second);
    k.left = (sc.base - l.minus) / c.h;
    k.right = (l.plus - sc.base) / c.h;
    k.analytic = analytic[e];
    k.matches = which_side(k.analytic, k.left, k.right, sc.floor);
    return k;
}

// Centred differences, element by element, over `elements` of the node: the
// losses first, then compared in element order.
void check_elements(Checker& c, NodeCheck& check, Mode mode, const std::vector<std::size_t>& elements,
                    Perturbation& on_values, const Scale& sc) {
    const double floor = sc.floor, h = c.h;
    const std::size_t i = check.node;
    const Tensor& analytic = *c.trace.nodes[i].grad;
    const std::vector<ElementLosses> losses = element_losses(c, i, mode, elements, on_values);
    double largest = 0.0;
    check.not_checkable = sc.unusable;
    for (std::size_t k = 0; k < elements.size(); ++k) {
        const std::size_t e = elements[k];
        const double plus = losses[k].plus, minus = losses[k].minus;
        largest = std::max(largest, std::fabs(analytic[e]));
        if (check.not_checkable.empty()) {
            if (const std::string why = unresolvable(c.values[i][e], h, plus, minus); !why.empty())
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
        if (losses[k].change) {
            ++check.kinks;
            if (!check.first_kink) check.first_kink = kink_at(c, analytic, e, losses[k], sc);
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
    if (check.not_checkable.empty()) check.not_checkable = vacuous(largest, floor, c.options);
    check.passed = check.not_checkable.empty() && (check.compared == 0 || check.max_error <= c.options.tolerance);
}

Mode mode_of(const Perturbation& p) { return p.surrogates().empty() ? Mode::True : Mode::Surrogate; }
std::uint64_t node_seed(const Checker& c, std::size_t i) { return c.options.seed * 1000003u + i; }

// Full: every element of the node, against the whole loss.
void check_full(Checker& c, NodeCheck& check, Perturbation& p, const Scale& sc) {
    const std::size_t size = check.elements;
    check_elements(c, check, mode_of(p), sample(size, size, node_seed(c, check.node)), p, sc);
}

// Local: every element of the node, against L_i of its consumers (the
// Perturbation was made local).
void check_local(Checker& c, NodeCheck& check, Perturbation& p, const Scale& sc) { check_full(c, check, p, sc); }

// Sparse: a seeded sample of options.samples elements.
void check_sparse(Checker& c, NodeCheck& check, Perturbation& p, const Scale& sc) {
    check_elements(c, check, mode_of(p), sample(check.elements, c.options.samples, node_seed(c, check.node)), p, sc);
}

// After a directional check that failed or crossed a kink: a full one (a node
// too large for a full check within the run's bounds is sampled instead),
// keeping the directional figures.
void fall_back_to_full(Checker& c, NodeCheck& check, Perturbation& p, const Scale& sc) {
    NodeCheck full;
    full.node = check.node;
    full.elements = check.elements;
    full.surrogates = check.surrogates;
    full.mode = GradcheckMode::Full;
    full.fell_back = true;
    full.directional_analytic = check.directional_analytic;
    full.directional_numeric = check.directional_numeric;
    full.directional_error = check.directional_error;
    check = std::move(full);
    const std::size_t size = check.elements;
    const std::size_t count = size <= kAutoFullElements ? size : c.options.samples;
    if (count < size) check.mode = GradcheckMode::Sparse;
    check_elements(c, check, mode_of(p), sample(size, count, node_seed(c, check.node)), p, sc);
}

// Directional: one seeded random unit direction, (L(v + h dir) - L(v - h dir)) / 2h
// against <grad, dir>.
void check_directional(Checker& c, NodeCheck& check, Perturbation& p, const Scale& sc) {
    const double h = c.h, floor = sc.floor;
    const Mode mode = mode_of(p);
    const Tensor& analytic = *c.trace.nodes[check.node].grad;
    const Tensor dir = random_direction(analytic.shape(), node_seed(c, check.node));
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
    check.passed = check.directional_error <= c.options.tolerance;
    double largest = 0.0;
    for (std::size_t e = 0; e < analytic.size(); ++e) largest = std::max(largest, std::fabs(analytic[e]));
    if (!std::isfinite(plus) || !std::isfinite(minus))
        check.not_checkable = fmt::format(
            "L overflowed when the value moved by h along the direction "
            "(L(v + h dir) = {:g}, L(v - h dir) = {:g})",
            plus, minus);
    if (check.not_checkable.empty()) check.not_checkable = sc.unusable;
    if (check.not_checkable.empty()) check.not_checkable = vacuous(largest, floor, c.options);
    check.passed = check.passed && check.not_checkable.empty();
    if (check.not_checkable.empty() && (!check.passed || first_change(plus_pieces, minus_pieces)))
        fall_back_to_full(c, check, p, sc);
}

}  // namespace
}  // namespace bnstep::gradcheck_detail

namespace bnstep {

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
    using namespace gradcheck_detail;
    GradcheckReport report;
    report.graph = &g;
    report.options = options;
    report.mode = resolve(options, trace);
    report.floor = options.floor;
    Checker c{g, trace, options, report, {}, options.step, {}};
    for (const NodeState& s : trace.nodes) c.values.push_back(s.value);
    if (report.mode == GradcheckMode::Local) c.consumers = g.consumers();
    for (std::size_t i : trace.backward_order) {
        Perturbation p(g, trace, c.values, i, c.local_consumers(i));
        const Scale sc = scale_of(c, p);
        NodeCheck check;
        check.node = i;
        check.elements = trace.nodes[i].grad->size();
        check.surrogates = p.surrogates();
        check.mode = report.mode;
        switch (report.mode) {
            case GradcheckMode::Directional: check_directional(c, check, p, sc); break;
            case GradcheckMode::Sparse: check_sparse(c, check, p, sc); break;
            case GradcheckMode::Local: check_local(c, check, p, sc); break;
            default: check_full(c, check, p, sc); break;
        }
        report.checks.push_back(std::move(check));
    }
    return report;
}

}  // namespace bnstep
