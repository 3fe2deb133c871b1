// The variant keys of a lesson (docs/lesson-format.md, Variants): how each
// leaf is redrawn (its "variant" key, or the default from how it is given),
// and the lesson-level "variant" object (require, description, notes, allow).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "bnstep/variant.hpp"
#include "lesson_reader.hpp"

namespace bnstep::lesson_detail {
namespace {

constexpr double kPowers[] = {1.0, 10.0, 100.0};
// Grid ends beyond this are refused: k = x * 10^d stays exact in a double.
constexpr double kLargestEnd = 1e12;
// A drawn number has at most this many significant digits, so that bnstep's
// default precision prints it exactly and a student copies it without rounding.
constexpr int kHandDigits = 4;
constexpr long long kLargestHandGridEnd = 9999;  // 10^kHandDigits - 1

// The first grid integer k with k / 10^d >= x (up = true), or the last with k / 10^d <= x.
long long grid_end(double x, int d, bool up) {
    const double p = kPowers[d];
    long long k = std::llround(x * p);
    if (up && static_cast<double>(k) / p < x) ++k;
    if (!up && static_cast<double>(k) / p > x) --k;
    return k;
}

// Grid points of `v`, 0 left out when nonzero.
long long grid_points(const LeafVariant& v) {
    long long n = v.high - v.low + 1;
    if (v.nonzero && v.low <= 0 && v.high >= 0) --n;
    return n;
}

// The fewest decimals (at most 2) that give x exactly; 2 for a number with more.
int decimals_of(double x) {
    for (int d = 0; d < 2; ++d)
        if (std::round(x * kPowers[d]) / kPowers[d] == x) return d;
    return 2;
}

// Every number of the grid prints exactly at kHandDigits significant digits.
bool fits_hand_digits(const LeafVariant& v) {
    return std::max(std::llabs(v.low), std::llabs(v.high)) <= kLargestHandGridEnd;
}

bool fits_hand_digits(double x) { return std::stod(fmt::format("{:.{}g}", x, kHandDigits)) == x; }

LeafVariant grid(double low, double high, int d, bool outward, const std::string& where) {
    LeafVariant v;
    v.kind = LeafVariant::Kind::Grid;
    v.decimals = d;
    v.low = grid_end(low, d, !outward);
    v.high = grid_end(high, d, outward);
    v.where = where;
    return v;
}

// The default of a leaf given by "random": its own range, on the grid of its decimals (1 to 2).
LeafVariant random_default(const json& spec, const std::string& where) {
    const bool normal = spec.value("dist", std::string("uniform")) == "normal";
    const double a = normal ? spec.value("mean", 0.0) : spec.value("low", -1.0);
    const double b = normal ? spec.value("std", 1.0) : spec.value("high", 1.0);
    const double low = normal ? a - 2 * b : a, high = normal ? a + 2 * b : b;
    const int first = static_cast<int>(std::clamp<long long>(spec.value("decimals", 1LL), 1, 2));
    if (std::fabs(low) > kLargestEnd || std::fabs(high) > kLargestEnd) return {};
    for (int d = first; d <= 2; ++d) {
        LeafVariant v = grid(low, high, d, false, where);
        if (grid_points(v) >= 2) return fits_hand_digits(v) ? v : LeafVariant{};
    }
    return {};  // too narrow (or too wide) for hand-friendly numbers: kept as written
}

// The default of an input or param given by values or fill: between its
// smallest and largest value, rounded outward, with the most decimals they use.
LeafVariant values_default(const Tensor& written, const std::string& where) {
    if (written.size() == 0) return {};
    const auto [lo, hi] = std::minmax_element(written.data().begin(), written.data().end());
    if (*lo == *hi || std::fabs(*lo) > kLargestEnd || std::fabs(*hi) > kLargestEnd) return {};
    int d = 0;
    for (double x : written.data()) d = std::max(d, decimals_of(x));
    for (; d >= 0; --d) {  // fewer decimals for a wide range, so that every number fits the digits
        LeafVariant v = grid(*lo, *hi, d, true, where);
        if (fits_hand_digits(v)) return grid_points(v) >= 2 ? v : LeafVariant{};
    }
    return {};
}

LeafVariant read_explicit(const Reader& r, const json& spec, const std::string& where) {
    LeafVariant v;
    v.where = where;
    if (spec.is_string()) {
        if (spec.get<std::string>() != "fixed")
            r.fail(where, fmt::format("unknown variant '{}'; expected \"fixed\" or an object with low, high and "
                                      "decimals, or choices",
                                      spec.get<std::string>()));
        return v;
    }
    if (!spec.is_object())
        r.fail(where,
               fmt::format("expected \"fixed\" or an object (low, high, decimals; or choices), got {}", type_of(spec)));
    r.only_keys(spec, where, {"low", "high", "decimals", "choices", "nonzero"});
    if (const json* nz = r.optional(spec, "nonzero")) v.nonzero = r.boolean(*nz, at(where, "nonzero"));
    if (const json* choices = r.optional(spec, "choices")) {
        for (const char* key : {"low", "high", "decimals"})
            if (r.optional(spec, key))
                r.fail(at(where, key), fmt::format("'{}' does not go with choices: give either choices or low, "
                                                   "high and decimals",
                                                   key));
        r.list(*choices, at(where, "choices"));
        if (choices->empty()) r.fail(at(where, "choices"), "expected at least one number");
        for (std::size_t i = 0; i < choices->size(); ++i) {
            const double c = r.number((*choices)[i], at(at(where, "choices"), i));
            if (!fits_hand_digits(c))
                r.fail(at(at(where, "choices"), i),
                       fmt::format("{} has more than {} significant digits: a student could not copy it exactly "
                                   "from bnstep's output",
                                   c, kHandDigits));
            if (!(v.nonzero && c == 0.0)) v.choices.push_back(c);
        }
        if (v.choices.empty()) r.fail(at(where, "choices"), "nonzero leaves no choice: every choice is 0");
        v.kind = LeafVariant::Kind::Choices;
        return v;
    }
    const double low = r.number(r.required(spec, where, "low", "a number, or give choices"), at(where, "low"));
    const double high = r.number(r.required(spec, where, "high", "a number above low"), at(where, "high"));
    if (!(low < high)) r.fail(where, fmt::format("expected low < high, got low {} and high {}", low, high));
    for (const auto& [key, x] : {std::pair{"low", low}, std::pair{"high", high}})
        if (std::fabs(x) > kLargestEnd)
            r.fail(at(where, key), fmt::format("expected a number from -1e12 to 1e12, got {}", x));
    long long d = 1;
    if (const json* dj = r.optional(spec, "decimals")) {
        d = r.integer(*dj, at(where, "decimals"));
        if (d < 0 || d > 2) r.fail(at(where, "decimals"), fmt::format("expected 0, 1 or 2 decimals, got {}", d));
    }
    LeafVariant g = grid(low, high, static_cast<int>(d), false, where);
    g.nonzero = v.nonzero;
    if (grid_points(g) < 2)
        r.fail(where, fmt::format("the grid from {} to {} with {} decimal{} has {} point{}{}; expected at least 2", low,
                                  high, d, d == 1 ? "" : "s", std::max(0LL, grid_points(g)),
                                  grid_points(g) == 1 ? "" : "s", g.nonzero ? " other than 0" : ""));
    if (!fits_hand_digits(g))
        r.fail(where, fmt::format("the grid from {} to {} with {} decimal{} draws numbers of more than {} significant "
                                  "digits, which a student could not copy exactly from bnstep's output: narrow the "
                                  "range or give fewer decimals",
                                  low, high, d, d == 1 ? "" : "s", kHandDigits));
    return g;
}

}  // namespace

LeafVariant read_leaf_variant(const Reader& r, const json& item, const std::string& where, NodeKind kind,
                              const Tensor& written) {
    if (const json* spec = r.optional(item, "variant")) return read_explicit(r, *spec, at(where, "variant"));
    if (const json* random = r.optional(item, "random")) return random_default(*random, where);
    if (kind == NodeKind::Const) return {};
    return values_default(written, where);
}

namespace {

const std::vector<std::string> kTests = {"all_above",  "all_below",      "some_above",
                                         "some_below", "some_abs_above", "some_abs_below"};
const std::vector<std::string> kAllowKinds = {"kink", "cancellation", "degenerate"};

std::size_t known_node(const LessonBuild& b, const json& j, const std::string& where) {
    const std::string name = b.r.string(j, where);
    const auto found = b.g.find(name);
    if (!found) {
        const std::string hint = did_you_mean(name, b.all_names);
        b.r.fail(where, fmt::format("unknown node '{}'{}", name,
                                    hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
    return *found;
}

VariantRequire read_require(const LessonBuild& b, const json& item, const std::string& where) {
    const Reader& r = b.r;
    r.object(item, where);
    std::vector<std::string> keys = {"node", "why"};
    keys.insert(keys.end(), kTests.begin(), kTests.end());
    r.only_keys(item, where, keys);
    VariantRequire req;
    req.where = where;
    req.node = b.g.nodes[known_node(b, r.required(item, where, "node", "the node's name"), at(where, "node"))].name;
    if (const json* why = r.optional(item, "why")) req.why = r.text(*why, at(where, "why"));
    for (const std::string& test : kTests)
        if (const json* x = r.optional(item, test)) req.tests.emplace_back(test, r.number(*x, at(where, test)));
    if (req.tests.empty()) r.fail(where, fmt::format("expected at least one test: {}", fmt::join(kTests, ", ")));
    return req;
}

}  // namespace

void read_variant_rules(LessonBuild& b) {
    const Reader& r = b.r;
    const json* spec = r.optional(b.root, "variant");
    if (!spec) return;
    r.object(*spec, "/variant");
    r.only_keys(*spec, "/variant", {"require", "description", "notes", "allow"});
    VariantRules& rules = b.g.variant_rules;
    if (const json* req = r.optional(*spec, "require")) {
        r.list(*req, "/variant/require");
        for (std::size_t i = 0; i < req->size(); ++i)
            rules.require.push_back(read_require(b, (*req)[i], at("/variant/require", i)));
    }
    if (const json* d = r.optional(*spec, "description")) rules.description = r.text(*d, "/variant/description");
    if (const json* notes = r.optional(*spec, "notes")) {
        r.object(*notes, "/variant/notes");
        for (const auto& [name, note] : notes->items()) {
            const std::string where = at("/variant/notes", name);
            known_node(b, json(name), where);
            rules.notes.emplace_back(name, r.text(note, where));
        }
    }
    if (const json* allow = r.optional(*spec, "allow")) {
        r.list(*allow, "/variant/allow");
        for (std::size_t i = 0; i < allow->size(); ++i) {
            const std::string kind = r.string((*allow)[i], at("/variant/allow", i));
            if (std::find(kAllowKinds.begin(), kAllowKinds.end(), kind) == kAllowKinds.end()) {
                const std::string hint = did_you_mean(kind, kAllowKinds);
                r.fail(at("/variant/allow", i),
                       fmt::format("unknown kind '{}'{}; expected one of: {}", kind,
                                   hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                   fmt::join(kAllowKinds, ", ")));
            }
            rules.allow.push_back(kind);
        }
    }
}

// Under a variant: the leaves redrawn, then the lesson's words for a variant.
void apply_variant(LessonBuild& b) {
    Graph& g = b.g;
    // A require no variant can keep is the lesson's error, variant or not (resized literal values
    // have no lesson as written to run).
    if (!b.literal_resized)
        if (const auto broken = written_breaks_require(g)) b.r.fail(broken->where, broken->what);
    if (g.variant == 0) return;
    // The lesson as written, with the same new shapes, exists unless literal values were resized.
    draw_variant(g, !b.literal_resized);
    if (g.variant_rules.description) g.description = *g.variant_rules.description;
    for (const auto& [name, note] : g.variant_rules.notes) g.nodes[*g.find(name)].note = note;
}

}  // namespace bnstep::lesson_detail
