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

// A table cell's count: grouped digits, or 3 significant digits when they are wider than the column.
std::string table_count(double v, std::size_t width) {
    std::string text = thousands_grouped(v);
    return text.size() <= width ? text : fmt::format("{:.3g}", v);
}

// A table cell's amount: one decimal, or 3 significant digits when wider than the column.
std::string table_amount(double v, std::size_t width) {
    std::string text = fmt::format("{:.1f}", v);
    return text.size() <= width ? text : fmt::format("{:.3g}", v);
}

// A name cut to `n` characters with "..." (at a UTF-8 character boundary), to keep a line within 80 columns.
std::string fitted_name(const std::string& s, std::size_t n) {
    if (s.size() <= n) return s;
    std::size_t cut = n - 3;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    return s.substr(0, cut) + "...";
}

std::string activation_shape_text(const ActivationShape& s) { return fmt::format("{}x{}x{}", s.c, s.h, s.w); }

std::string compression_ratio_text(double dense, double bits, const NumFmt& num) {
    return bits == 0 ? "-" : num(dense / bits) + "x";
}

void print_network_layer(std::ostream& os, const LayerCost& c, const PrintOptions& opt) {
    const std::size_t width = static_cast<std::size_t>(opt.width);
    os << fmt::format("{} ({})  {} -> {}\n", opt.style.node(fitted_name(c.name, 40)), c.type,
                      activation_shape_text(c.in), activation_shape_text(c.out));
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
    os << fmt::format("\n{:<11} {:>2} {:>2} {:>10} {:>8} {:>5} {:>8} {:>8} {:>8} {:>8}\n", "layer", "k", "b", "kept",
                      "fillers", "run", "dense", "pruned", "quant.", "Huffman");
    auto kb = [](double bits) { return table_amount(bits / 8e3, 8); };
    for (const LayerEstimate& l : e.layers)
        os << fmt::format("{:<11} {:>2} {:>2} {:>10} {:>8} {:>5.2f} {:>8} {:>8} {:>8} {:>8}\n", fitted_name(l.name, 11),
                          l.bits, l.index_bits, table_count(l.kept, 10), table_count(l.fillers, 8), l.run_average_bits,
                          kb(l.dense_bits), kb(l.pruned_bits), kb(l.quantized_bits), kb(l.huffman_bits));
    os << wrap(
        "k and b: bits per shared weight and per relative index; run: the average bits of a Huffman-coded "
        "relative index; the last four columns in kB.",
        width, "");
    os << '\n';
    auto stage = [&](const char* name, double bits) {
        os << wrap(fmt::format("{:<10} {}{}", name, megabytes(bits),
                               bits == e.dense_bits ? "" : "   " + compression_ratio_text(e.dense_bits, bits, opt.num)),
                   width, "    ", "               ");
    };
    stage("dense", e.dense_bits);
    stage("pruned", e.pruned_bits);
    stage("quantized", e.quantized_bits);
    stage("Huffman", e.huffman_bits);
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
    os << wrap(fmt::format("at 32 bits: {}*4 = {}", thousands_grouped(double(cost.params())),
                           megabytes(static_cast<double>(cost.params()) * kFloatBits)),
               width, "    ", "        ");
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
    os << fmt::format("{:<18} {:>12} {:>7} {:>7} {:>14} {:>8} {:>8}\n", "network", "parameters", "MB", "MiB",
                      "multiply-adds", "params", "madds");
    const NetworkCost& first = costs.front();
    for (const NetworkCost& c : costs) {
        const double bytes = static_cast<double>(c.params()) * 4;
        os << fmt::format("{:<18} {:>12} {:>7} {:>7} {:>14} {:>8} {:>8}\n", fitted_name(c.spec->name, 18),
                          table_count(double(c.params()), 12), table_amount(bytes / 1e6, 7),
                          table_amount(bytes / (1 << 20), 7), table_count(c.macs, 14),
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
