// The commands of Deep Compression's arithmetic: `compress` walks its storage
// pipeline on a lesson's weights; `cost` counts the parameters, multiply-adds
// and megabytes of a network described by its shapes, and estimates what the
// pipeline would leave of it.
#include <fmt/format.h>

#include <iostream>

#include "bnstep/print_compression.hpp"
#include "bnstep/version.hpp"
#include "common.hpp"
#include "option_values.hpp"

namespace bnstep::cli {

namespace {

// A whole number from 1 to 16 into `target`, left empty when not given.
CLI::Option* add_bit_count_option(CLI::App& cmd, const std::string& name, std::optional<int>& target,
                                  const std::string& help) {
    return cmd
        .add_option_function<std::string>(
            name,
            [&target, name](const std::string& text) { target = static_cast<int>(parse_whole(name, text, 1, 16)); },
            help)
        ->type_name("INT");
}

CLI::Option* add_share_option(CLI::App& cmd, const std::string& name, std::optional<double>& target, bool below_one,
                              const std::string& help) {
    return cmd
        .add_option_function<std::string>(
            name,
            [&target, name, below_one](const std::string& text) {
                double v = -1;
                std::size_t used = 0;
                try {
                    v = std::stod(text, &used);
                } catch (const std::exception&) {
                    used = 0;
                }
                if (used != text.size() || !(v >= 0 && (below_one ? v < 1 : v <= 1)))
                    throw CLI::ValidationError(fmt::format("{}: expected a share from 0 to 1{}, got '{}'", name,
                                                           below_one ? " (below 1)" : "", text));
                target = v;
            },
            help)
        ->type_name("SHARE");
}

struct CompressArgs {
    std::string lesson = "deep-compression";
    CompressRequest request;
    Common common;
};

int compress_lesson_weights(CompressArgs& a) {
    const Graph g = a.common.load(a.lesson);
    a.request.max_work = a.common.limits.work;
    a.request.max_work_name = a.common.limits.names.work;
    a.request.param_name = "--param";
    const LessonCompression c = compress_lesson(g, a.request);
    if (a.common.format == "json")
        print_json(compress_json(c));
    else
        print_compress_text(std::cout, c, a.common.print());
    return kOk;
}

std::function<int()> compress_command(CLI::App& cmd) {
    auto a = std::make_shared<CompressArgs>();
    add_lesson_argument(cmd, a->lesson);
    cmd.add_option("--param", a->request.param,
                   "the param to compress (default: the one a prune_mask node reads, else the largest)")
        ->type_name(kLeafType);
    add_share_option(cmd, "--sparsity", a->request.sparsity, false,
                     "prune this share of the weights by magnitude instead of by the lesson's prune_mask node");
    add_bit_count_option(
        cmd, "--bits", a->request.bits,
        "k: bits per shared weight, a codebook of 2^k centroids (default: 8 for a convolution, 5 otherwise)");
    add_bit_count_option(cmd, "--index-bits", a->request.index_bits,
                         "bits per relative index (default: 8 for a convolution, 5 otherwise)");
    add_common(cmd, a->common, {"text", "json"});
    add_lesson_options(cmd, a->common, false);
    return [a] { return compress_lesson_weights(*a); };
}

struct NetworkCostArgs {
    std::vector<std::string> networks;
    std::optional<double> sparsity;
    EstimateOptions estimate;
    Common common;
};

int print_network_costs(NetworkCostArgs& a) {
    std::vector<std::string> names = a.networks;
    if (names.empty())
        for (const BuiltinNetwork& b : builtin_networks()) names.emplace_back(b.name);
    std::vector<NetworkSpec> specs;
    for (const std::string& n : names) specs.push_back(load_network(n, a.common.limits.file_bytes));
    std::vector<NetworkCost> costs;
    for (const NetworkSpec& s : specs) costs.push_back(network_cost(s));
    const PrintOptions opt = a.common.print();
    if (a.common.format == "json") {
        nlohmann::json list = nlohmann::json::array();
        for (const NetworkCost& c : costs) {
            std::optional<CompressionEstimate> e;
            if (a.sparsity || c.spec->compression) {
                EstimateOptions o = a.estimate;
                o.pruned = a.sparsity.value_or(c.spec->compression ? c.spec->compression->pruned : 0);
                e = estimate_compression(c, o);
            }
            list.push_back(network_json(c, e));
        }
        print_json(list.size() == 1 ? list.front()
                                    : nlohmann::json{{"bnstep", kVersion}, {"command", "cost"}, {"networks", list}});
        return kOk;
    }
    if (costs.size() > 1) {
        print_networks_summary(std::cout, costs, opt);
        return kOk;
    }
    const NetworkCost& c = costs.front();
    std::optional<CompressionEstimate> e;
    if (a.sparsity || c.spec->compression) {
        EstimateOptions o = a.estimate;
        o.pruned = a.sparsity.value_or(c.spec->compression ? c.spec->compression->pruned : 0);
        e = estimate_compression(c, o);
    }
    print_network_text(std::cout, c, e, opt);
    return kOk;
}

std::function<int()> network_cost_command(CLI::App& cmd) {
    auto a = std::make_shared<NetworkCostArgs>();
    std::string names;
    for (const BuiltinNetwork& b : builtin_networks()) names += (names.empty() ? "" : ", ") + std::string(b.name);
    cmd.add_option("networks", a->networks,
                   fmt::format("built-in networks ({}) or .json paths; one is shown layer by layer, several side by "
                               "side (default: every built-in network)",
                               names))
        ->type_name(kNetworkType);
    add_share_option(cmd, "--sparsity", a->sparsity, true,
                     "estimate Deep Compression with this share of the weights pruned (default: the paper's rate, for "
                     "the networks it compressed)");
    add_bit_count_option(
        cmd, "--bits", a->estimate.bits,
        "bits per shared weight in the estimate (default: 8 for convolutions, 5 for fully connected layers)");
    add_bit_count_option(
        cmd, "--index-bits", a->estimate.index_bits,
        "bits per relative index in the estimate (default: 8 for convolutions, 5 for fully connected layers)");
    add_common(cmd, a->common, {"text", "json"});
    add_size(cmd, "--max-file-size", a->common.limits.file_bytes,
             fmt::format("the largest network file read, e.g. 64M (default {}M)", Limits{}.file_bytes >> 20));
    return [a] { return print_network_costs(*a); };
}

}  // namespace

std::vector<Command> compression_commands() {
    return {
        {"compress", "Deep Compression's storage: pruned with relative indices, shared weights, Huffman coding",
         compress_command},
        {"cost", "parameters, multiply-adds and megabytes of AlexNet, VGG-16 ... from their layer shapes",
         network_cost_command},
    };
}

}  // namespace bnstep::cli
