#include <cmath>
#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/huffman.hpp"
#include "bnstep/network.hpp"
#include "bnstep/storage.hpp"

namespace bnstep {
namespace {

struct LayerShaper {
    const NetworkSpec& spec;
    const LayerSpec& layer;

    [[noreturn]] void fail(const std::string& what) const {
        throw LessonError(fmt::format("{}: {}: layer '{}': {}", spec.source, layer.where, layer.name, what));
    }
    std::size_t product(std::initializer_list<std::size_t> factors, const char* what) const {
        std::size_t p = 1;
        for (std::size_t f : factors)
            if (__builtin_mul_overflow(p, f, &p)) fail(fmt::format("its {} do not fit in 64 bits", what));
        return p;
    }
    // floor((n + 2p - k) / s) + 1, or PyTorch's ceil mode: rounded up, but the last
    // window must start inside the input or its left padding.
    std::size_t out_size(std::size_t n, std::size_t k, std::size_t s, std::size_t p, bool ceil_mode) const {
        if (n + 2 * p < k) fail(fmt::format("the kernel ({}) is larger than the padded input ({} + 2*{})", k, n, p));
        std::size_t out = (n + 2 * p - k + (ceil_mode ? s - 1 : 0)) / s + 1;
        if (ceil_mode && (out - 1) * s >= n + p) --out;
        return out;
    }
};

LayerCost conv_cost_row(const LayerShaper& sh, std::string name, ActivationShape in, std::size_t k, std::size_t r,
                        std::size_t stride, std::size_t pad, std::size_t groups, bool bias) {
    if (in.c % groups != 0 || k % groups != 0)
        sh.fail(fmt::format("groups ({}) must divide the input channels ({}) and the output channels ({})", groups,
                            in.c, k));
    LayerCost c{.name = std::move(name),
                .type = groups == 1      ? "conv"
                        : groups == in.c ? "depthwise conv"
                                         : "grouped conv",
                .in = in};
    c.out = {k, sh.out_size(in.h, r, stride, pad, false), sh.out_size(in.w, r, stride, pad, false)};
    const std::size_t per_group = in.c / groups;
    c.weights = sh.product({k, per_group, r, r}, "weights");
    c.biases = bias ? k : 0;
    const std::string c_term = groups == 1 ? "C" : "(C/g)";
    const std::string c_num = groups == 1 ? fmt::format("{}", in.c) : fmt::format("({}/{})", in.c, groups);
    c.params_formula = fmt::format("K*{}*R*S{} = {}*{}*{}*{}{}", c_term, bias ? " + K" : "", k, c_num, r, r,
                                   bias ? fmt::format(" + {}", k) : "");
    c.macs = static_cast<double>(c.weights) * static_cast<double>(c.out.h) * static_cast<double>(c.out.w);
    c.macs_formula = fmt::format("K*{}*R*S*H'*W' = {}*{}*{}*{}*{}*{}", c_term, k, c_num, r, r, c.out.h, c.out.w);
    return c;
}

LayerCost linear_cost_row(const LayerShaper& sh, const LayerSpec& l, ActivationShape in) {
    LayerCost c{.name = l.name, .type = "linear", .in = in, .out = {l.out, 1, 1}, .fully_connected = true};
    const std::size_t features = sh.product({in.c, in.h, in.w}, "input features");
    c.weights = sh.product({features, l.out}, "weights");
    c.biases = l.bias ? l.out : 0;
    const std::string n_in = in.h * in.w == 1 ? fmt::format("{}", in.c) : fmt::format("({}*{}*{})", in.c, in.h, in.w);
    c.params_formula = fmt::format("in*out{} = {}*{}{}", l.bias ? " + out" : "", n_in, l.out,
                                   l.bias ? fmt::format(" + {}", l.out) : "");
    c.macs = static_cast<double>(c.weights);
    c.macs_formula = fmt::format("in*out = {}*{}", n_in, l.out);
    return c;
}

LayerCost pool_cost_row(const LayerShaper& sh, const LayerSpec& l, ActivationShape in) {
    LayerCost c{.name = l.name, .in = in};
    if (l.kind == LayerKind::GlobalAvgPool) {
        c.type = "global avgpool";
        c.out = {in.c, 1, 1};
        return c;
    }
    c.type = l.kind == LayerKind::MaxPool ? "maxpool" : "avgpool";
    c.out = {in.c, sh.out_size(in.h, l.kernel, l.stride, l.padding, l.ceil_mode),
             sh.out_size(in.w, l.kernel, l.stride, l.padding, l.ceil_mode)};
    return c;
}

LayerCost batchnorm_cost_row(const LayerShaper& sh, const LayerSpec& l, ActivationShape in) {
    LayerCost c{.name = l.name, .type = "batchnorm", .in = in, .out = in};
    c.biases = 2 * in.c;
    c.params_formula = fmt::format("2*C = 2*{} (gamma and beta; the running mean and variance are buffers)", in.c);
    c.macs = static_cast<double>(sh.product({in.c, in.h, in.w}, "elements"));
    c.macs_formula = fmt::format("C*H*W = {}*{}*{}", in.c, in.h, in.w);
    return c;
}

void add_layer_costs(NetworkCost& cost, const LayerShaper& sh, ActivationShape& at) {
    const LayerSpec& l = sh.layer;
    switch (l.kind) {
        case LayerKind::Conv:
            cost.layers.push_back(
                conv_cost_row(sh, l.name, at, l.out, l.kernel, l.stride, l.padding, l.groups, l.bias));
            break;
        case LayerKind::Linear: cost.layers.push_back(linear_cost_row(sh, l, at)); break;
        case LayerKind::BatchNorm: cost.layers.push_back(batchnorm_cost_row(sh, l, at)); break;
        case LayerKind::Fire: {
            const LayerCost s = conv_cost_row(sh, l.name + "/squeeze1x1", at, l.squeeze, 1, 1, 0, 1, true);
            cost.layers.push_back(s);
            cost.layers.push_back(conv_cost_row(sh, l.name + "/expand1x1", s.out, l.expand1x1, 1, 1, 0, 1, true));
            cost.layers.push_back(conv_cost_row(sh, l.name + "/expand3x3", s.out, l.expand3x3, 3, 1, 1, 1, true));
            const ActivationShape e3 = cost.layers.back().out;
            cost.layers.push_back({.name = l.name + "/concat",
                                   .type = "concat",
                                   .in = e3,
                                   .out = {l.expand1x1 + l.expand3x3, e3.h, e3.w}});
            break;
        }
        default: cost.layers.push_back(pool_cost_row(sh, l, at)); break;
    }
    at = cost.layers.back().out;
}

}  // namespace

NetworkCost network_cost(const NetworkSpec& spec) {
    NetworkCost cost{.spec = &spec};
    ActivationShape at{spec.channels, spec.height, spec.width};
    for (const LayerSpec& l : spec.layers) add_layer_costs(cost, LayerShaper{spec, l}, at);
    for (const LayerCost& c : cost.layers) {
        if (__builtin_add_overflow(cost.weights, c.weights, &cost.weights) ||
            __builtin_add_overflow(cost.biases, c.biases, &cost.biases))
            throw LessonError(fmt::format("{}: the network has more than 2^64 parameters", spec.source));
        cost.macs += c.macs;
    }
    if (std::size_t total = 0; __builtin_add_overflow(cost.weights, cost.biases, &total))
        throw LessonError(fmt::format("{}: the network has more than 2^64 parameters", spec.source));
    return cost;
}

std::vector<double> expected_run_counts(double kept, int index_bits) {
    const std::size_t symbols = std::size_t{1} << index_bits;
    const double q = std::pow(1 - kept, static_cast<double>(symbols));  // a run of 2^b zeros or more
    std::vector<double> counts(symbols);
    for (std::size_t s = 0; s < symbols; ++s) counts[s] = kept * std::pow(1 - kept, static_cast<double>(s)) / (1 - q);
    counts.back() += q / (1 - q);
    return counts;
}

CompressionEstimate estimate_compression(const NetworkCost& cost, const EstimateOptions& options) {
    CompressionEstimate e{.pruned = options.pruned};
    const double p = 1 - options.pruned;
    for (const LayerCost& c : cost.layers) {
        const double biases = static_cast<double>(c.biases) * kFloatBits;
        e.dense_bits += (static_cast<double>(c.weights) * kFloatBits) + biases;
        if (c.weights == 0) {
            e.pruned_bits += biases;
            e.quantized_bits += biases;
            e.huffman_bits += biases;
            continue;
        }
        LayerEstimate l{.name = c.name};
        l.bits = options.bits.value_or(c.fully_connected ? 5 : 8);
        l.index_bits = options.index_bits.value_or(c.fully_connected ? 5 : 8);
        const std::vector<double> runs = expected_run_counts(p, l.index_bits);
        const HuffmanCode code = huffman_code(runs);
        l.kept = p * static_cast<double>(c.weights);
        const double entries = l.kept * code.total_count;
        l.fillers = entries - l.kept;
        l.run_average_bits = code.average_bits();
        const double codebook = std::ldexp(1.0, l.bits) * kFloatBits;
        l.dense_bits = (static_cast<double>(c.weights) * kFloatBits) + biases;
        l.pruned_bits = (entries * (kFloatBits + l.index_bits)) + biases;
        l.quantized_bits = codebook + (entries * (l.bits + l.index_bits)) + biases;
        l.huffman_bits = codebook + (entries * (l.bits + l.run_average_bits)) + biases;
        e.pruned_bits += l.pruned_bits;
        e.quantized_bits += l.quantized_bits;
        e.huffman_bits += l.huffman_bits;
        e.layers.push_back(l);
    }
    return e;
}

}  // namespace bnstep
