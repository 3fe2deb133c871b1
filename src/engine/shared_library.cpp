#include "bnstep/shared_library.hpp"

namespace bnstep {

std::string dl_failure() {
    const char* text = ::dlerror();
    return text != nullptr ? text : "unknown error";
}

void* open_shared_library(const char* soname) {
    void* handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) throw SharedLibraryMissing(dl_failure());
    return handle;
}

}  // namespace bnstep
