// One random node of an op (random_graph_builder.hpp): per family, the
// shapes and attributes only. The values of the inputs come from the op
// table: Builder::make makes each input satisfy its domain and refuses a
// node whose inputs lie at a kink.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "random_graph_builder.hpp"

namespace bnstep::fuzz::detail {

std::optional<std::size_t> Builder::gen(const std::string& op) {
    const OpDef* def = ops_.find(op);
    if (!def) throw std::logic_error("generator bug: no op " + op);
    const std::string& family = def->family;
    if (family == "elementwise") return gen_elementwise(op);
    if (family == "reduce") return gen_reduce(op);
    if (family == "linalg") return gen_matmul();
    if (family == "norm") return gen_norm(op);
    if (family == "conv") return gen_conv();
    if (family == "pool") return gen_pool(op);
    if (family == "shape") return op == "concat" ? gen_concat() : gen_shape(op);
    if (family == "softmax" || family == "loss") return gen_softmax_loss(op);
    if (family == "quantization") return gen_quantization(op);
    if (family == "pruning") return gen_pruning(op);
    feature("unsupported op " + op);
    return std::nullopt;
}

std::optional<std::size_t> Builder::gen_elementwise(const std::string& op) {
    if (op == "add" || op == "sub" || op == "mul" || op == "div") {
        const std::size_t a = any();
        return op == "div" ? make(op, {a, partner(a)}) : binary(op, a, partner(a));
    }
    if (op == "pow") {
        const double p = choose<double>({2, 3, 0, 1, -1, 0.5, 1.5, -0.5, -2, 2.5});
        json attrs;
        if (p == std::floor(p) && chance(0.5))
            attrs["p"] = static_cast<long long>(p);
        else
            attrs["p"] = p;
        feature(fmt::format("pow p={}", p));
        return make("pow", {any()}, attrs);
    }
    if (op == "sqrt") {
        const std::size_t v = any();
        if (chance(0.4)) {
            const Shape s = shape(v);
            Shape p(s.begin() + static_cast<std::ptrdiff_t>(below(s.size() + 1)), s.end());
            for (auto& d : p)
                if (chance(0.5)) d = 1;
            feature("sqrt with eps");
            return make("sqrt", {v, In::fresh(p)});
        }
        return make("sqrt", {v});
    }
    if (op == "hardtanh" || op == "clip") {
        double lo = -1, hi = 1;
        if (op == "clip" || chance(0.5)) {
            lo = choose<double>({-2, -1, -0.5, -0.25, 0, 0.5});
            hi = lo + choose<double>({0.5, 1, 1.5, 2});
        }
        json attrs;
        if (op == "clip" || lo != -1 || chance(0.5)) attrs["min"] = lo;
        if (op == "clip" || hi != 1 || chance(0.5)) attrs["max"] = hi;
        return make(op, {any()}, attrs);
    }
    return make(op, {any()});  // neg, square, exp, log, reciprocal, relu
}

std::optional<std::size_t> Builder::gen_reduce(const std::string& op) {
    const std::size_t x = any_with_axes();
    const long long r = static_cast<long long>(shape(x).size());
    json attrs;
    put(attrs, "axis", between(-r, r - 1), 0);
    const bool keep = chance(0.4);
    if (keep || chance(0.3)) attrs["keepdims"] = keep;
    return make(op, {x}, attrs);
}

std::optional<std::size_t> Builder::gen_matmul() {
    const std::size_t cap = opt_.max_elements;
    if (chance(0.7)) {
        const std::size_t a = of_rank(2);
        const std::size_t k = shape(a)[1];
        auto b = pick([&](std::size_t j) { return shape(j).size() == 2 && shape(j)[0] == k; });
        const std::size_t bb = b && chance(0.5) ? *b : leaf({k, static_cast<std::size_t>(between(1, up_to(4, k)))});
        if (shape(a)[0] * shape(bb)[1] > cap) return std::nullopt;
        if (a == bb) feature("matmul A @ A");
        return make("matmul", {a, bb});
    }
    const std::size_t b = of_rank(2);
    const std::size_t k = shape(b)[0];
    auto a = pick([&](std::size_t j) { return shape(j).size() == 2 && shape(j)[1] == k; });
    const std::size_t aa = a && chance(0.5) ? *a : leaf({static_cast<std::size_t>(between(1, up_to(4, k))), k});
    if (shape(aa)[0] * shape(b)[1] > cap) return std::nullopt;
    return make("matmul", {aa, b});
}

namespace {

// Per channel (axis 1) variance of an (N, D) or (N, C, H, W) tensor, and the
// number of elements per channel.
std::pair<double, std::size_t> min_channel_variance(const Tensor& x) {
    const Shape& s = x.shape();
    const std::size_t channels = s[1];
    const std::size_t inner = s.size() == 4 ? s[2] * s[3] : 1;
    const std::size_t m = s[0] * inner;
    double lowest = std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < channels; ++c) {
        double sum = 0, sq = 0;
        for (std::size_t n = 0; n < s[0]; ++n)
            for (std::size_t e = 0; e < inner; ++e) sum += x[(n * channels + c) * inner + e];
        const double mu = sum / double(m);
        for (std::size_t n = 0; n < s[0]; ++n)
            for (std::size_t e = 0; e < inner; ++e) {
                const double d = x[(n * channels + c) * inner + e] - mu;
                sq += d * d;
            }
        lowest = std::min(lowest, sq / double(m));
    }
    return {lowest, m};
}

}  // namespace

std::optional<std::size_t> Builder::gen_norm(const std::string& op) {
    if (op == "running_mean" || op == "running_var") return gen_running_stat(op);
    const bool spatial = op == "batchnorm2d" || op == "batchnorm2d_inference";
    const std::size_t x = of_rank(spatial ? 4 : 2);
    const Shape d{shape(x)[1]};
    if (op.ends_with("_inference")) {  // the running statistics are buffers: constants, as the lessons give them
        const std::size_t mean = leaf(d, Range::Signed, "const"), var = leaf(d, Range::Positive, "const");
        json attrs;
        if (chance(0.5)) attrs["eps"] = choose<double>({1e-5, 1e-3, 0.1});
        return make(op, {x, mean, var, leaf(d), leaf(d)}, attrs);
    }
    const auto [var, m] = min_channel_variance(value(x));
    if (m > 1 && var < opt_.min_variance) return avoid("batchnorm with a tiny variance");
    if (m == 1) feature(op + " with one element per channel");
    auto affine = [&]() {
        if (auto i = pick([&](std::size_t j) { return shape(j) == d; }); i && chance(0.3)) return *i;
        return leaf(d, chance(0.5) ? Range::Signed : Range::Positive);
    };
    const std::size_t gamma = affine(), beta = affine();
    json attrs;
    if (chance(0.5)) attrs["eps"] = choose<double>({1e-5, 1e-3, 0.01, 0.1});
    return make(op, {x, gamma, beta}, attrs);
}

std::optional<std::size_t> Builder::gen_running_stat(const std::string& op) {
    // Only constants feed a running statistic: no gradient reaches its inputs.
    auto size = [&](long long lo, long long hi) { return static_cast<std::size_t>(between(lo, hi)); };
    const Shape xs =
        chance(0.5) ? Shape{size(2, 4), size(1, 3)} : Shape{size(1, 2), size(1, 3), size(1, 2), size(1, 3)};
    const std::size_t x = leaf(xs, Range::Signed, "const");
    if (op == "running_var" && min_channel_variance(value(x)).second < 2)
        return avoid("running_var of one element per channel");
    const Shape d{shape(x)[1]};
    json attrs;
    if (chance(0.5)) attrs["momentum"] = choose<double>({0.1, 0.5, 0.0, 1.0});
    return make(op, {x, leaf(d, op == "running_var" ? Range::Positive : Range::Signed, "const")}, attrs);
}

std::optional<std::size_t> Builder::gen_pool(const std::string& op) {
    const std::size_t x = of_rank(4);
    if (op == "global_avg_pool") return make(op, {x});
    const Shape s = shape(x);
    long long kernel = 1, padding = 0, stride = 0;
    for (int attempt = 0; attempt < 8; ++attempt) {
        kernel = between(1, 3);
        padding = chance(0.4) ? between(0, kernel / 2) : 0;
        stride = between(0, 2);
        if ((long long)s[2] + 2 * padding >= kernel && (long long)s[3] + 2 * padding >= kernel) break;
        kernel = 1, padding = 0;
    }
    // At the edge of what is legal: a window as large as the padded input,
    // padding up to half of it; and a stride far past the input.
    if (chance(0.15)) {
        padding = between(0, 2);
        kernel = (long long)std::min(s[2], s[3]) + 2 * padding;
        feature(op + " window spanning the padded input");
    }
    if (chance(0.1)) {
        stride = 1LL << between(20, 62);
        feature(op + " stride past the input");
    }
    const std::size_t step = static_cast<std::size_t>(stride == 0 ? kernel : stride);
    const std::size_t ho = (s[2] + 2 * padding - kernel) / step + 1, wo = (s[3] + 2 * padding - kernel) / step + 1;
    if (s[0] * s[1] * ho * wo > opt_.max_elements) return std::nullopt;  // padding 1, stride 1 can grow the image
    json attrs;
    attrs["kernel"] = kernel;
    put(attrs, "stride", stride, 0);
    put(attrs, "padding", padding, 0);
    auto made = make(op, {x}, attrs);
    if (made && padding > 0) feature(op + " padding");
    if (made && stride != 0 && stride != kernel) feature(op + " overlapping or gapped windows");
    return made;
}

std::optional<std::size_t> Builder::gen_softmax_loss(const std::string& op) {
    json attrs;
    auto temperature = [&] {
        if (!chance(0.4)) return;
        attrs["temperature"] = choose<double>({1, 0.5, 2, 4});
        feature(op + " temperature");
    };
    if (op == "softmax" || op == "log_softmax") {
        const std::size_t x = any_with_axes();
        const long long r = static_cast<long long>(shape(x).size());
        put(attrs, "axis", between(-r, r - 1), -1);
        temperature();
        return make(op, {x}, attrs);
    }
    if (op == "cross_entropy") {
        const bool batched = chance(0.7);
        const std::size_t logits = of_rank(batched ? 2 : 1);
        return make(op, {logits, In::fresh(batched ? Shape{shape(logits)[0]} : Shape{})});
    }
    if (op == "soft_cross_entropy") {
        const std::size_t logits = of_rank(chance(0.7) ? 2 : 1);
        temperature();
        return make(op, {logits, In::fresh(shape(logits))});
    }
    if (op == "kl_div") {
        std::size_t log_q = any_with_axes();
        if (chance(0.6)) {
            put(attrs, "axis", -1, -1);
            log_q = *make("log_softmax", {log_q}, attrs, true);
        }
        return make(op, {log_q, In::fresh(shape(log_q))});
    }
    // mse
    const std::size_t a = any();
    std::size_t b = a;
    if (chance(0.1))
        feature("mse of a node with itself");
    else if (auto i = pick([&](std::size_t j) { return j != a && shape(j) == shape(a); }); i && chance(0.6))
        b = *i;
    else
        b = leaf(shape(a));
    return chance(0.5) ? make(op, {a, b}) : make(op, {b, a});
}

std::optional<std::size_t> Builder::gen_quantization(const std::string& op) {
    const std::size_t x = op == "xnor_binarize" ? any_with_axes() : any();
    json attrs;
    if (op == "sign" || op == "xnor_binarize") {
        const bool hardtanh = op == "sign" ? chance(0.5) : chance(0.7);
        if (hardtanh != (op == "xnor_binarize") || chance(0.5)) attrs["ste"] = hardtanh ? "hardtanh" : "identity";
        auto made = make(op, {x}, attrs);
        if (made) feature(op + (hardtanh ? " ste hardtanh" : " ste identity"));
        return made;
    }
    if (op == "binarize_stochastic") {
        put(attrs, "seed", random_seed(), 1);
        return make(op, {x}, attrs);
    }
    if (op == "ternarize") {
        if (chance(0.5)) attrs["delta_factor"] = choose<double>({0.7, 0.5, 1.0, 0.0, 0.3});
        return make(op, {x}, attrs);
    }
    if (op == "quantize") {
        const long long bits = between(1, 8);
        const bool is_signed = chance(0.4);
        const long long qmin = is_signed ? -(1LL << (bits - 1)) : 0;
        const long long qmax = is_signed ? (1LL << (bits - 1)) - 1 : (1LL << bits) - 1;
        const long long zero_point = chance(0.5) ? std::clamp(0LL, qmin, qmax) : between(qmin, qmax);
        put(attrs, "bits", bits, 8);
        attrs["scale"] = choose<double>({0.01, 0.05, 0.1, 0.25, 0.5, 1.0 / 3});
        put(attrs, "zero_point", zero_point, 0);
        if (is_signed || chance(0.3)) attrs["signed"] = is_signed;
        auto made = make(op, {x}, attrs);
        if (made) feature(fmt::format("quantize {} bits{}", bits, is_signed ? " signed" : ""));
        if (made && zero_point != 0) feature("quantize zero_point");
        return made;
    }
    if (op == "kmeans_centroids" || op == "shared_weights") {
        const long long clusters = between(1, 5);
        put(attrs, "clusters", clusters, 4);
        if (chance(0.3)) attrs["iterations"] = between(1, 3);
        if (op == "kmeans_centroids") return make(op, {x}, attrs);
        if (chance(0.5)) return make(op, {x, In::fresh(Shape{static_cast<std::size_t>(clusters)})});
        const auto centroids = make("kmeans_centroids", {x}, attrs, true);
        if (!centroids) return std::nullopt;
        feature("shared_weights of its own k-means");
        return make(op, {x, *centroids});
    }
    // pow2_quantize
    const long long n1 = between(-2, 1), n2 = n1 - between(0, 3);
    attrs["n1"] = n1;
    attrs["n2"] = n2;
    if (chance(0.3)) return make(op, {x, In::fresh(shape(x))}, attrs);
    const double fraction = choose<double>({0.5, 0.25, 0.75, 0.0, 1.0});
    if (fraction != 0.5 || chance(0.5)) attrs["fraction"] = fraction;
    return make(op, {x}, attrs);
}

std::optional<std::size_t> Builder::gen_pruning(const std::string& op) {
    const std::size_t w = any();
    if (chance(0.3)) return make(op, {w, In::fresh(shape(w))});
    const double sparsity = choose<double>({0.5, 0.25, 0.75, 0.0, 1.0});
    json attrs;
    if (sparsity != 0.5 || chance(0.5)) attrs["sparsity"] = sparsity;
    return make(op, {w}, attrs);
}

}  // namespace bnstep::fuzz::detail
