#pragma once
// Sharing a loop between the machine's cores, for the convolution kernels.
#include <cstddef>
#include <functional>

namespace bnstep {

// How many threads a large loop may use: BNSTEP_THREADS when set to a number
// of at least 1, else the number of hardware threads.
std::size_t worker_count();

// Calls body(begin, end) on contiguous ranges that cover [0, count) once each,
// one range per thread, when `flops` (the loop's arithmetic) pays for starting
// threads; else body(0, count) on the calling thread. The first exception a
// range throws is rethrown here once every thread has finished.
void parallel_ranges(std::size_t count, double flops, const std::function<void(std::size_t, std::size_t)>& body);

}  // namespace bnstep
