#pragma once
// Reading a whole text file that a user named, safely: only a regular file
// (a FIFO, a device or a directory is refused at once, before any read that
// could block), never more than `max_bytes` (enforced while reading, so a
// /proc file that reports size 0 cannot grow past it), and a read error is
// reported as one. Failures are a LessonError: "<path>: <what>".
#include <string>

namespace bnstep {

// `what` names the limit in the message, e.g. "for a lesson (the file-size limit)".
std::string read_text_file(const std::string& path, std::size_t max_bytes, const std::string& what);

// Everything readable from an open descriptor (standard input), at most
// `max_bytes`; `name` names it in errors.
std::string read_bounded(int fd, const std::string& name, std::size_t max_bytes, const std::string& what = "");

// "1.5 MiB", "512 bytes".
std::string bytes_str(std::size_t bytes);

}  // namespace bnstep
