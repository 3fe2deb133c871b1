#pragma once
// Lesson text and command-line words are untrusted wherever they are shown:
// visible() writes every control character as an escape, so that text can
// neither move the cursor, clear a terminal, forge a line nor cut a message
// short: \n \r \t \0, \x1b and the other C0 controls as \xNN, DEL as \x7f,
// the C1 controls and the bidirectional overrides as \uNNNN, and a byte that
// is not UTF-8 as \xNN. Other text, UTF-8 included, is kept as it is.
#include <string>
#include <string_view>

namespace bnstep {

std::string visible(std::string_view text);

}  // namespace bnstep
