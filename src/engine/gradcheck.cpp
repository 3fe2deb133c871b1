// The gradient check: each node's analytic gradient against centred
// differences of the loss, in the mode the options ask for (full, sparse,
// directional or local), each mode a function of its own.
#include "bnstep/gradcheck.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "bnstep/parallel.hpp"
#include "bnstep/rng.hpp"
#include "gradcheck_perturbation.hpp"

namespace bnstep::gradcheck_detail {
namespace {

// The op output elements on different pieces in the two evaluations, as
// (position in the downstream list, position in that node's changed box).
std::vector<std::pair<std::size_t, std::size_t>> changes(const Pieces& a, const Pieces& b, std::size_t at_most) {
    std::vector<std::pair<std::size_t, std::size_t>> found;
    for (std::size_t j = 0; j < a.size(); ++j)
        for (std::size_t k = 0; k < a[j].size() && k < b[j].size(); ++k)
            if (a[j][k] != b[j][k]) {
                found.emplace_back(j, k);
                if (found.size() == at_most) return found;
            }
    return found;
}

// Why a centred difference cannot check this element, or "".
std::string unresolvable(double v, double h, double plus, double minus) {
    if (v + h == v || v - h == v)
        return fmt::format("the step h = {:g} is lost in the round-off of the value {:g} (v + h == v)", h, v);
    if (!std::isfinite(plus) || !std::isfinite(minus))
        return fmt::format(
            "L overflowed when the value {:g} moved by h (L(v + h) - L(v) = {:g}, L(v - h) - L(v) = {:g})", v, plus,
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
    double centre = 0.0;  // at the element's own value, through the same recomputation: only beside a change
    double plain = 0.0;   // the plain centred difference through the true ops, when a surrogate is differentiated
    std::optional<std::pair<std::size_t, std::size_t>> change;  // a kink between the two: node, element
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
    double h = 0.0;
    std::vector<std::vector<std::size_t>> consumers;  // local mode only

    const std::vector<std::size_t>* local_consumers(std::size_t i) const {
        return consumers.empty() ? nullptr : &consumers[i];
    }
};

// The floor of a node's check: options.floor, raised to the round-off of the
// loss it differentiates, eps * sum |terms| / h, over the tolerance.
struct Scale {
    double floor = 0.0;
    std::string unusable;  // why no difference of the loss can be compared, or ""
};

Scale scale_of(Checker& c, const Perturbation& p) {
    Scale sc;
    const double roundoff = std::numeric_limits<double>::epsilon() * p.loss_magnitude() / c.h;
    sc.floor = std::max(c.options.floor, roundoff / c.options.tolerance);
    if (!std::isfinite(sc.floor))
        sc.unusable =
            "L overflows: the round-off of L, eps * (the sum of |its terms|) / h, is not finite, so no "
            "difference of L can be compared";
    return sc;
}

// The changes of the loss at +-h of `elements` of node i, the elements
// shared between threads, each with a Perturbation of its own.
std::vector<ElementLosses> element_losses(Checker& c, std::size_t i, Mode mode,
                                          const std::vector<std::size_t>& elements, Perturbation& on_values) {
    const double h = c.h;
    std::vector<ElementLosses> losses(elements.size());
    parallel_ranges(
        elements.size(), on_values.work() * double(elements.size()), [&](std::size_t first, std::size_t last) {
            const bool alone = first == 0 && last == elements.size();
            std::optional<Perturbation> own;
            if (!alone) own.emplace(c.g, c.trace, i, c.local_consumers(i));
            Perturbation& p = alone ? on_values : *own;
            Pieces plus_pieces, minus_pieces;
            for (std::size_t k = first; k < last; ++k) {
                const std::size_t e = elements[k];
                const double v = c.trace.nodes[i].value[e];
                ElementLosses& r = losses[k];
                r.plus = p.loss_at(e, v + h, mode, &plus_pieces);
                r.minus = p.loss_at(e, v - h, mode, &minus_pieces);
                if (mode == Mode::Surrogate)
                    r.plain =
                        (p.loss_at(e, v + h, Mode::True, nullptr) - p.loss_at(e, v - h, Mode::True, nullptr)) / (2 * h);
                if (const auto change = changes(plus_pieces, minus_pieces, 1); !change.empty()) {
                    r.centre = p.loss_at(e, v, mode, nullptr);
                    r.change =
                        std::make_pair(p.downstream(change[0].first), p.element_of(change[0].first, change[0].second));
                }
            }
        });
    return losses;
}

// The one-sided differences at an element whose +-h crossed a kink.
KinkCrossing kink_at(const Checker& c, const Tensor& analytic, std::size_t e, const ElementLosses& l, const Scale& sc) {
    KinkCrossing k;
    k.at = analytic.unravel(e);
    k.where = l.change->first;
    k.where_at = c.trace.nodes[l.change->first].value.unravel(l.change->second);
    k.left = (l.centre - l.minus) / c.h;
    k.right = (l.plus - l.centre) / c.h;
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
            if (const std::string why = unresolvable(c.trace.nodes[i].value[e], h, plus, minus); !why.empty())
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

// After a directional check that failed: a full one (a node too large for a
// full check within the run's bounds is sampled instead), which names the
// wrong elements, keeping the directional figures.
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

// Rounds of taking kinks out of a direction before the rest is given up.
constexpr std::size_t kExclusionRounds = 8;
// Excluded elements tried one by one for the kink the report shows.
constexpr std::size_t kKinkProbes = 8;

// The direction with the elements set to 0 whose +-h reaches an op element
// that changed piece, rescaled to unit length: the changes of L along it, and
// how many elements it leaves out (all of them when the kinks never stop).
struct KinkFreeDirection {
    Tensor dir;
    double plus = 0.0, minus = 0.0;
    std::vector<std::size_t> excluded;  // in increasing order
};

KinkFreeDirection kink_free_direction(const Checker& c, std::size_t i, Perturbation& p, Mode mode) {
    KinkFreeDirection d{random_direction(c.trace.nodes[i].value.shape(), node_seed(c, i)), 0.0, 0.0, {}};
    std::vector<bool> out(d.dir.size(), false);
    for (std::size_t round = 0;; ++round) {
        Pieces plus_pieces, minus_pieces;
        d.plus = p.loss_along(d.dir, c.h, mode, &plus_pieces);
        d.minus = p.loss_along(d.dir, -c.h, mode, &minus_pieces);
        const auto crossed = changes(plus_pieces, minus_pieces, static_cast<std::size_t>(-1));
        if (crossed.empty()) break;
        bool widened = false;
        for (const auto& [k, at] : crossed)
            if (const auto box = p.reaching(k, p.element_of(k, at)))
                for_each_in(*box, d.dir.shape(), [&](std::size_t e, std::size_t) {
                    widened = widened || !out[e];
                    out[e] = true;
                });
        if (!widened || round + 1 == kExclusionRounds) std::fill(out.begin(), out.end(), true);
        double norm = 0.0;
        for (std::size_t e = 0; e < d.dir.size(); ++e) {
            if (out[e]) d.dir[e] = 0.0;
            norm += d.dir[e] * d.dir[e];
        }
        if (norm == 0.0) {
            d.plus = d.minus = 0.0;
            break;
        }
        for (double& v : d.dir.data()) v /= std::sqrt(norm);
    }
    for (std::size_t e = 0; e < out.size(); ++e)
        if (out[e]) d.excluded.push_back(e);
    return d;
}

// The first of a few excluded elements whose own +-h crosses a kink, with its
// one-sided differences.
std::optional<KinkCrossing> first_kink_among(Checker& c, std::size_t i, Perturbation& p, Mode mode,
                                             const std::vector<std::size_t>& excluded, const Scale& sc) {
    for (std::size_t k = 0; k < excluded.size() && k < kKinkProbes; ++k) {
        const std::vector<ElementLosses> losses = element_losses(c, i, mode, {excluded[k]}, p);
        if (losses[0].change) return kink_at(c, *c.trace.nodes[i].grad, excluded[k], losses[0], sc);
    }
    return std::nullopt;
}

// Directional: one seeded random unit direction, (L(v + h dir) - L(v - h dir)) / 2h
// against <grad, dir>, with the elements whose move crosses a kink left out of it.
void check_directional(Checker& c, NodeCheck& check, Perturbation& p, const Scale& sc) {
    const double h = c.h, floor = sc.floor;
    const Mode mode = mode_of(p);
    const Tensor& analytic = *c.trace.nodes[check.node].grad;
    const KinkFreeDirection d = kink_free_direction(c, check.node, p, mode);
    double along = 0.0, largest = 0.0;
    for (std::size_t e = 0; e < analytic.size(); ++e) {
        along += analytic[e] * d.dir[e];
        largest = std::max(largest, std::fabs(analytic[e]));
    }
    check.kinks = d.excluded.size();
    check.compared = check.elements - check.kinks;
    if (check.kinks) check.first_kink = first_kink_among(c, check.node, p, mode, d.excluded, sc);
    check.directional_analytic = along;
    check.directional_numeric = (d.plus - d.minus) / (2 * h);
    check.directional_error = relative_error(along, check.directional_numeric, floor);
    if (mode == Mode::Surrogate) {
        check.plain_numeric =
            (p.loss_along(d.dir, h, Mode::True, nullptr) - p.loss_along(d.dir, -h, Mode::True, nullptr)) / (2 * h);
        check.plain_max_error = relative_error(along, check.plain_numeric, floor);
    }
    check.max_error = check.directional_error;
    check.analytic = along;
    check.numeric = check.directional_numeric;
    check.passed = check.compared == 0 || check.directional_error <= c.options.tolerance;
    if (!std::isfinite(d.plus) || !std::isfinite(d.minus))
        check.not_checkable = fmt::format(
            "L overflowed when the value moved by h along the direction "
            "(L(v + h dir) - L(v) = {:g}, L(v - h dir) - L(v) = {:g})",
            d.plus, d.minus);
    if (check.not_checkable.empty()) check.not_checkable = sc.unusable;
    if (check.not_checkable.empty()) check.not_checkable = vacuous(largest, floor, c.options);
    check.passed = check.passed && check.not_checkable.empty();
    if (check.not_checkable.empty() && !check.passed) fall_back_to_full(c, check, p, sc);
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
    Checker c{g, trace, options, options.step, {}};
    if (report.mode == GradcheckMode::Local) c.consumers = g.consumers();
    const std::vector<std::size_t>& order = trace.backward_order;
    std::vector<NodeCheck> checks(order.size());
    std::vector<double> floors(order.size());
    const auto check_node = [&](std::size_t k) {
        const std::size_t i = order[k];
        Perturbation p(g, trace, i, c.local_consumers(i));
        const Scale sc = scale_of(c, p);
        floors[k] = sc.floor;
        NodeCheck& check = checks[k];
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
    };
    if (report.mode == GradcheckMode::Directional) {
        // Two evaluations a node: the nodes, not their elements, are shared
        // between threads, each thread taking the next node not yet taken.
        // The work is bounded by every node's evaluating every node.
        double elements = 0.0;
        for (const NodeState& s : trace.nodes) elements += double(s.value.size());
        const double work = 2.0 * kFlopsPerElement * elements * double(order.size());
        std::atomic<std::size_t> next{0};
        parallel_ranges(order.size(), work, [&](std::size_t, std::size_t) {
            for (std::size_t k = next++; k < order.size(); k = next++) check_node(k);
        });
    } else {
        for (std::size_t k = 0; k < order.size(); ++k) check_node(k);
    }
    report.checks = std::move(checks);
    for (double f : floors) report.floor = std::max(report.floor, f);
    return report;
}

}  // namespace bnstep
