#include "zip_library.hpp"

#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/shared_library.hpp"
#include "bnstep/visible.hpp"

namespace bnstep {
namespace {

ZipLibrary load_zip_library() {
    void* handle = open_shared_library(BNSTEP_LIBZIP_SONAME);
    ZipLibrary z{};
#define BNSTEP_ZIP_RESOLVE(member) resolve_symbol(handle, z.member, "zip_" #member)
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
    } catch (const SharedLibraryMissing& e) {
        throw DataError(fmt::format("{}: {} a zip file (.npz, .zip) needs libzip (Debian package libzip4): {}",
                                    visible(path), action, visible(e.what())));
    }
}

}  // namespace bnstep
