#include "variant_options.hpp"

#include <charconv>
#include <fmt/format.h>
#include <set>

#include "bnstep/error.hpp"
#include "bnstep/variant.hpp"

namespace bnstep::cli {
namespace {

std::uint64_t whole(const std::string& text, const std::string& part, const std::string& option) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size())
        throw UsageError(fmt::format("{} '{}': expected variants like 1-40 or 1-3,9 (whole numbers from 0 to {}), "
                                     "got '{}'",
                                     option, text, UINT64_MAX, part));
    return v;
}

}  // namespace

std::vector<VariantPick> parse_variant_list(const std::string& text, const std::string& option) {
    std::vector<VariantPick> picks;
    std::set<std::uint64_t> seen;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, end - start);
        const std::size_t dash = item.find('-');
        const std::uint64_t first = whole(text, item.substr(0, dash), option);
        const std::uint64_t last = dash == std::string::npos ? first : whole(text, item.substr(dash + 1), option);
        if (last < first)
            throw UsageError(fmt::format("{} '{}': the range {} runs backwards; write {}-{}", option, text, item, last,
                                         first));
        if (last - first >= kMaxVariantsPerRun || picks.size() + (last - first + 1) > kMaxVariantsPerRun)
            throw UsageError(fmt::format("{} '{}': more than {} variants; bnstep writes at most {} at a time", option,
                                         text, kMaxVariantsPerRun, kMaxVariantsPerRun));
        for (std::uint64_t v = first;; ++v) {
            if (!seen.insert(v).second)
                throw UsageError(fmt::format("{} '{}': variant {} is listed twice", option, text, v));
            picks.push_back({v, {}});
            if (v == last) break;
        }
        start = end + 1;
    }
    return picks;
}

}  // namespace bnstep::cli
