// Whole files written atomically: a temporary file beside the target (so
// that the rename stays on one file system), filled, closed, then renamed.
#include "bnstep/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/visible.hpp"
#include "zip_library.hpp"

namespace bnstep {
namespace {

constexpr int kMaxSymlinkHops = 40;  // Linux's own bound (ELOOP)

[[noreturn]] void output_failed(const std::string& path, const std::string& why) {
    throw DataError(fmt::format("{}: cannot write the file: {}", visible(path), why));
}

// Anything but a regular file (or nothing) in the way is refused before a
// temporary file is made: renaming over a directory or a device is never meant.
// Returns the path to write: `path` with its symbolic links followed.
std::string check_output_target(const std::string& path) {
    if (path.empty()) output_failed(path, "the path is empty");
    std::string target = output_target(path);
    struct stat st {};
    if (::stat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        output_failed(path, S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file");
    return target;
}

// A temporary file beside `path`, removed when this goes out of scope unless
// kept (renamed into place).
class TemporaryOutput {
public:
    // `path` as the user named it (for messages), `target` the file replaced.
    TemporaryOutput(const std::string& path, const std::string& target)
        : shown_(path), target_(target), name_(target + ".XXXXXX") {
        fd_ = ::mkstemp(name_.data());
        if (fd_ < 0) output_failed(shown_, std::strerror(errno));
        // mkstemp makes the file 0600; a written file gets the usual 0666 less the umask.
        const mode_t mask = ::umask(0);
        ::umask(mask);
        ::fchmod(fd_, 0666 & ~mask);
    }
    ~TemporaryOutput() {
        if (fd_ >= 0) ::close(fd_);
        if (!kept_) ::unlink(name_.c_str());
    }
    TemporaryOutput(const TemporaryOutput&) = delete;
    TemporaryOutput& operator=(const TemporaryOutput&) = delete;

    const std::string& name() const { return name_; }
    void write(std::string_view bytes) {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) output_failed(shown_, std::strerror(n < 0 ? errno : EIO));
            done += static_cast<std::size_t>(n);
        }
    }
    void close() {
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) output_failed(shown_, std::strerror(errno));
    }
    void keep() {
        if (fd_ >= 0) close();
        if (::rename(name_.c_str(), target_.c_str()) != 0) output_failed(shown_, std::strerror(errno));
        kept_ = true;
    }

private:
    std::string shown_, target_, name_;
    int fd_ = -1;
    bool kept_ = false;
};

}  // namespace

std::string output_target(const std::string& path) {
    namespace fs = std::filesystem;
    fs::path p(path);
    for (int hops = 0;; ++hops) {
        std::error_code ec;
        if (!fs::is_symlink(fs::symlink_status(p, ec))) return p.string();
        if (hops == kMaxSymlinkHops) output_failed(path, "too many levels of symbolic links");
        const fs::path next = fs::read_symlink(p, ec);
        if (ec) output_failed(path, ec.message());
        p = next.is_absolute() ? next : p.parent_path() / next;
    }
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
    TemporaryOutput out(path, check_output_target(path));
    out.write(bytes);
    out.keep();
}

void write_zip_atomically(const std::string& path, const std::vector<ZipMember>& members) {
    const std::string target = check_output_target(path);
    const ZipLibrary& z = zip_library(path, "writing");
    TemporaryOutput out(path, target);
    out.close();
    int code = 0;
    zip_t* opened = z.open(out.name().c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (opened == nullptr) {
        zip_error_t error;
        z.error_init_with_code(&error, code);
        const std::string text = z.error_strerror(&error);
        z.error_fini(&error);
        output_failed(path, visible(text));
    }
    ZipArchive archive(z, opened);
    const auto failed = [&] { output_failed(path, visible(z.strerror(opened))); };
    for (const ZipMember& m : members) {
        // libzip reads the buffer when the archive is closed: `members` outlives that.
        zip_source_t* source = z.source_buffer(opened, m.second.data(), m.second.size(), 0);
        if (source == nullptr) failed();
        const zip_int64_t index = z.file_add(opened, m.first.c_str(), source, ZIP_FL_ENC_UTF_8);
        if (index < 0) {
            z.source_free(source);
            failed();
        }
        if (z.set_file_compression(opened, static_cast<zip_uint64_t>(index), ZIP_CM_DEFLATE, 0) != 0) failed();
    }
    if (!archive.close()) failed();
    out.keep();
}

}  // namespace bnstep
