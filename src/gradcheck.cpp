#include "bnstep/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "bnstep/rng.hpp"
#include "ops/parallel.hpp"

namespace bnstep {
namespace {

enum class Mode { True, Surrogate };

// Which piece each element of node j's output lies on, per node with kinks.
using Pieces = std::vector<std::vector<long long>>;

// Re-evaluates what lies downstream of one node after its value moved.
class Perturbation {
public:
    Perturbation(const Graph& g, const Trace& t, std::vector<Tensor>& values, std::size_t node)
        : g_(g), t_(t), values_(values), node_(node), downstream_(g.downstream_of(node)) {
        for (std::size_t j = node + 1; j < g.nodes.size(); ++j) {
            if (!downstream_[j]) continue;
            saved_.emplace_back(j, values[j]);
            if (g.nodes[j].op && g.nodes[j].op->surrogate) surrogates_.push_back(j);
        }
    }
    ~Perturbation() {
        for (auto& [j, value] : saved_) values_[j] = std::move(value);
    }
    Perturbation(const Perturbation&) = delete;
    Perturbation& operator=(const Perturbation&) = delete;

    const std::vector<std::size_t>& surrogates() const { return surrogates_; }

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
        if (pieces) pieces->assign(g_.nodes.size(), {});
        const bool surrogate = mode == Mode::Surrogate;
        for (const auto& [j, unused] : saved_) {
            if (g_.nodes[j].is_leaf()) continue;
            values_[j] = forward_as_checked(g_, t_, values_, j, surrogate);
            if (pieces) (*pieces)[j] = pieces_as_checked(g_, values_, j, surrogate);
        }
        return loss(g_, values_);
    }

    const Graph& g_;
    const Trace& t_;
    std::vector<Tensor>& values_;
    std::size_t node_;
    std::vector<bool> downstream_;
    std::vector<std::pair<std::size_t, Tensor>> saved_;
    std::vector<std::size_t> surrogates_;
};

// The first op output element on different pieces in the two evaluations.
std::optional<std::pair<std::size_t, std::size_t>> first_change(const Pieces& a, const Pieces& b) {
    for (std::size_t j = 0; j < a.size(); ++j)
        for (std::size_t k = 0; k < a[j].size() && k < b[j].size(); ++k)
            if (a[j][k] != b[j][k]) return std::make_pair(j, k);
    return std::nullopt;
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

// Sum |output * seed|: the scale of L's rounding error.
double loss_magnitude(const Graph& g, const std::vector<Tensor>& values) {
    const Tensor& out = values[g.output];
    double m = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) m += std::fabs(out[i] * g.seed[i]);
    return m;
}

GradcheckMode resolve(const GradcheckOptions& options, const Trace& trace) {
    if (options.mode != GradcheckMode::Auto) return options.mode;
    std::size_t elements = 0;
    for (std::size_t i : trace.backward_order) elements += trace.nodes[i].grad->size();
    return elements <= kAutoFullElements ? GradcheckMode::Full : GradcheckMode::Directional;
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
    }
    return "auto";
}

std::size_t GradcheckReport::failures() const {
    return static_cast<std::size_t>(std::count_if(checks.begin(), checks.end(), [](const NodeCheck& c) { return !c.passed; }));
}

Tensor forward_as_checked(const Graph& g, const Trace& t, const std::vector<Tensor>& values, std::size_t j, bool surrogate) {
    const OpDef& op = *g.nodes[j].op;
    if (surrogate && op.surrogate) return op.surrogate->forward(call_of(g, values, j), t.call(j));
    return op.forward(call_of(g, values, j));
}

std::vector<long long> pieces_as_checked(const Graph& g, const std::vector<Tensor>& values, std::size_t j, bool surrogate) {
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
    const double base_loss = loss(g, values);
    const double h = options.step;
    const double roundoff = std::numeric_limits<double>::epsilon() * loss_magnitude(g, values) / h;
    const double floor = std::max(options.floor, roundoff / options.tolerance);
    report.floor = floor;

    // Centred differences, element by element, over `elements` of node i.
    // The losses are computed first, the elements shared between threads
    // (each with its own copy of the values), then compared in element order.
    auto check_elements = [&](NodeCheck& check, Mode mode, const std::vector<std::size_t>& elements) {
        const Tensor& analytic = *trace.nodes[check.node].grad;
        const std::size_t i = check.node;
        std::vector<ElementLosses> losses(elements.size());
        const std::vector<bool> downstream = g.downstream_of(i);
        double work = 0.0;  // floating-point operations, roughly, of one evaluation
        for (std::size_t j = 0; j < values.size(); ++j)
            if (downstream[j]) work += 10.0 * double(values[j].size());
        ops::parallel_ranges(elements.size(), work * double(elements.size()), [&](std::size_t first, std::size_t last) {
            std::vector<Tensor> own = values;
            Perturbation p(g, trace, own, i);
            Pieces plus_pieces, minus_pieces;
            for (std::size_t k = first; k < last; ++k) {
                const std::size_t e = elements[k];
                const double v = own[i][e];
                ElementLosses& r = losses[k];
                r.plus = p.loss_at(e, v + h, mode, &plus_pieces);
                r.minus = p.loss_at(e, v - h, mode, &minus_pieces);
                if (mode == Mode::Surrogate)
                    r.plain = (p.loss_at(e, v + h, Mode::True, nullptr) - p.loss_at(e, v - h, Mode::True, nullptr)) / (2 * h);
                r.change = first_change(plus_pieces, minus_pieces);
            }
        });
        for (std::size_t k = 0; k < elements.size(); ++k) {
            const std::size_t e = elements[k];
            const double plus = losses[k].plus, minus = losses[k].minus;
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
        check.passed = check.compared == 0 || check.max_error <= options.tolerance;
    };

    for (std::size_t i : trace.backward_order) {
        const Tensor& analytic = *trace.nodes[i].grad;
        Perturbation p(g, trace, values, i);
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
                check.plain_numeric = (p.loss_along(dir, h, Mode::True, nullptr) - p.loss_along(dir, -h, Mode::True, nullptr)) / (2 * h);
                check.plain_max_error = relative_error(along, check.plain_numeric, floor);
            }
            check.max_error = check.directional_error;
            check.analytic = along;
            check.numeric = check.directional_numeric;
            check.compared = 1;
            check.passed = check.directional_error <= options.tolerance;
            if (!check.passed || first_change(plus_pieces, minus_pieces)) {
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
                check_elements(check, mode, sample(analytic.size(), analytic.size(), 0));
            }
        } else {
            const std::size_t count = report.mode == GradcheckMode::Sparse ? options.samples : analytic.size();
            check_elements(check, mode, sample(analytic.size(), count, node_seed));
        }
        report.checks.push_back(std::move(check));
    }
    return report;
}

}  // namespace bnstep
