#include "pager.hpp"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <string_view>

namespace bnstep::cli {
namespace {

// Whether the first word of a shell command names a program that can be run.
bool pager_program_found(const std::string& command) {
    const std::size_t begin = command.find_first_not_of(" \t");
    const std::string program = command.substr(begin, command.find_first_of(" \t", begin) - begin);
    if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
    const char* path = std::getenv("PATH");
    std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
    while (true) {
        const std::size_t colon = std::min(dirs.find(':'), dirs.size());
        const std::string dir(dirs.substr(0, colon));
        if (::access(((dir.empty() ? "." : dir) + "/" + program).c_str(), X_OK) == 0) return true;
        if (colon == dirs.size()) return false;
        dirs.remove_prefix(colon + 1);
    }
}

// Writes all of `text` to `fd`; false when the reader went away.
bool write_whole(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// Runs the pager with `text` on its standard input and waits for it; false
// when it could not be started.
bool run_pager(const std::string& command, const std::string& text) {
    int fds[2];
    if (::pipe(fds) != 0) return false;
    // Set before fork: after it, the child makes only async-signal-safe calls.
    const bool set_less = std::getenv("LESS") == nullptr;
    if (set_less) ::setenv("LESS", "FRX", 1);
    const pid_t pid = ::fork();
    if (set_less && pid != 0) ::unsetenv("LESS");
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return false;
    }
    if (pid == 0) {
        ::dup2(fds[0], STDIN_FILENO);
        ::close(fds[0]);
        ::close(fds[1]);
        ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(fds[0]);
    // A pager quit early (q in less) is not an error, and Ctrl-C is the pager's
    // to handle (less stops a search with it), as git does.
    struct sigaction ignore {};
    struct sigaction old_pipe {};
    struct sigaction old_int {};
    struct sigaction old_quit {};
    ignore.sa_handler = SIG_IGN;
    ::sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, &old_pipe);
    ::sigaction(SIGINT, &ignore, &old_int);
    ::sigaction(SIGQUIT, &ignore, &old_quit);
    write_whole(fds[1], text);
    ::close(fds[1]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::sigaction(SIGPIPE, &old_pipe, nullptr);
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGQUIT, &old_quit, nullptr);
    return !(WIFEXITED(status) && (WEXITSTATUS(status) == 126 || WEXITSTATUS(status) == 127));
}

}  // namespace

std::size_t terminal_rows(int fd) {
    winsize size{};
    if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_row > 0) return size.ws_row;
    if (const char* lines = std::getenv("LINES")) {
        char* end = nullptr;
        const long rows = std::strtol(lines, &end, 10);
        if (end != lines && *end == '\0' && rows > 0 && rows < 100000) return static_cast<std::size_t>(rows);
    }
    return 24;
}

void page_or_print(const std::string& text, bool allowed) {
    if (allowed && ::isatty(STDOUT_FILENO)) {
        const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
        const char* pager = std::getenv("PAGER");
        const std::string command = pager != nullptr ? pager : "less -R";
        const bool none = command.find_first_not_of(" \t") == std::string::npos || command == "cat";
        if (lines > terminal_rows(STDOUT_FILENO) && !none && pager_program_found(command)) {
            std::cout.flush();
            if (run_pager(command, text)) return;
        }
    }
    std::cout << text;
}

}  // namespace bnstep::cli
