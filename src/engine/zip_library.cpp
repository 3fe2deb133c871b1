#include "zip_library.hpp"

#include <dlfcn.h>

#include <fmt/format.h>
#include <stdexcept>

#include "bnstep/error.hpp"
#include "bnstep/visible.hpp"

namespace bnstep {
namespace {

struct ZipLibraryMissing : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string dl_failure() {
    const char* text = ::dlerror();
    return text != nullptr ? text : "unknown error";
}

template <typename Function>
void resolve_zip_symbol(void* handle, Function& function, const char* name) {
    function = reinterpret_cast<Function>(::dlsym(handle, name));
    if (function == nullptr) throw ZipLibraryMissing(dl_failure());
}

ZipLibrary load_zip_library() {
    // Never closed: the library serves every later .npz of the process.
    void* handle = ::dlopen(BNSTEP_LIBZIP_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) throw ZipLibraryMissing(dl_failure());
    ZipLibrary z{};
#define BNSTEP_ZIP_RESOLVE(member) resolve_zip_symbol(handle, z.member, "zip_" #member)
    BNSTEP_ZIP_RESOLVE(source_buffer_create);
    BNSTEP_ZIP_RESOLVE(source_buffer);
    BNSTEP_ZIP_RESOLVE(source_free);
    BNSTEP_ZIP_RESOLVE(open_from_source);
    BNSTEP_ZIP_RESOLVE(open);
    BNSTEP_ZIP_RESOLVE(get_num_entries);
    BNSTEP_ZIP_RESOLVE(stat_index);
    BNSTEP_ZIP_RESOLVE(fopen_index);
    BNSTEP_ZIP_RESOLVE(fread);
    BNSTEP_ZIP_RESOLVE(fclose);
    BNSTEP_ZIP_RESOLVE(file_strerror);
    BNSTEP_ZIP_RESOLVE(file_add);
    BNSTEP_ZIP_RESOLVE(set_file_compression);
    BNSTEP_ZIP_RESOLVE(close);
    BNSTEP_ZIP_RESOLVE(discard);
    BNSTEP_ZIP_RESOLVE(strerror);
    BNSTEP_ZIP_RESOLVE(error_init);
    BNSTEP_ZIP_RESOLVE(error_init_with_code);
    BNSTEP_ZIP_RESOLVE(error_code_zip);
    BNSTEP_ZIP_RESOLVE(error_strerror);
    BNSTEP_ZIP_RESOLVE(error_fini);
#undef BNSTEP_ZIP_RESOLVE
    return z;
}

}  // namespace

const ZipLibrary& zip_library(const std::string& path, const char* action) {
    try {
        static const ZipLibrary library = load_zip_library();
        return library;
    } catch (const ZipLibraryMissing& e) {
        throw DataError(fmt::format("{}: {} a zip file (.npz, .zip) needs libzip (Debian package libzip4): {}",
                                    visible(path), action, visible(e.what())));
    }
}

}  // namespace bnstep
