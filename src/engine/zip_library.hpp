#pragma once
// libzip, for zip files (.npz, a QTI export), loaded with dlopen on first use instead of linked:
// the static bnstep would otherwise carry it (and libcrypto, which it pulls
// in) into the start-up of every command. The pointers are typed by libzip's
// own <zip.h>, so a call through them is checked like a call to libzip.
#include <zip.h>

#include <string>

namespace bnstep {

struct ZipLibrary {
    decltype(&zip_source_buffer_create) source_buffer_create;
    decltype(&zip_source_buffer) source_buffer;
    decltype(&zip_source_free) source_free;
    decltype(&zip_open_from_source) open_from_source;
    decltype(&zip_open) open;
    decltype(&zip_get_num_entries) get_num_entries;
    decltype(&zip_stat_index) stat_index;
    decltype(&zip_fopen_index) fopen_index;
    decltype(&zip_fread) fread;
    decltype(&zip_fclose) fclose;
    decltype(&zip_file_strerror) file_strerror;
    decltype(&zip_file_add) file_add;
    decltype(&zip_set_file_compression) set_file_compression;
    decltype(&zip_close) close;
    decltype(&zip_discard) discard;
    decltype(&zip_strerror) strerror;
    decltype(&zip_error_init) error_init;
    decltype(&zip_error_init_with_code) error_init_with_code;
    decltype(&zip_error_code_zip) error_code_zip;
    decltype(&zip_error_strerror) error_strerror;
    decltype(&zip_error_fini) error_fini;
};

// The library, loaded once. When it cannot be loaded: DataError "<path>:
// <action> a zip file (.npz, .zip) needs libzip (Debian package libzip4): <dlerror text>", and
// the next call tries again. `action` is "reading" or "writing".
const ZipLibrary& zip_library(const std::string& path, const char* action);

// An archive open for writing, discarded (never written) unless close() writes it.
class ZipArchive {
public:
    ZipArchive(const ZipLibrary& z, zip_t* archive) : z_(z), archive_(archive) {}
    ~ZipArchive() {
        if (archive_ != nullptr) z_.discard(archive_);
    }
    ZipArchive(const ZipArchive&) = delete;
    ZipArchive& operator=(const ZipArchive&) = delete;
    zip_t* get() const { return archive_; }
    bool close() {
        if (z_.close(archive_) != 0) return false;
        archive_ = nullptr;
        return true;
    }

private:
    const ZipLibrary& z_;
    zip_t* archive_;
};

}  // namespace bnstep
