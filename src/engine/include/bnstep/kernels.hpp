#pragma once
// Which instruction sets the numeric kernels were compiled for, and which one
// this CPU runs, for `bnstep --version` and bug reports.
#include <string>
#include <vector>

namespace bnstep {

struct KernelBuild {
    std::string baseline;             // every loop: "x86-64 (SSE2)", "x86-64-v3 (AVX2, FMA)", "aarch64 (NEON)"...
    std::vector<std::string> clones;  // also compiled for these, picked at load time: {"x86-64-v3 (AVX2, FMA)"}
    std::string cloned_loops;         // which loops have clones: "the depthwise convolution"
    std::string in_use;               // what this CPU runs of them: a clone it supports, else the baseline
};

KernelBuild kernel_build();

}  // namespace bnstep
