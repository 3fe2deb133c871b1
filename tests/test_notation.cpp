// Notation (issue 14, item 6): partial derivatives written with "∂" and never
// with an upstream gradient's name, their ASCII form for a terminal whose
// locale is not UTF-8, the straight-through estimator in use, group-aware
// convolution formulas (checked against the gradients they describe) and
// \partial in LaTeX worksheets.
#include <doctest/doctest.h>

#include <cmath>
#include <regex>
#include <string>
#include <tuple>

#include "bnstep/executor.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/notation.hpp"
#include "bnstep/op.hpp"
#include "bnstep/print.hpp"
#include "bnstep/study.hpp"
#include "cli_test_support.hpp"

using namespace bnstep;
using namespace bnstep_test;
using bnstep_cli_test::ok_output;

TEST_CASE("notation: partial derivatives in ASCII when the terminal is not UTF-8") {
    CHECK(partials("∂out/∂gamma = xhat", true) == "∂out/∂gamma = xhat");
    CHECK(partials("∂out/∂gamma = xhat", false) == "d(out)/d(gamma) = xhat");
    CHECK(partials("∂(x - mu)/∂mu = -1", false) == "d(x - mu)/d(mu) = -1");
    CHECK(partials("∂(sqrt(v + eps))/∂v = 0.5/sqrt(v + eps)", false) == "d(sqrt(v + eps))/d(v) = 0.5/sqrt(v + eps)");
    CHECK(partials("its true derivative ∂alpha_k/∂W[i] = sign(W[i])/18;", false) ==
          "its true derivative d(alpha_k)/d(W[i]) = sign(W[i])/18;");
    CHECK(partials("∂C[3]/∂W[0,0] = 1/4", false) == "d(C[3])/d(W[0,0]) = 1/4");
    CHECK(partials("no derivative here: dx = dout * 2", false) == "no derivative here: dx = dout * 2");
}

TEST_CASE("notation: the locale decides, LC_ALL before LC_CTYPE before LANG") {
    CHECK(locale_is_utf8(nullptr, nullptr, "en_US.UTF-8"));
    CHECK(locale_is_utf8(nullptr, "de_DE.utf8", "C"));
    CHECK(locale_is_utf8("C.UTF-8", "C", "C"));
    CHECK_FALSE(locale_is_utf8("C", "en_US.UTF-8", "en_US.UTF-8"));  // LC_ALL wins
    CHECK_FALSE(locale_is_utf8("", "", "POSIX"));                    // empty values do not count
    CHECK(locale_is_utf8("", "", "fr_FR.Utf-8"));
    CHECK_FALSE(locale_is_utf8(nullptr, nullptr, nullptr));
    CHECK_FALSE(locale_is_utf8(nullptr, nullptr, "en_US.ISO-8859-1"));
}

TEST_CASE("notation: run prints ∂ in a UTF-8 locale and d(out)/d(in) in another, and JSON keeps ∂") {
    const std::vector<std::string> run_args = {"run", "batchnorm", "--color", "never"};
    const std::string utf8 = ok_output(run_args, "", {{"LC_ALL", "C.UTF-8"}});
    CHECK(contains(utf8, "to mu:  ∂(x - mu)/∂mu = -1"));
    const std::string ascii = ok_output(run_args, "", {{"LC_ALL", "C"}});
    CHECK(contains(ascii, "to mu:  d(x - mu)/d(mu) = -1"));
    CHECK_FALSE(contains(ascii, "∂"));
    // LANG alone decides when LC_ALL and LC_CTYPE are unset.
    const std::string by_lang = ok_output({"trace", "batchnorm", "--node", "xmu", "--color", "never"}, "",
                                          {{"LC_ALL", kUnsetEnv}, {"LC_CTYPE", kUnsetEnv}, {"LANG", "POSIX"}});
    CHECK(contains(by_lang, "d(x - mu)/d(x) = 1"));
    CHECK_FALSE(contains(by_lang, "∂"));
    const std::string json = ok_output({"run", "batchnorm", "--format", "json"}, "", {{"LC_ALL", "C"}});
    CHECK(contains(json, "∂(x - mu)/∂mu = -1"));
}

TEST_CASE("notation: no formula writes a derivative with a gradient's name") {
    // "dout/dgamma" or "d(a * b)/da" would read as the upstream gradient dout or da divided by something.
    const std::regex leibniz(R"((^|[^A-Za-z0-9_])d(\w+|\([^)]*\))/d\w)");
    for (const OpDef& op : builtin_ops().all())
        for (const InputRule& in : op.inputs) {
            const std::string text =
                render(in.formula, [](std::string_view key) -> std::optional<std::string> { return std::string(key); });
            CAPTURE(op.name);
            CAPTURE(text);
            CHECK_FALSE(std::regex_search(text, leibniz));
        }
    CHECK(std::regex_search("dout/dgamma = xhat", leibniz));  // what it catches
    CHECK(std::regex_search("d(a * b)/da = b", leibniz));
    CHECK_FALSE(std::regex_search("∂out/∂gamma = xhat", leibniz));
    CHECK(builtin_ops().find("batchnorm")->inputs[1].formula.rfind("∂{out}/∂{gamma} = xhat", 0) == 0);
}

TEST_CASE("notation: the step names the straight-through estimator in use") {
    for (const auto& row :
         {std::tuple{"bnn", "xb", "straight-through estimator, ste hardtanh: 1 if |x| <= 1 else 0", "ste identity"},
          std::tuple{"binaryconnect", "Wb", "straight-through estimator, ste identity: 1", "hardtanh"},
          std::tuple{"xnor-net", "Wx", "straight-through estimator, ste hardtanh: ste' = 1 where |W[i]| <= 1, else 0",
                     "ste identity"}}) {
        // Named copies: doctest's CAPTURE cannot take a structured binding (clang 14).
        const std::string lesson = std::get<0>(row), node = std::get<1>(row), used = std::get<2>(row),
                          unused = std::get<3>(row);
        CAPTURE(lesson);
        const Graph g = load_lesson(lesson);
        const Trace t = run(g);
        const std::string& formula = t.nodes[g.find(node).value()].edges.at(0).formula;
        CAPTURE(formula);
        CHECK(contains(formula, used));
        CHECK_FALSE(contains(formula, unused));
    }
    // The op reference lists both.
    const std::string& generic = builtin_ops().find("sign")->inputs[0].formula;
    CHECK(contains(generic, "(ste identity)"));
    CHECK(contains(generic, "(ste hardtanh"));
}

TEST_CASE("notation: group convolution formulas index the (K, C/groups, R, S) weight exactly") {
    const Graph g = load_lesson("group-conv-shuffle");
    const Trace t = run(g);
    // gc1: 1 x 1 convolution of x (1, 6, H, W) with w_g1 (6, 3, 1, 1), groups 2: C/groups = K/groups = 3.
    const std::size_t gc1 = g.find("gc1").value();
    const auto& edges = t.nodes[gc1].edges;
    CHECK(contains(edges[0].formula,
                   "sum over r, s and the filters k = 3g ... 3g + 2 of the group g = floor(c/3) "
                   "of c: dgc1[n,k,i,j] * w_g1[k,c - 3g,r,s]"));
    CHECK(contains(edges[1].formula, "dw_g1[k,c,r,s] = sum_{n,i,j} dgc1[n,k,i,j] * x[n,3g + c,"));
    CHECK(contains(edges[1].formula, "g = floor(k/3) the group of filter k"));
    // The formulas as written, evaluated by hand (a 1 x 1 kernel, stride 1, no padding: i = p, j = q).
    const Tensor& x = t.nodes[g.find("x").value()].value;
    const Tensor& w = t.nodes[g.find("w_g1").value()].value;
    const Tensor& up = *t.nodes[gc1].grad;
    const Shape& xs = x.shape();
    for (std::size_t c = 0; c < 6; ++c)
        for (std::size_t p = 0; p < xs[2]; ++p)
            for (std::size_t q = 0; q < xs[3]; ++q) {
                const std::size_t group = c / 3;
                double dx = 0;
                for (std::size_t k = 3 * group; k < 3 * group + 3; ++k)
                    dx += up.at({0, k, p, q}) * w.at({k, c - 3 * group, 0, 0});
                CHECK(edges[0].contribution.at({0, c, p, q}) == doctest::Approx(dx).epsilon(1e-12));
            }
    for (std::size_t k = 0; k < 6; ++k)
        for (std::size_t c = 0; c < 3; ++c) {
            double dw = 0;
            for (std::size_t i = 0; i < xs[2]; ++i)
                for (std::size_t j = 0; j < xs[3]; ++j) dw += up.at({0, k, i, j}) * x.at({0, 3 * (k / 3) + c, i, j});
            CHECK(edges[1].contribution.at({k, c, 0, 0}) == doctest::Approx(dw).epsilon(1e-12));
        }
    // dwc: depthwise (groups = C = K = 6), w_dw (6, 1, 3, 3): w_dw[c,0,r,s], filter c alone.
    const auto& dw_edges = t.nodes[g.find("dwc").value()].edges;
    CHECK(contains(dw_edges[0].formula, "dshuf[n,c,p,q] = sum_{r,s} ddwc[n,c,i,j] * w_dw[c,0,r,s]"));
    CHECK(contains(dw_edges[1].formula, "dw_dw[k,0,r,s] = sum_{n,i,j} ddwc[n,k,i,j] * shuf[n,k,"));
    // The op reference states the general case.
    CHECK(contains(builtin_ops().find("conv2d")->inputs[0].formula, "{w}[k,c - g*C/groups,r,s]"));
}

TEST_CASE("notation: a LaTeX worksheet writes \\partial in math mode") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    const std::string tex = worksheet(t, SheetFormat::Latex, false, PrintOptions{});
    CHECK(contains(tex, "$\\partial$(xmu * ivar)/$\\partial$ivar = xmu"));
    CHECK_FALSE(contains(tex, "U+2202"));
    const std::string md = worksheet(t, SheetFormat::Markdown, false, PrintOptions{});
    CHECK(contains(md, "`∂(xmu * ivar)/∂ivar = xmu`"));
}

TEST_CASE("notation: no zero terms, no /1, the stride in effect in the step headers") {
    // quantize-8bit's zero point is 0: the header has no "+ 0" and no "- 0".
    const Graph q8 = load_lesson("quantize-8bit");
    CHECK(forward_formula(q8, *q8.find("Wq")) == "(clamp(round_half_even(W/0.0078125), -128, 127)) * 0.0078125");
    const Graph g = parse_lesson(R"({"name": "zeros", "title": "t", "description": "d",
      "leaves": [{"name": "x", "kind": "input", "shape": [1, 1, 4, 4], "fill": 0.5}],
      "nodes": [
        {"name": "q", "op": "quantize", "inputs": ["x"], "attrs": {"bits": 4, "scale": 0.5, "zero_point": 3}},
        {"name": "mp", "op": "max_pool2d", "inputs": ["q"], "attrs": {"kernel": 2}},
        {"name": "f", "op": "reshape", "inputs": ["mp"], "attrs": {"shape": [4]}},
        {"name": "s1", "op": "softmax", "inputs": ["f"]},
        {"name": "s2", "op": "log_softmax", "inputs": ["s1"], "attrs": {"temperature": 2}},
        {"name": "L", "op": "sum", "inputs": ["s2"]}],
      "output": {"node": "L"}})",
                                 "zeros.json");
    // A zero point of 3 keeps both terms.
    CHECK(forward_formula(g, *g.find("q")) == "(clamp(round_half_even(x/0.5) + 3, 0, 15) - 3) * 0.5");
    // max_pool2d's stride defaults to 0, which means the kernel: 2.
    CHECK(forward_formula(g, *g.find("mp")) == "max_pool2d(q; kernel 2, stride 2, padding 0)");
    // Temperature 1 leaves out "/1"; temperature 2 keeps "/2".
    CHECK(forward_formula(g, *g.find("s1")) == "exp(f) / sum_k exp(f_k), k along axis=-1");
    CHECK(forward_formula(g, *g.find("s2")) == "s1/2 - log(sum_k exp(s1_k/2)), k along axis=-1");
    const Trace t = run(g);
    for (const EdgeGrad& e : t.nodes[*g.find("s1")].edges) {
        CHECK(e.formula.find("/ 1") == std::string::npos);
        CHECK(e.formula.find("divided by") == std::string::npos);
    }
    for (const EdgeGrad& e : t.nodes[*g.find("q")].edges) CHECK(e.formula.find("+ 3 <= 15") != std::string::npos);
}

TEST_CASE("notation: the ops' own derivatives in prose are written with ∂") {
    const std::string ws =
        ok_output({"trace", "weight-sharing", "--node", "1", "--color", "never"}, "", {{"LC_ALL", "C.UTF-8"}});
    CHECK(ws.find("∂C_j/∂W_i = 1/n_j") != std::string::npos);
    CHECK(ws.find("dC_j/dW_i") == std::string::npos);
    const std::string xnor =
        ok_output({"run", "xnor-net", "--no-pager", "--color", "never"}, "", {{"LC_ALL", "C.UTF-8"}});
    CHECK(xnor.find("∂alpha_k/∂W_i = sign(W_i) / n") != std::string::npos);
    CHECK(xnor.find("d alpha_k") == std::string::npos);
    const std::string q8 =
        ok_output({"run", "quantize-8bit", "--no-pager", "--color", "never"}, "", {{"LC_ALL", "C.UTF-8"}});
    CHECK(q8.find("rounded half to even") < q8.find("Wq:\n"));
}
