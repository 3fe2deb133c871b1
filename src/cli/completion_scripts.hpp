#pragma once
// The completion scripts `bnstep completions SHELL` prints and the build
// installs: each passes the words on the line to `bnstep __complete line` and
// offers what it prints (completion.hpp), so the three shells complete alike.
#include <string>
#include <vector>

namespace bnstep::cli {

const std::vector<std::string>& completion_shells();  // "bash", "zsh", "fish"
std::string completion_script(const std::string& shell);

}  // namespace bnstep::cli
