#include "bnstep/kernels.hpp"

#include "ops/vector_clones.hpp"

namespace bnstep {

namespace {

std::string baseline_instructions() {
#if defined(__x86_64__) && defined(__AVX512F__)
    return "x86-64-v4 (AVX-512)";
#elif defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
    return "x86-64-v3 (AVX2, FMA)";
#elif defined(__x86_64__) && defined(__SSE4_2__)
    return "x86-64-v2 (SSE4.2)";
#elif defined(__x86_64__)
    return "x86-64 (SSE2)";
#elif defined(__aarch64__)
    return "aarch64 (NEON)";
#else
    return "the compiler's default";
#endif
}

}  // namespace

KernelBuild kernel_build() {
    KernelBuild k;
    k.baseline = baseline_instructions();
    k.in_use = k.baseline;
#ifdef BNSTEP_VECTOR_CLONE_TARGET
    const std::string clone = BNSTEP_VECTOR_CLONE_TARGET " (" BNSTEP_VECTOR_CLONE_ISA ")";
    k.clones.push_back(clone);
    k.cloned_loops = BNSTEP_VECTOR_CLONE_LOOPS;
    __builtin_cpu_init();
    if (__builtin_cpu_supports(BNSTEP_VECTOR_CLONE_TARGET)) k.in_use = clone;
#endif
    return k;
}

}  // namespace bnstep
