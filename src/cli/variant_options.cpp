#include "variant_options.hpp"

#include <charconv>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <optional>
#include <set>

#include "bnstep/error.hpp"
#include "bnstep/variant.hpp"
#include "bnstep/visible.hpp"
#include "csv_file.hpp"

namespace bnstep::cli {
namespace {

std::uint64_t whole(const std::string& text, const std::string& item, const std::string& part,
                    const std::string& option) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size())
        throw UsageError(fmt::format("{} '{}': '{}' is not a whole number from 0 to {}, nor a range of them like 1-40",
                                     option, visible(text), visible(item), UINT64_MAX));
    return v;
}

// The first control character of `field` (C0, DEL, C1), as "U+000A"; "" when none.
std::string control_character(const std::string& field) {
    for (std::size_t k = 0; k < field.size(); ++k) {
        const auto c = static_cast<unsigned char>(field[k]);
        if (c < 0x20 || c == 0x7F) return fmt::format("U+{:04X}", static_cast<unsigned>(c));
        if (c == 0xC2 && k + 1 < field.size()) {  // U+0080..U+009F are C2 80..C2 9F
            const auto next = static_cast<unsigned char>(field[k + 1]);
            if (next >= 0x80 && next <= 0x9F) return fmt::format("U+{:04X}", static_cast<unsigned>(next));
        }
    }
    return "";
}

}  // namespace

std::string student_name(const std::string& text, const std::string& where, const std::string& what) {
    const std::size_t first = text.find_first_not_of(" \t");
    std::string name =
        first == std::string::npos ? std::string() : text.substr(first, text.find_last_not_of(" \t") - first + 1);
    if (name.empty()) throw UsageError(where + ": expected a name or ID, got an empty one");
    if (const std::string c = control_character(name); !c.empty())
        throw UsageError(
            fmt::format("{}: the {} '{}' holds a control character ({}); write it on one line, in "
                        "printable characters",
                        where, what, visible(name), c));
    return name;
}

std::vector<VariantPick> parse_variant_list(const std::string& text, const std::string& option) {
    std::vector<VariantPick> picks;
    std::set<std::uint64_t> seen;
    std::size_t start = 0;
    if (text.empty())
        throw UsageError(fmt::format("{} '': the list is empty; give variants like 1-40 or 1-3,9", option));
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, end - start);
        const std::size_t dash = item.find('-');
        const std::uint64_t first = whole(text, item, item.substr(0, dash), option);
        const std::uint64_t last = dash == std::string::npos ? first : whole(text, item, item.substr(dash + 1), option);
        if (last < first)
            throw UsageError(
                fmt::format("{} '{}': the range {} runs backwards; write {}-{}", option, text, item, last, first));
        if (last - first >= kMaxVariantsPerRun || picks.size() + (last - first + 1) > kMaxVariantsPerRun)
            throw UsageError(fmt::format("{} '{}': more than {} variants; bnstep writes at most {} at a time", option,
                                         text, kMaxVariantsPerRun, kMaxVariantsPerRun));
        for (std::uint64_t v = first;; ++v) {
            if (!seen.insert(v).second)
                throw UsageError(fmt::format("{} '{}': variant {} is listed twice", option, text, v));
            picks.push_back({v, {}, {}});
            if (v == last) break;
        }
        start = end + 1;
    }
    return picks;
}

namespace {

std::optional<std::size_t> roster_column(const std::vector<std::string>& header, const std::string& name,
                                         const std::string& path) {
    std::optional<std::size_t> at;
    for (std::size_t k = 0; k < header.size(); ++k) {
        if (header[k] != name) continue;
        if (at) throw UsageError(fmt::format("{}: the header names the column '{}' twice", visible(path), name));
        at = k;
    }
    return at;
}

// The first control character of a roster's field (C0, DEL or C1: a line
// break, a tab ...), as "U+000A"; "" when it has none. The field is UTF-8.

}  // namespace

std::vector<VariantPick> read_roster(const std::string& path) {
    const auto rows = read_csv(path, "a roster (--students)");
    const std::string file = visible(path);
    if (rows.empty())
        throw UsageError(
            fmt::format("{}: an empty roster; expected a header row with a 'name' column, then a row "
                        "per student",
                        file));
    const std::vector<std::string>& header = rows.front();
    const auto name = roster_column(header, "name", path), id = roster_column(header, "id", path),
               number = roster_column(header, "variant", path);
    if (!name)
        throw UsageError(
            fmt::format("{}: the header row has no 'name' column (it has: {}); a roster starts with a "
                        "line like name,id",
                        file, visible(fmt::format("{}", fmt::join(header, ",")))));
    if (rows.size() == 1) throw UsageError(fmt::format("{}: an empty roster: a header row and no student", file));
    if (rows.size() - 1 > kMaxVariantsPerRun)
        throw UsageError(fmt::format("{}: {} students; bnstep writes at most {} at a time", file, rows.size() - 1,
                                     kMaxVariantsPerRun));
    std::vector<VariantPick> picks;
    std::map<std::string, std::size_t> seen_names, seen_ids;
    for (std::size_t r = 1; r < rows.size(); ++r) {
        const std::vector<std::string>& row = rows[r];
        const std::string where = fmt::format("{}: row {}", file, r + 1);
        if (row.size() != header.size())
            throw UsageError(
                fmt::format("{}: {} field{}, the header has {}; leave an empty field between commas "
                            "rather than leaving it out",
                            where, row.size(), row.size() == 1 ? "" : "s", header.size()));
        VariantPick pick;
        pick.student = student_name(row[*name], where, "name");
        if (const auto [at, fresh] = seen_names.emplace(pick.student, r + 1); !fresh)
            throw UsageError(
                fmt::format("{}: the name '{}' is already on row {}; give each student a name of their "
                            "own (or an id column)",
                            where, visible(pick.student), at->second));
        if (id) {
            pick.id = student_name(row[*id], where, "id");
            if (const auto [at, fresh] = seen_ids.emplace(pick.id, r + 1); !fresh)
                throw UsageError(
                    fmt::format("{}: the id '{}' is already on row {}", where, visible(pick.id), at->second));
        }
        pick.variant = student_variant(id ? pick.id : pick.student);
        if (number && !row[*number].empty()) {
            const std::string& v = row[*number];
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), pick.variant);
            if (ec != std::errc() || end != v.data() + v.size())
                throw UsageError(
                    fmt::format("{}: variant '{}': expected a whole number from 0 to {} (or an empty "
                                "field: the name's own variant)",
                                where, visible(v), UINT64_MAX));
        }
        picks.push_back(std::move(pick));
    }
    return picks;
}

}  // namespace bnstep::cli
