// Deep Compression's trained quantization (weight sharing): k-means in one
// dimension groups the weights into k centroids, and each weight is replaced
// by the centroid of its cluster. In fine-tuning each centroid receives the
// sum of the gradients of the weights that share it.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ops/compression.hpp"
#include "ops/explain.hpp"
#include "ops/families.hpp"
#include "ops/kmeans.hpp"

namespace bnstep::ops {
namespace {

constexpr long long kMaxClusters = 256;  // 8-bit indices, Deep Compression's convolution layers
constexpr long long kMaxLloydUpdates = 1000;

// The nearest centroid of each weight; on a tie the lower index.
std::vector<std::size_t> nearest_centroids(const Tensor& w, const Tensor& c) { return nearest_indices(w, c); }

// The share of max W in the initial centroid j: C_j = (1 - t) min W + t max W.
double init_share(std::size_t j, std::size_t k) {
    return k == 1 ? 0.5 : static_cast<double>(j) / static_cast<double>(k - 1);
}

void check_clustering_attrs(const Attrs& a) {
    const long long k = a.integer("clusters"), n = a.integer("iterations");
    if (k < 1 || k > kMaxClusters)
        throw AttrError(fmt::format("clusters must be from 1 to {}, got {}", kMaxClusters, k));
    if (n < 1 || n > kMaxLloydUpdates)
        throw AttrError(fmt::format("iterations must be from 1 to {}, got {}", kMaxLloydUpdates, n));
}

KMeans kmeans_of(const Tensor& w, const Attrs& a) {
    return kmeans_linear(
        w, {.clusters = static_cast<std::size_t>(a.integer("clusters")), .max_updates = a.integer("iterations")});
}

// C_j is the mean of its members, or (never updated) the linear
// initialisation, which moves with min W and max W.
Tensor kmeans_vjp(const OpCall& call, const Tensor& upstream) {
    const KMeans r = kmeans_of(call.input(0), *call.attrs);
    Tensor dw(call.input(0).shape(), 0.0);
    for (std::size_t j = 0; j < r.members.size(); ++j) {
        if (r.members[j].empty()) {
            const double t = init_share(j, r.members.size());
            dw[r.argmin] += upstream[j] * (1.0 - t);
            dw[r.argmax] += upstream[j] * t;
            continue;
        }
        const double share = upstream[j] / static_cast<double>(r.members[j].size());
        for (std::size_t i : r.members[j]) dw[i] += share;
    }
    return dw;
}

// "a, b, c"; a long list shows its first four, its last and a count.
std::string name_list(const std::vector<std::string>& names) {
    if (names.size() <= 6) return fmt::format("{}", fmt::join(names, ", "));
    return fmt::format("{}, ..., {} ({} weights)", fmt::join(names.begin(), names.begin() + 4, ", "), names.back(),
                       names.size());
}

std::string weight_name(const Names& names, const Tensor& w, std::size_t i) {
    return element(names.in[0], w.shape(), concrete(w.unravel(i)));
}

std::string init_note(const KMeans& r, const Names& names, std::size_t j, const NumFmt& num) {
    const std::size_t k = r.initial.size();
    const double lo = r.initial[0], hi = r.initial[k - 1];
    const std::string& w = names.in[0];
    if (k == 1)
        return fmt::format("linear initialisation: {}[0] = (min {} + max {}) / 2 = {}", names.out, w, w, num(lo));
    return fmt::format(
        "linear initialisation over [min {}, max {}] = [{}, {}]: {}[{}] started at {} + {}/{} * ({} - {}) = {}", w, w,
        num(lo), num(hi), names.out, j, num(lo), j, k - 1, num.operand(hi), num.operand(lo), num(r.initial[j]));
}

std::string lloyd_note(const KMeans& r) {
    if (r.converged)
        return fmt::format("Lloyd's iterations: converged after {} update{} (the assignment no longer changes)",
                           r.updates, r.updates == 1 ? "" : "s");
    return fmt::format(
        "Lloyd's iterations: stopped after {} update{} (the iterations limit) before the assignment settled", r.updates,
        r.updates == 1 ? "" : "s");
}

Worked kmeans_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const Tensor& w = call.input(0);
    const KMeans r = kmeans_of(w, *call.attrs);
    const std::size_t j = at[0];
    Worked out;
    out.lhs = element(names.out, call.out->shape(), concrete(at));
    out.result = call.out->at(at);
    out.notes.push_back(init_note(r, names, j, num));
    out.notes.push_back(lloyd_note(r));
    const auto& members = r.members[j];
    if (members.empty()) {
        out.symbolic = "its initial value";
        out.numeric = num(r.initial[j]);
        out.notes.push_back(
            fmt::format("no weight was ever nearest to {}[{}]: an empty cluster keeps its centroid", names.out, j));
        return out;
    }
    std::vector<std::string> symbols, values;
    for (std::size_t i : members) {
        symbols.push_back(weight_name(names, w, i));
        values.push_back(num.operand(w[i]));
    }
    out.symbolic = fmt::format("({}) / {}", join_terms(symbols), members.size());
    out.numeric = fmt::format("({}) / {}", join_terms(values, num), members.size());
    out.notes.push_back(
        fmt::format("{}[{}] is the mean of its cluster: the {} weight{} nearest to it at the last update", names.out, j,
                    members.size(), members.size() == 1 ? "" : "s"));
    return out;
}

Worked kmeans_explain_grad(const OpCall& call, const Tensor& upstream, const Names& names, const Index& at,
                           const NumFmt& num) {
    const Tensor& w = call.input(0);
    const KMeans r = kmeans_of(w, *call.attrs);
    const std::size_t i = w.offset(at), k = r.members.size();
    const std::string wi = weight_name(names, w, i);
    std::vector<std::string> symbols, values;
    Worked out;
    out.lhs = element(names.downstream, w.shape(), concrete(at));
    for (std::size_t j = 0; j < k; ++j) {
        const std::string dc = element(names.upstream, upstream.shape(), {std::to_string(j)});
        const auto& m = r.members[j];
        if (!m.empty() && std::find(m.begin(), m.end(), i) != m.end()) {
            symbols.push_back(fmt::format("{} / {}", dc, m.size()));
            values.push_back(fmt::format("{} / {}", num.operand(upstream[j]), m.size()));
            out.notes.push_back(fmt::format("{} is one of the {} weights whose mean is {}[{}]: ∂{}[{}]/∂{} = 1/{}", wi,
                                            m.size(), names.out, j, names.out, j, wi, m.size()));
        } else if (m.empty() && (i == r.argmin || i == r.argmax)) {
            const double t = init_share(j, k), local = (i == r.argmin ? 1.0 - t : 0.0) + (i == r.argmax ? t : 0.0);
            symbols.push_back(fmt::format("{} * {}", dc, num(local)));
            values.push_back(fmt::format("{} * {}", num.operand(upstream[j]), num(local)));
            out.notes.push_back(
                fmt::format("{}[{}] kept its linear initialisation, which moves with {} {}: "
                            "∂{}[{}]/∂{} = {}",
                            names.out, j, i == r.argmin ? "min" : "max", names.in[0], names.out, j, wi, num(local)));
        }
    }
    out.symbolic = symbols.empty() ? "0" : join_terms(symbols);
    out.numeric = values.empty() ? "0" : join_terms(values, num);
    out.result = kmeans_vjp(call, upstream)[i];
    return out;
}

// The weights each centroid is the mean of (or, initial, the min and max it
// was spread from): C_j is one smooth function of W while that set stays.
// A weight as near to a second centroid as to its own: its cluster is the tie-break's.
std::string equidistant(const Tensor& w, const Tensor& c) {
    const std::vector<std::size_t> idx = nearest_centroids(w, c);
    for (std::size_t i = 0; i < w.size(); ++i) {
        const double d = std::fabs(w[i] - c[idx[i]]);
        for (std::size_t j = 0; j < c.size(); ++j)
            if (j != idx[i] && hits(std::fabs(w[i] - c[j]), d))
                return fmt::format("a weight {} as near to centroid {} as to centroid {}", w[i], j, idx[i]);
    }
    return {};
}

// An empty cluster, or a weight equidistant from two centroids at the last update.
std::string kmeans_degenerate(const OpCall& call) {
    const KMeans r = kmeans_of(call.input(0), *call.attrs);
    for (std::size_t j = 0; j < r.members.size(); ++j)
        if (r.members[j].empty()) return fmt::format("an empty cluster {}", j);
    return equidistant(call.input(0), r.centroids);
}

std::vector<long long> kmeans_pieces(const OpCall& call) {
    const KMeans r = kmeans_of(call.input(0), *call.attrs);
    std::vector<long long> pieces;
    for (const auto& m : r.members) {
        std::vector<std::size_t> key = m;
        if (m.empty()) key = {call.input(0).size(), r.argmin, r.argmax};
        unsigned long long h = 1469598103934665603ULL;  // FNV-1a
        for (std::size_t v : key) h = (h ^ (v + 1)) * 1099511628211ULL;
        pieces.push_back(static_cast<long long>(h >> 1));
    }
    return pieces;
}

OpDef kmeans_centroids() {
    return {
        .name = "kmeans_centroids",
        .family = "quantization",
        .summary =
            "the k centroids of Deep Compression's weight sharing: k-means in one dimension over all elements of W. "
            "Linear initialisation, C_j = torch.linspace(min W, max W, k)[j] (for k = 1, halfway); then Lloyd's iterations: each weight "
            "joins its nearest centroid (on a tie the lower index), each centroid becomes the mean of its cluster "
            "(an empty cluster keeps its centroid), until the assignment no longer changes or after `iterations` "
            "updates. Backward: the true derivative where the clusters stay the same, ∂C_j/∂W_i = 1/n_j for the n_j "
            "weights of cluster j (a centroid that never had a weight moves with min W and max W as its "
            "initialisation does; on a tie of min or max the first element)",
        .forward_formula = "k-means centroids of {W} (linear initialisation, Lloyd's iterations)",
        .inputs = {{.name = "W",
                    .formula = "d{W}_i = d{out}[j] / n_j for the cluster j of {W}_i: each centroid is the mean of "
                               "the n_j weights of its cluster",
                    .vjp = kmeans_vjp,
                    .explain = kmeans_explain_grad}},
        .attrs = {{"clusters",
                   AttrType::Int,
                   4.0,
                   "k, the number of centroids, from 1 to 256",
                   {.min = 1, .max = kMaxClusters}},
                  {"iterations",
                   AttrType::Int,
                   100.0,
                   "the most Lloyd updates (each centroid moved to its cluster's mean), from 1 to 1000; fewer when "
                   "the assignment settles",
                   {.min = 1, .max = kMaxLloydUpdates}}},
        .shape =
            [](const std::vector<Shape>& in, const Attrs& a) {
                check_clustering_attrs(a);
                if (element_count(in[0]) == 0) throw ShapeError("W has no elements: k-means needs at least one");
                return Shape{static_cast<std::size_t>(a.integer("clusters"))};
            },
        .forward = [](const OpCall& call) { return kmeans_of(call.input(0), *call.attrs).centroids; },
        .explain = kmeans_explain,
        // Every update measures every weight against every centroid (a
        // difference and a comparison, two operations) and adds it into a mean.
        .window_taps =
            [](const std::vector<Shape>& in, const Attrs& a) {
                return saturating_mul(saturating_mul(element_count(in[0]), 2),
                                      static_cast<std::size_t>(a.integer("iterations")));
            },
        .pieces = kmeans_pieces,
        .degenerate = kmeans_degenerate,
        .intermediates =
            [](const OpCall& call, const Names& names) {
                const Tensor& w = call.input(0);
                const KMeans r = kmeans_of(w, *call.attrs);
                Tensor idx(w.shape()), n(Shape{r.members.size()});
                for (std::size_t i = 0; i < w.size(); ++i) idx[i] = static_cast<double>(r.index[i]);
                for (std::size_t j = 0; j < r.members.size(); ++j) n[j] = static_cast<double>(r.members[j].size());
                return std::vector<Intermediate>{
                    {"initial", fmt::format("the linear initialisation: linspace(min {0}, max {0}, k)", names.in[0]),
                     r.initial},
                    {"idx",
                     fmt::format("the cluster of each weight of {} after {} Lloyd update{}", names.in[0], r.updates,
                                 r.updates == 1 ? "" : "s"),
                     idx},
                    {"n", "the weights each centroid is the mean of (0: kept its initial value)", n}};
            }};
}

// The cluster of each weight: where it changes, the shared weight jumps. With
// the centroids out of ascending order (or tied, as the all-equal start of
// k-means leaves them, where moving one centroid either way reassigns every
// weight to another), the order of the centroids joins the piece, so that a
// move across a tie is a kink even when both sides pick the same centroid.
std::vector<long long> shared_pieces(const OpCall& call) {
    const Tensor& c = call.input(1);
    const std::vector<std::size_t> idx = nearest_centroids(call.input(0), c);
    std::vector<std::size_t> order(c.size());
    for (std::size_t j = 0; j < order.size(); ++j) order[j] = j;
    std::stable_sort(order.begin(), order.end(), [&c](std::size_t a, std::size_t b) { return c[a] < c[b]; });
    bool ascending = true;
    for (std::size_t j = 1; j < c.size(); ++j) ascending = ascending && c[j - 1] < c[j];
    std::vector<long long> pieces;
    unsigned long long h = 1469598103934665603ULL;  // FNV-1a of the order
    for (std::size_t j : order) h = (h ^ (j + 1)) * 1099511628211ULL;
    for (std::size_t i : idx) {
        if (ascending) {
            pieces.push_back(static_cast<long long>(i));
        } else {
            const unsigned long long key = (h ^ (i + 1)) * 1099511628211ULL;
            pieces.push_back(-1 - static_cast<long long>(key >> 2));
        }
    }
    return pieces;
}

Tensor shared_forward(const OpCall& call) {
    const Tensor &w = call.input(0), &c = call.input(1);
    const std::vector<std::size_t> idx = nearest_centroids(w, c);
    Tensor out(w.shape());
    for (std::size_t i = 0; i < w.size(); ++i) out[i] = c[idx[i]];
    return out;
}

Worked shared_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const Tensor &w = call.input(0), &c = call.input(1);
    const std::size_t k = nearest_centroids(w, c)[w.offset(at)];
    const std::string wi = element(names.in[0], w.shape(), concrete(at));
    Worked out;
    out.lhs = element(names.out, w.shape(), concrete(at));
    out.symbolic = fmt::format("{}[idx{}]", names.in[1], index_str(at));
    out.numeric = fmt::format("{}[{}]", names.in[1], k);
    out.result = call.out->at(at);
    out.notes.push_back(
        fmt::format("idx{} = {}: {} = {} is nearest to {}[{}] = {} (distance {}; a tie goes to the "
                    "lower index)",
                    index_str(at), k, wi, num(w.at(at)), names.in[1], k, num(c[k]), num(std::fabs(w.at(at) - c[k]))));
    return out;
}

Tensor segment_sum(const OpCall& call, const Tensor& upstream) {
    const Tensor &w = call.input(0), &c = call.input(1);
    const std::vector<std::size_t> idx = nearest_centroids(w, c);
    Tensor dc(c.shape(), 0.0);
    for (std::size_t i = 0; i < w.size(); ++i) dc[idx[i]] += upstream[i];
    return dc;
}

Worked segment_sum_explain(const OpCall& call, const Tensor& upstream, const Names& names, const Index& at,
                           const NumFmt& num) {
    const Tensor &w = call.input(0), &c = call.input(1);
    const std::size_t k = at[0];
    std::vector<std::string> symbols, values, weights;
    double sum = 0.0;
    const std::vector<std::size_t> idx = nearest_centroids(w, c);
    for (std::size_t i = 0; i < w.size(); ++i) {
        if (idx[i] != k) continue;
        const SymIndex pos = concrete(w.unravel(i));
        symbols.push_back(element(names.upstream, upstream.shape(), pos));
        values.push_back(num.operand(upstream[i]));
        weights.push_back(element(names.in[0], w.shape(), pos));
        sum += upstream[i];
    }
    Worked out;
    out.lhs = element(names.downstream, c.shape(), concrete(at));
    out.result = sum;
    if (symbols.empty()) {
        out.symbolic = out.numeric = "0";
        out.notes.push_back(fmt::format("no weight has idx = {}: nothing shares {}[{}]", k, names.in[1], k));
        return out;
    }
    out.symbolic = join_terms(symbols);
    out.numeric = join_terms(values, num);
    out.notes.push_back(fmt::format("cluster {}: the {} weight{} with idx = {}, {}", k, weights.size(),
                                    weights.size() == 1 ? "" : "s", k, name_list(weights)));
    return out;
}

OpDef shared_weights() {
    return {.name = "shared_weights",
            .family = "quantization",
            .summary =
                "weight sharing (Deep Compression's trained quantization): out = C[idx], each element of W "
                "replaced by its nearest centroid of the 1-D C (on a tie the lower index). Backward to C: the "
                "gradients of the weights that share a centroid are summed, dC_k = sum over idx(i) = k of "
                "dout_i; to W: 0, since idx is piecewise constant (W's gradient comes through C when C is "
                "computed from W)",
            .forward_formula = "{C}[idx({W})], idx = the nearest centroid",
            .inputs = {{.name = "W",
                        .formula = "∂{out}/∂{W} = 0: idx({W}) is piecewise constant, so {out} does not move with {W} "
                                   "until a weight changes cluster",
                        .vjp = [](const OpCall& call, const Tensor&) { return Tensor(call.input(0).shape(), 0.0); },
                        .explain =
                            [](const OpCall& call, const Tensor&, const Names& names, const Index& at, const NumFmt&) {
                                Worked out;
                                out.lhs = element(names.downstream, call.input(0).shape(), concrete(at));
                                out.symbolic = out.numeric = "0";
                                out.notes.push_back(
                                    "idx is piecewise constant: the shared weight does not move with "
                                    "its own weight until it changes cluster");
                                return out;
                            }},
                       {.name = "C",
                        .formula = "d{C}[k] = sum over the i with idx(i) = k of d{out}[i]: each centroid collects the "
                                   "gradients of the weights that share it",
                        .vjp = segment_sum,
                        .explain = segment_sum_explain}},
            .shape =
                [](const std::vector<Shape>& in, const Attrs&) {
                    if (in[1].size() != 1 || in[1][0] == 0)
                        throw ShapeError(fmt::format(
                            "C must be a 1-D list of at least one centroid, shape (k,), got {}", shape_str(in[1])));
                    return in[0];
                },
            .forward = shared_forward,
            .explain = shared_explain,
            .pieces = shared_pieces,
            .degenerate = [](const OpCall& call) { return equidistant(call.input(0), call.input(1)); },
            .intermediates =
                [](const OpCall& call, const Names& names) {
                    const Tensor& w = call.input(0);
                    const std::vector<std::size_t> idx = nearest_centroids(w, call.input(1));
                    Tensor t(w.shape());
                    for (std::size_t i = 0; i < w.size(); ++i) t[i] = static_cast<double>(idx[i]);
                    return std::vector<Intermediate>{
                        {"idx",
                         fmt::format("the nearest centroid of {} to each weight (a tie: the lower index)", names.in[1]),
                         t}};
                }};
}

}  // namespace

void add_weight_sharing_ops(OpTable& t) {
    t.add(kmeans_centroids());
    t.add(shared_weights());
}

}  // namespace bnstep::ops
