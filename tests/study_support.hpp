#pragma once
// Helpers for the study tests: run another program (dot, pdflatex) with a
// time limit, find a program on PATH, and drive bnstep through a
// pseudo-terminal (step mode reads keys from a terminal).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "batchnorm_reference.hpp"
#include "cli_support.hpp"

namespace bnstep_test {

// The full path of `program` if a directory of PATH holds it.
inline std::optional<std::string> find_on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    if (path == nullptr) return std::nullopt;
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) continue;
        const std::filesystem::path candidate = std::filesystem::path(dir) / program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return std::nullopt;
}

// Waits for `pid` at most until `deadline`, then kills it; returns the exit
// code (128 + signal when a signal ended it), or none when it had to be killed.
inline std::optional<int> wait_until(pid_t pid, std::chrono::steady_clock::time_point deadline) {
    int status = 0;
    for (;;) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return std::nullopt;
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return std::nullopt;
}

// Runs `argv` in `cwd` with standard input from /dev/null and its output
// discarded; the exit code, or none when it ran past `timeout_seconds`.
inline std::optional<int> run_program(const std::vector<std::string>& args, const std::string& cwd,
                                      int timeout_seconds) {
    std::vector<std::string> text = args;
    std::vector<char*> argv;
    for (auto& a : text) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        const int null_fd = ::open("/dev/null", O_RDWR);
        if (null_fd < 0) ::_exit(125);
        ::dup2(null_fd, STDIN_FILENO);
        ::dup2(null_fd, STDOUT_FILENO);
        ::dup2(null_fd, STDERR_FILENO);
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return wait_until(pid, std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds));
}

// bnstep running on the slave side of a pseudo-terminal: the test types keys
// into the master side and reads what bnstep prints. The child is killed if
// the object goes before it has ended, so a test never hangs.
// The terminal's size and what the child's environment adds (or, for
// kUnsetEnv, removes); a tall terminal by default, so that nothing is paged.
struct PtyOptions {
    unsigned short rows = 500;
    unsigned short columns = 80;
    std::vector<std::pair<std::string, std::string>> env = {};
};

class PtySession {
public:
    explicit PtySession(const std::vector<std::string>& args, const PtyOptions& options = {}) {
        master_ = ::posix_openpt(O_RDWR | O_NOCTTY);
        if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) throw std::runtime_error("no pty");
        const std::string slave_name = ::ptsname(master_);
        // The test keeps the slave open too, to read its settings after the child is gone.
        slave_ = ::open(slave_name.c_str(), O_RDWR | O_NOCTTY);
        if (slave_ < 0) throw std::runtime_error("cannot open the pty's slave side");
        winsize size{};
        size.ws_row = options.rows;
        size.ws_col = options.columns;
        ::ioctl(slave_, TIOCSWINSZ, &size);
        std::vector<std::string> text{binary_path()};
        text.insert(text.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : text) argv.push_back(a.data());
        argv.push_back(nullptr);
        std::vector<std::string> env_text = detail::child_environment(options.env);
        std::vector<char*> envp;
        for (auto& e : env_text) envp.push_back(e.data());
        envp.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::setsid();
            const int tty = ::open(slave_name.c_str(), O_RDWR);
            if (tty < 0) ::_exit(125);
            ::ioctl(tty, TIOCSCTTY, 0);
            ::dup2(tty, STDIN_FILENO);
            ::dup2(tty, STDOUT_FILENO);
            ::dup2(tty, STDERR_FILENO);
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
    }
    ~PtySession() {
        if (!reaped_ && pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(master_);
        ::close(slave_);
    }
    PtySession(const PtySession&) = delete;
    PtySession& operator=(const PtySession&) = delete;

    // Reads until the output so far holds `text` `count` times; false after `seconds`.
    bool wait_for(const std::string& text, int count = 1, int seconds = 10) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (occurrences(text) < count) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return false;
        }
        return true;
    }
    void type(const std::string& keys) {
        if (::write(master_, keys.data(), keys.size()) != static_cast<ssize_t>(keys.size()))
            throw std::runtime_error("write to pty failed");
    }
    // Waits for the child to end (reading what it still prints); none if it must be killed.
    std::optional<int> finish(int seconds = 10) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (read_some(50)) {
            if (std::chrono::steady_clock::now() > deadline) break;
        }
        const std::optional<int> code = wait_until(pid_, deadline);
        reaped_ = true;
        while (read_some(0)) {
        }
        return code;
    }
    void signal(int sig) { ::kill(pid_, sig); }
    // The terminal's settings as the child left them.
    termios settings() const {
        termios t{};
        ::tcgetattr(slave_, &t);
        return t;
    }
    const std::string& output() const { return out_; }

private:
    int occurrences(const std::string& text) const {
        int n = 0;
        for (std::size_t at = out_.find(text); at != std::string::npos; at = out_.find(text, at + text.size())) ++n;
        return n;
    }
    bool read_some(int timeout_ms) {
        pollfd p{master_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return false;
        char buffer[4096];
        const ssize_t n = ::read(master_, buffer, sizeof buffer);
        if (n <= 0) return false;
        out_.append(buffer, static_cast<std::size_t>(n));
        return true;
    }

    int master_ = -1, slave_ = -1;
    pid_t pid_ = -1;
    bool reaped_ = false;
    std::string out_;
};

// Batch norm computed by hand (batchnorm_reference.hpp) from the literals of
// lessons/batchnorm.json, read at run time.
inline const BatchNorm& batchnorm_by_hand() {
    static const BatchNorm bn = [] {
        using json = nlohmann::json;
        const json lesson =
            json::parse(read_text_file(std::filesystem::path(source_dir()) / "lessons" / "batchnorm.json"));
        auto leaf = [&lesson](const std::string& name) -> const json& {
            for (const json& l : lesson.at("leaves"))
                if (l.at("name") == name) return l.at("values");
            throw std::runtime_error("lessons/batchnorm.json has no leaf " + name);
        };
        BatchNorm b;
        b.x = leaf("x").get<BatchNorm::Mat>();
        b.gamma = leaf("gamma").get<BatchNorm::Vec>();
        b.beta = leaf("beta").get<BatchNorm::Vec>();
        b.eps = leaf("eps").get<double>();
        b.dout = lesson.at("output").at("upstream").at("values").get<BatchNorm::Mat>();
        b.compute();
        return b;
    }();
    return bn;
}

// Element `at` of a batch-norm gradient by its name in the lesson ("dxmu1",
// "dbeta"), from the hand computation; none for an unknown name.
inline std::optional<double> batchnorm_gradient(const std::string& name, const std::vector<std::size_t>& at) {
    const BatchNorm& b = batchnorm_by_hand();
    const std::vector<std::pair<std::string, const BatchNorm::Vec*>> vectors{
        {"dbeta", &b.dbeta},       {"dgamma", &b.dgamma}, {"divar", &b.divar},
        {"dsqrtvar", &b.dsqrtvar}, {"dvar", &b.dvar},     {"dmu", &b.dmu}};
    const std::vector<std::pair<std::string, const BatchNorm::Mat*>> matrices{
        {"dout", &b.dout},   {"dgammax", &b.dgammax}, {"dxhat", &b.dxhat}, {"dxmu1", &b.dxmu1}, {"dsq", &b.dsq},
        {"dxmu2", &b.dxmu2}, {"dxmu", &b.dxmu},       {"dx1", &b.dx1},     {"dx2", &b.dx2},     {"dx", &b.dx}};
    for (const auto& [n, v] : vectors)
        if (n == name && at.size() == 1) return v->at(at[0]);
    for (const auto& [n, m] : matrices)
        if (n == name && at.size() == 2) return m->at(at[0]).at(at[1]);
    return std::nullopt;
}

// The local gradient of batch-norm node `node` with respect to `input` at
// element `at` of the local gradient's shape, from the gate rules of docs/background.md#the-gate-rules.
inline std::optional<double> batchnorm_local(const std::string& node, const std::string& input,
                                             const std::vector<std::size_t>& at) {
    const BatchNorm& b = batchnorm_by_hand();
    const double n = static_cast<double>(b.N);
    const std::size_t j = at.empty() ? 0 : at.back(), i = at.size() == 2 ? at[0] : 0;
    if (node == "out") return 1.0;                                              // add
    if (node == "gammax") return input == "gamma" ? b.xhat[i][j] : b.gamma[j];  // mul: the other input
    if (node == "xhat") return input == "xmu" ? b.ivar[j] : b.xmu[i][j];
    if (node == "ivar") return -1.0 / (b.sqrtvar[j] * b.sqrtvar[j]);  // 1/v
    if (node == "sqrtvar") return 0.5 / std::sqrt(b.var[j] + b.eps);  // sqrt(v + eps)
    if (node == "var" || node == "mu") return 1.0 / n;                // mean over N rows
    if (node == "sq") return 2.0 * b.xmu[i][j];                       // v^2
    if (node == "xmu") return input == "x" ? 1.0 : -1.0;              // sub
    return std::nullopt;
}

// The names of the files in `dir`, sorted.
inline std::vector<std::string> files_in(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// The rows of a CSV file as Python's csv module reads them (a parser that is
// not bnstep's): fails the test when there is no python3 or it cannot read the file.
inline std::vector<std::vector<std::string>> csv_rows_by_python(const std::filesystem::path& file) {
    const auto python = find_on_path("python3");
    if (!python) throw std::runtime_error("these tests read CSV with python3's csv module: install python3");
    const RunResult r = run_command({*python, "-c",
                                     "import csv, json, sys\n"
                                     "with open(sys.argv[1], newline='', encoding='utf-8', errors='strict') as f:\n"
                                     "    print(json.dumps(list(csv.reader(f, strict=True))))\n",
                                     file.string()});
    if (r.exit_code != 0) throw std::runtime_error("python3's csv cannot read " + file.string() + ": " + r.err);
    return nlohmann::json::parse(r.out).get<std::vector<std::vector<std::string>>>();
}

}  // namespace bnstep_test
