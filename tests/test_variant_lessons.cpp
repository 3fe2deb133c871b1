// Every built-in lesson, 1,000 variants each: each loads, passes the gradient
// check with no kink, keeps the properties its file declares, shows no
// degenerate case, draws hand-friendly numbers, and its text quotes none of
// the numbers the variant redrew. The checks here are written apart from the
// loader's own (variant.cpp): they read the lesson file and the trace directly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"
#include "sanitizer.hpp"

using namespace bnstep;
using nlohmann::json;

namespace {

// Under the sanitizers every load is several times slower: a sample there.
constexpr std::uint64_t kVariants = bnstep_test::kUnderSanitizer ? 3 : 1000;

json lesson_json(const std::string& name) {
    for (const auto& l : builtin_lessons())
        if (l.name == name) return json::parse(l.json);
    FAIL("no built-in lesson " << name);
    return {};
}

// A leaf the lesson keeps as written in every variant.
bool is_fixed(const json& leaf) {
    if (leaf.contains("variant")) return leaf["variant"] == "fixed";
    return leaf["kind"] == "const" && !leaf.contains("random");
}

bool on_two_decimals(double v) { return std::fabs(v * 100.0 - std::round(v * 100.0)) < 1e-7; }

// The lesson file's "require" tests, evaluated on a forward value.
std::string broken_property(const json& property, const Tensor& value) {
    auto some = [&](auto pred) {
        for (double v : value.data())
            if (pred(v)) return true;
        return false;
    };
    for (const auto& [test, bound_json] : property.items()) {
        if (!bound_json.is_number()) continue;
        const double b = bound_json.get<double>();
        bool ok = true;
        if (test == "all_above") ok = !some([&](double v) { return !(v > b); });
        if (test == "all_below") ok = !some([&](double v) { return !(v < b); });
        if (test == "some_above") ok = some([&](double v) { return v > b; });
        if (test == "some_below") ok = some([&](double v) { return v < b; });
        if (test == "some_abs_above") ok = some([&](double v) { return std::fabs(v) > b; });
        if (test == "some_abs_below") ok = some([&](double v) { return std::fabs(v) < b; });
        if (!ok) return test;
    }
    return {};
}

// Sums over a broadcast axis (dbeta = the column sums of dout) that cancel to
// 0 from terms that are not all 0, as (node, slot, element) keys.
std::set<std::string> cancelled_sums(const Trace& t) {
    std::set<std::string> found;
    for (std::size_t i = 0; i < t.nodes.size(); ++i)
        for (const EdgeGrad& e : t.nodes[i].edges) {
            if (e.reduced_axes.empty() || e.status != EdgeGrad::Status::Flows) continue;
            // Sum |terms| over the same axes: the contribution's own scale.
            const Tensor& u = e.unreduced;
            const Shape in_shape = e.contribution.shape();
            std::vector<double> magnitude(e.contribution.size(), 0.0);
            const std::size_t rank = u.shape().size();
            for (std::size_t k = 0; k < u.size(); ++k) {
                // The contribution element u[k] adds to: its index with the reduced axes dropped to 0.
                std::size_t rest = k, offset = 0, stride = 1;
                std::vector<std::size_t> idx(rank);
                for (std::size_t a = rank; a-- > 0;) {
                    idx[a] = rest % u.shape()[a];
                    rest /= u.shape()[a];
                }
                const std::size_t lead = rank - in_shape.size();
                for (std::size_t a = rank; a-- > lead;) {
                    const std::size_t d = in_shape[a - lead];
                    offset += (d == 1 ? 0 : idx[a]) * stride;
                    stride *= d;
                }
                magnitude[offset] += std::fabs(u[k]);
            }
            for (std::size_t k = 0; k < e.contribution.size(); ++k)
                if (magnitude[k] > 0 && std::fabs(e.contribution[k]) <= 1e-12 * magnitude[k])
                    found.insert(fmt::format("{}/{}/{}", i, e.slot, k));
        }
    return found;
}

// Independent checks of the degenerate cases the issue names.
void check_not_degenerate(const Graph& g, const Trace& t, const std::string& where) {
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        if (n.is_leaf()) continue;
        const Tensor& in0 = t.nodes[n.inputs[0]].value;
        if (n.op->name == "relu")
            for (double v : in0.data()) CHECK_MESSAGE(v != 0.0, where << ": a ReLU input of exactly 0 at " << n.name);
        if (n.op->name == "sqrt")  // the staged lessons' sqrt(var + eps): no zero variance
            for (double v : in0.data()) CHECK_MESSAGE(v > 1e-6, where << ": a zero variance reaches " << n.name);
        if (n.op->name == "batchnorm" || n.op->name == "batchnorm2d") {
            // The variance of each feature (axis 1) over every other axis.
            const Shape& s = in0.shape();
            const std::size_t features = s[1], inner = in0.size() / (s[0] * s[1]);
            for (std::size_t c = 0; c < features; ++c) {
                double lo = INFINITY, hi = -INFINITY;
                for (std::size_t b = 0; b < s[0]; ++b)
                    for (std::size_t k = 0; k < inner; ++k) {
                        const double v = in0[(b * features + c) * inner + k];
                        lo = std::min(lo, v);
                        hi = std::max(hi, v);
                    }
                CHECK_MESSAGE(hi > lo, where << ": feature " << c << " of " << n.name << " has zero variance");
            }
        }
    }
}

// Numbers of three or more significant digits a text quotes.
std::vector<double> quoted_numbers(const std::string& text) {
    static const std::regex number(R"((\d+\.\d+))");
    std::vector<double> found;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it) {
        std::string digits = it->str();
        digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
        digits.erase(0, digits.find_first_not_of('0'));
        while (!digits.empty() && digits.back() == '0') digits.pop_back();
        if (digits.size() >= 3) found.push_back(std::stod(it->str()));
    }
    return found;
}

void check_lesson_variants(const std::string& name) {
    const json file = lesson_json(name);
    const Graph base = load_lesson(name);
    const Trace base_trace = run(base);
    const std::set<std::string> base_cancelled = cancelled_sums(base_trace);

    std::set<std::string> redrawn, changed;
    std::set<double> redrawn_written;  // the values as written of the leaves a variant redraws
    for (const json& leaf : file["leaves"])
        if (!is_fixed(leaf)) {
            redrawn.insert(leaf["name"].get<std::string>());
            for (double v : base.nodes[*base.find(leaf["name"].get<std::string>())].value.data())
                redrawn_written.insert(v);
        }
    const json requires_ = file.contains("variant") ? file["variant"].value("require", json::array()) : json::array();

    for (std::uint64_t variant = 1; variant <= kVariants; ++variant) {
        const std::string where = fmt::format("{} --variant {}", name, variant);
        LessonOptions options;
        options.variant = variant;
        Graph g;
        try {
            g = load_lesson(name, builtin_ops(), options);
        } catch (const std::exception& e) {
            FAIL(where << ": " << std::string(e.what()));
        }
        REQUIRE(g.variant == variant);
        for (const std::string& leaf : redrawn) {
            const Tensor& v = g.nodes[*g.find(leaf)].value;
            for (double x : v.data()) CHECK_MESSAGE(on_two_decimals(x), where << ": " << leaf << " holds " << x);
            if (v.data() != base.nodes[*base.find(leaf)].value.data()) changed.insert(leaf);
        }
        for (std::size_t i = 0; i < g.nodes.size(); ++i)
            if (g.nodes[i].is_leaf() && !redrawn.count(g.nodes[i].name))
                CHECK_MESSAGE(g.nodes[i].value.data() == base.nodes[i].value.data(),
                              where << ": the fixed leaf " << g.nodes[i].name << " changed");

        const Trace t = run(g);
        GradcheckOptions check;
        check.mode = GradcheckMode::Full;
        const GradcheckReport report = check_gradients(g, t, check);
        CHECK_MESSAGE(report.passed(), where << ": check-gradients fails");
        for (const NodeCheck& c : report.checks)
            CHECK_MESSAGE(c.kinks == 0, where << ": a kink at " << g.nodes[c.node].name);
        check_not_degenerate(g, t, where);
        for (const std::string& key : cancelled_sums(t))
            CHECK_MESSAGE(base_cancelled.count(key), where << ": a sum over the batch cancels to 0 (" << key << ")");
        for (std::size_t k = 0; k < requires_.size(); ++k) {
            const json& p = requires_[k];
            const std::string broken = broken_property(p, t.nodes[*g.find(p["node"].get<std::string>())].value);
            CHECK_MESSAGE(broken.empty(), where << ": /variant/require/" << k << " " << broken << " fails");
        }
        if (variant == 1) {
            std::string text = g.description;
            for (const Node& n : g.nodes) text += "\n" + n.note;
            for (double q : quoted_numbers(text))
                CHECK_MESSAGE(!redrawn_written.count(q),
                              where << ": the text quotes " << q << ", a value as written that the variant redraws");
        }
    }
    for (const std::string& leaf : redrawn)
        CHECK_MESSAGE(changed.count(leaf), name << ": " << leaf << " never redrawn");
}

std::set<std::string>& listed_lessons() {
    static std::set<std::string> names;
    return names;
}

bool list_lesson(const char* name) { return listed_lessons().insert(name).second; }

// One test case per lesson, so that ctest runs them side by side.
}  // namespace

#define VARIANT_LESSON(lesson)                                                         \
    static const bool DOCTEST_ANONYMOUS(variant_lesson_listed_) = list_lesson(lesson); \
    TEST_CASE("variants: 1000 of lesson " lesson " are sound") { check_lesson_variants(lesson); }

VARIANT_LESSON("affine-bn-relu")
VARIANT_LESSON("batchnorm")
VARIANT_LESSON("batchnorm-closed-form")
VARIANT_LESSON("batchnorm-inference")
VARIANT_LESSON("batchnorm2d")
VARIANT_LESSON("binaryconnect")
VARIANT_LESSON("bnn")
VARIANT_LESSON("conv2d")
VARIANT_LESSON("conv2d-stride")
VARIANT_LESSON("deep-compression")
VARIANT_LESSON("depthwise-separable")
VARIANT_LESSON("distillation")
VARIANT_LESSON("fire-module")
VARIANT_LESSON("fisher-pruning")
VARIANT_LESSON("fitnets-hint")
VARIANT_LESSON("group-conv-shuffle")
VARIANT_LESSON("inq")
VARIANT_LESSON("layerwise-obs")
VARIANT_LESSON("magnitude-pruning")
VARIANT_LESSON("mimic-learning")
VARIANT_LESSON("net-trim")
VARIANT_LESSON("obd-saliency")
VARIANT_LESSON("qnn-kbit")
VARIANT_LESSON("quantize-8bit")
VARIANT_LESSON("ternary")
VARIANT_LESSON("weight-sharing")
VARIANT_LESSON("xnor-net")

TEST_CASE("variants: every built-in lesson is in the 1000-variant check") {
    std::set<std::string> builtin;
    for (const auto& l : builtin_lessons()) builtin.emplace(l.name);
    CHECK(listed_lessons() == builtin);
}
