#pragma once
// Long text output through the user's pager, as git does: on a terminal, text
// taller than the screen goes to $PAGER (else `less -R`, with LESS=FRX when
// LESS is unset); through a pipe, with --no-pager, PAGER="" or PAGER=cat, or
// when the pager cannot be started, it is printed directly.
#include <cstddef>
#include <string>

namespace bnstep::cli {

// The rows of the terminal on `fd`: its window size, else $LINES, else 24.
std::size_t terminal_rows(int fd);

// Writes `text` to standard output, through the pager when `allowed` and the
// conditions above hold.
void page_or_print(const std::string& text, bool allowed);

}  // namespace bnstep::cli
