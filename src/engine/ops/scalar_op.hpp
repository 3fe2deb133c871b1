#pragma once
// The builder of elementwise ops: an op is declared by its scalar function
// and, per input, the scalar local derivative with its formula; `build` turns
// that into shape rule, forward, local gradient, VJP and worked examples, and
// for ops with kinks or a straight-through estimator into pieces and surrogate.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bnstep/op.hpp"

namespace bnstep::ops {

using Args = std::vector<double>;  // one element of each input (an absent optional input reads 0)

struct ScalarInput {
    std::string name;
    std::string local;  // formula template of the local derivative
    std::function<double(const Args& x, double y, const Attrs& attrs)> derivative;
    bool optional = false;
    std::string note = {};  // appended to the formula (a convention at a kink)
    Domain domain = {};     // the values the input takes (InputRule::domain)
    DomainFn domain_of = {};
    // The derivative is a straight-through estimator's (the op's ScalarSurrogate
    // s'), not the op's own: the formula says so and the rule is labelled.
    bool straight_through = false;
    // For a worked example, the template of the local derivative these
    // attributes select, when `local` lists several (one per estimator).
    std::function<std::string(const Attrs& attrs)> local_for = {};
};

// The surrogate of a one-input op that is flat almost everywhere (sign): the
// op stands in as f(x0) + s(x) - s(x0), anchored at the forward input x0, so
// its derivative is s', which the input's `derivative` must compute.
struct ScalarSurrogate {
    std::function<std::string(const Attrs& attrs)> name;
    std::function<double(double x, const Attrs& attrs)> s;
    std::function<long long(double x, const Attrs& attrs)> piece = {};  // s's kinks; empty for a smooth s
};

struct ScalarOp {
    std::string name;
    std::string summary;
    std::string forward;  // formula template
    std::vector<ScalarInput> inputs;
    std::function<double(const Args& x, const Attrs& attrs)> f;
    std::vector<AttrSpec> attrs = {};
    std::string family = "elementwise";
    // Ops with kinks: which differentiable piece the element lies on.
    std::function<long long(const Args& x, const Attrs& attrs)> piece = {};
    std::optional<ScalarSurrogate> surrogate = {};
    // Rejects attribute values the op cannot take, with a ShapeError.
    std::function<void(const Attrs& attrs)> check_attrs = {};
};

OpDef build(const ScalarOp& s);

}  // namespace bnstep::ops
