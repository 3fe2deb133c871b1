#pragma once
// The command line: a table of {name, help, function}, each a few lines that
// wire lesson -> graph -> executor -> printers together.
#include "bnstep/error.hpp"

namespace bnstep::cli {

enum ExitCode { kOk = 0, kCheckFailed = 1, kUsage = 2 };

// A library error's exit code: a numeric fault is a failed check (1), a bad
// lesson or request a usage error (2).
constexpr int exit_code(ErrorKind kind) { return kind == ErrorKind::Numeric ? kCheckFailed : kUsage; }

// Parses the arguments and runs the command; exceptions from the library
// propagate to main, which turns them into a one-line error.
int run(int argc, char** argv);

}  // namespace bnstep::cli
