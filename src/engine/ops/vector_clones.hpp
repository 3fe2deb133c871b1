#pragma once
// The instruction sets the vector loops are compiled for. On x86-64 with GCC
// a loop marked BNSTEP_VECTOR_CLONES is also compiled for x86-64-v3 (AVX2 and
// FMA) and the version the CPU supports is picked at load time; elsewhere it
// is compiled once, for the baseline instruction set.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BNSTEP_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#define BNSTEP_VECTOR_CLONE_TARGET "x86-64-v3"
#define BNSTEP_VECTOR_CLONE_ISA "AVX2, FMA"
// Where BNSTEP_VECTOR_CLONES is used, for `bnstep --version`.
#define BNSTEP_VECTOR_CLONE_LOOPS "the depthwise convolution"
#else
#define BNSTEP_VECTOR_CLONES
#endif
