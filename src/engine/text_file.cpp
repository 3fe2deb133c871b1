#include "bnstep/text_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "bnstep/error.hpp"

namespace bnstep {
namespace {

const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

class Descriptor {
public:
    explicit Descriptor(int fd) : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

std::string bytes_str(std::size_t bytes) {
    if (bytes >= (std::size_t{1} << 30)) return fmt::format("{:.1f} GiB", double(bytes) / double(std::size_t{1} << 30));
    if (bytes >= (std::size_t{1} << 20)) return fmt::format("{:.1f} MiB", double(bytes) / double(std::size_t{1} << 20));
    return fmt::format("{} bytes", bytes);
}

std::string read_text_file(const std::string& path, std::size_t max_bytes, const std::string& what) {
    // O_NONBLOCK: opening a FIFO that nobody writes to returns at once instead of waiting.
    const Descriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (fd.get() < 0) throw LessonError(fmt::format("{}: cannot read the file: {}", path, std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        throw LessonError(fmt::format("{}: cannot read the file: {}", path, std::strerror(errno)));
    if (!S_ISREG(st.st_mode))
        throw LessonError(fmt::format("{}: is {}; expected a regular file", path, kind_of(st.st_mode)));
    if (const auto size = static_cast<std::size_t>(st.st_size); size > max_bytes)
        throw LessonError(fmt::format("{}: the file is {}, above the limit of {} {}", path, bytes_str(size),
                                      bytes_str(max_bytes), what));
    return read_bounded(fd.get(), path, max_bytes, what);
}

std::string read_bounded(int fd, const std::string& name, std::size_t max_bytes, const std::string& what) {
    std::string text;
    char buffer[1 << 16];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got == 0) break;
        if (got < 0) {
            if (errno == EINTR) continue;
            throw LessonError(fmt::format("{}: cannot read: {}", name, std::strerror(errno)));
        }
        if (text.size() + static_cast<std::size_t>(got) > max_bytes)
            throw LessonError(fmt::format("{}: more than {}, the limit{}{}", name, bytes_str(max_bytes),
                                          what.empty() ? "" : " ", what));
        text.append(buffer, static_cast<std::size_t>(got));
    }
    return text;
}

}  // namespace bnstep
