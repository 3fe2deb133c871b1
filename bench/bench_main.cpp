// bnstep_bench: Google Benchmark's usual command line
// (--benchmark_filter=REGEX, --benchmark_repetitions=N, --benchmark_format=json, ...).
#include <benchmark/benchmark.h>

#include "bnstep/heap.hpp"

void register_lesson_benchmarks();
void register_gradcheck_benchmarks();

int main(int argc, char** argv) {
    bnstep::keep_tensors_on_heap();  // as bnstep does, so the figures are bnstep's work
    register_lesson_benchmarks();
    register_gradcheck_benchmarks();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
