#pragma once
// How bnstep asks glibc to allocate tensors, for bnstep and its benchmarks alike.

namespace bnstep {

// glibc maps every block of 128 KB or more afresh and unmaps it when it is
// freed, so the thousands of such tensors a gradient check makes are each
// faulted in page by page. Called once at start: blocks of up to 32 MB come
// from the heap, which is not trimmed, so a freed block is reused instead.
void keep_tensors_on_heap();

}  // namespace bnstep
