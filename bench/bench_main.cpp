// bnstep_bench: Google Benchmark's usual command line
// (--benchmark_filter=REGEX, --benchmark_repetitions=N, --benchmark_format=json, ...).
#include <benchmark/benchmark.h>

void register_lesson_benchmarks();

int main(int argc, char** argv) {
    register_lesson_benchmarks();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
