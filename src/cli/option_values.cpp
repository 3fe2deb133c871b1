#include "option_values.hpp"

#include <charconv>
#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "settings.hpp"

namespace bnstep::cli {

std::uint64_t parse_whole(const std::string& option, const std::string& text, std::uint64_t min, std::uint64_t max) {
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [stop, ec] = std::from_chars(text.data(), end, value);
    const bool digits_only = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits_only || ec != std::errc() || stop != end || value < min || value > max)
        throw CLI::ValidationError(option,
                                   fmt::format("must be a whole number from {} to {}, got '{}'", min, max, text));
    return value;
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
