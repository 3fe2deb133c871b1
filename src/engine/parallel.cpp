#include "bnstep/parallel.hpp"

#include "bnstep/visible.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <thread>
#include <vector>

namespace bnstep {
namespace {

// Starting and joining a thread costs some tens of microseconds; below about
// a millisecond of arithmetic on one core the loop stays on the calling thread.
constexpr double kMinFlopsPerThread = 4e6;

// BNSTEP_THREADS as a whole number from 1 to kMaxWorkers, or 0.
std::size_t threads_set() {
    const char* v = std::getenv("BNSTEP_THREADS");
    if (v == nullptr || *v < '0' || *v > '9') return 0;
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > kMaxWorkers) return 0;
    return static_cast<std::size_t>(n);
}

std::size_t threads_from_environment() {
    if (const std::size_t n = threads_set()) return n;
    return std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, kMaxWorkers);
}

}  // namespace

std::string worker_setting_problem() {
    const char* v = std::getenv("BNSTEP_THREADS");
    if (v == nullptr || *v == '\0' || threads_set() != 0) return "";
    return "BNSTEP_THREADS must be a whole number from 1 to " + std::to_string(kMaxWorkers) + ", got '" + visible(v) +
           "'";
}

std::size_t worker_count() {
    static const std::size_t n = threads_from_environment();
    return n;
}

void parallel_ranges(std::size_t count, double flops, const std::function<void(std::size_t, std::size_t)>& body) {
    const auto by_work = static_cast<std::size_t>(std::max(1.0, flops / kMinFlopsPerThread));
    const std::size_t threads = std::min({worker_count(), count, by_work});
    if (threads <= 1) {
        if (count > 0) body(0, count);
        return;
    }
    std::vector<std::exception_ptr> errors(threads);
    auto run = [&](std::size_t t) {
        try {
            body(count * t / threads, count * (t + 1) / threads);
        } catch (...) {
            errors[t] = std::current_exception();
        }
    };
    std::vector<std::thread> helpers;
    helpers.reserve(threads - 1);
    for (std::size_t t = 1; t < threads; ++t) helpers.emplace_back(run, t);
    run(0);
    for (std::thread& h : helpers) h.join();
    for (const std::exception_ptr& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace bnstep
