// Deep Compression's storage arithmetic, against values worked by hand: a
// Huffman code of counts 5, 2, 1, 1; the relative indices of the paper's
// Figure 2 (non-zeros at 1, 4 and 15 with 3-bit indices need a filler zero at
// 12); k-means from the linear initialisation; and the four stages of a
// 16-weight layer. Huffman codes of random counts are checked for the Kraft
// equality, prefix-freeness and, on small alphabets, optimality by brute force.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "bnstep/compress.hpp"
#include "bnstep/error.hpp"
#include "bnstep/huffman.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/storage.hpp"
#include "cli_support.hpp"

using namespace bnstep;

namespace {

// The least sum of count * length over all prefix codes: every vector of
// lengths 1..n-1 whose Kraft sum is at most 1 (such lengths have a prefix code).
double brute_force_least_bits(const std::vector<double>& counts) {
    const std::size_t n = counts.size();
    std::vector<int> len(n, 1);
    double best = INFINITY;
    const std::function<void(std::size_t)> visit = [&](std::size_t i) {
        if (i == n) {
            double kraft = 0, bits = 0;
            for (std::size_t s = 0; s < n; ++s) {
                kraft += std::ldexp(1.0, -len[s]);
                bits += counts[s] * len[s];
            }
            if (kraft <= 1 + 1e-12) best = std::min(best, bits);
            return;
        }
        for (int l = 1; l < static_cast<int>(n); ++l) {
            len[i] = l;
            visit(i + 1);
        }
    };
    visit(0);
    return best;
}

}  // namespace

TEST_CASE("huffman: counts 5, 2, 1, 1 give lengths 1, 2, 3, 3 and 15/9 bits on average") {
    const HuffmanCode code = huffman_code({5, 2, 1, 1});
    REQUIRE(code.symbols.size() == 4);
    const std::vector<int> lengths{1, 2, 3, 3};
    const std::vector<std::string> words{"0", "10", "110", "111"};
    for (std::size_t s = 0; s < 4; ++s) {
        CHECK(code.symbols[s].symbol == s);
        CHECK(code.symbols[s].length == lengths[s]);
        CHECK(code.symbols[s].code == words[s]);
    }
    // 5*1 + 2*2 + 1*3 + 1*3 = 15 bits for 9 symbols.
    CHECK(code.total_bits == 15);
    CHECK(code.average_bits() == doctest::Approx(15.0 / 9.0).epsilon(1e-15));
}

TEST_CASE("huffman: equal counts, a lone symbol and absent symbols") {
    const HuffmanCode four = huffman_code({1, 1, 1, 1});
    for (std::size_t s = 0; s < 4; ++s) CHECK(four.symbols[s].length == 2);
    CHECK(four.symbols[0].code == "00");
    CHECK(four.symbols[3].code == "11");
    const HuffmanCode lone = huffman_code({0, 7, 0});
    REQUIRE(lone.symbols.size() == 1);
    CHECK(lone.symbols[0].symbol == 1);
    CHECK(lone.symbols[0].code == "0");
    CHECK(lone.total_bits == 7);
    CHECK(huffman_code({0, 0}).symbols.empty());
}

TEST_CASE("huffman: random counts give a complete prefix code no longer than the best by brute force") {
    std::mt19937 rng(17);
    for (int trial = 0; trial < 60; ++trial) {
        const std::size_t n = 2 + static_cast<std::size_t>(trial % 5);  // 2 to 6 symbols
        std::vector<double> counts(n);
        for (double& c : counts) c = static_cast<double>(1 + rng() % 40);
        const HuffmanCode code = huffman_code(counts);
        REQUIRE(code.symbols.size() == n);
        double kraft = 0;
        for (const HuffmanSymbol& s : code.symbols) {
            kraft += std::ldexp(1.0, -s.length);
            CHECK(s.code.size() == static_cast<std::size_t>(s.length));
            for (const HuffmanSymbol& t : code.symbols)
                if (&s != &t) CHECK(t.code.rfind(s.code, 0) != 0);  // s is no prefix of t
        }
        CHECK(kraft == 1.0);  // a Huffman tree is full
        CHECK(code.total_bits == brute_force_least_bits(counts));
    }
}

TEST_CASE("relative indices: the paper's Figure 2, 3-bit indices and a filler zero") {
    // Non-zeros at 1, 4 and 15: runs of 1 and 2 zeros, then 10 zeros, more than
    // 2^3 - 1 = 7: a filler after 7 of them, at 4 + 8 = 12, then a run of 2.
    // The spans between entries are 3, 8 and 3, as in the figure.
    const std::vector<SparseEntry> e = relative_indices({1, 4, 15}, 3);
    REQUIRE(e.size() == 4);
    const std::vector<std::size_t> positions{1, 4, 12, 15}, runs{1, 2, 7, 2};
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(e[i].position == positions[i]);
        CHECK(e[i].run == runs[i]);
        CHECK(e[i].filler == (i == 2));
    }
}

TEST_CASE("relative indices: a run of exactly 2^b - 1 needs no filler, each further 2^b zeros one") {
    CHECK(relative_indices({3}, 2).size() == 1);  // run 3 fits 2 bits
    const std::vector<SparseEntry> e = relative_indices({4}, 2);
    REQUIRE(e.size() == 2);
    CHECK((e[0].filler && e[0].position == 3 && e[0].run == 3));
    CHECK((!e[1].filler && e[1].run == 0));
    // A run of 20 with 2-bit indices: floor(20 / 4) = 5 fillers, then a run of 20 mod 4 = 0.
    const std::vector<SparseEntry> long_run = relative_indices({20}, 2);
    CHECK(long_run.size() == 6);
    CHECK(long_run.back().run == 0);
    CHECK(relative_indices({0, 1, 2}, 1).size() == 3);  // adjacent: runs of 0
}

TEST_CASE("weight sharing: k-means from the linear initialisation, by hand") {
    // Two centroids start at the ends, -1 and 1.1; {-1, -0.9} and {0.9, 1, 1.1}
    // join them; their means are -0.95 and 1; nobody moves again.
    const Codebook cb = share_weights({-1, -0.9, 0.9, 1.0, 1.1}, 1, false);
    CHECK(cb.initial == std::vector<double>{-1, 1.1});
    CHECK(cb.centroids[0] == doctest::Approx(-0.95).epsilon(1e-15));
    CHECK(cb.centroids[1] == doctest::Approx(1.0).epsilon(1e-15));
    CHECK(cb.index == std::vector<std::size_t>{0, 0, 1, 1, 1});
    CHECK(cb.iterations == 1);
    // Pinned zero: centroid 0 stays at 0; the learned one starts at (-0.5 + 0.6)/2.
    const Codebook z = share_weights({0.5, 0.6, -0.5}, 1, true);
    CHECK(z.initial[0] == 0);
    CHECK(z.initial[1] == doctest::Approx(0.05));
    CHECK(z.centroids[0] == 0);
    CHECK(z.centroids[1] == doctest::Approx(0.55).epsilon(1e-15));
    CHECK(z.index == std::vector<std::size_t>{1, 1, 0});
}

TEST_CASE("deep compression: the four stages of the Figure 2 layer, by hand") {
    std::vector<double> w(16, 0.0);
    w[1] = 3.4;
    w[4] = 0.9;
    w[15] = 1.7;
    const CompressionReport r = deep_compression(w, {.bits = 1, .index_bits = 3});
    REQUIRE(r.stages.size() == 4);
    CHECK(r.fillers == 1);
    // Codebook: 0 (pinned for the filler) and one centroid from (0.9 + 3.4)/2 = 2.15;
    // 0.9 is nearer 0, so the centroid becomes (3.4 + 1.7)/2 = 2.55.
    CHECK(r.codebook.centroids[1] == doctest::Approx(2.55).epsilon(1e-15));
    CHECK(r.entry_index == std::vector<std::size_t>{1, 0, 0, 1});
    CHECK(r.squared_error == doctest::Approx(0.85 * 0.85 + 0.81 + 0.85 * 0.85).epsilon(1e-14));
    // dense 16*32; pruned 4 entries of 32 + 3 bits; quantized 2 centroids of 32 bits + 4*(1 + 3).
    CHECK(r.stages[0].bits == 512);
    CHECK(r.stages[1].bits == 140);
    CHECK(r.stages[2].bits == 80);
    CHECK(r.stages[1].formula == "(3 + 1)*(32 + 3)");
    // Huffman: indices {1, 0, 0, 1}: 1 bit each, 4 bits; runs {1, 2, 7, 2}: run 2 gets 1 bit,
    // runs 1 and 7 get 2 bits: 2 + 1 + 2 + 1 = 6 bits. 64 + 4 + 6 = 74.
    CHECK(r.weight_code.total_bits == 4);
    CHECK(r.run_code.total_bits == 6);
    CHECK(r.run_code.symbols[1].code == "0");  // run 2, the most frequent
    CHECK(r.stages[3].bits == 74);
    CHECK(r.stages[3].ratio == doctest::Approx(512.0 / 74.0).epsilon(1e-15));
}

TEST_CASE("compress: the deep-compression lesson is pruned by its own prune_mask node") {
    const Graph g = load_lesson("deep-compression");
    const LessonCompression c = compress_lesson(g, {.max_work = std::size_t{1} << 40});
    CHECK(g.nodes[c.leaf].name == "W");
    REQUIRE(c.prune_node.has_value());
    CHECK(c.report.kept.size() == 64);  // 256 weights, three quarters pruned
    CHECK(c.report.options.bits == 5);  // a fully connected layer: the paper's 5 bits
    CHECK(c.report.options.index_bits == 5);
    // Each kept weight is the lesson's W at that position, and each of the others is among the 192 smallest |W|.
    const Tensor& w = g.nodes[c.leaf].value;
    double smallest_kept = INFINITY, largest_pruned = 0;
    std::vector<bool> kept(w.size(), false);
    for (std::size_t p : c.report.kept) {
        kept[p] = true;
        CHECK(c.report.weights[p] == w[p]);
        smallest_kept = std::min(smallest_kept, std::fabs(w[p]));
    }
    for (std::size_t i = 0; i < w.size(); ++i)
        if (!kept[i]) largest_pruned = std::max(largest_pruned, std::fabs(w[i]));
    CHECK(largest_pruned <= smallest_kept);
    const CompressionReport& r = c.report;
    CHECK(r.stages[0].bits == 256 * 32);
    CHECK(r.stages[1].bits == static_cast<double>(r.entries.size()) * 37);
    CHECK(r.stages[2].bits == 32 * 32 + static_cast<double>(r.entries.size()) * 10);
    // --sparsity prunes by magnitude instead; the work limit is checked before k-means.
    const LessonCompression half = compress_lesson(g, {.sparsity = 0.5, .max_work = std::size_t{1} << 40});
    CHECK(half.report.kept.size() == 128);
    CHECK_THROWS_AS(compress_lesson(g, {.bits = 16, .max_work = 1000}), UsageError);
    CHECK_THROWS_AS(compress_lesson(g, {.param = "x", .max_work = std::size_t{1} << 40}), UsageError);
}

TEST_CASE("compress: the command's text, JSON and errors") {
    const auto r = bnstep_test::run_bnstep({"compress", "deep-compression", "--bits", "2", "--index-bits", "3"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Deep Compression of W in lesson deep-compression") != std::string::npos);
    CHECK(r.out.find("2^2*32 + ") != std::string::npos);
    const auto j = bnstep_test::run_bnstep({"compress", "--format", "json"});
    CHECK(j.exit_code == 0);
    CHECK(j.out.find("\"relative_index_code\"") != std::string::npos);
    for (const std::vector<std::string>& bad : {std::vector<std::string>{"compress", "--bits", "0"},
                                                {"compress", "--index-bits", "17"},
                                                {"compress", "--sparsity", "1.5"},
                                                {"compress", "--param", "Wx"}}) {
        const auto e = bnstep_test::run_bnstep(bad);
        CHECK(e.exit_code == 2);
        CHECK(e.err.find(bad[1]) != std::string::npos);
        CHECK(std::count(e.err.begin(), e.err.end(), '\n') == 1);
    }
}

namespace {
Graph one_param_lesson(const std::string& shape, const std::string& values) {
    return parse_lesson(R"({"name":"c","title":"t","leaves":[{"name":"W","kind":"param","shape":)" + shape + "," +
                            values + R"(}],"nodes":[{"name":"y","op":"relu","inputs":["W"]}],)" +
                            R"("output":{"node":"y","upstream":{"fill":1}}})",
                        "c.json");
}
}  // namespace

TEST_CASE("compress: the k-means work estimate counts each weight's assignment, so the default limit refuses ~5 s") {
    // 1300 x 1300 weights, 2^6 centroids, 100 iterations took 8-29 s; 2000 x 2000 at 2^5 took 21 s.
    CHECK(kmeans_work(std::size_t{1300} * 1300, 6) > static_cast<double>(Limits{}.work));
    CHECK(kmeans_work(std::size_t{2000} * 2000, 5) > static_cast<double>(Limits{}.work));
    CHECK(kmeans_work(256, 16) < static_cast<double>(Limits{}.work));
    const Graph g = one_param_lesson("[1300,1300]", R"("random":{"seed":1,"dist":"normal","mean":0,"std":1})");
    CHECK_THROWS_AS(compress_lesson(g, {.bits = 6, .max_work = Limits{}.work}), UsageError);
}

TEST_CASE("compress: weights near the largest double stay finite, nothing kept is an error, the cap is reported") {
    // Weights near the largest double: the k-means stays finite (ops/kmeans.cpp scales what would
    // overflow), each weight on a centroid of its own, so nothing is lost and nothing is inf.
    const Graph huge = one_param_lesson("[3]", R"("values":[1e308,-1e308,0.5])");
    const LessonCompression h = compress_lesson(huge, {.max_work = Limits{}.work});
    CHECK(h.report.squared_error == 0.0);
    for (double c : h.report.codebook.centroids) CHECK(std::isfinite(c));
    const auto fault = bnstep_test::run_bnstep({"compress", "deep-compression", "--sparsity", "1"});
    CHECK(fault.exit_code == 2);
    CHECK(fault.err.find("--sparsity 1") != std::string::npos);
    CHECK(std::count(fault.err.begin(), fault.err.end(), '\n') == 1);
    const Graph zeros = one_param_lesson("[4]", R"("values":[0,0,0,0])");
    CHECK_THROWS_AS(compress_lesson(zeros, {.max_work = Limits{}.work}), UsageError);
    // 16 equal weights, 2^12 centroids: k-means stops at the 100-iteration cap, and says so.
    const LessonCompression eq =
        compress_lesson(one_param_lesson("[4,4]", R"("fill":0.3)"), {.bits = 12, .max_work = Limits{}.work});
    CHECK(eq.report.codebook.iterations == kMaxKmeansIterations);
    CHECK_FALSE(eq.report.codebook.converged);
    const auto capped = bnstep_test::run_bnstep({"compress", "deep-compression", "--bits", "16", "--format", "json"});
    CHECK(capped.out.find("\"kmeans_converged\"") != std::string::npos);
    const LessonCompression small = compress_lesson(load_lesson("deep-compression"), {.max_work = Limits{}.work});
    CHECK(small.report.codebook.converged);
}

TEST_CASE("compress: the text fits 80 columns, also with 2^16 centroids") {
    for (const char* bits : {"2", "5", "16"}) {
        const auto r = bnstep_test::run_bnstep({"compress", "deep-compression", "--bits", bits});
        CHECK(r.exit_code == 0);
        bnstep_test::check_fits_80_columns(r.out);
    }
}
