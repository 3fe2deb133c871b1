#pragma once
// Helpers for the browser tests (test_html_page.cpp): find node, playwright-core
// (npm, in build/npm) and Debian's chromium; run the page driver
// (tests/tools/page_driver.mjs) on a job; read tensors, element indices and the
// numbers' texts; and the upstream elements a contribution's element comes from.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_support.hpp"
#include "study_support.hpp"

namespace bnstep_html_test {

using json = nlohmann::json;
using Index = std::vector<long>;
namespace fs = std::filesystem;

struct BrowserTools {
    std::string node, modules, chromium;
    std::string missing;  // what is not installed, empty when all is
};

inline BrowserTools browser_tools() {
    BrowserTools t;
    const char* chromium = std::getenv("BNSTEP_CHROMIUM");
    t.chromium = chromium != nullptr && *chromium != '\0' ? chromium : "/usr/bin/chromium";
    // quickstart.sh test installs playwright-core into build/npm; other build trees use that one too.
    fs::path modules = fs::path(BNSTEP_BUILD_DIR) / "npm" / "node_modules";
    if (!fs::exists(modules / "playwright-core" / "package.json"))
        modules = fs::path(bnstep_test::source_dir()) / "build" / "npm" / "node_modules";
    t.modules = modules.string();
    std::vector<std::string> missing;
    if (const auto node = bnstep_test::find_on_path("node"))
        t.node = *node;
    else
        missing.emplace_back("node (Debian's nodejs)");
    if (!fs::exists(modules / "playwright-core" / "package.json"))
        missing.emplace_back("playwright-core (npm, in build/npm)");
    if (::access(t.chromium.c_str(), X_OK) != 0) missing.push_back(t.chromium + " (Debian's chromium)");
    for (const auto& m : missing) t.missing += (t.missing.empty() ? "" : ", ") + m;
    return t;
}

// Whether the browser tests can run; when they cannot, a message saying what
// to install, or under CI=true a failure (CI must never skip them).
inline bool browser_ready(const BrowserTools& t) {
    if (t.missing.empty()) return true;
    const std::string why = "the browser tests need " + t.missing + ": ./quickstart.sh test installs them";
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") FAIL(why);
    MESSAGE("skipped: " << why);
    return false;
}

// What the driver saw on each page of `job` (its format: page_driver.mjs).
inline json run_driver(const BrowserTools& t, const json& job, const fs::path& dir) {
    const fs::path job_file = dir / "driver-job.json";
    std::ofstream(job_file) << job.dump();
    const bnstep_test::RunResult r = bnstep_test::run_command(
        {t.node, bnstep_test::source_dir() + "/tests/tools/page_driver.mjs", t.modules, job_file.string()}, "", {},
        bnstep_test::Stdin::DevNull, 240);
    CAPTURE(r.err);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
}

// Runs bnstep with each list of arguments, two at a time (the machine's cores).
inline std::vector<bnstep_test::RunResult> run_bnstep_all(const std::vector<std::vector<std::string>>& commands) {
    std::vector<bnstep_test::RunResult> results(commands.size());
    std::atomic<std::size_t> next{0};
    const auto work = [&] {
        for (std::size_t i = next++; i < commands.size(); i = next++) results[i] = bnstep_test::run_bnstep(commands[i]);
    };
    std::thread a(work), b(work);
    a.join();
    b.join();
    return results;
}

// "1,2" -> {1, 2}; "" (a scalar) -> {}.
inline Index parse_index(const std::string& text) {
    Index index;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        index.push_back(std::stol(text.substr(start, end - start)));
        start = end + 1;
    }
    return index;
}

inline std::string index_text(const Index& index) { return fmt::format("{}", fmt::join(index, ",")); }

inline Index json_index(const json& index) { return index.get<Index>(); }

// Every index of a shape, the last axis varying fastest; {{}} for a scalar.
inline std::vector<Index> all_indices(const json& shape) {
    const Index dims = shape.get<Index>();
    std::vector<Index> out{Index(dims.size(), 0)};
    for (std::size_t a = dims.size(); a-- > 0;) {
        std::vector<Index> grown;
        for (const Index& i : out)
            for (long k = 0; k < dims[a]; ++k) {
                Index j = i;
                j[a] = k;
                grown.push_back(j);
            }
        out = grown;
    }
    std::sort(out.begin(), out.end());
    return out;
}

// The element of a tensor written as nested lists; none when out of range.
inline std::optional<double> element(const json& tensor, const Index& index) {
    const json* t = &tensor;
    for (const long k : index) {
        if (!t->is_array() || k < 0 || static_cast<std::size_t>(k) >= t->size()) return std::nullopt;
        t = &(*t)[static_cast<std::size_t>(k)];
    }
    if (!t->is_number()) return std::nullopt;
    return t->get<double>();
}

inline double largest_magnitude(const json& tensor) {
    if (tensor.is_number()) return std::fabs(tensor.get<double>());
    double m = 0;
    for (const json& t : tensor) m = std::max(m, largest_magnitude(t));
    return m;
}

// A double written in full (data-raw); none unless the whole text is a number.
inline std::optional<double> parse_double(const std::string& text) {
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return std::nullopt;
    return v;
}

// Whether `text` is `value` as the text output prints it: rounded to at most
// `digits` significant digits, and an exact zero in exact arithmetic (round-off
// below 1e-12 of the tensor's largest element) may be 0.
inline bool shown_at_precision(const std::string& text, double value, double largest, int digits = 4) {
    if (text == "0" || text == "-0") return value == 0 || std::fabs(value) < 1e-12 * largest;
    const auto shown = parse_double(text);
    if (!shown || value == 0) return false;
    std::string mantissa = text.substr(0, text.find_first_of("eE"));
    mantissa.erase(std::remove_if(mantissa.begin(), mantissa.end(), [](char c) { return c < '0' || c > '9'; }),
                   mantissa.end());
    const auto first = mantissa.find_first_not_of('0');
    const auto last = mantissa.find_last_not_of('0');
    if (first == std::string::npos || static_cast<int>(last - first + 1) > digits) return false;
    const double unit = std::pow(10.0, std::floor(std::log10(std::fabs(value))) - (digits - 1));
    return std::fabs(*shown - value) <= 0.5 * unit * (1 + 1e-9);
}

// conv2d: the output elements whose window reads x[n,c,h,w] (slot 0), or every
// output element of channel k for the bias b[k] (slot 2).
inline std::set<std::string> conv2d_upstream(const json& node, std::size_t slot, const Index& j,
                                             const std::vector<Index>& input_shapes) {
    const Index out = node.at("shape").get<Index>();
    const json& attrs = node.at("attrs");
    const auto pair = [&](const char* name, long fallback) {
        const json a = attrs.value(name, json(fallback));
        return a.is_array() ? std::pair{a[0].get<long>(), a[1].get<long>()} : std::pair{a.get<long>(), a.get<long>()};
    };
    const auto [sh, sw] = pair("stride", 1);
    const auto [ph, pw] = pair("padding", 0);
    const auto [dh, dw] = pair("dilation", 1);
    const long groups = attrs.value("groups", 1L);
    const Index w = input_shapes.at(1);
    std::set<std::string> from;
    for (const Index& o : all_indices(node.at("shape"))) {
        if (slot == 2) {
            if (o[1] == j[0]) from.insert(index_text(o));
            continue;
        }
        const long per_group_in = input_shapes[0][1] / groups, per_group_out = out[1] / groups;
        if (o[0] != j[0] || o[1] / per_group_out != j[1] / per_group_in) continue;
        bool row = false, col = false;
        for (long r = 0; r < w[2]; ++r) row = row || o[2] * sh - ph + r * dh == j[2];
        for (long c = 0; c < w[3]; ++c) col = col || o[3] * sw - pw + c * dw == j[3];
        if (row && col) from.insert(index_text(o));
    }
    return from;
}

// The elements of `node`'s gradient (its upstream, in its shape) that element
// `j` of the contribution to input `slot` is computed from, derived from the
// op's formula: elementwise ops with broadcasting, matmul, sum and mean over
// axes, concat, conv2d's input and bias, and any op with a scalar output. None
// for other ops.
inline std::optional<std::set<std::string>> upstream_elements(const json& node, std::size_t slot, const Index& j,
                                                              const std::vector<Index>& input_shapes) {
    const Index out = node.at("shape").get<Index>();
    const Index in = input_shapes.at(slot);
    const std::string op = node.at("op");
    const json& attrs = node.at("attrs");
    if (out.empty()) return std::set<std::string>{""};
    std::set<std::string> from;
    if (op == "matmul" && out.size() == 2 && in.size() == 2) {
        for (long k = 0; k < (slot == 0 ? out[1] : out[0]); ++k)
            from.insert(index_text(slot == 0 ? Index{j[0], k} : Index{k, j[1]}));
        return from;
    }
    if (op == "sum" || op == "mean") {
        std::set<long> axes;
        const json axis = attrs.value("axis", json());
        const auto add = [&](long a) { axes.insert(a < 0 ? a + static_cast<long>(in.size()) : a); };
        if (axis.is_null())
            for (long a = 0; a < static_cast<long>(in.size()); ++a) axes.insert(a);
        else if (axis.is_array())
            for (const json& a : axis) add(a.get<long>());
        else
            add(axis.get<long>());
        const bool keepdims = attrs.value("keepdims", false);
        Index i;
        for (long a = 0; a < static_cast<long>(in.size()); ++a)
            if (!axes.contains(a))
                i.push_back(j[static_cast<std::size_t>(a)]);
            else if (keepdims)
                i.push_back(0);
        return std::set<std::string>{index_text(i)};
    }
    if (op == "concat") {
        const long axis = attrs.at("axis").get<long>();
        Index i = j;
        for (std::size_t s = 0; s < slot; ++s)
            i[static_cast<std::size_t>(axis)] += input_shapes[s][static_cast<std::size_t>(axis)];
        return std::set<std::string>{index_text(i)};
    }
    if (op == "conv2d" && slot != 1 && out.size() == 4) return conv2d_upstream(node, slot, j, input_shapes);
    if (node.at("inputs").at(slot).at("local_value").is_null() || in.size() > out.size()) return std::nullopt;
    // Elementwise: the element itself and every element it was broadcast to.
    const std::size_t offset = out.size() - in.size();
    for (const Index& i : all_indices(node.at("shape"))) {
        bool same = true;
        for (std::size_t a = 0; a < in.size(); ++a)
            if (in[a] != 1 && i[offset + a] != j[a]) same = false;
        if (same) from.insert(index_text(i));
    }
    return from;
}

}  // namespace bnstep_html_test
