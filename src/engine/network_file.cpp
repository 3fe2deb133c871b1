// Network files: JSON -> NetworkSpec, every value checked where it is read,
// then the shapes walked once (network_cost) so that a layer that does not
// fit its input fails here too.
#include <filesystem>
#include <map>
#include <set>

#include "bnstep/network.hpp"
#include "bnstep/text_file.hpp"
#include "json_reader.hpp"
#include "lesson_reader.hpp"

namespace bnstep {
namespace {

using lesson_detail::at;
using lesson_detail::json;
using lesson_detail::Reader;

constexpr long long kLargestNetworkDimension = 1'000'000;
constexpr std::size_t kMostNetworkLayers = 10'000;

std::size_t network_whole(const Reader& r, const json& j, const std::string& where, long long low) {
    const long long v = r.integer(j, where);
    if (v < low || v > kLargestNetworkDimension)
        r.fail(where, fmt::format("expected a whole number from {} to {}, got {}", low, kLargestNetworkDimension, v));
    return static_cast<std::size_t>(v);
}

std::size_t network_whole_or(const Reader& r, const json& obj, const std::string& where, const std::string& key,
                             std::size_t fallback, long long low = 1) {
    const json* j = r.optional(obj, key);
    return j ? network_whole(r, *j, at(where, key), low) : fallback;
}

struct LayerKindInfo {
    LayerKind kind;
    std::vector<std::string> keys;
};

const std::map<std::string, LayerKindInfo>& network_layer_kinds() {
    static const std::map<std::string, LayerKindInfo> kinds{
        {"conv", {LayerKind::Conv, {"name", "type", "out", "kernel", "stride", "padding", "groups", "bias"}}},
        {"linear", {LayerKind::Linear, {"name", "type", "out", "bias"}}},
        {"maxpool", {LayerKind::MaxPool, {"name", "type", "kernel", "stride", "padding", "ceil_mode"}}},
        {"avgpool", {LayerKind::AvgPool, {"name", "type", "kernel", "stride", "padding", "ceil_mode"}}},
        {"global_avgpool", {LayerKind::GlobalAvgPool, {"name", "type"}}},
        {"batchnorm", {LayerKind::BatchNorm, {"name", "type"}}},
        {"fire", {LayerKind::Fire, {"name", "type", "squeeze", "expand1x1", "expand3x3"}}}};
    return kinds;
}

LayerSpec read_network_layer(const Reader& r, const json& j, const std::string& where, std::size_t number) {
    r.object(j, where);
    const std::string type = r.string(r.required(j, where, "type", "the layer's type"), at(where, "type"));
    const auto& kinds = network_layer_kinds();
    const auto found = kinds.find(type);
    if (found == kinds.end()) {
        std::vector<std::string> names;
        for (const auto& [name, info] : kinds) names.push_back(name);
        const std::string hint = did_you_mean(type, names);
        r.fail(at(where, "type"),
               fmt::format("unknown layer type '{}'{}; expected one of: {}", type,
                           hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), fmt::join(names, ", ")));
    }
    r.only_keys(j, where, found->second.keys);
    LayerSpec l{.kind = found->second.kind, .where = where};
    const json* name = r.optional(j, "name");
    l.name = name ? r.text(*name, at(where, "name")) : fmt::format("layer{}", number);
    if (l.name.empty()) r.fail(at(where, "name"), "expected a name, got an empty string");
    const bool pool = l.kind == LayerKind::MaxPool || l.kind == LayerKind::AvgPool;
    if (l.kind == LayerKind::Conv || l.kind == LayerKind::Linear)
        l.out = network_whole(r, r.required(j, where, "out", "output channels or features"), at(where, "out"), 1);
    if (l.kind == LayerKind::Conv || pool)
        l.kernel = network_whole(r, r.required(j, where, "kernel", "the window's side"), at(where, "kernel"), 1);
    l.stride = network_whole_or(r, j, where, "stride", pool ? l.kernel : 1);
    l.padding = network_whole_or(r, j, where, "padding", 0, 0);
    if (pool && l.padding > l.kernel / 2)  // as PyTorch: the padding may be at most half the window
        r.fail(at(where, "padding"),
               fmt::format("expected at most half the kernel ({}) for a pool, got {}", l.kernel / 2, l.padding));
    l.groups = network_whole_or(r, j, where, "groups", 1);
    if (const json* b = r.optional(j, "bias")) l.bias = r.boolean(*b, at(where, "bias"));
    if (const json* c = r.optional(j, "ceil_mode")) l.ceil_mode = r.boolean(*c, at(where, "ceil_mode"));
    if (l.kind == LayerKind::Fire) {
        l.squeeze = network_whole(r, r.required(j, where, "squeeze", "squeeze channels"), at(where, "squeeze"), 1);
        l.expand1x1 =
            network_whole(r, r.required(j, where, "expand1x1", "1x1 expand channels"), at(where, "expand1x1"), 1);
        l.expand3x3 =
            network_whole(r, r.required(j, where, "expand3x3", "3x3 expand channels"), at(where, "expand3x3"), 1);
    }
    return l;
}

void read_network_extras(const Reader& r, const json& root, NetworkSpec& n) {
    if (const json* p = r.optional(root, "published")) {
        r.object(*p, "/published");
        r.only_keys(*p, "/published", {"parameters", "source"});
        const long long v =
            r.integer(r.required(*p, "/published", "parameters", "a parameter count"), "/published/parameters");
        if (v < 0) r.fail("/published/parameters", fmt::format("expected a count of at least 0, got {}", v));
        n.published_parameters = static_cast<std::size_t>(v);
        n.published_source =
            r.text(r.required(*p, "/published", "source", "where it is published"), "/published/source");
    }
    if (const json* d = r.optional(root, "deep_compression")) {
        const std::string w = "/deep_compression";
        r.object(*d, w);
        r.only_keys(*d, w, {"pruned", "paper"});
        PublishedCompression c;
        c.pruned = r.number(r.required(*d, w, "pruned", "the share of weights pruned"), w + "/pruned");
        if (c.pruned < 0 || c.pruned >= 1)
            r.fail(w + "/pruned", fmt::format("expected 0 <= pruned < 1, got {}", c.pruned));
        c.paper = r.text(r.required(*d, w, "paper", "what the paper reports"), w + "/paper");
        n.compression = c;
    }
}

}  // namespace

NetworkSpec parse_network(std::string_view text, const std::string& source) {
    const Reader r(source);
    const json root = read_lesson_json(text, source, {});
    r.object(root, "");
    r.only_keys(root, "",
                {"$schema", "name", "title", "description", "input", "layers", "published", "deep_compression"});
    NetworkSpec n{.source = source};
    n.title = r.text(r.required(root, "", "title", "a string"), "/title");
    if (const json* d = r.optional(root, "description")) n.description = r.text(*d, "/description");
    const json* name = r.optional(root, "name");
    n.name = name ? r.text(*name, "/name") : std::filesystem::path(source).stem().string();
    const json& input = r.list(r.required(root, "", "input", "the input's [channels, height, width]"), "/input");
    if (input.size() != 3)
        r.fail("/input", fmt::format("expected [channels, height, width], got {} numbers", input.size()));
    n.channels = network_whole(r, input[0], "/input/0", 1);
    n.height = network_whole(r, input[1], "/input/1", 1);
    n.width = network_whole(r, input[2], "/input/2", 1);
    const json& layers = r.list(r.required(root, "", "layers", "a list of layers"), "/layers");
    if (layers.empty() || layers.size() > kMostNetworkLayers)
        r.fail("/layers", fmt::format("expected 1 to {} layers, got {}", kMostNetworkLayers, layers.size()));
    std::set<std::string> names;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        n.layers.push_back(read_network_layer(r, layers[i], at("/layers", i), i + 1));
        if (!names.insert(n.layers.back().name).second)
            r.fail(at("/layers", i), fmt::format("a second layer named '{}'", n.layers.back().name));
    }
    read_network_extras(r, root, n);
    network_cost(n);  // every layer fits its input
    return n;
}

NetworkSpec load_network(const std::string& name_or_path, std::size_t max_bytes) {
    const bool is_path = name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json");
    if (is_path) return parse_network(read_text_file(name_or_path, max_bytes, "for a network"), name_or_path);
    std::vector<std::string> names;
    for (const BuiltinNetwork& b : builtin_networks()) {
        if (b.name == name_or_path) return parse_network(b.json, "networks/" + name_or_path + ".json");
        names.emplace_back(b.name);
    }
    const std::string hint = did_you_mean(name_or_path, names);
    throw LessonError(fmt::format("unknown network '{}'{}; built-in networks: {} (or give a path to a .json file)",
                                  name_or_path, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                  fmt::join(names, ", ")));
}

}  // namespace bnstep
