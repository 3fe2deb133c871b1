#pragma once
// Numeric options, validated strictly: a whole number in its range or a
// one-line error naming the option and the range, never a value saturated,
// wrapped or silently taken as "not given".
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace bnstep::cli {

// "--seed", "-1", 0, UINT64_MAX -> the number, or a CLI::ValidationError
// "--seed: must be a whole number from 0 to 18446744073709551615, got '-1'".
// `range`, when given, words the valid range instead ("from 1 to the number of weights").
std::uint64_t parse_whole(const std::string& option, const std::string& text, std::uint64_t min, std::uint64_t max,
                          const std::string& range = {});

// An option that takes a whole number from `min` to `max` into `target`.
template <class T>
CLI::Option* add_whole(CLI::App& cmd, const std::string& name, T& target, std::uint64_t min, std::uint64_t max,
                       const std::string& help, const std::string& range = {}) {
    const std::string option = name.substr(0, name.find(','));
    return cmd
        .add_option_function<std::string>(
            name,
            [&target, option, min, max, range](const std::string& text) {
                target = static_cast<T>(parse_whole(option, text, min, max, range));
            },
            help)
        ->default_str(std::to_string(target))
        ->type_name("INT");
}

// A number >= 0 and finite, or a CLI::ValidationError "--damping: must be a finite number >= 0, got -1".
CLI::Option* add_non_negative(CLI::App& cmd, const std::string& name, double& target, const std::string& help);

// An option that takes a size with an optional K, M or G suffix (powers of 1024).
CLI::Option* add_size(CLI::App& cmd, const std::string& name, std::size_t& target, const std::string& help);

}  // namespace bnstep::cli
