#pragma once
// Networks described by the shapes of their layers only (no tensor is
// allocated): the parameters and multiply-adds of each layer, with the
// formula behind them, and what Deep Compression would leave of them.
// Described in JSON (networks/*.json, built in like the lessons; the format is
// in docs/compression-storage.md), validated with one-line errors that name
// the file and the JSON location.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bnstep {

enum class LayerKind { Conv, Linear, MaxPool, AvgPool, GlobalAvgPool, BatchNorm, Fire };

struct LayerSpec {
    std::string name = {};
    LayerKind kind = LayerKind::Conv;
    std::size_t out = 0;  // conv, linear: output channels or features
    std::size_t kernel = 1, stride = 1, padding = 0, groups = 1;
    bool bias = true;
    bool ceil_mode = false;                                 // pools: round the output size up, as PyTorch
    std::size_t squeeze = 0, expand1x1 = 0, expand3x3 = 0;  // fire
    std::string where = {};                                 // its JSON location, for messages
};

// What Deep Compression's paper reports for the network.
struct PublishedCompression {
    double pruned = 0;  // the share of weights pruned
    std::string paper;  // what the paper says, quoted as the paper's
};

struct NetworkSpec {
    std::string source = {};  // the file, for messages
    std::string name = {}, title = {}, description = {};
    std::size_t channels = 0, height = 0, width = 0;  // the input
    std::vector<LayerSpec> layers = {};
    std::optional<std::size_t> published_parameters = {};
    std::string published_source = {};
    std::optional<PublishedCompression> compression = {};
};

struct ActivationShape {
    std::size_t c = 0, h = 0, w = 0;
};

// One row of the cost table: a layer, or one convolution of a Fire module.
struct LayerCost {
    std::string name = {}, type = {};
    ActivationShape in = {}, out = {};
    std::size_t weights = 0, biases = 0;  // biases: also batch norm's gamma and beta
    std::string params_formula = {};      // "K*C*R*S + K = 64*3*11*11 + 64"
    double macs = 0;
    std::string macs_formula = {};  // empty when none are counted (pools)
    bool fully_connected = false;
    std::size_t params() const { return weights + biases; }
};

struct NetworkCost {
    const NetworkSpec* spec = nullptr;
    std::vector<LayerCost> layers = {};
    std::size_t weights = 0, biases = 0;
    double macs = 0;
    std::size_t params() const { return weights + biases; }
};

NetworkCost network_cost(const NetworkSpec& spec);

// Deep Compression on the shapes: every conv and linear layer's weights pruned
// at rate `pruned` (kept ones spread at random, so the zero runs between them
// are geometric), stored with relative indices and a 2^bits codebook, the
// relative indices Huffman coded from their expected counts; the biases and
// batch norm's parameters stay 32-bit floats. Bits default to the paper's:
// 8 for convolutions, 5 for fully connected layers.
struct LayerEstimate {
    std::string name;
    int bits = 0, index_bits = 0;
    double kept = 0, fillers = 0;  // expected entries
    double dense_bits = 0, pruned_bits = 0, quantized_bits = 0, huffman_bits = 0;
    double run_average_bits = 0;  // of the Huffman-coded relative indices
};
struct CompressionEstimate {
    double pruned = 0;
    std::vector<LayerEstimate> layers = {};  // the layers with weights
    double dense_bits = 0, pruned_bits = 0, quantized_bits = 0, huffman_bits = 0;
};
struct EstimateOptions {
    double pruned = 0;
    std::optional<int> bits = {}, index_bits = {};  // one value for every layer instead of the paper's 8 and 5
};
CompressionEstimate estimate_compression(const NetworkCost& cost, const EstimateOptions& options);

// Expected count, per kept weight, of each relative index 0 .. 2^index_bits - 1
// (a filler's is the last) when each weight is kept with probability `kept`.
std::vector<double> expected_run_counts(double kept, int index_bits);

// Built-in networks (networks/*.json, embedded at build time), by name.
struct BuiltinNetwork {
    std::string_view name;
    std::string_view json;
};
const std::vector<BuiltinNetwork>& builtin_networks();

// `source` names the text in messages; a LessonError for anything wrong.
NetworkSpec parse_network(std::string_view text, const std::string& source);
// A built-in name, or a path to a .json file of at most max_bytes.
NetworkSpec load_network(const std::string& name_or_path, std::size_t max_bytes);

}  // namespace bnstep
