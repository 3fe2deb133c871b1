#pragma once
// Files a command writes whole (a quiz export, an archive of them): written
// under a temporary name in the same directory, then renamed over the target,
// so that the target is either the old file or the complete new one, and an
// error leaves nothing behind. Failures are a DataError of one line:
// "<path>: cannot write the file: <why>".
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bnstep {

// The file a write to `path` replaces: `path` with its symbolic links followed
// (a relative link read from the link's directory), as shell redirection
// writes through a link; `path` itself when it is not a link (or is absent).
// The temporary file goes beside that target, so a link to another file
// system still gets a rename on one. A DataError for a loop of links.
std::string output_target(const std::string& path);

// `path` replaced whole (through a link, the file it names: output_target).
void write_file_atomically(const std::string& path, std::string_view bytes);

// One member of a zip archive: its path inside the archive and its bytes.
using ZipMember = std::pair<std::string, std::string>;

// A zip archive of `members` (deflated, in the given order), written as above
// through libzip (loaded on first use: zip_library.hpp).
void write_zip_atomically(const std::string& path, const std::vector<ZipMember>& members);

}  // namespace bnstep
