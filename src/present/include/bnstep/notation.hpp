#pragma once
// How formulas write a partial derivative. The op table writes them with "∂"
// ("∂out/∂gamma = xhat", "∂(x - mu)/∂mu = -1"), never with the name of an
// upstream gradient ("dout"); a terminal whose locale is not UTF-8 gets them
// in ASCII, "d(out)/d(gamma)", "d(x - mu)/d(mu)". Every text printer passes
// what it prints through `partials`; JSON and Markdown keep "∂", LaTeX
// writes \partial.
#include <string>
#include <string_view>

namespace bnstep {

// `text` as is when `utf8`, else with each "∂" written in ASCII: "∂name" (a
// name, with an index such as "W[i]") as "d(name)", "∂(...)" as "d(...)".
std::string partials(std::string_view text, bool utf8);

// Whether the locale's character set is UTF-8, from the values of LC_ALL,
// LC_CTYPE and LANG (the first one set and not empty decides; null: unset):
// it names "UTF-8" or "utf8" in any case.
bool locale_is_utf8(const char* lc_all, const char* lc_ctype, const char* lang);

}  // namespace bnstep
