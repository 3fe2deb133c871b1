// `bnstep cost` on networks described by shapes: the parameter counts of the
// built-in networks against the published ones, each worked out here again
// from the layer formulas (K*C*R*S + K for a convolution, in*out + out for a
// fully connected layer), their output sizes, the expected relative-index
// counts against the series they sum, and bad network files.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "bnstep/error.hpp"
#include "bnstep/network.hpp"
#include "cli_support.hpp"

using namespace bnstep;

namespace {

std::size_t conv_params(std::size_t c, std::size_t k, std::size_t r, bool bias = true) {
    return k * c * r * r + (bias ? k : 0);
}
std::size_t fc_params(std::size_t in, std::size_t out) { return in * out + out; }

// VGG-16's first fully connected layer reads 7x7x512 features, AlexNet's 6x6x256.
constexpr std::size_t kFc6Inputs = std::size_t{7} * 7 * 512;
constexpr std::size_t kFc6AlexNet = std::size_t{6} * 6 * 256;

NetworkCost network_cost_of(const std::string& name, NetworkSpec& keep) {
    keep = load_network(name, 1 << 20);
    return network_cost(keep);
}

const LayerCost& layer_row(const NetworkCost& c, const std::string& name) {
    for (const LayerCost& l : c.layers)
        if (l.name == name) return l;
    throw std::runtime_error("no layer " + name);
}

}  // namespace

TEST_CASE("networks: VGG-16 has 138,357,544 parameters, fc6 7*7*512*4096 weights") {
    std::size_t expected = 0, c = 3, macs_conv = 0, side = 224;
    for (const std::vector<std::size_t>& block :
         {std::vector<std::size_t>{64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}}) {
        for (std::size_t k : block) {
            expected += conv_params(c, k, 3);
            macs_conv += c * k * 9 * side * side;
            c = k;
        }
        side /= 2;
    }
    expected += fc_params(kFc6Inputs, 4096) + fc_params(4096, 4096) + fc_params(4096, 1000);
    CHECK(expected == 138'357'544);
    NetworkSpec spec;
    const NetworkCost cost = network_cost_of("vgg16", spec);
    CHECK(cost.params() == expected);
    CHECK(layer_row(cost, "fc6").weights == kFc6Inputs * 4096);
    CHECK(layer_row(cost, "fc6").biases == 4096);
    CHECK(layer_row(cost, "fc6").params_formula == "in*out + out = (512*7*7)*4096 + 4096");
    CHECK(layer_row(cost, "pool5").out.h == 7);
    CHECK(cost.macs == static_cast<double>(macs_conv + (kFc6Inputs * 4096) + (std::size_t{4096} * 4096) +
                                           (std::size_t{4096} * 1000)));
    // 553,430,176 bytes at 32 bits: the 528 MB (MiB) of the survey, the paper's 552 MB.
    CHECK(cost.params() * 4 == 553'430'176);
}

TEST_CASE("networks: AlexNet, torchvision's 61,100,840 and the two-tower 60,965,224") {
    const std::size_t single = conv_params(3, 64, 11) + conv_params(64, 192, 5) + conv_params(192, 384, 3) +
                               conv_params(384, 256, 3) + conv_params(256, 256, 3) + fc_params(kFc6AlexNet, 4096) +
                               fc_params(4096, 4096) + fc_params(4096, 1000);
    CHECK(single == 61'100'840);
    // Grouped conv2, conv4, conv5: each filter sees half the input channels.
    const std::size_t towers = conv_params(3, 96, 11) + conv_params(96 / 2, 256, 5) + conv_params(256, 384, 3) +
                               conv_params(384 / 2, 384, 3) + conv_params(384 / 2, 256, 3) +
                               fc_params(kFc6AlexNet, 4096) + fc_params(4096, 4096) + fc_params(4096, 1000);
    CHECK(towers == 60'965'224);
    NetworkSpec a, b;
    const NetworkCost one = network_cost_of("alexnet", a);
    const NetworkCost two = network_cost_of("alexnet-two-tower", b);
    CHECK(one.params() == single);
    CHECK(two.params() == towers);
    // (224 + 2*2 - 11)/4 + 1 = 55; (55 - 3)/2 + 1 = 27; 27 -> 13 -> 6.
    CHECK(layer_row(one, "conv1").out.h == 55);
    CHECK(layer_row(one, "pool5").out.h == 6);
    CHECK(layer_row(one, "conv1").params_formula == "K*C*R*S + K = 64*3*11*11 + 64");
    CHECK(layer_row(two, "conv2").params_formula == "K*(C/g)*R*S + K = 256*(96/2)*5*5 + 256");
    CHECK(layer_row(two, "conv1").out.h == 55);  // (227 - 11)/4 + 1
}

TEST_CASE("networks: SqueezeNet 1.0's Fire modules, 1,248,424 parameters") {
    auto fire = [](std::size_t c, std::size_t s, std::size_t e) {
        return conv_params(c, s, 1) + conv_params(s, e, 1) + conv_params(s, e, 3);
    };
    const std::size_t expected = conv_params(3, 96, 7) + fire(96, 16, 64) + fire(128, 16, 64) + fire(128, 32, 128) +
                                 fire(256, 32, 128) + fire(256, 48, 192) + fire(384, 48, 192) + fire(384, 64, 256) +
                                 fire(512, 64, 256) + conv_params(512, 1000, 1);
    CHECK(expected == 1'248'424);
    NetworkSpec spec;
    const NetworkCost cost = network_cost_of("squeezenet1_0", spec);
    CHECK(cost.params() == expected);
    // conv1: (224 - 7)/2 + 1 = 109; pools round up: ceil((109 - 3)/2) + 1 = 54, then 27, 13.
    CHECK(layer_row(cost, "conv1").out.h == 109);
    CHECK(layer_row(cost, "pool1").out.h == 54);
    CHECK(layer_row(cost, "pool4").out.h == 27);
    CHECK(layer_row(cost, "pool8").out.h == 13);
    CHECK(layer_row(cost, "fire2/expand3x3").out.c == 64);
    CHECK(layer_row(cost, "fire2/concat").out.c == 128);  // the 1x1 and 3x3 expands side by side
}

TEST_CASE("networks: MobileNet's depthwise separable layers against standard convolutions") {
    const std::vector<std::pair<std::size_t, std::size_t>> blocks{{64, 1},  {128, 2},  {128, 1}, {256, 2}, {256, 1},
                                                                  {512, 2}, {512, 1},  {512, 1}, {512, 1}, {512, 1},
                                                                  {512, 1}, {1024, 2}, {1024, 1}};
    // No biases before batch norm; batch norm's gamma and beta, 2 per channel.
    std::size_t separable = conv_params(3, 32, 3, false) + std::size_t{64}, standard = separable;
    double separable_macs = 3.0 * 32 * 9 * 112 * 112, standard_macs = separable_macs;
    std::size_t c = 32, side = 112;
    for (const auto& [k, stride] : blocks) {
        side /= stride;
        separable += 9 * c + 2 * c + c * k + 2 * k;
        standard += 9 * c * k + 2 * k;
        separable_macs += static_cast<double>((9 * c + c * k) * side * side);
        standard_macs += static_cast<double>(9 * c * k * side * side);
        c = k;
    }
    separable += fc_params(1024, 1000);
    standard += fc_params(1024, 1000);
    CHECK(separable == 4'231'976);
    NetworkSpec a, b;
    const NetworkCost dw = network_cost_of("mobilenet-v1", a);
    const NetworkCost full = network_cost_of("mobilenet-v1-conv", b);
    CHECK(dw.params() == separable);
    CHECK(full.params() == standard);
    // The convolutions' multiply-adds (batch norm's left out): the paper's 569 and 4866 million.
    auto conv_macs = [](const NetworkCost& n) {
        double m = 0;
        for (const LayerCost& l : n.layers)
            if (l.type != "batchnorm") m += l.macs;
        return m;
    };
    CHECK(conv_macs(dw) == separable_macs + 1024 * 1000);
    CHECK(conv_macs(full) == standard_macs + 1024 * 1000);
    CHECK(std::round(conv_macs(dw) / 1e6) == 569);
    // 4867.3 million against the paper's 4866: the paper's own count is 0.03% lower.
    CHECK(conv_macs(full) / 1e6 == doctest::Approx(4866).epsilon(5e-4));
    CHECK(layer_row(dw, "conv_dw_1").params_formula == "K*(C/g)*R*S = 32*(32/32)*3*3");
}

TEST_CASE("networks: expected relative-index counts sum the geometric series of zero runs") {
    // Each weight kept with probability p: a run of j zeros has probability
    // p (1-p)^j; with b-bit indices it leaves floor(j / 2^b) fillers (symbol
    // 2^b - 1 each) and the symbol j mod 2^b.
    for (const auto& [p, b] : {std::pair{0.5, 1}, std::pair{0.11, 3}, std::pair{0.075, 5}}) {
        const std::size_t m = std::size_t{1} << b;
        std::vector<double> series(m, 0.0);
        for (std::size_t j = 0; j < 20000; ++j) {
            const double pj = p * std::pow(1 - p, static_cast<double>(j));
            series[j % m] += pj;
            series[m - 1] += std::floor(static_cast<double>(j) / static_cast<double>(m)) * pj;
        }
        const std::vector<double> closed = expected_run_counts(p, b);
        for (std::size_t s = 0; s < m; ++s) CHECK(closed[s] == doctest::Approx(series[s]).epsilon(1e-12));
    }
    const std::vector<double> half = expected_run_counts(0.5, 1);
    CHECK(half[0] == doctest::Approx(2.0 / 3));
    CHECK(half[1] == doctest::Approx(2.0 / 3));
}

TEST_CASE("networks: the Deep Compression estimate's stages from the shapes") {
    NetworkSpec spec;
    const NetworkCost cost = network_cost_of("alexnet-two-tower", spec);
    const CompressionEstimate e = estimate_compression(cost, {.pruned = 0.89});
    CHECK(e.dense_bits == static_cast<double>(cost.params()) * 32);
    const LayerEstimate& fc8 = e.layers.back();
    CHECK(fc8.name == "fc8");
    CHECK((fc8.bits == 5 && fc8.index_bits == 5));
    CHECK(e.layers.front().bits == 8);
    // fc8: 4,096,000 weights, 11% kept; runs of 32 zeros or more (q = 0.89^32) need fillers.
    const double q = std::pow(0.89, 32), kept = 0.11 * 4096000, entries = kept / (1 - q);
    CHECK(fc8.kept == doctest::Approx(kept));
    CHECK(fc8.fillers == doctest::Approx(entries - kept));
    CHECK(fc8.quantized_bits == doctest::Approx(32 * 32 + entries * 10 + 1000 * 32));
    // Huffman never costs more than the fixed 5 bits, nor less than the entropy of the runs.
    double entropy = 0;
    for (double c : expected_run_counts(0.11, 5)) entropy -= c * (1 - q) * std::log2(c * (1 - q));
    CHECK(fc8.run_average_bits <= 5);
    CHECK(fc8.run_average_bits >= entropy - 1e-9);
    CHECK(fc8.run_average_bits < entropy + 1);
    CHECK(e.huffman_bits < e.quantized_bits);
    CHECK(e.quantized_bits < e.pruned_bits);
}

TEST_CASE("networks: a bad network file is one line naming the file and the JSON location") {
    const std::string base = R"({"title": "t", "input": [3, 8, 8], "layers": [)";
    auto error_of = [&](const std::string& layers, const std::string& tail = "]}") {
        try {
            parse_network(base + layers + tail, "net.json");
        } catch (const LessonError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of(R"({"type": "conv", "out": 4, "kernel": 9})") ==
          "net.json: /layers/0: layer 'layer1': the kernel (9) is larger than the padded input (8 + 2*0)");
    CHECK(error_of(R"({"type": "conv", "out": 4, "kernel": 3, "groups": 2})")
              .find("/layers/0: layer 'layer1': groups (2)") != std::string::npos);
    CHECK(error_of(R"({"type": "convv", "out": 4})")
              .find("net.json: /layers/0/type: unknown layer type 'convv' (did you mean 'conv'?)") == 0);
    CHECK(error_of(R"({"type": "conv", "kernel": 3})").find("net.json: /layers/0: missing key 'out'") == 0);
    CHECK(error_of(R"({"type": "linear", "out": 0})").find("net.json: /layers/0/out: expected a whole number from 1") ==
          0);
    CHECK(error_of(R"({"type": "linear", "out": 4, "kernel": 3})").find("/layers/0: unknown key 'kernel'") !=
          std::string::npos);
    CHECK(error_of(R"({"type": "linear", "out": 4}, {"name": "layer1", "type": "linear", "out": 2})")
              .find("/layers/1: a second layer named 'layer1'") != std::string::npos);
    CHECK(error_of(R"({"type": "linear", "out": 4})", R"(], "deep_compression": {"pruned": 1, "paper": "x"}})")
              .find("/deep_compression/pruned: expected 0 <= pruned < 1") != std::string::npos);
    CHECK(error_of(R"({"type": "linear", "out": 1000000}, {"type": "linear", "out": 1000000}, )"
                   R"({"type": "conv", "out": 1000000, "kernel": 1000000, "padding": 1000000})")
              .find("do not fit in 64 bits") != std::string::npos);
    CHECK_THROWS_AS(load_network("vgg61", 1 << 20), LessonError);
    // As PyTorch, a pool's padding is at most half its kernel.
    CHECK(error_of(R"({"type": "maxpool", "kernel": 2, "padding": 5})") ==
          "net.json: /layers/0/padding: expected at most half the kernel (1) for a pool, got 5");
    CHECK(error_of(R"({"type": "avgpool", "kernel": 3, "padding": 1})") == "no error");
}

TEST_CASE("networks: counts beyond 2^53 are not printed as exact digits, and no -0") {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "bnstep_networks_big_test";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "pad.json").string();
    std::ofstream(path)
        << R"({"title":"t","input":[1000000,1,1],"layers":[{"type":"conv","out":1000000,"kernel":1,"padding":1000000}]})";
    const auto pad = bnstep_test::run_bnstep({"cost", path});
    CHECK(pad.exit_code == 0);
    CHECK(pad.out.find("4.000004000001e+24") != std::string::npos);
    CHECK(pad.out.find("164,294,656") == std::string::npos);
    std::filesystem::remove_all(dir);
    for (const char* bits : {"12", "16"}) {
        const auto vgg = bnstep_test::run_bnstep({"cost", "vgg16", "--index-bits", bits});
        CHECK(vgg.exit_code == 0);
        CHECK(vgg.out.find(" -0 ") == std::string::npos);
    }
}

TEST_CASE("networks: the cost command, one network, several, a user's file and errors") {
    const auto vgg = bnstep_test::run_bnstep({"cost", "vgg16"});
    CHECK(vgg.exit_code == 0);
    CHECK(vgg.out.find("138,357,544 parameters") != std::string::npos);
    CHECK(vgg.out.find("published: 138,357,544 (torchvision.models.vgg16): the same") != std::string::npos);
    CHECK(vgg.out.find("The paper's figure, for comparison") != std::string::npos);
    const auto all = bnstep_test::run_bnstep({"cost"});
    CHECK(all.exit_code == 0);
    CHECK(all.out.find("mobilenet-v1-conv") != std::string::npos);
    const auto json = bnstep_test::run_bnstep({"cost", "alexnet", "--format", "json"});
    CHECK(json.exit_code == 0);
    CHECK(json.out.find("\"parameters\": 61100840") != std::string::npos);
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "bnstep_networks_test";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "tiny.json").string();
    std::ofstream(path) << R"({"title": "tiny", "input": [1, 4, 4], "layers": [{"type": "linear", "out": 2}]})";
    const auto tiny = bnstep_test::run_bnstep({"cost", path, "--sparsity", "0.5"});
    CHECK(tiny.exit_code == 0);
    CHECK(tiny.out.find("in*out + out = (1*4*4)*2 + 2") != std::string::npos);
    std::ofstream(path) << R"({"title": "tiny", "input": [1, 4, 4], "layers": [{"type": "pool"}]})";
    const auto bad = bnstep_test::run_bnstep({"cost", path});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("tiny.json: /layers/0/type: unknown layer type 'pool'") != std::string::npos);
    CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
    CHECK(bnstep_test::run_bnstep({"cost", "vgg16", "--sparsity", "1"}).exit_code == 2);
    // The completions offer the built-in networks and .json files.
    const auto complete = bnstep_test::run_bnstep({"__complete", "line", "cost", "mobile"});
    CHECK(complete.out == "mobilenet-v1\nmobilenet-v1-conv\n:json\n");
    std::filesystem::remove_all(dir);
}

TEST_CASE("networks: the cost text fits 80 columns: several networks, the estimate, huge totals, long names") {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "bnstep_networks_width_test";
    std::filesystem::create_directories(dir);
    const std::string huge = (dir / "huge.json").string(), named = (dir / "named.json").string();
    std::ofstream(huge) << R"({"title":"t","input":[1000000,1000000,1000000],"layers":[{"type":"linear","out":18}]})";
    std::ofstream(named) << R"({"title":"t","input":[3,4,4],"layers":[{"name":")" + std::string(200, 'a') +
                                R"(","type":"linear","out":3}]})";
    for (const std::vector<std::string>& args : {std::vector<std::string>{"cost"},
                                                 {"cost", "alexnet", "vgg16"},
                                                 {"cost", "alexnet"},
                                                 {"cost", "vgg16", "--index-bits", "16"},
                                                 {"cost", huge, "--sparsity", "0.5"},
                                                 {"cost", named, "--sparsity", "0.5"}}) {
        const auto r = bnstep_test::run_bnstep(args);
        CHECK(r.exit_code == 0);
        bnstep_test::check_fits_80_columns(r.out);
    }
    std::filesystem::remove_all(dir);
}
