#pragma once
// Sharing a loop between the machine's cores, for the convolution kernels.
#include <cstddef>
#include <functional>
#include <string>

namespace bnstep {

// The most threads BNSTEP_THREADS may ask for.
inline constexpr std::size_t kMaxWorkers = 1024;

// How many threads a large loop may use: BNSTEP_THREADS when set to a whole
// number from 1 to kMaxWorkers, else the number of hardware threads.
std::size_t worker_count();

// What is wrong with BNSTEP_THREADS as set ("" when it is unset or right), so
// that a program can refuse a bad setting instead of ignoring it.
std::string worker_setting_problem();

// Calls body(begin, end) on contiguous ranges that cover [0, count) once each,
// one range per thread, when `flops` (the loop's arithmetic) pays for starting
// threads; else body(0, count) on the calling thread. The first exception a
// range throws is rethrown here once every thread has finished.
void parallel_ranges(std::size_t count, double flops, const std::function<void(std::size_t, std::size_t)>& body);

}  // namespace bnstep
