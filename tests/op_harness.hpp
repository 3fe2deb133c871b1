#pragma once
// Runs one op outside any graph: forward, the VJP of every input with the
// broadcast undone, and the same gradients by centred finite differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "bnstep/op.hpp"
#include "bnstep/rng.hpp"

namespace bnstep::testing {

// Input values are drawn from each input's domain in the op table
// (InputRule::domain): [-2, 2] (within the bound) for any real, [0.5, 2] for a
// positive input, integers below the classes (the last axis of the first
// input) for class labels, 0 or 1 for a mask, positive rows summing to 1 for
// a distribution. A case may set the range of real inputs by hand.
struct OpCase {
    std::string op = {};
    std::vector<Shape> shapes = {};
    Attrs attrs = {};
    double low = NAN, high = NAN;              // real inputs drawn from [low, high]; NaN: from the domain
    bool away_from_zero = false;               // keep |x| >= 0.2 (relu's kink, 1/x)
    std::map<std::size_t, Tensor> given = {};  // inputs set by hand, not drawn
};

struct OpRun {
    std::vector<Tensor> inputs;
    Tensor out;
    Tensor upstream;
    std::vector<Tensor> analytic;  // per input, in the input's shape; zeros for an input that is not differentiable
    std::vector<Tensor> numeric;
};

inline OpCall call_for(const std::vector<Tensor>& inputs, const Attrs& attrs, const Tensor* out) {
    OpCall c;
    for (const Tensor& t : inputs) c.in.push_back(&t);
    c.attrs = &attrs;
    c.out = out;
    return c;
}

// A rank-1 tensor of the given values.
inline Tensor vec(std::vector<double> v) {
    const std::size_t n = v.size();
    return Tensor(Shape{n}, std::move(v));
}

inline const OpDef& op_named(const char* name) {
    const OpDef* op = builtin_ops().find(name);
    REQUIRE_MESSAGE(op != nullptr, "no op " << name);
    return *op;
}

// Every attribute left out set to the op's default.
inline Attrs with_defaults(const OpDef& op, Attrs a) {
    for (const AttrSpec& spec : op.attrs)
        if (!a.has(spec.name) && spec.fallback) a.set(spec.name, *spec.fallback);
    return a;
}

inline OpCase completed(const OpDef& op, OpCase oc) {
    oc.attrs = with_defaults(op, std::move(oc.attrs));
    return oc;
}

// Values of `shape` in domain d, drawn with rng; `classes` for class labels.
inline Tensor draw_in(const Domain& d, const Shape& shape, const OpCase& oc, std::size_t classes, Rng& rng) {
    Tensor t(shape);
    using K = Domain::Kind;
    const double bound = d.bound > 0 ? std::min(2.0, d.bound) : 2.0;
    const bool by_hand = !std::isnan(oc.low);
    const double low = by_hand ? oc.low : d.kind == K::Positive ? 0.5 : -bound;
    const double high = by_hand ? oc.high : d.kind == K::Positive ? 2.0 : bound;
    for (double& v : t.data()) {
        switch (d.kind) {
            case K::ClassLabels: v = std::floor(rng.uniform(0, static_cast<double>(classes))); break;
            case K::Mask: v = rng.uniform() < 0.5 ? 1.0 : 0.0; break;
            case K::Distribution: v = rng.uniform(0.2, 1.2); break;
            default:
                v = rng.uniform(low, high);
                if (oc.away_from_zero && std::fabs(v) < 0.2) v = v < 0 ? v - 0.2 : v + 0.2;
        }
    }
    if (d.kind == K::Distribution) {
        const std::size_t row = shape.empty() ? 1 : shape.back();
        for (std::size_t r = 0; r < t.size(); r += row) {
            double sum = 0;
            for (std::size_t k = 0; k < row; ++k) sum += t[r + k];
            for (std::size_t k = 0; k < row; ++k) t[r + k] /= sum;
        }
    }
    return t;
}

inline std::vector<Tensor> random_inputs(const OpCase& oc, std::uint64_t seed) {
    const OpDef* op = builtin_ops().find(oc.op);
    REQUIRE_MESSAGE(op != nullptr, "no op " << oc.op);
    const Attrs attrs = with_defaults(*op, oc.attrs);
    Rng rng(seed);
    std::vector<Tensor> inputs;
    for (std::size_t k = 0; k < oc.shapes.size(); ++k) {
        const Shape& first = oc.shapes.front();
        const std::size_t classes = first.empty() ? 1 : first.back();
        inputs.push_back(draw_in(op->rule(k).domain_for(attrs), oc.shapes[k], oc, classes, rng));
    }
    for (const auto& [slot, value] : oc.given) inputs.at(slot) = value;
    return inputs;
}

inline OpRun run_op(const OpDef& op, OpCase oc, std::uint64_t seed = 1, double h = 1e-5) {
    oc = completed(op, std::move(oc));
    OpRun r;
    r.inputs = random_inputs(oc, seed);
    r.out = op.forward(call_for(r.inputs, oc.attrs, nullptr));
    Rng rng(seed + 1000);
    r.upstream = Tensor(r.out.shape());
    for (double& v : r.upstream.data()) v = rng.uniform(-1, 1);
    auto loss = [&](const std::vector<Tensor>& in) {
        const Tensor y = op.forward(call_for(in, oc.attrs, nullptr));
        double l = 0;
        for (std::size_t i = 0; i < y.size(); ++i) l += y[i] * r.upstream[i];
        return l;
    };
    OpCall call = call_for(r.inputs, oc.attrs, &r.out);
    for (std::size_t k = 0; k < r.inputs.size(); ++k) {
        call.slot = k;
        if (!op.rule(k).differentiable) {  // no gradient, and moving it may be invalid (a label off an integer)
            r.analytic.emplace_back(r.inputs[k].shape());
            r.numeric.emplace_back(r.inputs[k].shape());
            continue;
        }
        r.analytic.push_back(unbroadcast(op.rule(k).vjp(call, r.upstream), r.inputs[k].shape()).value);
        Tensor n(r.inputs[k].shape());
        std::vector<Tensor> moved = r.inputs;
        for (std::size_t e = 0; e < n.size(); ++e) {
            const double x = moved[k][e];
            moved[k][e] = x + h;
            const double plus = loss(moved);
            moved[k][e] = x - h;
            const double minus = loss(moved);
            moved[k][e] = x;
            n[e] = (plus - minus) / (2 * h);
        }
        r.numeric.push_back(std::move(n));
    }
    return r;
}

inline double max_relative_error(const Tensor& a, const Tensor& n) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, std::fabs(a[i] - n[i]) / std::max({std::fabs(a[i]), std::fabs(n[i]), 1e-3}));
    return worst;
}

}  // namespace bnstep::testing
