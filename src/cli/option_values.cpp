#include "option_values.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "settings.hpp"

namespace bnstep::cli {

std::uint64_t parse_whole(const std::string& option, const std::string& text, std::uint64_t min, std::uint64_t max,
                          const std::string& range) {
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [stop, ec] = std::from_chars(text.data(), end, value);
    const bool digits_only = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits_only || ec != std::errc() || stop != end || value < min || value > max)
        throw CLI::ValidationError(
            option, range.empty() ? fmt::format("must be a whole number from {} to {}, got '{}'", min, max, text)
                                  : fmt::format("must be a whole number {}, got '{}'", range, text));
    return value;
}

CLI::Option* add_non_negative(CLI::App& cmd, const std::string& name, double& target, const std::string& help) {
    const std::string option = name.substr(0, name.find(','));
    return cmd
        .add_option_function<std::string>(
            name,
            [&target, option](const std::string& text) {
                double value = -1.0;
                std::size_t used = 0;
                try {
                    value = std::stod(text, &used);
                } catch (const std::exception&) {
                    used = 0;
                }
                if (used == 0 || used != text.size() || !std::isfinite(value) || !(value >= 0.0))
                    throw CLI::ValidationError(option, fmt::format("must be a finite number >= 0, got {}", text));
                target = value;
            },
            help)
        ->default_str(fmt::format("{:g}", target))
        ->type_name("FLOAT");
}

CLI::Option* add_size(CLI::App& cmd, const std::string& name, std::size_t& target, const std::string& help) {
    return cmd
        .add_option_function<std::string>(
            name,
            [&target, name](const std::string& text) {
                try {
                    target = parse_size(text, name);
                } catch (const UsageError& e) {
                    throw CLI::ValidationError(e.what());
                }
            },
            help)
        ->type_name("SIZE");
}

}  // namespace bnstep::cli
