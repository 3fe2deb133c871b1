#pragma once
// What stands between a failure and the user's terminal: errors as one
// line with control characters made visible, out-of-memory as an error that
// names what was too large, and output that could not be written reported
// (quietly, as git does, when the reader of a pipe has gone).
#include <string>

namespace bnstep {
struct Graph;
}

namespace bnstep::cli {

// "bnstep: <kind>: <message>" on standard error, the message made visible.
void report_error(const std::string& kind, const std::string& message);

// A block of memory held back from the start, given back when memory runs
// out, so that the error can still be reported and the stack unwound.
void keep_memory_reserve();
void release_memory_reserve();

// Remembers the lesson a command loaded, for the out-of-memory message.
void note_lesson(const Graph& g);
std::string out_of_memory_message();

// std::cout writes through a buffer of its own that keeps the first write error.
void route_output();

// Flushes standard output; a write error becomes a message and exit code 2
// (a closed pipe: exit 141 with no message). Returns the exit code to use.
int finish_output(int code);

}  // namespace bnstep::cli
