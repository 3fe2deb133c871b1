#pragma once
// Hints for a misspelt name: "unknown op 'reluu' (did you mean 'relu'?)".
#include <string>
#include <string_view>
#include <vector>

namespace bnstep {

// The closest candidate within a small edit distance, or "".
std::string did_you_mean(std::string_view wanted, const std::vector<std::string>& candidates);

}  // namespace bnstep
