// `bnstep cost`: a network's parameters and multiply-adds from its shapes,
// what Deep Compression would leave of it, and several networks side by side.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <ostream>

#include "bnstep/print_compression.hpp"
#include "bnstep/storage.hpp"
#include "bnstep/version.hpp"

namespace bnstep {
namespace {

// 138357544 -> "138,357,544"; beyond 2^53, where a double no longer holds every whole
// number, 15 significant digits: 4.000004000001e+24. Never "-0".
std::string thousands_grouped(double v) {
    if (std::fabs(v) >= 0x1p53) return fmt::format("{:.15g}", v);
    std::string digits = fmt::format("{:.0f}", v);
    if (digits == "-0") digits = "0";
    const std::size_t first = digits[0] == '-' ? 1 : 0;
    for (std::size_t i = digits.size(); i > first + 3; i -= 3) digits.insert(i - 3, ",");
    return digits;
}

// One decimal, "72000.0"; 15 significant digits when a decimal would pretend to more.
std::string one_decimal(double v) {
    return std::fabs(v) >= 1e14 ? fmt::format("{:.15g}", v) : fmt::format("{:.1f}", v);
}

std::string activation_shape_text(const ActivationShape& s) { return fmt::format("{}x{}x{}", s.c, s.h, s.w); }

std::string compression_ratio_text(double dense, double bits, const NumFmt& num) {
    return bits == 0 ? "-" : num(dense / bits) + "x";
}

void print_network_layer(std::ostream& os, const LayerCost& c, const PrintOptions& opt) {
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << fmt::format("{} ({})  {} -> {}\n", opt.style.node(c.name), c.type, activation_shape_text(c.in),
                      activation_shape_text(c.out));
    if (!c.params_formula.empty())
        os << wrap(
            fmt::format("parameters     {} = {}", thousands_grouped(static_cast<double>(c.params())), c.params_formula),
            width, "    ", "                   ");
    if (!c.macs_formula.empty())
        os << wrap(fmt::format("multiply-adds  {} = {}", thousands_grouped(c.macs), c.macs_formula), width, "    ",
                   "                   ");
}

void print_compression_estimate(std::ostream& os, const CompressionEstimate& e, const NetworkSpec& spec,
                                const PrintOptions& opt) {
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << '\n' << opt.style.heading("DEEP COMPRESSION, estimated from the shapes") << '\n';
    os << wrap(fmt::format("{}% of each layer's weights pruned, the kept ones spread at random (so the runs of zeros "
                           "between them are geometric); relative indices and shared weights in the bits below; the "
                           "relative indices Huffman coded from their expected counts (the weight indices stay at k "
                           "bits: their counts depend on the weights); biases and batch norm stay 32-bit.",
                           opt.num(100 * e.pruned)),
               width, "");
    os << fmt::format("\n{:<20} {:>2} {:>2} {:>12} {:>9} {:>8} {:>10} {:>10} {:>10} {:>10}\n", "layer", "k", "b",
                      "kept", "fillers", "run bits", "dense kB", "pruned kB", "quant. kB", "Huffman kB");
    auto kb = [](double bits) { return one_decimal(bits / 8e3); };
    for (const LayerEstimate& l : e.layers)
        os << fmt::format("{:<20} {:>2} {:>2} {:>12} {:>9} {:>8.3f} {:>10} {:>10} {:>10} {:>10}\n", l.name, l.bits,
                          l.index_bits, thousands_grouped(l.kept), thousands_grouped(l.fillers), l.run_average_bits,
                          kb(l.dense_bits), kb(l.pruned_bits), kb(l.quantized_bits), kb(l.huffman_bits));
    os << '\n';
    os << fmt::format("    dense      {}\n", megabytes(e.dense_bits));
    os << fmt::format("    pruned     {}   {}\n", megabytes(e.pruned_bits),
                      compression_ratio_text(e.dense_bits, e.pruned_bits, opt.num));
    os << fmt::format("    quantized  {}   {}\n", megabytes(e.quantized_bits),
                      compression_ratio_text(e.dense_bits, e.quantized_bits, opt.num));
    os << fmt::format("    Huffman    {}   {}\n", megabytes(e.huffman_bits),
                      compression_ratio_text(e.dense_bits, e.huffman_bits, opt.num));
    if (spec.compression)
        os << wrap(fmt::format("The paper's figure, for comparison: {}.", spec.compression->paper), width, "");
}

}  // namespace

std::string megabytes(double bits) {
    const double bytes = bits / 8;
    if (bytes < 1e6)
        return fmt::format("{} bytes = {} kB ({} KiB)", thousands_grouped(bytes), one_decimal(bytes / 1e3),
                           one_decimal(bytes / 1024));
    return fmt::format("{} bytes = {} MB ({} MiB)", thousands_grouped(bytes), one_decimal(bytes / 1e6),
                       one_decimal(bytes / (1 << 20)));
}

void print_network_text(std::ostream& os, const NetworkCost& cost, const std::optional<CompressionEstimate>& estimate,
                        const PrintOptions& opt) {
    const NetworkSpec& spec = *cost.spec;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << opt.style.heading(fmt::format("{}: {}", spec.name, spec.title)) << '\n';
    if (!spec.description.empty()) os << wrap(spec.description, width, "");
    os << '\n'
       << wrap(fmt::format("input {}x{}x{} (channels x height x width); K output channels, C input channels, g "
                           "groups, R*S the kernel, H'*W' the output",
                           spec.channels, spec.height, spec.width),
               width, "")
       << '\n';
    for (const LayerCost& c : cost.layers) print_network_layer(os, c, opt);
    os << '\n' << opt.style.heading("TOTAL") << '\n';
    os << wrap(
        fmt::format("{} parameters ({} weights + {} biases{}), {} multiply-adds",
                    thousands_grouped(double(cost.params())), thousands_grouped(double(cost.weights)),
                    thousands_grouped(double(cost.biases)),
                    spec.layers.end() != std::find_if(spec.layers.begin(), spec.layers.end(),
                                                      [](const LayerSpec& l) { return l.kind == LayerKind::BatchNorm; })
                        ? " and batch norm's gamma and beta"
                        : "",
                    thousands_grouped(cost.macs)),
        width, "    ", "        ");
    os << fmt::format("    at 32 bits: {}*4 = {}\n", thousands_grouped(double(cost.params())),
                      megabytes(static_cast<double>(cost.params()) * kFloatBits));
    if (spec.published_parameters)
        os << wrap(
            fmt::format("published: {} ({}): {}", thousands_grouped(double(*spec.published_parameters)),
                        spec.published_source, *spec.published_parameters == cost.params() ? "the same" : "DIFFERENT"),
            width, "    ", "        ");
    if (estimate)
        print_compression_estimate(os, *estimate, spec, opt);
    else
        os << '\n' << wrap("Give --sparsity to estimate what Deep Compression would leave of it.", width, "");
}

void print_networks_summary(std::ostream& os, const std::vector<NetworkCost>& costs, const PrintOptions& opt) {
    os << opt.style.heading("Parameters and multiply-adds from the layer shapes, 32-bit weights") << "\n\n";
    os << fmt::format("{:<20} {:>13} {:>9} {:>9} {:>16} {:>8} {:>8}\n", "network", "parameters", "MB", "MiB",
                      "multiply-adds", "params", "madds");
    const NetworkCost& first = costs.front();
    for (const NetworkCost& c : costs) {
        const double bytes = static_cast<double>(c.params()) * 4;
        os << fmt::format("{:<20} {:>13} {:>9.1f} {:>9.1f} {:>16} {:>8} {:>8}\n", c.spec->name,
                          thousands_grouped(double(c.params())), bytes / 1e6, bytes / (1 << 20),
                          thousands_grouped(c.macs),
                          compression_ratio_text(double(c.params()), double(first.params()), opt.num),
                          compression_ratio_text(c.macs, first.macs, opt.num));
    }
    os << wrap(fmt::format("The last two columns: each network against the first ({}). MB = 10^6 bytes, MiB = 2^20.",
                           first.spec->name),
               static_cast<std::size_t>(opt.width), "");
}

nlohmann::json network_json(const NetworkCost& cost, const std::optional<CompressionEstimate>& estimate) {
    using json = nlohmann::json;
    const NetworkSpec& spec = *cost.spec;
    auto shape = [](const ActivationShape& s) { return json::array({s.c, s.h, s.w}); };
    json layers = json::array();
    for (const LayerCost& c : cost.layers)
        layers.push_back({{"name", c.name},
                          {"type", c.type},
                          {"input", shape(c.in)},
                          {"output", shape(c.out)},
                          {"weights", c.weights},
                          {"biases", c.biases},
                          {"parameters", c.params()},
                          {"parameters_formula", c.params_formula},
                          {"macs", c.macs},
                          {"macs_formula", c.macs_formula}});
    json j = {{"bnstep", kVersion},
              {"command", "cost"},
              {"network", spec.name},
              {"title", spec.title},
              {"input", json::array({spec.channels, spec.height, spec.width})},
              {"layers", layers},
              {"weights", cost.weights},
              {"biases", cost.biases},
              {"parameters", cost.params()},
              {"macs", cost.macs},
              {"bytes", static_cast<double>(cost.params()) * 4},
              {"published_parameters", spec.published_parameters ? json(*spec.published_parameters) : json(nullptr)}};
    if (!estimate) return j;
    json rows = json::array();
    for (const LayerEstimate& l : estimate->layers)
        rows.push_back({{"name", l.name},
                        {"bits", l.bits},
                        {"index_bits", l.index_bits},
                        {"kept", l.kept},
                        {"fillers", l.fillers},
                        {"run_average_bits", l.run_average_bits},
                        {"dense_bits", l.dense_bits},
                        {"pruned_bits", l.pruned_bits},
                        {"quantized_bits", l.quantized_bits},
                        {"huffman_bits", l.huffman_bits}});
    j["deep_compression"] = {{"pruned", estimate->pruned},
                             {"layers", rows},
                             {"dense_bits", estimate->dense_bits},
                             {"pruned_bits", estimate->pruned_bits},
                             {"quantized_bits", estimate->quantized_bits},
                             {"huffman_bits", estimate->huffman_bits},
                             {"paper", spec.compression ? json(spec.compression->paper) : json(nullptr)}};
    return j;
}

}  // namespace bnstep
