// The draw of a variant: every leaf's values (and the upstream gradient)
// redrawn on a grid of hand-friendly numbers from the variant, the draw
// attempt and the leaf's name, with integer arithmetic only, so that a variant
// is the same on every platform; a candidate with a degenerate case
// (variant_checks.cpp) is drawn again, at most kMaxVariantDraws times.
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/rng.hpp"
#include "bnstep/variant.hpp"

namespace bnstep {

Tensor draw_leaf(const LeafVariant& how, const Shape& shape, std::uint64_t seed) {
    Rng rng(seed);
    Tensor t(shape);
    if (how.kind == LeafVariant::Kind::Choices) {
        const auto n = static_cast<std::uint64_t>(how.choices.size());
        for (double& v : t.data()) v = how.choices[rng.next() % n];
        return t;
    }
    constexpr double kPowers[] = {1.0, 10.0, 100.0};
    const double p = kPowers[how.decimals];
    const bool skip_zero = how.nonzero && how.low <= 0 && how.high >= 0;
    const auto count = static_cast<std::uint64_t>(how.high - how.low + 1) - (skip_zero ? 1 : 0);
    for (double& v : t.data()) {
        long long k = how.low + static_cast<long long>(rng.next() % count);
        if (skip_zero && k >= 0) ++k;
        v = static_cast<double>(k) / p;
    }
    return t;
}

Graph draw_candidate(const Graph& written, std::uint64_t attempt) {
    Graph g = written;
    for (Node& n : g.nodes)
        if (n.is_leaf() && n.redraw.kind != LeafVariant::Kind::Fixed)
            n.value = draw_leaf(n.redraw, n.shape, variant_seed(g.variant, attempt, n.name));
    if (g.seed_redraw.kind != LeafVariant::Kind::Fixed)
        g.seed = draw_leaf(g.seed_redraw, g.seed.shape(), variant_seed(g.variant, attempt, kUpstreamLeaf));
    return g;
}

void draw_variant(Graph& g, bool written_comparable) {
    const Graph written = g;
    ZeroReference reference(written_comparable ? &written : nullptr);
    // The draws, the cheap checks first.
    for (std::uint64_t attempt = 0; attempt < kMaxVariantDraws; ++attempt) {
        Graph c = draw_candidate(written, attempt);
        if (!variant_problem(c, reference, true)) {
            g = std::move(c);
            return;
        }
    }
    // None kept: the draws again, each named by its first problem in the documented order.
    // How often each problem stopped a draw, and the first draw it stopped.
    std::map<std::tuple<std::string, std::string, std::string>, std::pair<std::size_t, std::uint64_t>> seen;
    for (std::uint64_t attempt = 0; attempt < kMaxVariantDraws; ++attempt) {
        const Graph c = draw_candidate(written, attempt);
        const std::optional<VariantProblem> problem = variant_problem(c, reference, false);
        if (!problem) throw InternalError("a variant's draw passed its checks only in the documented order");
        auto& entry = seen[{problem->where, problem->check, problem->what}];
        if (entry.first++ == 0) entry.second = attempt;
    }
    auto worst = seen.begin();
    for (auto it = seen.begin(); it != seen.end(); ++it)
        if (it->second.first > worst->second.first ||
            (it->second.first == worst->second.first && it->second.second < worst->second.second))
            worst = it;
    const auto& [where, check, what] = worst->first;
    throw LessonError(fmt::format("{}: {}: no draw of variant {} {} ({} draws{})", g.source, where, g.variant, what,
                                  kMaxVariantDraws,
                                  worst->second.first == kMaxVariantDraws
                                      ? ""
                                      : fmt::format("; this check stopped {}, others the rest", worst->second.first)));
}

}  // namespace bnstep
