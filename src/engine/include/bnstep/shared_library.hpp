#pragma once
// A shared library loaded with dlopen on first use instead of linked: the
// static bnstep would otherwise carry it into the start-up of every command
// (libzip for .npz files, Graphviz's layout for SVG pictures). Its functions
// are resolved into pointers typed by the library's own header, so a call
// through them is checked like a direct call.
#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace bnstep {

// The library could not be loaded, or lacks a function: dlerror's text.
struct SharedLibraryMissing : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Never closed: the library serves the rest of the process.
void* open_shared_library(const char* soname);

std::string dl_failure();

template <typename Function>
void resolve_symbol(void* handle, Function& function, const char* name) {
    function = reinterpret_cast<Function>(::dlsym(handle, name));
    if (function == nullptr) throw SharedLibraryMissing(dl_failure());
}

}  // namespace bnstep
