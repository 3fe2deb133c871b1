#pragma once
// Runs one op outside any graph: forward, the VJP of every input with the
// broadcast undone, and the same gradients by centred finite differences.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <vector>

#include "bnstep/op.hpp"
#include "bnstep/rng.hpp"

namespace bnstep::testing {

struct OpCase {
    std::string op;
    std::vector<Shape> shapes;
    Attrs attrs;
    double low = -2.0, high = 2.0;             // where input values are drawn from
    bool away_from_zero = false;               // keep |x| >= 0.2 (relu's kink, 1/x)
    std::map<std::size_t, Tensor> given = {};  // inputs set by hand, not drawn (class labels)
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

inline std::vector<Tensor> random_inputs(const OpCase& oc, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<Tensor> inputs;
    for (const Shape& s : oc.shapes) {
        Tensor t(s);
        for (double& v : t.data()) {
            v = rng.uniform(oc.low, oc.high);
            if (oc.away_from_zero && std::fabs(v) < 0.2) v = v < 0 ? v - 0.2 : v + 0.2;
        }
        inputs.push_back(std::move(t));
    }
    for (const auto& [slot, value] : oc.given) inputs.at(slot) = value;
    return inputs;
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
