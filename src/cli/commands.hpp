#pragma once
// The command line: a table of {name, help, function}, each a few lines that
// wire lesson -> graph -> executor -> printers together.
namespace bnstep::cli {

enum ExitCode { kOk = 0, kCheckFailed = 1, kUsage = 2 };

// Parses the arguments and runs the command; exceptions from the library
// propagate to main, which turns them into a one-line error.
int run(int argc, char** argv);

}  // namespace bnstep::cli
