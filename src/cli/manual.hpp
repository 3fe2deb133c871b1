#pragma once
// bnstep(1), the manual page: its commands and options generated from the
// same definitions as --help (command_specs.hpp), the rest written here.
#include <string>

#include "command_specs.hpp"

namespace bnstep::cli {

// The page in roff (man's macros), for `man -l` or installing as bnstep.1.
std::string manual_page(const AppSpec& spec);

}  // namespace bnstep::cli
