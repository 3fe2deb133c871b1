#pragma once
// Step mode's keys from a real terminal: the command line's side of KeySource.
#include "bnstep/study.hpp"

namespace bnstep {

// Keys from the terminal on a file descriptor, read one keypress at a time
// (termios: no line buffering, no echo); the arrow keys go on (right, down)
// or back (left, up). The terminal's settings are
// restored when the object goes, and on SIGTERM or SIGHUP.
class TerminalKeys : public KeySource {
public:
    explicit TerminalKeys(int fd);  // throws UsageError when fd is not a terminal
    ~TerminalKeys() override;
    TerminalKeys(const TerminalKeys&) = delete;
    TerminalKeys& operator=(const TerminalKeys&) = delete;
    Key next_key() override;

private:
    int fd_;
};

}  // namespace bnstep
