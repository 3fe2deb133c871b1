#pragma once
// Helpers for the end-to-end tests: run the built `bnstep` binary with
// fork/exec (arguments are passed as they are, no shell), capture stdout and
// stderr separately, and return the exit code with both texts.
//
// BNSTEP_BINARY and BNSTEP_SOURCE_DIR come from tests/CMakeLists.txt.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sanitizer.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX leaves it to the program to declare

namespace bnstep_test {

struct RunResult {
    int exit_code = -1;  // the process's exit status; 128 + signal if it was killed by one
    bool timed_out = false;
    std::string out;  // everything written to stdout
    std::string err;  // everything written to stderr
};

// Where the child's standard input comes from.
enum class Stdin {
    DevNull,  // /dev/null: the child reads end-of-file at once (the default, so tests never block)
    Inherit,  // the test process's own standard input
};

// Give this as the value of an `env` entry to remove the variable from the
// child's environment instead of setting it (e.g. {"NO_COLOR", kUnsetEnv}).
inline const std::string kUnsetEnv = std::string("\x01<unset>", 8);

inline std::string source_dir() { return BNSTEP_SOURCE_DIR; }
inline std::string binary_path() { return BNSTEP_BINARY; }

namespace detail {

inline void write_all_or_die(int fd, const char* text) {
    std::size_t n = std::strlen(text);
    while (n > 0) {
        const ssize_t w = ::write(fd, text, n);
        if (w <= 0) break;
        text += w;
        n -= static_cast<std::size_t>(w);
    }
}

inline std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& env) {
    std::vector<std::string> result;
    for (char** e = environ; e && *e; ++e) {
        const std::string entry = *e;
        const std::string name = entry.substr(0, entry.find('='));
        bool overridden = false;
        for (const auto& [k, v] : env)
            if (k == name) overridden = true;
        if (!overridden) result.push_back(entry);
    }
    for (const auto& [k, v] : env)
        if (v != kUnsetEnv) result.push_back(k + "=" + v);
    return result;
}

}  // namespace detail

// Runs `bnstep args...`, in `cwd` when it is not empty, with `env` added to
// (or, for kUnsetEnv, removed from) the inherited environment. A child that
// runs longer than `timeout_seconds` is killed and reported as timed_out.
// Runs argv_text[0] (a path) with the rest as its arguments.
inline RunResult run_command(std::vector<std::string> argv_text, const std::string& cwd = "",
                             const std::vector<std::pair<std::string, std::string>>& env = {},
                             Stdin stdin_from = Stdin::DevNull, int timeout_seconds = 30) {
    // Everything the child needs is prepared before fork: after it, only
    // async-signal-safe calls.
    const std::string binary = argv_text.at(0);
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_text = detail::child_environment(env);
    std::vector<char*> envp;
    for (auto& e : env_text) envp.push_back(e.data());
    envp.push_back(nullptr);

    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");

    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        if (stdin_from == Stdin::DevNull) {
            const int null_fd = ::open("/dev/null", O_RDONLY);
            if (null_fd < 0 || ::dup2(null_fd, STDIN_FILENO) < 0) ::_exit(125);
        }
        if (::dup2(out_pipe[1], STDOUT_FILENO) < 0 || ::dup2(err_pipe[1], STDERR_FILENO) < 0) ::_exit(125);
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
            detail::write_all_or_die(STDERR_FILENO, "run_bnstep: cannot chdir\n");
            ::_exit(126);
        }
        ::execve(binary.c_str(), argv.data(), envp.data());
        detail::write_all_or_die(STDERR_FILENO, "run_bnstep: cannot exec the bnstep binary\n");
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);

    RunResult result;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_fds = 2;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    char buffer[65536];
    while (open_fds > 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        const int ready = ::poll(fds, 2, static_cast<int>(left.count()));
        if (ready < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int k = 0; k < 2; ++k) {
            if (fds[k].fd < 0 || fds[k].revents == 0) continue;
            const ssize_t n = ::read(fds[k].fd, buffer, sizeof buffer);
            if (n > 0) {
                sinks[k]->append(buffer, static_cast<std::size_t>(n));
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                ::close(fds[k].fd);
                fds[k].fd = -1;
                --open_fds;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) ::close(f.fd);

    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status))
        result.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        result.exit_code = 128 + WTERMSIG(status);
    return result;
}

inline RunResult run_bnstep(const std::vector<std::string>& args, const std::string& cwd = "",
                            const std::vector<std::pair<std::string, std::string>>& env = {},
                            Stdin stdin_from = Stdin::DevNull, int timeout_seconds = 30) {
    std::vector<std::string> argv_text{binary_path()};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    return run_command(std::move(argv_text), cwd, env, stdin_from, timeout_seconds);
}

// The lines of a text, without their '\n'; a last line without '\n' counts.
inline std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

// The columns a line of text takes on a terminal: one per UTF-8 character ("∂" is one).
inline std::size_t columns(const std::string& line) {
    std::size_t n = 0;
    for (const char c : line) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    return n;
}

// Every line of a command's text fits an 80-column terminal.
inline void check_fits_80_columns(const std::string& text) {
    for (const std::string& line : lines_of(text)) {
        CAPTURE(line);
        CHECK(columns(line) <= 80);
    }
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

inline std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A fresh, empty directory under the system's temporary directory, removed
// with everything in it when the object goes out of scope.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "bnstep-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace bnstep_test
