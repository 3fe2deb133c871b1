// The convolution kernels of src/engine/ops/conv_kernels.cpp on one realistic layer:
// x (8, 32, 56, 56) -> 64 channels, 3x3, padding 1 (an early ResNet/MobileNet
// stage), and the two halves of its depthwise separable replacement.
//
// Each benchmark reports FLOPS: floating-point operations per second, counting
// one multiply-add as 2 FLOP. The forward pass does N*K*(C/groups)*R*S*Ho*Wo
// multiply-adds; the input gradient and the weight gradient each do the same
// number again.
#include <benchmark/benchmark.h>

#include "bnstep/rng.hpp"
#include "bnstep/tensor.hpp"
#include "ops/conv_kernels.hpp"

namespace {

using bnstep::Shape;
using bnstep::Tensor;
using bnstep::ops::ConvGeometry;

struct Layer {
    ConvGeometry g;
    Tensor x, w, b, dout;

    double flops() const { return 2.0 * g.macs(); }
};

Tensor random(const Shape& s, std::uint64_t seed) {
    bnstep::Rng rng(seed);
    Tensor t(s);
    for (double& v : t.data()) v = rng.uniform(-1.0, 1.0);
    return t;
}

Layer make_layer(std::size_t k, std::size_t c_per_group, std::size_t kernel, std::size_t padding, std::size_t groups) {
    Layer l;
    ConvGeometry& g = l.g;
    g.n = 8, g.c = 32, g.h = 56, g.w = 56;
    g.k = k, g.r = kernel, g.s = kernel;
    g.padding = padding, g.groups = groups;
    g.ho = bnstep::ops::conv_out_size(g.h, g.r, g.stride, g.padding, g.dilation);
    g.wo = bnstep::ops::conv_out_size(g.w, g.s, g.stride, g.padding, g.dilation);
    l.x = random({g.n, g.c, g.h, g.w}, 1);
    l.w = random({g.k, c_per_group, g.r, g.s}, 2);
    l.b = random({g.k}, 3);
    l.dout = random({g.n, g.k, g.ho, g.wo}, 4);
    return l;
}

// Built once, on first use, so listing or filtering benchmarks costs nothing.
const Layer& standard() {
    static const Layer l = make_layer(64, 32, 3, 1, 1);  // w 64x32x3x3
    return l;
}
const Layer& depthwise() {
    static const Layer l = make_layer(32, 1, 3, 1, 32);  // w 32x1x3x3, groups 32
    return l;
}
const Layer& pointwise() {
    static const Layer l = make_layer(64, 32, 1, 0, 1);  // w 64x32x1x1
    return l;
}

using LayerFn = const Layer& (*)();

void set_counters(benchmark::State& state, const Layer& l, double passes) {
    state.counters["FLOPS"] = benchmark::Counter(passes * l.flops(), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
    state.counters["MFLOP"] = benchmark::Counter(passes * l.flops() * 1e-6);
}

void conv_forward(benchmark::State& state, LayerFn layer) {
    const Layer& l = layer();
    for (auto _ : state) {
        Tensor out = bnstep::ops::conv_forward(l.g, l.x, l.w, &l.b);
        benchmark::DoNotOptimize(out.data().data());
    }
    set_counters(state, l, 1);
}

void conv_input_grad(benchmark::State& state, LayerFn layer) {
    const Layer& l = layer();
    for (auto _ : state) {
        Tensor dx = bnstep::ops::conv_input_grad(l.g, l.dout, l.w);
        benchmark::DoNotOptimize(dx.data().data());
    }
    set_counters(state, l, 1);
}

void conv_weight_grad(benchmark::State& state, LayerFn layer) {
    const Layer& l = layer();
    for (auto _ : state) {
        Tensor dw = bnstep::ops::conv_weight_grad(l.g, l.dout, l.x);
        benchmark::DoNotOptimize(dw.data().data());
    }
    set_counters(state, l, 1);
}

// One training step of the layer: forward, then both gradients.
void conv_forward_backward(benchmark::State& state, LayerFn layer) {
    const Layer& l = layer();
    for (auto _ : state) {
        Tensor out = bnstep::ops::conv_forward(l.g, l.x, l.w, &l.b);
        Tensor dx = bnstep::ops::conv_input_grad(l.g, l.dout, l.w);
        Tensor dw = bnstep::ops::conv_weight_grad(l.g, l.dout, l.x);
        benchmark::DoNotOptimize(out.data().data());
        benchmark::DoNotOptimize(dx.data().data());
        benchmark::DoNotOptimize(dw.data().data());
    }
    set_counters(state, l, 3);
}

}  // namespace

// Wall time: the kernels share their loops between threads (BNSTEP_THREADS),
// and the CPU time Google Benchmark measures is the calling thread's only.
#define BNSTEP_CONV_BENCH(fn, layer) BENCHMARK_CAPTURE(fn, layer, layer)->Unit(benchmark::kMillisecond)->UseRealTime()

BNSTEP_CONV_BENCH(conv_forward, standard);
BNSTEP_CONV_BENCH(conv_input_grad, standard);
BNSTEP_CONV_BENCH(conv_weight_grad, standard);
BNSTEP_CONV_BENCH(conv_forward_backward, standard);
BNSTEP_CONV_BENCH(conv_forward, depthwise);
BNSTEP_CONV_BENCH(conv_input_grad, depthwise);
BNSTEP_CONV_BENCH(conv_weight_grad, depthwise);
BNSTEP_CONV_BENCH(conv_forward_backward, depthwise);
BNSTEP_CONV_BENCH(conv_forward, pointwise);
BNSTEP_CONV_BENCH(conv_input_grad, pointwise);
BNSTEP_CONV_BENCH(conv_weight_grad, pointwise);
BNSTEP_CONV_BENCH(conv_forward_backward, pointwise);
