#pragma once
// `bnstep html`: the lesson as one self-contained web page.
#include <CLI/CLI.hpp>
#include <functional>

namespace bnstep::cli {

std::function<int()> html_command(CLI::App& cmd);

}  // namespace bnstep::cli
