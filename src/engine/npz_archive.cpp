// .npz files: zip archives of NAME.npy members, as np.savez (stored) and
// np.savez_compressed (deflated) write them, read from memory and written
// through libzip (zip_library.hpp). Every size is checked against the limits
// from the archive's directory before a member is inflated, and no member is
// read past the size its entry declares.
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <fmt/format.h>
#include <set>

#include "array_io.hpp"
#include "bnstep/error.hpp"
#include "bnstep/text_file.hpp"
#include "bnstep/visible.hpp"
#include "zip_library.hpp"

namespace bnstep {
namespace {

// What np.savez writes for no arrays: an end of central directory alone.
constexpr std::string_view kEmptyZip("PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22);

class NpzMemberFile {
public:
    NpzMemberFile(const ZipLibrary& z, zip_file_t* file) : z_(z), file_(file) {}
    ~NpzMemberFile() { z_.fclose(file_); }
    NpzMemberFile(const NpzMemberFile&) = delete;
    NpzMemberFile& operator=(const NpzMemberFile&) = delete;
    zip_file_t* get() const { return file_; }

private:
    const ZipLibrary& z_;
    zip_file_t* file_;
};

struct NpzEntry {
    zip_uint64_t index;
    std::string name;   // the array's: the member's name without ".npy"
    std::string where;  // "<path>: <member>", for messages
    std::size_t size;   // uncompressed, as the directory declares it
};

[[noreturn]] void npz_fail(const std::string& where, const std::string& what) {
    throw DataError(fmt::format("{}: {}", where, what));
}

[[noreturn]] void npz_corrupt(const ZipLibrary& z, zip_file_t* file, const std::string& where) {
    npz_fail(where, fmt::format("a corrupt member (libzip: {})", visible(z.file_strerror(file))));
}

[[noreturn]] void npz_write_failed(const ZipLibrary& z, zip_t* archive, const std::string& where) {
    npz_fail(where, fmt::format("cannot write the file: {}", visible(z.strerror(archive))));
}

// libzip writes a new file and renames it over the old one; of anything but a regular file in the way it says
// only "Operation not supported".
void npz_check_target(const std::string& path, const std::string& where) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        npz_fail(where, fmt::format("cannot write the file: it is {}",
                                    S_ISDIR(st.st_mode) ? "a directory" : "not a regular file"));
}

std::string npz_method_name(zip_int32_t method) {
    switch (method) {
        case 9: return " (deflate64)";
        case 12: return " (bzip2)";
        case 14: return " (LZMA)";
        case 93: return " (Zstandard)";
        case 95: return " (XZ)";
        case 98: return " (PPMd)";
        case 99: return " (AES encryption)";
        default: return "";
    }
}

std::uint64_t npz_le(std::string_view bytes, std::size_t at, std::size_t width) {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < width; ++k) v |= std::uint64_t{static_cast<unsigned char>(bytes[at + k])} << (8 * k);
    return v;
}

// The most members that an end of central directory declares (or the zip64 record it points to): libzip
// allocates and reads that many entries before bnstep could count them. Only a record whose comment ends the
// file counts, as only such a record passes libzip's consistency checks.
std::uint64_t npz_declared_members(std::string_view bytes) {
    constexpr std::size_t kEndSize = 22, kLocatorSize = 20, kZip64EndSize = 56;
    const std::size_t from = bytes.size() > kEndSize + 0xFFFF ? bytes.size() - kEndSize - 0xFFFF : 0;
    std::uint64_t most = 0;
    for (std::size_t at = bytes.size(); at > from;) {
        at = bytes.rfind("PK\x05\x06", at - 1);
        if (at == std::string_view::npos || at < from) break;
        if (at + kEndSize > bytes.size() || at + kEndSize + npz_le(bytes, at + 20, 2) != bytes.size()) continue;
        most = std::max(most, npz_le(bytes, at + 10, 2));
        if (at < kLocatorSize || bytes.substr(at - kLocatorSize, 4) != "PK\x06\x07") continue;
        const std::uint64_t record = npz_le(bytes, at - kLocatorSize + 8, 8);
        if (bytes.size() >= kZip64EndSize && record <= bytes.size() - kZip64EndSize &&
            bytes.substr(record, 4) == "PK\x06\x06")
            most = std::max(most, npz_le(bytes, record + 32, 8));
    }
    return most;
}

zip_t* npz_open(const ZipLibrary& z, const std::string& bytes, const std::string& where) {
    zip_error_t error;
    z.error_init(&error);
    zip_source_t* source = z.source_buffer_create(bytes.data(), bytes.size(), 0, &error);
    zip_t* archive = source != nullptr ? z.open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error) : nullptr;
    const int code = z.error_code_zip(&error);
    const std::string text = archive == nullptr ? visible(z.error_strerror(&error)) : "";
    z.error_fini(&error);
    if (archive != nullptr) return archive;
    if (source != nullptr) z.source_free(source);
    if (code == ZIP_ER_NOZIP && bytes.starts_with("PK\x03\x04"))
        npz_fail(where, "a truncated or corrupt zip archive: it starts as one but has no end of central directory");
    if (code == ZIP_ER_NOZIP) npz_fail(where, "not a zip archive, which an .npz file is (as np.savez writes it)");
    if (code == ZIP_ER_EXISTS) npz_fail(where, "the archive holds two members of the same name");
    npz_fail(where, fmt::format("a corrupt or truncated zip archive (libzip: {})", text));
}

// The member's entry in the directory, checked: a plain NAME.npy, neither encrypted nor compressed other than
// by deflate.
NpzEntry npz_entry(const ZipLibrary& z, zip_t* archive, zip_uint64_t index, const std::string& path) {
    zip_stat_t st;
    if (z.stat_index(archive, index, 0, &st) != 0)
        npz_fail(path, fmt::format("member {}: {}", index, visible(z.strerror(archive))));
    const zip_uint64_t needed = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
    if ((st.valid & needed) != needed)
        npz_fail(path,
                 fmt::format("member {}: the archive's directory does not give its name, size and method", index));
    const std::string member = st.name;
    const std::string where = fmt::format("{}: {}", path, member.empty() ? "\"\"" : visible(member));
    const std::string_view name =
        std::string_view(member).substr(0, member.size() - std::min<std::size_t>(4, member.size()));
    if (!member.ends_with(".npy") || !array_name_problem(name).empty())
        npz_fail(where, "a member must be named NAME.npy, a name without '/' or '\\' (as np.savez names them)");
    if (st.encryption_method != ZIP_EM_NONE) npz_fail(where, "an encrypted member cannot be read");
    if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)
        npz_fail(where, fmt::format("compression method {}{} is not supported: only stored and deflated members, as "
                                    "np.savez and np.savez_compressed write them",
                                    st.comp_method, npz_method_name(st.comp_method)));
    return {index, std::string(name), where, static_cast<std::size_t>(st.size)};
}

std::vector<NpzEntry> npz_entries(const ZipLibrary& z, zip_t* archive, const std::string& path,
                                  const ArrayLimits& limits) {
    const zip_int64_t count = z.get_num_entries(archive, 0);
    if (count < 0) npz_fail(path, fmt::format("cannot list the archive: {}", visible(z.strerror(archive))));
    if (static_cast<zip_uint64_t>(count) > limits.members)
        npz_fail(path, fmt::format("{} members, above the limit of {} arrays in one file", count, limits.members));
    std::vector<NpzEntry> entries;
    std::set<std::string> names;
    std::size_t total = 0;
    for (zip_uint64_t k = 0; k < static_cast<zip_uint64_t>(count); ++k) {
        entries.push_back(npz_entry(z, archive, k, path));
        if (!names.insert(entries.back().name).second)
            npz_fail(entries.back().where, "the archive holds two members of this name");
        total = saturating_add(total, entries.back().size);
    }
    if (total > limits.total_bytes)
        npz_fail(path, fmt::format("the members hold {} uncompressed, above the limit of {} for the arrays of one file",
                                   bytes_str(total), bytes_str(limits.total_bytes)));
    return entries;
}

// The member's bytes: exactly the size its entry declares, which libzip checks with the CRC at the end.
std::string npz_member_bytes(const ZipLibrary& z, zip_t* archive, const NpzEntry& e) {
    zip_file_t* opened = z.fopen_index(archive, e.index, 0);
    if (opened == nullptr) npz_fail(e.where, fmt::format("cannot read the member: {}", visible(z.strerror(archive))));
    const NpzMemberFile file(z, opened);
    std::string bytes(e.size, '\0');
    for (std::size_t got = 0; got < e.size;) {
        const zip_int64_t n = z.fread(file.get(), bytes.data() + got, e.size - got);
        if (n < 0) npz_corrupt(z, file.get(), e.where);
        if (n == 0)
            npz_fail(e.where, fmt::format("the member ends after {} of the {} bytes its entry declares (a truncated "
                                          "or corrupt archive)",
                                          got, e.size));
        got += static_cast<std::size_t>(n);
    }
    char past_end = 0;
    const zip_int64_t n = z.fread(file.get(), &past_end, 1);
    if (n < 0) npz_corrupt(z, file.get(), e.where);
    if (n > 0)
        npz_fail(e.where,
                 fmt::format("the member holds more than the {} bytes its entry declares (a corrupt archive)", e.size));
    return bytes;
}

}  // namespace

std::vector<NamedTensor> read_npz_arrays(const std::string& bytes, const std::string& path, const ArrayLimits& limits) {
    const std::string where = visible(path);
    if (bytes.empty()) npz_fail(where, "the file is empty; an .npz file is a zip archive");
    if (const std::uint64_t declared = npz_declared_members(bytes); declared > limits.members)
        npz_fail(where, fmt::format("{} members, above the limit of {} arrays in one file", declared, limits.members));
    const ZipLibrary& z = zip_library(path, "reading");
    const ZipArchive archive(z, npz_open(z, bytes, where));
    std::vector<NamedTensor> arrays;
    for (const NpzEntry& e : npz_entries(z, archive.get(), where, limits)) {
        const std::string member = npz_member_bytes(z, archive.get(), e);
        arrays.push_back({e.name, parse_npy(member, e.where, limits)});
    }
    return arrays;
}

void write_npz_file(const std::string& path, const std::vector<NamedTensor>& arrays) {
    if (arrays.empty()) return write_array_file_bytes(path, kEmptyZip);
    const std::string where = visible(path);
    npz_check_target(path, where);
    const ZipLibrary& z = zip_library(path, "writing");
    std::vector<std::string> members;
    members.reserve(arrays.size());
    for (const NamedTensor& a : arrays) members.push_back(npy_bytes(a.tensor));
    int code = 0;
    zip_t* opened = z.open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (opened == nullptr) {
        zip_error_t error;
        z.error_init_with_code(&error, code);
        const std::string text = visible(z.error_strerror(&error));
        z.error_fini(&error);
        npz_fail(where, fmt::format("cannot write the file: {}", text));
    }
    ZipArchive archive(z, opened);
    for (std::size_t k = 0; k < arrays.size(); ++k) {
        zip_source_t* source = z.source_buffer(opened, members[k].data(), members[k].size(), 0);
        if (source == nullptr) npz_write_failed(z, opened, where);
        const zip_int64_t index = z.file_add(opened, (arrays[k].name + ".npy").c_str(), source, ZIP_FL_ENC_UTF_8);
        if (index < 0) {
            z.source_free(source);
            npz_write_failed(z, opened, where);
        }
        if (z.set_file_compression(opened, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) != 0)
            npz_write_failed(z, opened, where);
    }
    if (!archive.close()) npz_write_failed(z, opened, where);
}

}  // namespace bnstep
