// Whole lessons in-process, as `bnstep run NAME` and `bnstep check-gradients
// NAME` do them minus the printing: parse and validate the embedded JSON,
// run forward and backward, and (for check_gradients) the centred
// differences over every element of every node that gets a gradient.
#include <benchmark/benchmark.h>

#include <string>

#include "bnstep/executor.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"

namespace {

void lesson_run(benchmark::State& state, std::string name) {
    for (auto _ : state) {
        const bnstep::Graph g = bnstep::load_lesson(name);
        const bnstep::Trace t = bnstep::run(g);
        benchmark::DoNotOptimize(t.nodes.data());
    }
}

void lesson_check_gradients(benchmark::State& state, std::string name) {
    bool passed = true;
    for (auto _ : state) {
        const bnstep::Graph g = bnstep::load_lesson(name);
        const bnstep::Trace t = bnstep::run(g);
        const bnstep::GradcheckReport r = bnstep::check_gradients(g, t, bnstep::GradcheckOptions{});
        passed = passed && r.passed();
        benchmark::DoNotOptimize(r.checks.data());
    }
    if (!passed) state.SkipWithError("the gradient check failed");
}

}  // namespace

// One pair of benchmarks per built-in lesson, so new lessons are timed too.
void register_lesson_benchmarks() {
    for (const bnstep::BuiltinLesson& lesson : bnstep::builtin_lessons()) {
        const std::string name(lesson.name);
        benchmark::RegisterBenchmark(("lesson_run/" + name).c_str(), lesson_run, name)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("lesson_check_gradients/" + name).c_str(), lesson_check_gradients, name)
            ->Unit(benchmark::kMicrosecond);
    }
}
