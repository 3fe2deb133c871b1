#include "guard.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <iostream>
#include <new>
#include <streambuf>

#include "bnstep/graph.hpp"
#include "bnstep/heap.hpp"
#include "bnstep/visible.hpp"
#include "commands.hpp"

namespace bnstep::cli {
namespace {

// Standard output through write(2), so that a failed write keeps its errno
// (stdio's buffer forgets it) and can be reported at the end.
class OutputBuffer : public std::streambuf {
public:
    OutputBuffer() { setp(buffer_, buffer_ + sizeof buffer_); }
    int error() const { return error_; }

protected:
    int_type overflow(int_type c) override {
        if (!drain()) return traits_type::eof();
        if (!traits_type::eq_int_type(c, traits_type::eof())) {
            *pptr() = traits_type::to_char_type(c);
            pbump(1);
        }
        return traits_type::not_eof(c);
    }
    int sync() override { return drain() ? 0 : -1; }

private:
    bool drain() {
        const char* p = pbase();
        while (p < pptr() && error_ == 0) {
            const ssize_t n = ::write(STDOUT_FILENO, p, static_cast<std::size_t>(pptr() - p));
            if (n >= 0)
                p += n;
            else if (errno != EINTR)
                error_ = errno;
        }
        setp(buffer_, buffer_ + sizeof buffer_);
        return error_ == 0;
    }
    char buffer_[1 << 16];
    int error_ = 0;
};

OutputBuffer output;

constexpr std::size_t kReserveBytes = std::size_t{64} << 20;
// Under AddressSanitizer the reserve is not kept: its allocator writes the
// shadow of all 64 MB, and LeakSanitizer reads them at exit, which cost each
// run of the sanitizer build 0.2 s (its own allocator reports running out).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kKeepReserve = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kKeepReserve = false;
#else
constexpr bool kKeepReserve = true;
#endif
#else
constexpr bool kKeepReserve = true;
#endif
void* reserve = nullptr;
std::string lesson_summary;

void on_allocation_failure() {
    if (reserve != nullptr) {
        release_memory_reserve();
        return;  // the allocation is tried again
    }
    std::set_new_handler(nullptr);
    throw std::bad_alloc();
}

}  // namespace

void report_error(const std::string& kind, const std::string& message) {
    std::cerr << "bnstep: " << kind << ": " << visible(message) << '\n' << std::flush;
}

void keep_memory_reserve() {
    // Not touched, so it costs address space only until memory runs out.
    if (kKeepReserve) reserve = std::malloc(kReserveBytes);
    std::set_new_handler(on_allocation_failure);
    keep_tensors_on_heap();
}

void release_memory_reserve() {
    std::free(reserve);
    reserve = nullptr;
}

void note_lesson(const Graph& g) {
    std::size_t total = 0, largest = 0;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        total = saturating_add(total, element_count(g.nodes[i].shape));
        if (element_count(g.nodes[i].shape) > element_count(g.nodes[largest].shape)) largest = i;
    }
    lesson_summary = g.nodes.empty()
                         ? g.source
                         : fmt::format("lesson {} ({} elements in all; the largest tensor, {}, has shape {})", g.source,
                                       total, g.nodes[largest].name, shape_str(g.nodes[largest].shape));
}

std::string out_of_memory_message() {
    if (lesson_summary.empty()) return "out of memory before a lesson was loaded";
    return fmt::format(
        "out of memory: {} is too large for the memory this machine gives bnstep; make it smaller "
        "(--set), or lower --max-memory so that it is refused before it runs",
        lesson_summary);
}

void route_output() { std::cout.rdbuf(&output); }

int finish_output(int code) {
    std::cout.flush();
    const int error = output.error();
    if (error == 0) return code;
    if (error == EPIPE) return 141;  // the reader went away (| head): as if SIGPIPE had ended bnstep
    report_error("error", fmt::format("cannot write output: {}", std::strerror(error)));
    return code == kOk ? kUsage : code;
}

}  // namespace bnstep::cli
