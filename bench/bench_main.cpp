// bnstep_bench: Google Benchmark's usual command line
// (--benchmark_filter=REGEX, --benchmark_repetitions=N, --benchmark_format=json, ...).
#include <benchmark/benchmark.h>
#include <malloc.h>

void register_lesson_benchmarks();
void register_gradcheck_benchmarks();

int main(int argc, char** argv) {
    // The allocator as bnstep sets it (src/cli/guard.cpp): tensors of 128 KB
    // and more from the heap, reused, rather than mapped afresh each time.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    register_lesson_benchmarks();
    register_gradcheck_benchmarks();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
