#include "settings.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/tensor.hpp"

namespace bnstep::cli {

void parse_setting(const std::string& setting, LessonOptions& options) {
    const auto eq = setting.find('=');
    const auto dot = setting.rfind(".shape", eq);
    if (eq == std::string::npos || dot == std::string::npos || dot + 6 != eq || dot == 0)
        throw UsageError(fmt::format("--set '{}': expected NAME.shape=D1,D2,... (e.g. x.shape=8,32,56,56)", setting));
    const std::string name = setting.substr(0, dot);
    const std::string dims = setting.substr(eq + 1);
    Shape shape;
    std::size_t start = 0;
    std::size_t count = 1;
    while (!dims.empty() && start <= dims.size()) {
        const std::size_t end = std::min(dims.find(',', start), dims.size());
        const std::string part = dims.substr(start, end - start);
        if (part.empty() || part.size() > 9 ||
            !std::all_of(part.begin(), part.end(),
                         [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
            std::stoul(part) == 0)
            throw UsageError(fmt::format("--set '{}': each dimension must be a whole number of at least 1", setting));
        shape.push_back(std::stoul(part));
        if (shape.size() > kMaxRank) throw UsageError(fmt::format("--set '{}': rank above {}", setting, kMaxRank));
        count = saturating_mul(count, shape.back());
        if (count > kMaxElementsLimit)
            throw UsageError(fmt::format("--set '{}': more than {} elements", setting, kMaxElementsLimit));
        start = end + 1;
    }
    if (shape.size() > kMaxRank)
        throw UsageError(fmt::format("--set '{}': rank {} is above {}", setting, shape.size(), kMaxRank));
    options.shapes[name] = shape;
}

std::size_t parse_size(const std::string& text, const std::string& option) {
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    std::size_t scale = 1;
    const std::string suffix = text.substr(digits);
    if (suffix == "K" || suffix == "k")
        scale = std::size_t{1} << 10;
    else if (suffix == "M" || suffix == "m")
        scale = std::size_t{1} << 20;
    else if (suffix == "G" || suffix == "g")
        scale = std::size_t{1} << 30;
    else if (!suffix.empty())
        digits = 0;
    if (digits == 0)
        throw UsageError(
            fmt::format("{} '{}': expected a whole number with an optional K, M or G suffix", option, text));
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
    std::size_t bytes = 0;
    if (ec != std::errc() || __builtin_mul_overflow(value, scale, &bytes))
        throw UsageError(fmt::format("{} '{}': too large; it must be at most {}{}", option, text, SIZE_MAX / scale,
                                     suffix.empty() ? "" : suffix));
    if (bytes == 0) throw UsageError(fmt::format("{} '{}': must be at least 1", option, text));
    return bytes;
}

}  // namespace bnstep::cli
