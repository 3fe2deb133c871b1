// check_gradients in process, in each mode, on the five cases bench/compare.py
// times against torch.autograd.gradcheck (full) and its fast_mode
// (directional): the lesson is loaded and run once, outside the timing, as
// PyTorch's inputs are made outside its timing. The mode and the case are
// in the name: gradcheck/<case>/<mode>; gradcheck/<case>/load_and_run times
// what check-gradients does before the check.
#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

#include "bnstep/executor.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"

namespace {

struct Case {
    std::string name;
    std::string lesson;  // a built-in lesson, or a path under bench/lessons/
    std::map<std::string, bnstep::Shape> shapes;
    std::vector<bnstep::GradcheckMode> modes;
};

std::vector<Case> cases() {
    using M = bnstep::GradcheckMode;
    const std::string dir = BNSTEP_BENCH_LESSONS;
    return {
        {"batchnorm_4x3", "batchnorm", {}, {M::Full, M::Directional}},
        {"batchnorm_64x256",
         dir + "/batchnorm-random.json",
         {{"x", {64, 256}}, {"gamma", {256}}, {"beta", {256}}},
         {M::Full, M::Directional}},
        {"conv2d_2x3x8x8", "conv2d", {{"x", {2, 3, 8, 8}}, {"w", {4, 3, 3, 3}}, {"b", {4}}}, {M::Full, M::Directional}},
        {"depthwise_2x8x8x8", dir + "/depthwise-conv.json", {}, {M::Full, M::Directional}},
    };
}

bnstep::Graph load(const Case& c) {
    bnstep::LessonOptions options;
    options.shapes = c.shapes;
    return bnstep::load_lesson(c.lesson, bnstep::builtin_ops(), options);
}

void check(benchmark::State& state, const Case& c, bnstep::GradcheckMode mode) {
    const bnstep::Graph g = load(c);
    const bnstep::Trace t = bnstep::run(g);
    bnstep::GradcheckOptions o;
    o.mode = mode;
    bool passed = true;
    for (auto _ : state) {
        const bnstep::GradcheckReport r = bnstep::check_gradients(g, t, o);
        passed = passed && r.passed();
        benchmark::DoNotOptimize(r.checks.data());
    }
    if (!passed) state.SkipWithError("the gradient check failed");
}

// What check-gradients does before the check: load the lesson and run it,
// keeping only what the check reads (TraceDetail::Gradients).
void load_and_run(benchmark::State& state, const Case& c) {
    for (auto _ : state) {
        const bnstep::Graph g = load(c);
        const bnstep::Trace t = bnstep::run(g, bnstep::TraceDetail::Gradients);
        benchmark::DoNotOptimize(t.nodes.data());
    }
}

// What a command costs before its work: the op table, parsing and running the
// batchnorm lesson (the work of `bnstep run batchnorm` minus the printing).
void startup_batchnorm(benchmark::State& state) {
    for (auto _ : state) {
        const bnstep::Graph g = bnstep::load_lesson("batchnorm");
        const bnstep::Trace t = bnstep::run(g);
        benchmark::DoNotOptimize(t.nodes.data());
    }
}

}  // namespace

void register_gradcheck_benchmarks() {
    for (const Case& c : cases()) {
        benchmark::RegisterBenchmark(("gradcheck/" + c.name + "/load_and_run").c_str(), load_and_run, c)
            ->Unit(benchmark::kMillisecond);
        for (bnstep::GradcheckMode mode : c.modes)
            benchmark::RegisterBenchmark(("gradcheck/" + c.name + "/" + bnstep::mode_name(mode)).c_str(), check, c,
                                         mode)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
    }
    benchmark::RegisterBenchmark("gradcheck/startup/load_and_run_batchnorm", startup_batchnorm)
        ->Unit(benchmark::kMicrosecond);
}
