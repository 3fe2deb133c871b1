// `bnstep compare`: a student's tensors against the lesson's, as text (one
// file in detail, several as one line each), JSON, or CSV for grading.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <set>

#include "bnstep/variant.hpp"
#include "bnstep/notation.hpp"
#include "bnstep/print.hpp"
#include "bnstep/version.hpp"
#include "bnstep/visible.hpp"
#include "print/text_shared.hpp"

namespace bnstep {
namespace {

using json = nlohmann::json;

// The fewest significant digits (at least the printer's) that tell two numbers apart.
std::pair<std::string, std::string> told_apart(double given, double expected, const NumFmt& num) {
    NumFmt f = num;
    while (f.precision < 17 && f(given) == f(expected)) ++f.precision;
    return {f(given), f(expected)};
}

std::string what_it_is(const CompareReport& r, const ReferenceTensor& ref) {
    const Graph& g = *r.trace->graph;
    using Kind = ReferenceTensor::Kind;
    switch (ref.kind) {
        case Kind::Leaf: return fmt::format("the lesson's {} {}", kind_name(g.nodes[ref.node].kind), ref.name);
        case Kind::Upstream:
            return fmt::format("the upstream gradient of {}, given by the lesson", g.nodes[ref.node].name);
        case Kind::Value: return fmt::format("the forward value of {}", g.nodes[ref.node].label());
        case Kind::Gradient: return fmt::format("the gradient of {}", g.nodes[ref.node].name);
        case Kind::Contribution:
            return fmt::format("the part of {}'s gradient that {} sends back", g.nodes[ref.node].name,
                               g.nodes[ref.consumer].label());
    }
    return "";
}

std::string verdict_text(const TensorComparison& c, const NumFmt& num) {
    switch (c.verdict) {
        case Verdict::Ok: return c.max_error == 0 ? "exact" : fmt::format("largest relative error {:.1e}", c.max_error);
        case Verdict::Wrong: {
            const auto [given, expected] = told_apart(c.given, c.expected, num);
            return fmt::format("largest relative error {:.2g} at {}: yours {}, expected {}", c.max_error,
                               index_str(c.where).empty() ? "the scalar" : index_str(c.where), given, expected);
        }
        case Verdict::WrongShape: return fmt::format("shape {}", shape_str(c.given_shape));
        case Verdict::Unknown:
            return c.hint.empty() ? "not a tensor of this lesson"
                                  : fmt::format("not a tensor of this lesson (did you mean {}?)", visible(c.hint));
    }
    return "";
}

std::string short_verdict(const TensorComparison& c) {
    if (c.verdict == Verdict::Ok) return "ok";
    if (c.origin && c.origin->code == "inherited") return std::string(verdict_name(c.verdict)) + " (inherited)";
    return std::string(verdict_name(c.verdict));
}

void first_wrong_text(std::ostream& os, const CompareReport& r, const PrintOptions& opt) {
    const TensorComparison& c = r.tensors[*r.first_wrong];
    const ReferenceTensor& ref = r.references[*c.reference];
    const Style& s = opt.style;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << '\n' << s.heading(fmt::format("FIRST WRONG: {}", visible(c.name))) << '\n';
    os << wrap(fmt::format("{}, shape {}", what_it_is(r, ref), shape_str(ref.tensor->shape())), width, "    ");
    if (c.cause) os << wrap("cause: " + c.cause->message, width, "    ", "           ");
    if (c.origin) os << wrap("where it starts: " + c.origin->message, width, "    ", "                     ");
    if (c.verdict != Verdict::Wrong) return;
    os << "    worked element " << (c.where.empty() ? "(the scalar)" : index_str(c.where)) << ":\n";
    if (const auto w = explain_element(*r.trace, ref, c.where, opt.num))
        text::worked(os, *w, opt, "        ");
    else
        os << "        " << c.name << index_str(c.where) << " = " << opt.num(c.expected) << ", given by the lesson\n";
    const auto [given, expected] = told_apart(c.given, c.expected, opt.num);
    os << "        yours: " << s.bad(given) << " (expected " << expected << ")\n";
}

void one_file_text(std::ostream& os, const CompareOutcome& o, const PrintOptions& opt) {
    const CompareReport& r = *o.report;
    const Style& s = opt.style;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << s.heading(fmt::format("Your {} against lesson {}{}", visible(o.file), r.trace->graph->name,
                                variant_suffix(*r.trace->graph)))
       << '\n';
    std::size_t name_width = 4;
    for (const auto& c : r.tensors) name_width = std::max(name_width, c.name.size());
    for (const TensorComparison& c : r.tensors) {
        const std::string verdict = c.verdict == Verdict::Ok ? s.ok("ok   ") : s.bad("WRONG");
        const std::string shape = c.reference ? shape_str(r.references[*c.reference].tensor->shape()) : "";
        std::string line =
            fmt::format("{}  {:<{}}  {:<9} {}", verdict, visible(c.name), name_width, shape, verdict_text(c, opt.num));
        if (c.origin && c.origin->code == "inherited" && r.first_wrong && &c != &r.tensors[*r.first_wrong])
            line += "; inherited";
        os << wrap(line, width + (verdict.size() - 5), "    ", std::string(4 + 7 + name_width + 2, ' '));
    }
    if (r.first_wrong) first_wrong_text(os, r, opt);
    for (std::size_t k = r.first_wrong ? *r.first_wrong + 1 : r.tensors.size(); k < r.tensors.size(); ++k) {
        const TensorComparison& c = r.tensors[k];
        if (!c.cause) continue;
        os << '\n' << s.heading(fmt::format("ALSO WRONG: {}", visible(c.name))) << '\n';
        os << wrap("cause: " + c.cause->message, width, "    ", "           ");
        if (c.origin) os << wrap("where it starts: " + c.origin->message, width, "    ", "                     ");
    }
    std::size_t ok = 0, unknown = 0;
    for (const auto& c : r.tensors) {
        ok += c.verdict == Verdict::Ok;
        unknown += c.verdict == Verdict::Unknown;
    }
    const std::size_t wrong = r.tensors.size() - ok - unknown;
    os << '\n'
       << (r.passed() ? s.ok(ok == 1 ? std::string("The one tensor given is right.")
                                     : fmt::format("All {} tensors right.", ok))
                      : s.bad(fmt::format("{} of {} tensors right, {} wrong{}.", ok, r.tensors.size(), wrong,
                                          unknown ? fmt::format(", {} unknown", unknown) : "")))
       << '\n';
    if (!o.note.empty()) os << wrap(visible(o.note), width, "", "    ");
}

void compare_text(std::ostream& os, const std::vector<CompareOutcome>& outcomes, const PrintOptions& opt) {
    const Style& s = opt.style;
    if (outcomes.size() == 1 && outcomes.front().report) {
        one_file_text(os, outcomes.front(), opt);
        return;
    }
    for (const CompareOutcome& o : outcomes) {
        if (!o.report) {
            os << s.bad("unreadable") << " " << visible(o.error) << '\n';
            continue;
        }
        const CompareReport& r = *o.report;
        if (r.passed()) {
            os << s.ok("ok        ") << " " << visible(o.file)
               << fmt::format(": all {} tensors right\n", r.tensors.size());
            continue;
        }
        std::size_t wrong = 0;
        for (const auto& c : r.tensors) wrong += c.verdict != Verdict::Ok;
        std::string line = fmt::format("{}: {} of {} wrong", visible(o.file), wrong, r.tensors.size());
        if (r.first_wrong) {
            const TensorComparison& c = r.tensors[*r.first_wrong];
            line += fmt::format(", first {} ({})", visible(c.name),
                                c.cause ? c.cause->code : std::string(verdict_name(c.verdict)));
        }
        os << s.bad("wrong     ") << " " << line << '\n';
        if (!o.note.empty()) os << "           " << visible(o.note) << '\n';
    }
}

}  // namespace

void print_compare_text(std::ostream& os, const std::vector<CompareOutcome>& outcomes, const PrintOptions& opt) {
    std::ostringstream text;
    compare_text(text, outcomes, opt);
    os << partials(text.str(), opt.utf8);
}

namespace {

json diagnosis_json(const std::optional<Diagnosis>& d) {
    return d ? json{{"code", d->code}, {"message", d->message}} : json(nullptr);
}

json tensor_comparison_json(const CompareReport& r, const TensorComparison& c) {
    const bool compared = c.verdict == Verdict::Ok || c.verdict == Verdict::Wrong;
    const ReferenceTensor* ref = c.reference ? &r.references[*c.reference] : nullptr;
    auto number = [&](double v) { return compared && std::isfinite(v) ? json(v) : json(nullptr); };
    return {{"name", c.name},
            {"verdict", verdict_name(c.verdict)},
            {"kind", ref ? json(kind_name(ref->kind)) : json(nullptr)},
            {"shape", ref ? json(ref->tensor->shape()) : json(nullptr)},
            {"given_shape", c.given_shape},
            {"max_error", number(c.max_error)},
            {"where", compared ? json(c.where) : json(nullptr)},
            {"given", number(c.given)},
            {"expected", number(c.expected)},
            {"cause", diagnosis_json(c.cause)},
            {"origin", diagnosis_json(c.origin)},
            {"did_you_mean", c.hint.empty() ? json(nullptr) : json(c.hint)}};
}

}  // namespace

json compare_json(const std::vector<CompareOutcome>& outcomes) {
    json j = {{"bnstep", kVersion}, {"command", "compare"}, {"files", json::array()}};
    for (const CompareOutcome& o : outcomes) {
        json f = {{"file", o.file},
                  {"error", nullptr},
                  {"lesson", nullptr},
                  {"first_wrong", nullptr},
                  {"tensors", json::array()}};
        if (!o.report) {
            f["result"] = "unreadable";
            f["error"] = o.error;
            j["files"].push_back(f);
            continue;
        }
        const CompareReport& r = *o.report;
        f["lesson"] = r.trace->graph->name;
        add_variant_json(f, *r.trace->graph);
        if (!o.note.empty()) f["note"] = o.note;
        f["result"] = r.passed() ? "ok" : "wrong";
        if (r.first_wrong) f["first_wrong"] = r.tensors[*r.first_wrong].name;
        for (const TensorComparison& c : r.tensors) f["tensors"].push_back(tensor_comparison_json(r, c));
        j["files"].push_back(f);
    }
    return j;
}

namespace {

// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

}  // namespace

std::string compare_csv(const std::vector<CompareOutcome>& outcomes) {
    // A column per tensor any file gave, in the order they are computed.
    std::set<std::string, std::less<>> given;
    const CompareReport* any = nullptr;
    for (const auto& o : outcomes) {
        if (!o.report) continue;
        any = &*o.report;
        for (const auto& c : o.report->tensors) given.insert(c.name);
    }
    std::vector<std::string> columns;
    if (any)
        for (const ReferenceTensor& ref : any->references)
            if (given.count(ref.name)) columns.push_back(ref.name);
    std::string out = "file,result,right,wrong,first_wrong,cause,origin,error";
    for (const auto& c : columns) out += "," + csv_field(c);
    out += '\n';
    for (const CompareOutcome& o : outcomes) {
        std::vector<std::string> row{o.file};
        if (!o.report) {
            row.insert(row.end(), {"unreadable", "", "", "", "", "", o.error});
            row.resize(row.size() + columns.size());
        } else {
            const CompareReport& r = *o.report;
            std::size_t right = 0;
            for (const auto& c : r.tensors) right += c.verdict == Verdict::Ok;
            const TensorComparison* first = r.first_wrong ? &r.tensors[*r.first_wrong] : nullptr;
            row.insert(row.end(),
                       {r.passed() ? "ok" : "wrong", std::to_string(right), std::to_string(r.tensors.size() - right),
                        first ? first->name : "", first && first->cause ? first->cause->code : "",
                        first && first->origin ? first->origin->code : "", ""});
            std::map<std::string_view, const TensorComparison*> by_name;
            for (const auto& c : r.tensors) by_name[c.name] = &c;
            for (const auto& name : columns) {
                const auto it = by_name.find(name);
                row.push_back(it == by_name.end() ? "" : short_verdict(*it->second));
            }
        }
        for (std::size_t k = 0; k < row.size(); ++k) out += (k ? "," : "") + csv_field(row[k]);
        out += '\n';
    }
    return out;
}

}  // namespace bnstep
