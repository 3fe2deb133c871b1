// Keypresses from a terminal for step mode: the terminal is put in
// non-canonical mode without echo or signal keys (so Ctrl-C arrives as a key
// and quits cleanly), and its settings are put back afterwards, including
// when SIGTERM or SIGHUP ends the program.
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

#include "bnstep/error.hpp"
#include "terminal_keys.hpp"

namespace bnstep {
namespace {

// What the signal handler needs to restore the terminal; one TerminalKeys at a time.
termios g_saved{};
int g_fd = -1;
volatile sig_atomic_t g_active = 0;
struct sigaction g_old_term {
}, g_old_hup{};

extern "C" void restore_and_reraise(int sig) {
    if (g_active) ::tcsetattr(g_fd, TCSANOW, &g_saved);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

// One byte, or none at end of input; waits at most `timeout_ms` when it is not negative.
bool read_byte(int fd, unsigned char& c, int timeout_ms = -1) {
    if (timeout_ms >= 0) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return false;
    }
    for (;;) {
        const ssize_t n = ::read(fd, &c, 1);
        if (n == 1) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

}  // namespace

TerminalKeys::TerminalKeys(int fd) : fd_(fd) {
    if (!::isatty(fd) || ::tcgetattr(fd, &g_saved) != 0)
        throw UsageError("step mode needs a terminal to read keys from");
    g_fd = fd;
    struct sigaction action {};
    action.sa_handler = restore_and_reraise;
    ::sigemptyset(&action.sa_mask);
    ::sigaction(SIGTERM, &action, &g_old_term);
    ::sigaction(SIGHUP, &action, &g_old_hup);
    termios raw = g_saved;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO | ISIG));
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    g_active = 1;
    ::tcsetattr(fd, TCSANOW, &raw);
}

TerminalKeys::~TerminalKeys() {
    ::tcsetattr(fd_, TCSANOW, &g_saved);
    g_active = 0;
    ::sigaction(SIGTERM, &g_old_term, nullptr);
    ::sigaction(SIGHUP, &g_old_hup, nullptr);
}

Key TerminalKeys::next_key() {
    unsigned char c = 0;
    if (!read_byte(fd_, c)) return Key::End;
    if (c != 0x1b) return key_for_char(c);
    // An arrow key is ESC [ A..D (or ESC O A..D), its bytes arriving together.
    unsigned char open = 0, letter = 0;
    if (!read_byte(fd_, open, 50) || (open != '[' && open != 'O') || !read_byte(fd_, letter, 50)) return Key::Other;
    switch (letter) {
        case 'C':
        case 'B': return Key::Next;
        case 'D':
        case 'A': return Key::Back;
        default: return Key::Other;
    }
}

}  // namespace bnstep
