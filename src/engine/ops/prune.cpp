// Magnitude pruning (Deep Compression): the weights of smallest |W| are set
// to zero, and so is their gradient.
#include <fmt/format.h>

#include "ops/compression.hpp"
#include "ops/explain.hpp"
#include "ops/families.hpp"

namespace bnstep::ops {
namespace {

// m: 1 for a kept weight, 0 for a pruned one.
std::vector<bool> kept_of(const OpCall& call) {
    if (call.has_input(1)) return read_mask(call.input(1), "kept");
    const Tensor& w = call.input(0);
    std::vector<bool> kept = by_magnitude(w, count_of(call.attrs->number("sparsity"), w.size()), false);
    kept.flip();
    return kept;
}

Tensor prune_forward(const OpCall& call) {
    const Tensor& w = call.input(0);
    const std::vector<bool> kept = kept_of(call);
    Tensor out(w.shape());
    for (std::size_t i = 0; i < w.size(); ++i) out[i] = kept[i] ? w[i] : 0.0;
    return out;
}

std::string why_kept(const OpCall& call, const std::string& wi, const Index& at, bool kept) {
    if (call.has_input(1))
        return fmt::format("m{0} = mask{0} = {1}: {2}", index_str(at), kept ? 1 : 0, kept ? "kept" : "pruned");
    const std::size_t n = call.input(0).size(), count = count_of(call.attrs->number("sparsity"), n);
    return fmt::format("m{} = {}: |{}| is {} the {} smallest of {} (sparsity {})", index_str(at), kept ? 1 : 0, wi,
                       kept ? "not among" : "among", count, n, call.attrs->number("sparsity"));
}

Worked prune_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const Tensor& w = call.input(0);
    const bool kept = kept_of(call)[w.offset(at)];
    const std::string wi = element(names.in[0], w.shape(), concrete(at));
    Worked out;
    out.lhs = element(names.out, w.shape(), concrete(at));
    out.symbolic = fmt::format("{} * m{}", wi, index_str(at));
    out.numeric = fmt::format("({})({})", num(w.at(at)), kept ? 1 : 0);
    out.result = call.out->at(at);
    out.notes.push_back(why_kept(call, wi, at, kept));
    return out;
}

InputRule weights_rule() {
    return local_rule(
        "W",
        "∂{out}/∂{W} = m: 1 for a kept weight, 0 for a pruned one (the true derivative: m stays constant as long as "
        "the same weights are pruned)",
        [](const OpCall& call) { return flags_as(call.input(0).shape(), kept_of(call), true); },
        [](const OpCall& call, const Names& names, const Index& at, const NumFmt&) {
            const bool kept = kept_of(call)[call.input(0).offset(at)];
            const std::string wi = element(names.in[0], call.input(0).shape(), concrete(at));
            return LocalText{"m" + index_str(at), {why_kept(call, wi, at, kept)}};
        });
}

OpDef prune_mask() {
    return {.name = "prune_mask",
            .family = "pruning",
            .summary =
                "magnitude pruning, as in Deep Compression: m = 0 for the round(sparsity * size) weights of "
                "smallest |W| (on a tie of |W| the lower index is pruned first), 1 for the others; or m = the "
                "optional const input mask (1 = kept). out = W * m, so a pruned weight gets exactly zero "
                "gradient",
            .forward_formula = "{W} * m",
            .inputs = {weights_rule(),
                       {.name = "mask",
                        .optional = true,
                        .differentiable = false,
                        .domain = {Domain::Kind::Mask},
                        .formula = "none: {mask} says which weights are kept (1) and which are pruned (0)"}},
            .attrs = {{"sparsity",
                       AttrType::Number,
                       0.5,
                       "without a mask, the share of weights pruned (from 0 to 1)",
                       {.min = 0, .max = 1}}},
            .shape =
                [](const std::vector<Shape>& in, const Attrs& a) {
                    check_fraction(a, "sparsity");
                    return weights_and_mask(in);
                },
            .forward = prune_forward,
            .explain = prune_explain,
            // A perturbation that changes which weights are pruned crosses a kink.
            .pieces =
                [](const OpCall& call) {
                    const std::vector<bool> kept = kept_of(call);
                    return std::vector<long long>(kept.begin(), kept.end());
                },
            .degenerate =
                [](const OpCall& call) {
                    if (call.has_input(1)) return std::string();
                    const Tensor& w = call.input(0);
                    return magnitude_tie(w, count_of(call.attrs->number("sparsity"), w.size()), false);
                },
            .intermediates =
                [](const OpCall& call, const Names& names) {
                    const Tensor& w = call.input(0);
                    const std::vector<bool> kept = kept_of(call);
                    Tensor m(w.shape());
                    for (std::size_t i = 0; i < w.size(); ++i) m[i] = kept[i] ? 1.0 : 0.0;
                    const std::string why =
                        call.has_input(1) ? fmt::format("the mask {}", names.in[1])
                                          : fmt::format("0 for the {} weights of smallest |{}| (sparsity {}), else 1",
                                                        count_of(call.attrs->number("sparsity"), w.size()), names.in[0],
                                                        call.attrs->number("sparsity"));
                    return std::vector<Intermediate>{{"m", why, m}};
                }};
}

}  // namespace

void add_prune_ops(OpTable& t) { t.add(prune_mask()); }

}  // namespace bnstep::ops
