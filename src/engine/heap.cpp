#include "bnstep/heap.hpp"

#include <malloc.h>

namespace bnstep {

void keep_tensors_on_heap() {
    constexpr int kHeapBlockLimit = 32 << 20;
    mallopt(M_MMAP_THRESHOLD, kHeapBlockLimit);
    mallopt(M_TRIM_THRESHOLD, 16 * kHeapBlockLimit);
}

}  // namespace bnstep
