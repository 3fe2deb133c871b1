// Named arrays in files: the format from the extension, the bounded read of
// the whole file, then the format's reader (npy_format.cpp, npz_archive.cpp,
// array_json.cpp); and the writers.
#include "bnstep/array_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <set>

#include "array_io.hpp"
#include "bnstep/error.hpp"
#include "bnstep/text_file.hpp"
#include "bnstep/visible.hpp"

namespace bnstep {
namespace {

// The whole file, a regular file of at most limits.file_bytes (text_file.hpp), whose errors become DataErrors.
std::string read_array_file(const std::string& path, const ArrayLimits& limits) {
    try {
        return read_text_file(path, limits.file_bytes, "for an array file");
    } catch (const LessonError& e) {
        throw DataError(e.what());
    }
}

}  // namespace

void check_array_names(const std::vector<NamedTensor>& arrays, const std::string& where) {
    std::set<std::string_view> names;
    for (const NamedTensor& a : arrays) {
        if (const std::string problem = array_name_problem(a.name); !problem.empty())
            throw DataError(fmt::format("{}\"{}\": not an array name: {}", where, visible(a.name), problem));
        if (!names.insert(a.name).second)
            throw DataError(
                fmt::format("{}\"{}\": two arrays of this name; each name is written once", where, visible(a.name)));
    }
}

std::string array_name_problem(std::string_view name) {
    if (name.empty()) return "it is empty";
    if (name == "." || name == "..") return "'.' and '..' name directories";
    if (name.find_first_of("/\\") != std::string_view::npos) return "it holds a '/' or '\\'";
    if (visible(name) != name) return "it holds a control character or is not UTF-8";
    return "";
}

ArrayFormat array_format_of(const std::string& path) {
    if (path.ends_with(".npz")) return ArrayFormat::Npz;
    if (path.ends_with(".npy")) return ArrayFormat::Npy;
    if (path.ends_with(".json")) return ArrayFormat::Json;
    throw DataError(fmt::format("{}: the name of an array file ends in .npz, .npy or .json", visible(path)));
}

std::vector<NamedTensor> read_arrays(const std::string& path, const ArrayLimits& limits, ArrayFileVariant* recorded) {
    const ArrayFormat format = array_format_of(path);
    const std::string bytes = read_array_file(path, limits);
    if (format == ArrayFormat::Npz) return read_npz_arrays(bytes, path, limits);
    if (format == ArrayFormat::Json) return read_json_arrays(bytes, path, limits, recorded);
    const std::string name = std::filesystem::path(path).stem().string();
    if (const std::string problem = array_name_problem(name); !problem.empty())
        throw DataError(fmt::format("{}: the file's name gives no array name: {}", visible(path), problem));
    std::vector<NamedTensor> arrays;
    arrays.push_back({name, parse_npy(bytes, visible(path), limits)});
    return arrays;
}

void write_arrays(const std::string& path, ArrayFormat format, const std::vector<NamedTensor>& arrays,
                  const ArrayFileVariant& label) {
    check_array_names(arrays, visible(path) + ": ");
    switch (format) {
        case ArrayFormat::Npz: return write_npz_file(path, arrays);
        case ArrayFormat::Json:
            return write_array_file_bytes(path, json_array_text(arrays, visible(path) + ": ", label));
        case ArrayFormat::Npy:
            if (arrays.size() != 1)
                throw DataError(fmt::format("{}: a .npy file holds one array, not {} (write .npz instead)",
                                            visible(path), arrays.size()));
            return write_array_file_bytes(path, npy_bytes(arrays.front().tensor));
    }
}

void write_array_file_bytes(const std::string& path, std::string_view bytes) {
    const auto fail = [&](const char* what) {
        return DataError(fmt::format("{}: cannot write the file: {}", visible(path), what));
    };
    // O_NONBLOCK: a FIFO that nobody reads is an error at once, not a wait.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0666);
    if (fd < 0) throw fail(std::strerror(errno));
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int error = n < 0 ? errno : EIO;
            ::close(fd);
            throw fail(std::strerror(error));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) throw fail(std::strerror(errno));
}

}  // namespace bnstep
