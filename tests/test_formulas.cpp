// Every printed formula is machine-checked: the text of each input's local
// gradient, as `trace` and docs/ops.md print it, is evaluated (bnstep/arith.hpp)
// at random points of the inputs' domains and compared with the op's own
// `local` rule, for every op, input and a few attribute settings. A formula
// that cannot be evaluated must be on a short list, with the reason.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include "bnstep/op.hpp"
#include "bnstep/print.hpp"
#include "bnstep/rng.hpp"
#include "bnstep/arith.hpp"
#include "op_harness.hpp"

using namespace bnstep;
using namespace bnstep::testing;

namespace {

// One way to call an op: its inputs' shapes (an optional input is left out
// by a shorter list), attributes, and inputs given by hand (masks).
struct Setting {
    std::vector<Shape> shapes;
    std::vector<std::pair<const char*, double>> attrs = {};
    std::map<std::size_t, Tensor> given = {};
};

// Names a formula uses that the op's summary defines (batchnorm's mu and var,
// prune_mask's m), at element `e` of the local gradient.
using Defined = std::function<void(const std::vector<Tensor>& in, const Attrs& a, std::size_t e, FormulaVars& vars)>;

struct Plan {
    std::vector<Setting> settings;
    Defined defined = {};
};

// Rules whose formula text cannot be evaluated, and why. The test checks this
// list against the table both ways: each entry is a rule with `local` whose
// text indeed fails, and every other rule with `local` passes.
const std::map<std::pair<std::string, std::string>, std::string> uncovered = {
    {{"pow2_quantize", "W"},
     "'0 where W is quantized (...), 1 where it is not yet': the condition is prose (membership in the set the "
     "mask or the magnitude ranking picks), not an expression"},
};

// Rules without `local` whose text is still an elementwise expression: the
// gradient of a scalar loss, compared with the VJP at upstream 1.
const std::set<std::pair<std::string, std::string>> vjp_texts = {
    {"mse", "a"}, {"mse", "b"}, {"kl_div", "log_q"}, {"kl_div", "p"}};

Tensor mask_of(const Shape& shape) {
    Tensor m(shape);
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = (i * 7 % 3) != 0 ? 1.0 : 0.0;
    return m;
}

// Batch norm at inference: x and, per channel (axis 1), the running
// statistics, gamma and beta, read at the channel of element e.
Plan inference_plan(const std::vector<Shape>& x_shapes) {
    Plan plan;
    for (const Shape& x : x_shapes) {
        const Shape c{x[1]};
        plan.settings.push_back({{x, c, c, c, c}, {{"eps", 1e-5}}});
    }
    plan.defined = [](const std::vector<Tensor>& in, const Attrs&, std::size_t e, FormulaVars& vars) {
        const Shape& x = in[0].shape();
        const std::size_t plane = x.size() == 4 ? x[2] * x[3] : 1, c = (e / plane) % x[1];
        vars["running_mean"] = in[1][c];
        vars["running_var"] = in[2][c];
        vars["gamma"] = in[3][c];
        vars["beta"] = in[4][c];
    };
    return plan;
}

Plan plan_for(const OpDef& op) {
    const Shape s{4, 5};
    static const std::map<std::string, Plan> plans = {
        {"pow",
         {{{{s}, {{"p", 3}}},
           {{s}, {{"p", 2}}},
           {{s}, {{"p", 1}}},
           {{s}, {{"p", 0.5}}},
           {{s}, {{"p", -0.5}}},
           {{s}, {{"p", -2}}},
           {{s}, {{"p", 0}}}}}},
        {"hardtanh",
         {{{{s}},
           {{s}, {{"min", -0.5}, {"max", 1.5}}},
           {{s}, {{"min", -2}, {"max", 0.25}}},
           {{s}, {{"min", 0.5}, {"max", 0.5}}}}}},
        {"clip",
         {{{{s}, {{"min", -1}, {"max", 0.5}}}, {{s}, {{"min", -3}, {"max", 3}}}, {{s}, {{"min", 0.5}, {"max", 0.5}}}}}},
        {"sign", {{{{s}, {{"ste", 0}}}, {{s}, {{"ste", 1}}}}}},
        {"sum",
         {{{{{3, 4}}, {{"axis", 0}}},
           {{{3, 4}}, {{"axis", 1}, {"keepdims", 1}}},
           {{{2, 3, 4}}, {{"axis", -2}}},
           {{{5}}, {{"axis", 0}}}}}},
        {"mean",
         {{{{{3, 4}}, {{"axis", 0}}},
           {{{3, 4}}, {{"axis", 1}, {"keepdims", 1}}},
           {{{2, 3, 4}}, {{"axis", -2}}},
           {{{5}}, {{"axis", 0}}}}}},
        {"global_avg_pool", {{{{{2, 3, 2, 2}}}, {{{1, 2, 3, 1}}}}}},
        {"batchnorm",
         {{{{{5, 3}, {3}, {3}}, {{"eps", 1e-5}}}, {{{2, 4}, {4}, {4}}, {{"eps", 1e-3}}}},
          [](const std::vector<Tensor>& in, const Attrs&, std::size_t e, FormulaVars& vars) {
              const Tensor& x = in[0];
              const std::size_t n = x.shape()[0], d = x.shape()[1], c = e % d;
              double mu = 0, var = 0;
              for (std::size_t k = 0; k < n; ++k) mu += x[k * d + c];
              mu /= double(n);
              for (std::size_t k = 0; k < n; ++k) var += (x[k * d + c] - mu) * (x[k * d + c] - mu);
              vars["mu"] = mu;
              vars["var"] = var / double(n);
          }}},
        {"batchnorm_inference", inference_plan({{5, 3}, {2, 4}})},
        {"batchnorm2d_inference", inference_plan({{2, 3, 2, 2}, {1, 2, 3, 1}})},
        {"binarize_stochastic", {{{{s}, {{"seed", 1}}}, {{s}, {{"seed", 7}}}}}},
        {"ternarize", {{{{s}}, {{s}, {{"delta_factor", 0.5}}}}}},
        {"quantize",
         {{{{s}, {{"scale", 0.02}, {"zero_point", 100}}},
           {{s}, {{"scale", 0.25}, {"bits", 3}, {"signed", 1}}},
           {{s}, {{"scale", 0.5}, {"bits", 2}, {"zero_point", 1}}}}}},
        {"prune_mask",
         {{{{s}}, {{s}, {{"sparsity", 0.25}}}, {{s, s}, {}, {{1, mask_of(s)}}}},
          [](const std::vector<Tensor>& in, const Attrs& a, std::size_t e, FormulaVars& vars) {
              if (in.size() > 1) {  // m = the mask
                  vars["m"] = in[1][e];
                  return;
              }
              // m = 0 for the round(sparsity * size) weights of smallest |W|.
              const Tensor& w = in[0];
              std::vector<std::size_t> order(w.size());
              std::iota(order.begin(), order.end(), 0);
              std::stable_sort(order.begin(), order.end(),
                               [&](std::size_t i, std::size_t j) { return std::fabs(w[i]) < std::fabs(w[j]); });
              const auto pruned = static_cast<std::size_t>(std::round(a.number("sparsity") * double(w.size())));
              const auto rank = std::find(order.begin(), order.end(), e) - order.begin();
              vars["m"] = static_cast<std::size_t>(rank) < pruned ? 0.0 : 1.0;
          }}},
        {"pow2_quantize", {{{{s}, {{"n1", 0}, {"n2", -3}}}, {{s, s}, {{"n1", 1}, {"n2", -2}}, {{1, mask_of(s)}}}}}},
    };
    if (const auto it = plans.find(op.name); it != plans.end()) return it->second;
    // Every input of shape (4, 5); and once without the optional inputs, if any.
    Plan plan;
    plan.settings.push_back({std::vector<Shape>(op.inputs.size(), s)});
    if (op.min_arity() < op.inputs.size()) plan.settings.push_back({std::vector<Shape>(op.min_arity(), s)});
    return plan;
}

// Values of a domain; `specials` (0, +-1, the attributes' values) for the
// elements of an input drawn at its edges, where a formula's convention at a
// kink shows.
Tensor draw(const Domain& d, const Shape& shape, const std::vector<Tensor>& earlier, Rng& rng,
            const std::vector<double>& specials) {
    Tensor t(shape);
    const double hi = d.bound > 0 ? d.bound : 3.0;
    std::vector<double> edges;
    for (double v : specials)
        if (std::fabs(v) <= hi && (d.kind != Domain::Kind::Positive || v > 0)) edges.push_back(v);
    for (double& v : t.data()) {
        const bool edge = !edges.empty() && rng.uniform() < 0.5;
        switch (d.kind) {
            case Domain::Kind::Any:
                v = edge ? edges[std::size_t(rng.uniform() * double(edges.size()))] : rng.uniform(-hi, hi);
                break;
            case Domain::Kind::Positive:
                v = edge ? edges[std::size_t(rng.uniform() * double(edges.size()))] : rng.uniform(0.05, hi);
                break;
            case Domain::Kind::Mask: v = rng.uniform() < 0.5 ? 0.0 : 1.0; break;
            case Domain::Kind::ClassLabels: {
                const double classes =
                    earlier.empty() || earlier[0].rank() == 0 ? 1.0 : double(earlier[0].shape().back());
                v = std::floor(rng.uniform() * classes);
                break;
            }
            case Domain::Kind::Distribution: v = rng.uniform(0.05, 1.0); break;
        }
    }
    if (d.kind == Domain::Kind::Distribution) {  // each row along the last axis sums to 1
        const std::size_t row = shape.empty() ? 1 : shape.back();
        for (std::size_t r = 0; row != 0 && r < t.size(); r += row) {
            double total = 0;
            for (std::size_t i = r; i < r + row; ++i) total += t[i];
            for (std::size_t i = r; i < r + row; ++i) t[i] /= total;
        }
    }
    return t;
}

bool same(double a, double b) { return a == b || std::fabs(a - b) <= 1e-12 * std::max(std::fabs(a), std::fabs(b)); }

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// What follows the head ("∂(1/v)/∂v = ", "...; straight-through estimator: "):
// the local gradient, then prose.
std::optional<std::string> body_of(const std::string& formula) {
    const std::string ste = "straight-through estimator: ";
    if (const auto p = formula.find(ste); p != std::string::npos) return formula.substr(p + ste.size());
    const bool head = formula[0] == 'd' || starts_with(formula, "∂");
    if (const auto p = formula.find(" = "); p != std::string::npos && head) return formula.substr(p + 3);
    return std::nullopt;
}

// The value a formula's body gives: alternatives separated by ", or ", each
// a chain "E1 = E2 = ..." whose parts agree ("1/N = 1/4"; a name the text
// defines, "xhat = ...", is skipped), labelled " (ste identity)" when a choice
// attribute selects it; then prose, which starts as one of `prose_starts` does.
double value_of(std::string_view text, const FormulaVars& vars, const std::map<std::string, std::string>& choices) {
    std::optional<double> chosen, first;
    std::size_t at = 0, alternatives = 0;
    for (;;) {
        ++alternatives;
        std::optional<double> value;
        for (;;) {
            const std::string_view rest = text.substr(at);
            std::size_t n = 0;
            while (n < rest.size() && (std::isalnum(static_cast<unsigned char>(rest[n])) || rest[n] == '_')) ++n;
            const bool defines = n > 0 && !std::isdigit(static_cast<unsigned char>(rest[0])) &&
                                 vars.count(rest.substr(0, n)) == 0 && starts_with(rest.substr(n), " = ");
            if (defines) {
                at += n + 3;
                continue;
            }
            Evaluated e;
            try {
                e = eval_prefix(rest, vars);
            } catch (const FormulaError& err) {
                throw FormulaError(at + err.pos, err.reason);
            }
            if (value && !same(*value, e.value))
                throw FormulaError(at, "'" + std::string(text.substr(0, at + e.end)) + "': its parts disagree");
            value = e.value;
            at += e.end;
            if (!starts_with(text.substr(at), " = ")) break;
            at += 3;
        }
        for (const auto& [attr, word] : choices) {
            const std::string label = " (" + attr + " ";
            if (!starts_with(text.substr(at), label)) continue;
            const std::string_view named = text.substr(at + label.size());
            if (starts_with(named, word) &&
                (named.size() == word.size() || !std::isalpha(static_cast<unsigned char>(named[word.size()]))))
                chosen = value;
            at = text.find(')', at) + 1;
        }
        if (!first) first = value;
        if (!starts_with(text.substr(at), ", or ")) break;
        at += 5;
    }
    const std::string_view rest = text.substr(at);
    static const std::vector<std::string_view> prose_starts{" (", ", ", "; ", ": ", " for "};
    const bool prose = rest.empty() || std::any_of(prose_starts.begin(), prose_starts.end(),
                                                   [&](std::string_view p) { return starts_with(rest, p); });
    if (!prose) throw FormulaError(at, "the expression stops before '" + std::string(rest) + "'");
    if (alternatives == 1) return *first;
    if (!chosen) throw FormulaError(0, "no alternative is labelled with the attributes' choice");
    return *chosen;
}

std::string describe(const FormulaVars& vars) {
    std::ostringstream s;
    for (const auto& [k, v] : vars) s << k << "=" << v << " ";
    return s.str();
}

struct Report {
    std::size_t compared = 0;
    std::vector<std::string> problems;
};

// Compares input `slot`'s formula with its `local` rule (with `vjp`: with its
// VJP at upstream 1) on random points, in each setting of `plan`.
Report check_rule(const OpDef& op, std::size_t slot, const Plan& plan, bool vjp = false) {
    Report report;
    const InputRule& rule = op.rule(slot);
    for (std::size_t si = 0; si < plan.settings.size(); ++si) {
        const Setting& setting = plan.settings[si];
        if (slot >= setting.shapes.size()) continue;  // the input is absent here
        Attrs attrs;
        for (const auto& [k, v] : setting.attrs) attrs.set(k, v);
        attrs = with_defaults(op, attrs);
        std::vector<std::string> names;
        for (std::size_t i = 0; i < setting.shapes.size(); ++i) names.push_back(op.rule(i).name);
        std::ostringstream where;
        where << op.name << " " << rule.name << ", setting " << si << ": ";
        try {
            const std::string formula = render(rule.formula, formula_names(op, names, "out", setting.shapes, attrs));
            const std::optional<std::string> body = body_of(formula);
            if (!body) {
                report.problems.push_back(where.str() + "no local gradient after a head in '" + formula + "'");
                continue;
            }
            std::map<std::string, std::string> choices;
            for (const AttrSpec& spec : op.attrs)
                if (spec.type == AttrType::Choice) choices[spec.name] = spec.choices.at(attrs.integer(spec.name));
            FormulaVars fixed;  // the op's variables (N), and H and W of an (N, C, H, W) input
            if (op.vars)
                for (const auto& [k, v] : op.vars(setting.shapes, attrs)) {
                    try {
                        fixed[k] = eval_formula(v, {});
                    } catch (const FormulaError&) {  // "H*W" for a shape that is not (N, C, H, W)
                    }
                }
            if (setting.shapes[0].size() == 4) {
                fixed["H"] = double(setting.shapes[0][2]);
                fixed["W"] = double(setting.shapes[0][3]);
            }
            fixed["dout"] = 1.0;  // an upstream gradient of 1: a VJP's text is the local gradient
            std::vector<double> specials{0.0, 1.0, -1.0, 0.5, -0.5};
            for (const auto& [k, v] : attrs.all()) specials.push_back(v);
            std::size_t compared = 0, mismatches = 0;
            for (std::uint64_t trial = 0; trial < 5; ++trial) {
                Rng rng(100 * si + trial + 1);
                std::vector<Tensor> in;
                for (std::size_t i = 0; i < setting.shapes.size(); ++i)
                    in.push_back(draw(op.rule(i).domain, setting.shapes[i], in, rng,
                                      trial == 4 ? specials : std::vector<double>{}));
                for (const auto& [i, t] : setting.given) in.at(i) = t;
                const Tensor out = op.forward(call_for(in, attrs, nullptr));
                OpCall call = call_for(in, attrs, &out);
                call.slot = slot;
                const Tensor expected = vjp ? rule.vjp(call, Tensor(out.shape(), 1.0)) : rule.local(call);
                std::vector<std::optional<Tensor>> bound;
                for (const Tensor& t : in) {
                    const auto b = broadcast_shapes(t.shape(), expected.shape());
                    bound.push_back(b && *b == expected.shape() ? std::optional(broadcast_to(t, expected.shape()))
                                                                : std::nullopt);
                }
                for (std::size_t e = 0; e < expected.size(); ++e) {
                    FormulaVars vars = fixed;
                    for (std::size_t i = 0; i < in.size(); ++i)
                        if (bound[i]) vars[names[i]] = (*bound[i])[e];
                    if (out.shape() == expected.shape()) vars["out"] = out[e];
                    if (plan.defined) plan.defined(in, attrs, e, vars);
                    double f = 0;
                    try {
                        f = value_of(*body, vars, choices);
                    } catch (const FormulaError& err) {
                        throw FormulaError(err.pos, "cannot evaluate '" + *body + "': " + err.reason);
                    }
                    const double l = expected[e];
                    if (!std::isfinite(f) || !std::isfinite(l)) continue;
                    ++compared;
                    if (!same(f, l) && ++mismatches <= 3)
                        report.problems.push_back(where.str() + "at " + describe(vars) + "the formula '" + *body +
                                                  "' gives " + std::to_string(f) + ", the rule " + std::to_string(l));
                }
            }
            if (compared < 20)
                report.problems.push_back(where.str() + "only " + std::to_string(compared) + " points compared");
            report.compared += compared;
        } catch (const std::exception& err) {
            report.problems.push_back(where.str() + err.what());
        }
    }
    return report;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
}

std::size_t slot_of(const OpDef& op, const std::string& input) {
    for (std::size_t i = 0; i < op.inputs.size(); ++i)
        if (op.inputs[i].name == input) return i;
    FAIL("op " << op.name << " has no input " << input);
    return 0;
}

// `op` with one input's formula text changed: `from` replaced by `to`.
OpDef planted(const char* name, const std::string& input, const std::string& from, const std::string& to) {
    OpDef op = op_named(name);
    std::string& formula = op.inputs[slot_of(op, input)].formula;
    const auto p = formula.find(from);
    REQUIRE(p != std::string::npos);
    formula.replace(p, from.size(), to);
    return op;
}

}  // namespace

TEST_CASE("formula evaluator: hand-computed values") {
    const FormulaVars v{{"a", 0},   {"v", 2},    {"x", -1}, {"min", -1}, {"max", 1},
                        {"eps", 1}, {"dout", 1}, {"H", 2},  {"W", 3},    {"p", -0.5}};
    CHECK(eval_formula("-1/v^2", v) == -0.25);  // -(1/(v^2))
    CHECK(eval_formula("-v^2", v) == -4);
    CHECK(eval_formula("2^3^2", v) == 512);  // right-associative
    CHECK(eval_formula("2^-1 + 1e-05*2", v) == 0.5 + 2e-05);
    CHECK(eval_formula("p*v^(p-1)", v) == doctest::Approx(-0.5 * std::pow(2.0, -1.5)).epsilon(1e-15));
    CHECK(eval_formula("1 - 2 - 3", v) == -4);  // left-associative
    CHECK(eval_formula("8 / 2 / 2 * 3", v) == 6);
    CHECK(eval_formula("0.5/sqrt(3 + eps)", v) == 0.25);
    CHECK(eval_formula("1 if a > 0 else 0", v) == 0);  // at a = 0
    CHECK(eval_formula("1 if a >= 0 else 2 if a < 0 else 3", v) == 1);
    CHECK(eval_formula("1 if min < x < max else 0", v) == 0);  // x at min
    CHECK(eval_formula("1 if min <= x <= max else 0", v) == 1);
    CHECK(eval_formula("min < 0 < max", v) == 1);
    CHECK(eval_formula("min < 2 < max", v) == 0);
    CHECK(eval_formula("1 where |x| <= 1, else 0", v) == 1);
    CHECK(eval_formula("1 where |v| <= 1, else 0", v) == 0);
    CHECK(eval_formula("|x - v| * 2", v) == 6);
    CHECK(eval_formula("nearbyint(2.5) + nearbyint(3.5) + nearbyint(-0.5)", v) == 6);  // halves to even
    CHECK(eval_formula("round_half_even(2.5) + round_half_even(3.5) + round_half_even(-1.5)", v) == 4);
    CHECK(eval_formula("max(v, 3) - min(v, 3) + sign(x) + abs(x)", v) == 1);
    CHECK(eval_formula("exp(log(v))", v) == doctest::Approx(2).epsilon(1e-15));
    CHECK(eval_formula("dout[n,c] / (H*W)", v) == doctest::Approx(1.0 / 6).epsilon(1e-15));
    CHECK(eval_formula("2 == 2", v) == 1);

    const Evaluated mean = eval_prefix("1/v = 1/4 for every element", v);
    CHECK(mean.value == 0.5);
    CHECK(mean.end == 3);
    CHECK(eval_prefix("1 if a > 0 else 0 (at a = 0 the gradient is 0)", v).end == 17);
    CHECK(eval_prefix("1 (ste identity), or 1", v).end == 1);
    CHECK(eval_prefix("1 where v is quantized", v).end == 1);           // not a condition: the expression is "1"
    CHECK(eval_prefix("2 * v -, then", v).end == 5);                    // an operator without an operand is prose
    CHECK_THROWS_AS(eval_prefix("2 * v - the rest", v), FormulaError);  // but an unknown name is an error

    auto error_at = [&](const char* text) -> std::optional<std::size_t> {
        try {
            eval_formula(text, v);
        } catch (const FormulaError& e) {
            return e.pos;
        }
        return std::nullopt;
    };
    CHECK(error_at("2 * 3 foo") == 6u);
    CHECK(error_at("1 + y") == 4u);  // unknown name
    CHECK(error_at("(1 + 2") == 6u);
    CHECK(error_at("  ") == 2u);
    CHECK(error_at("frob(2)") == 0u);
    CHECK_THROWS_WITH_AS(eval_formula("1 + y", v), "unknown name 'y' at position 4", FormulaError);
}

TEST_CASE("formulas: every printed local gradient equals the op's local rule") {
    std::size_t checked = 0;
    std::set<std::pair<std::string, std::string>> with_local;
    for (const OpDef& op : builtin_ops().all()) {
        for (std::size_t slot = 0; slot < op.inputs.size(); ++slot) {
            const InputRule& rule = op.inputs[slot];
            if (!rule.local) continue;
            const std::pair<std::string, std::string> key{op.name, rule.name};
            with_local.insert(key);
            CAPTURE(op.name);
            CAPTURE(rule.name);
            const Report r = check_rule(op, slot, plan_for(op));
            if (uncovered.count(key)) {  // still not evaluable, or it belongs off the list
                CHECK_MESSAGE(!r.problems.empty(), "this formula can be checked now: take it off `uncovered`");
                continue;
            }
            CHECK_MESSAGE(r.problems.empty(), joined(r.problems));
            CHECK(r.compared >= 20);
            ++checked;
        }
    }
    for (const auto& entry : uncovered) {  // no structured binding: clang 14 cannot capture one
        const auto& key = entry.first;
        CHECK_MESSAGE(with_local.count(key) == 1, key.first, " ", key.second, " is not a rule with `local`");
    }
    CHECK(checked + uncovered.size() == with_local.size());
    CHECK(checked >= 25);
    MESSAGE(checked << " op inputs with `local` checked, " << uncovered.size() << " on the uncovered list");
}

TEST_CASE("formulas: the elementwise VJP texts of scalar losses equal the VJP at upstream 1") {
    for (const auto& text : vjp_texts) {  // no structured binding: clang 14 cannot capture one
        const std::string& name = text.first;
        const std::string& input = text.second;
        CAPTURE(name);
        CAPTURE(input);
        const OpDef& op = op_named(name.c_str());
        const std::size_t slot = slot_of(op, input);
        REQUIRE_FALSE(op.inputs[slot].local);
        const Report r = check_rule(op, slot, plan_for(op), true);
        CHECK_MESSAGE(r.problems.empty(), joined(r.problems));
        CHECK(r.compared >= 20);
    }
}

TEST_CASE("formulas: a rule without a local value is printed as not elementwise") {
    const std::string md = op_reference_markdown(builtin_ops());
    const std::string note = " (not elementwise: no local value is shown)";
    for (const OpDef& op : builtin_ops().all()) {
        CAPTURE(op.name);
        const std::size_t start = md.find("\n### `" + op.name + "`\n");
        REQUIRE(start != std::string::npos);
        const std::string section = md.substr(start, md.find("\n### ", start + 1) - start);
        for (const InputRule& rule : op.inputs) {
            CAPTURE(rule.name);
            if (!rule.differentiable) continue;
            CHECK(rule.straight_through == (rule.formula.find("straight-through estimator") != std::string::npos));
            const std::string head = "\n- gradient for `" + rule.name + "`: ";
            const std::size_t at = section.find(head);
            REQUIRE(at != std::string::npos);
            const std::string line = section.substr(at + 1, section.find('\n', at + 1) - at - 1);
            const bool noted =
                line.size() >= note.size() && line.compare(line.size() - note.size(), note.size(), note) == 0;
            CHECK(noted == !rule.local);
        }
    }
}

TEST_CASE("formulas: a planted wrong formula text fails the check") {
    const OpDef& div = op_named("div");
    REQUIRE(check_rule(div, 1, plan_for(div)).problems.empty());
    const OpDef wrong_div = planted("div", "b", "-{a}/{b}^2", "{a}/{b}^2");
    const Report r = check_rule(wrong_div, 1, plan_for(wrong_div));
    REQUIRE_FALSE(r.problems.empty());
    CHECK(r.problems[0].find("the formula '{a}/{b}^2'") == std::string::npos);  // rendered, not the template
    CHECK(r.problems[0].find("the formula 'a/b^2' gives") != std::string::npos);

    struct Plant {
        const char *op, *input, *from, *to;
    };
    for (const Plant& p : std::vector<Plant>{
             {"relu", "a", "{a} > 0", "{a} < 0"},                                // the comparison turned around
             {"hardtanh", "x", "{min} < {x} < {max}", "{min} <= {x} <= {max}"},  // wrong only at the bounds
             {"clip", "x", "{min} <= {x}", "{min} < {x}"},                       // wrong only at min
             {"sign", "x", "(ste identity)", "(ste hardtanh)"},                  // the estimators' labels swapped
             {"mean", "a", "1/N{[ = 1/{N}]}", "1/N{[ = 2/{N}]}"},                // a chain whose parts disagree
             {"pow", "a", "({p}-1)", "{p}"},
             {"quantize", "x", "{qmin} <= ", "{qmin} < "},
             {"batchnorm", "gamma", "({x} - mu)", "{x}"},
             {"global_avg_pool", "x", "(H*W)", "H"},
             {"mse", "b", "-2", "2"},  // a VJP text
         }) {
        CAPTURE(p.op);
        const OpDef op = planted(p.op, p.input, p.from, p.to);
        const Report wrong = check_rule(op, slot_of(op, p.input), plan_for(op), vjp_texts.count({p.op, p.input}) != 0);
        CHECK_FALSE(wrong.problems.empty());
    }
}
