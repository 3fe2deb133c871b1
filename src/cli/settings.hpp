#pragma once
// The values of --set and of the size options, parsed into the engine's terms.
#include <cstddef>
#include <string>

#include "bnstep/lesson.hpp"

namespace bnstep::cli {

// "16M", "8G", "1000": a size with an optional K, M or G suffix (powers of 1024); a UsageError otherwise.
std::size_t parse_size(const std::string& text, const std::string& option);

// Parses "x.shape=8,32,56,56" into `options`; a UsageError names what is wrong.
void parse_setting(const std::string& setting, LessonOptions& options);

}  // namespace bnstep::cli
