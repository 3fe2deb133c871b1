// `bnstep compress`: Deep Compression's stages on one layer, as text and JSON.
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <ostream>

#include "bnstep/variant.hpp"
#include "bnstep/print_compression.hpp"
#include "bnstep/version.hpp"

namespace bnstep {
namespace {

std::string storage_bits_text(double bits) { return fmt::format("{:.0f}", bits); }

// The first kShownSparseEntries entries: enough to follow the rule, short for a large layer.
constexpr std::size_t kShownSparseEntries = 100;

void print_sparse_entries(std::ostream& os, const CompressionReport& r, std::size_t width) {
    std::string line;
    for (std::size_t i = 0; i < r.entries.size() && i < kShownSparseEntries; ++i) {
        const SparseEntry& e = r.entries[i];
        if (!line.empty()) line += ", ";
        line += fmt::format("{}:{}{}", e.position, e.run, e.filler ? " (filler)" : "");
    }
    if (r.entries.size() > kShownSparseEntries)
        line += fmt::format(" ... and {} more (--format json lists them all)", r.entries.size() - kShownSparseEntries);
    os << wrap("entries as position:run  " + line, width, "    ", "      ");
}

void print_huffman_table(std::ostream& os, const HuffmanCode& code, const std::string& what,
                         const std::vector<double>& values, const NumFmt& num) {
    os << fmt::format("    {:>6}  {:>10}  {:>6}  {:<12} {:>6}\n", what, values.empty() ? "" : "centroid", "count",
                      "code word", "bits");
    for (const HuffmanSymbol& s : code.symbols)
        os << fmt::format("    {:>6}  {:>10}  {:>6.0f}  {:<12} {:>6}\n", s.symbol,
                          values.empty() ? "" : num(values[s.symbol]), s.count, s.code, s.length);
    os << fmt::format("    average {:.4f} bits = {:.0f} / {:.0f}\n", code.average_bits(), code.total_bits,
                      code.total_count);
}

void print_storage_stage(std::ostream& os, const StorageStage& s, const NumFmt& num) {
    os << fmt::format("    {:<10} {:>10} bits = {:<28} ratio {}\n", s.name, storage_bits_text(s.bits), s.formula,
                      s.bits == 0 ? "-" : num(s.ratio));
}

}  // namespace

void print_compress_text(std::ostream& os, const LessonCompression& c, const PrintOptions& opt) {
    const Graph& g = *c.graph;
    const CompressionReport& r = c.report;
    const std::size_t width = static_cast<std::size_t>(opt.width);
    const Style& s = opt.style;
    const int k = r.options.bits, b = r.options.index_bits;
    os << s.heading(fmt::format("Deep Compression of {} in lesson {}{}", g.nodes[c.leaf].name, g.name, variant_suffix(g))) << '\n';
    os << wrap(fmt::format("{} weights; {} bits per shared weight and {} bits per relative index (the paper's "
                           "defaults: 8 and 8 for a convolution's weights, 5 and 5 for a fully connected layer's; "
                           "these are read by {}){}.",
                           r.weights.size(), k, b, c.layer_kind,
                           c.prune_node ? fmt::format(", pruned by node {}", g.nodes[*c.prune_node].name)
                           : c.sparsity ? fmt::format(", pruned by magnitude (--sparsity {})", *c.sparsity)
                                        : ", not pruned"),
               width, "");
    os << '\n' << s.heading("1. Dense") << '\n';
    print_storage_stage(os, r.stages[0], opt.num);
    os << '\n' << s.heading("2. Pruned: sparse entries with relative indices") << '\n';
    os << wrap(fmt::format("{} nonzero weights kept of {}. Each entry stores the run of zeros before it in {} bits "
                           "(at most {}); a longer run gets a filler zero after {} zeros: {} filler{}.",
                           r.kept.size(), r.weights.size(), b, (1 << b) - 1, (1 << b) - 1, r.fillers,
                           r.fillers == 1 ? "" : "s"),
               width, "    ", "    ");
    print_sparse_entries(os, r, width);
    print_storage_stage(os, r.stages[1], opt.num);
    os << '\n' << s.heading(fmt::format("3. Quantized: weight sharing, 2^{} = {} centroids", k, 1 << k)) << '\n';
    os << wrap(fmt::format("k-means from centroids spaced linearly over [min, max] of the kept weights{}; "
                           "{} iteration{} {}. Squared error sum (w - c)^2 = {}.",
                           r.codebook.zero_centroid ? " (centroid 0 pinned at 0 for the fillers)" : "",
                           r.codebook.iterations, r.codebook.iterations == 1 ? "" : "s",
                           r.codebook.converged ? "until no weight changed cluster"
                                                : "(the cap): stopped before k-means converged",
                           opt.num(r.squared_error)),
               width, "    ", "    ");
    print_storage_stage(os, r.stages[2], opt.num);
    os << '\n' << s.heading("4. Huffman coding of the weight indices and of the relative indices") << '\n';
    print_huffman_table(os, r.weight_code, "index", r.codebook.centroids, opt.num);
    os << '\n';
    print_huffman_table(os, r.run_code, "run", {}, opt.num);
    print_storage_stage(os, r.stages[3], opt.num);
    os << '\n' << s.heading("SUMMARY") << '\n';
    for (const StorageStage& st : r.stages) print_storage_stage(os, st, opt.num);
    const double codebook = std::ldexp(1.0, k) * kFloatBits;
    os << wrap(fmt::format("The code tables themselves are not counted, as in the paper. The codebook, 2^{}*{} = {} "
                           "bits, is {}% of the quantized layer: a share that vanishes in a layer of millions of "
                           "weights.",
                           k, kFloatBits, storage_bits_text(codebook), opt.num(100 * codebook / r.stages[2].bits)),
               width, "");
}

nlohmann::json compress_json(const LessonCompression& c) {
    using json = nlohmann::json;
    const CompressionReport& r = c.report;
    auto code_json = [](const HuffmanCode& code) {
        json symbols = json::array();
        for (const HuffmanSymbol& s : code.symbols)
            symbols.push_back({{"symbol", s.symbol}, {"count", s.count}, {"code", s.code}, {"length", s.length}});
        return json{{"symbols", symbols}, {"total_bits", code.total_bits}, {"average_bits", code.average_bits()}};
    };
    json entries = json::array();
    for (const SparseEntry& e : r.entries)
        entries.push_back(
            {{"position", e.position}, {"run", e.run}, {"filler", e.filler}, {"value", r.weights[e.position]}});
    json stages = json::array();
    for (const StorageStage& s : r.stages)
        stages.push_back({{"name", s.name}, {"bits", s.bits}, {"formula", s.formula}, {"ratio", s.ratio}});
    const Graph& g = *c.graph;
    return {{"bnstep", kVersion},
            {"command", "compress"},
            {"lesson", g.name},
            {"param", g.nodes[c.leaf].name},
            {"prune_node", c.prune_node ? json(g.nodes[*c.prune_node].name) : json(nullptr)},
            {"sparsity", c.sparsity ? json(*c.sparsity) : json(nullptr)},
            {"bits", r.options.bits},
            {"index_bits", r.options.index_bits},
            {"weights", r.weights.size()},
            {"kept", r.kept.size()},
            {"fillers", r.fillers},
            {"entries", entries},
            {"initial_centroids", r.codebook.initial},
            {"centroids", r.codebook.centroids},
            {"kmeans_iterations", r.codebook.iterations},
            {"kmeans_converged", r.codebook.converged},
            {"entry_index", r.entry_index},
            {"squared_error", r.squared_error},
            {"weight_index_code", code_json(r.weight_code)},
            {"relative_index_code", code_json(r.run_code)},
            {"stages", stages}};
}

}  // namespace bnstep
