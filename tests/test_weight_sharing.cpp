// Deep Compression's weight sharing (kmeans_centroids, shared_weights) against
// the paper's Figure 3 worked by hand: the cluster indices, the centroids as the
// means of their clusters, the gradients summed per centroid and the
// fine-tuned centroids; the tie rules, an empty cluster, and the kinks.
// (test_ops.cpp checks both backward rules against finite differences.)
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bnstep/error.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/op.hpp"
#include "bnstep/rng.hpp"
#include "op_harness.hpp"
#include "ops/compression.hpp"

using namespace bnstep;
using namespace bnstep::testing;

namespace {

// Han, Mao and Dally, "Deep Compression", ICLR 2016, Figure 3: the weights,
// their cluster indices and the gradient, row by row.
const std::vector<double> kFigureWeights = {2.09,  -0.98, 1.48, 0.09,  0.05, -0.14, -1.08, 2.12,
                                            -0.91, 1.92,  0.0,  -1.03, 1.87, 0.0,   1.53,  1.49};
const std::vector<long long> kFigureIndices = {3, 0, 2, 1, 1, 1, 0, 3, 0, 3, 1, 0, 3, 1, 2, 2};
const std::vector<double> kFigureGradient = {-0.03, -0.01, 0.03, 0.02, -0.01, 0.01,  -0.02, 0.12,
                                             -0.01, 0.02,  0.04, 0.01, -0.07, -0.02, 0.01,  -0.02};

Tensor figure3_weights() { return Tensor(Shape{4, 4}, kFigureWeights); }

struct KMeansRun {
    Attrs attrs;
    explicit KMeansRun(double clusters, double iterations = 100) {
        attrs.set("clusters", clusters);
        attrs.set("iterations", iterations);
    }
    Tensor centroids(const Tensor& w) const {
        return op_named("kmeans_centroids").forward(call_for({w}, attrs, nullptr));
    }
    Tensor centroid_vjp(const Tensor& w, const Tensor& upstream) const {
        const Tensor c = centroids(w);
        return op_named("kmeans_centroids").inputs[0].vjp(call_for({w}, attrs, &c), upstream);
    }
    Worked explain_centroid(const Tensor& w, std::size_t j) const {
        const Tensor c = centroids(w);
        return op_named("kmeans_centroids")
            .explain(call_for({w}, attrs, &c), Names{{"W"}, "C", "dC", ""}, {j}, NumFmt{4});
    }
};

Tensor shared(const Tensor& w, const Tensor& c) {
    return op_named("shared_weights").forward(call_for({w, c}, Attrs{}, nullptr));
}

Tensor centroid_gradients(const Tensor& w, const Tensor& c, const Tensor& upstream) {
    const Tensor out = shared(w, c);
    const std::vector<Tensor> inputs = {w, c};
    const Attrs none;
    OpCall call = call_for(inputs, none, &out);  // (it points into inputs and none)
    call.slot = 1;
    return op_named("shared_weights").inputs[1].vjp(call, upstream);
}

std::vector<long long> cluster_indices(const Tensor& w, const Tensor& c) {
    const std::vector<std::size_t> idx = ops::nearest_indices(w, c);
    return std::vector<long long>(idx.begin(), idx.end());
}

std::vector<long long> shared_pieces_of(const Tensor& w, const Tensor& c) {
    return op_named("shared_weights").pieces(call_for({w, c}, Attrs{}, nullptr));
}

}  // namespace

TEST_CASE("weight sharing: linear k-means on Figure 3's weights gives the figure's clusters") {
    const Tensor w = figure3_weights();
    const Tensor c = KMeansRun(4).centroids(w);
    // The clusters read off the figure, each centroid their mean, added by hand:
    // cluster 0: -0.98 - 1.08 - 0.91 - 1.03 = -4; 1: 0.09 + 0.05 - 0.14 + 0 + 0 = 0;
    // 2: 1.48 + 1.53 + 1.49 = 4.5; 3: 2.09 + 2.12 + 1.92 + 1.87 = 8.
    REQUIRE(c.shape() == Shape{4});
    CHECK(c[0] == doctest::Approx(-1.0).epsilon(1e-14));
    CHECK(std::fabs(c[1]) < 1e-15);
    CHECK(c[2] == doctest::Approx(4.5 / 3).epsilon(1e-14));
    CHECK(c[3] == doctest::Approx(8.0 / 4).epsilon(1e-14));
    CHECK(cluster_indices(w, c) == kFigureIndices);
    const Tensor ws = shared(w, c);
    for (std::size_t i = 0; i < 16; ++i) CHECK(ws[i] == c[static_cast<std::size_t>(kFigureIndices[i])]);

    // Linear initialisation: -1.08 + j * (2.12 + 1.08) / 3; one update settles it.
    const Worked top = KMeansRun(4).explain_centroid(w, 3);
    CHECK(top.symbolic == "(W[0,0] + W[1,3] + W[2,1] + W[3,0]) / 4");
    CHECK(top.numeric == "(2.09 + 2.12 + 1.92 + 1.87) / 4");
    CHECK(top.notes.at(0) ==
          "linear initialisation over [min W, max W] = [-1.08, 2.12]: C[3] started at -1.08 + "
          "3/3 * (2.12 - (-1.08)) = 2.12");
    CHECK(top.notes.at(1) == "Lloyd's iterations: converged after 1 update (the assignment no longer changes)");
    CHECK(KMeansRun(4).explain_centroid(w, 1).notes.at(0).find("C[1] started at -1.08 + 1/3 * (2.12 - (-1.08)) = "
                                                               "-0.01333") != std::string::npos);
}

TEST_CASE("weight sharing: each centroid's gradient is the sum of its weights' gradients (Figure 3)") {
    const Tensor w = figure3_weights();
    const Tensor c = KMeansRun(4).centroids(w);
    const Tensor dc = centroid_gradients(w, c, Tensor(Shape{4, 4}, kFigureGradient));
    // Grouped by the figure's indices: 0: -0.01 - 0.02 - 0.01 + 0.01; 1: 0.02 - 0.01 + 0.01 + 0.04 - 0.02;
    // 2: 0.03 + 0.01 - 0.02; 3: -0.03 + 0.12 + 0.02 - 0.07.
    const std::vector<double> by_hand = {-0.03, 0.04, 0.02, 0.04};
    for (std::size_t k = 0; k < 4; ++k) CHECK(dc[k] == doctest::Approx(by_hand[k]).epsilon(1e-12));
    // One step of learning rate 1: the figure's fine-tuned 1.96, 1.48, -0.04 and -0.97.
    CHECK(c[3] - dc[3] == doctest::Approx(1.96).epsilon(1e-12));
    CHECK(c[2] - dc[2] == doctest::Approx(1.48).epsilon(1e-12));
    CHECK(c[1] - dc[1] == doctest::Approx(-0.04).epsilon(1e-12));
    CHECK(c[0] - dc[0] == doctest::Approx(-0.97).epsilon(1e-12));
    // Through the k-means, W receives dC_k / n_k: 0.04/4 for every weight of cluster 3.
    const Tensor dw = KMeansRun(4).centroid_vjp(w, dc);
    CHECK(dw[0] == doctest::Approx(0.01).epsilon(1e-12));
    CHECK(dw[2] == doctest::Approx(0.02 / 3).epsilon(1e-12));
    CHECK(dw[3] == doctest::Approx(0.04 / 5).epsilon(1e-12));
    CHECK(dw[1] == doctest::Approx(-0.03 / 4).epsilon(1e-12));
}

TEST_CASE("weight sharing: ties go to the lower centroid, and an empty cluster keeps its centroid") {
    // 1 is as near to C[0] = 0 as to C[1] = 2; 3 as near to C[1] as to C[2] = 4.
    const Tensor c(Shape{3}, std::vector<double>{0.0, 2.0, 4.0});
    const Tensor w(Shape{2}, std::vector<double>{1.0, 3.0});
    CHECK(shared(w, c).data() == std::vector<double>{0.0, 2.0});
    // Linear initialisation 0, 5, 10: 0, 1, 2 join C[0], 10 joins C[2], and
    // nothing ever joins C[1], which stays at min W + (max W - min W)/2.
    const Tensor v(Shape{4}, std::vector<double>{0.0, 1.0, 2.0, 10.0});
    const Tensor cv = KMeansRun(3).centroids(v);
    CHECK(cv.data() == std::vector<double>{1.0, 5.0, 10.0});
    // Its gradient goes half to the smallest weight and half to the largest.
    const Tensor dv = KMeansRun(3).centroid_vjp(v, Tensor(Shape{3}, std::vector<double>{0.0, 1.0, 0.0}));
    CHECK(dv.data() == std::vector<double>{0.5, 0.0, 0.0, 0.5});
    CHECK(KMeansRun(3).explain_centroid(v, 1).notes.back() ==
          "no weight was ever nearest to C[1]: an empty cluster keeps its centroid");
}

TEST_CASE("weight sharing: the nearest centroid is the first minimum of a scan in index order") {
    // Brute force against the rule as written, on values of a coarse grid so
    // that equal centroids and weights halfway between two are common.
    Rng rng(17);
    for (int trial = 0; trial < 300; ++trial) {
        const std::size_t k = 1 + rng.next() % 9, n = 1 + rng.next() % 12;
        Tensor c(Shape{k}), w(Shape{n});
        for (double& v : c.data()) v = static_cast<double>(rng.next() % 9) * 0.5 - 2.0;
        for (double& v : w.data()) v = static_cast<double>(rng.next() % 19) * 0.25 - 2.25;
        std::vector<long long> scanned(n);
        for (std::size_t i = 0; i < n; ++i) {
            std::size_t best = 0;
            for (std::size_t j = 1; j < k; ++j)
                if (std::fabs(w[i] - c[j]) < std::fabs(w[i] - c[best])) best = j;
            scanned[i] = static_cast<long long>(best);
        }
        CHECK(cluster_indices(w, c) == scanned);
    }
}

TEST_CASE("weight sharing: the iterations limit stops Lloyd's algorithm early") {
    // k = 2 over 0, 1, 6, 7, 12: initially C = (0, 12), and 6, equally far from both, joins the lower, C[0].
    // Update 1: C = ((0 + 1 + 6)/3, (7 + 12)/2) = (7/3, 9.5); now 6 is nearer 9.5 (3.5 < 11/3) and moves.
    // Update 2: C = ((0 + 1)/2, (6 + 7 + 12)/3) = (0.5, 25/3), and nothing moves: converged.
    const Tensor w(Shape{5}, std::vector<double>{0.0, 1.0, 6.0, 7.0, 12.0});
    const Tensor early = KMeansRun(2, 1).centroids(w), settled = KMeansRun(2, 100).centroids(w);
    CHECK(early[0] == doctest::Approx(7.0 / 3).epsilon(1e-15));
    CHECK(early[1] == 9.5);
    CHECK(settled[0] == 0.5);
    CHECK(settled[1] == doctest::Approx(25.0 / 3).epsilon(1e-15));
    CHECK(KMeansRun(2, 1).explain_centroid(w, 0).notes.at(1) ==
          "Lloyd's iterations: stopped after 1 update (the iterations limit) before the assignment settled");
    CHECK(KMeansRun(2, 100).explain_centroid(w, 0).notes.at(1) ==
          "Lloyd's iterations: converged after 2 updates (the assignment no longer changes)");
    // Stopped early, C[0] is still the mean of the cluster it was computed from: dC[0]/dW = 1/3 on 0, 1, 6.
    const Tensor dw = KMeansRun(2, 1).centroid_vjp(w, Tensor(Shape{2}, std::vector<double>{1.0, 0.0}));
    CHECK(dw[2] == doctest::Approx(1.0 / 3).epsilon(1e-15));
    CHECK(dw[3] == 0.0);
}

TEST_CASE("weight sharing: a weight crossing the midpoint of two centroids crosses a kink") {
    const Tensor c(Shape{2}, std::vector<double>{0.0, 2.0});
    CHECK(shared_pieces_of(Tensor(Shape{1}, std::vector<double>{0.999}), c) !=
          shared_pieces_of(Tensor(Shape{1}, std::vector<double>{1.001}), c));
    const OpDef& kmeans = op_named("kmeans_centroids");
    const KMeansRun s(2);
    auto pieces = [&](double middle) {
        const Tensor w(Shape{3}, std::vector<double>{0.0, middle, 10.0});
        return kmeans.pieces(call_for({w}, s.attrs, nullptr));
    };
    CHECK(pieces(4.0) == pieces(4.5));  // both join C[0]: same clusters, same smooth function
    CHECK(pieces(4.9) != pieces(5.1));  // the middle weight changes cluster
}

TEST_CASE("weight sharing: finite weights near the largest double give finite centroids") {
    const Tensor w(Shape{3}, std::vector<double>{1e308, -1e308, 0.0});
    const Tensor three = KMeansRun(3).centroids(w);  // max W - min W overflows
    CHECK(three[0] == -1e308);
    CHECK(three[1] == 0.0);
    CHECK(three[2] == 1e308);
    const Tensor two = KMeansRun(2).centroids(w);
    CHECK(two[0] == doctest::Approx(-0.5e308));  // 0 ties and goes to the lower centroid
    CHECK(two[1] == 1e308);
    CHECK(KMeansRun(1).centroids(w)[0] == 0.0);
    const Tensor five = KMeansRun(5).centroids(Tensor(Shape{2}, std::vector<double>{1.6e308, -1.6e308}));
    CHECK(five[0] == -1.6e308);
    CHECK(five[4] == 1.6e308);
    for (std::size_t j = 0; j < 5; ++j) CHECK(std::isfinite(five[j]));
    // A cluster whose sum overflows: the mean of {1e308, 1.5e308} is still 1.25e308.
    const Tensor big = KMeansRun(2).centroids(Tensor(Shape{3}, std::vector<double>{1e308, 1.5e308, -1e308}));
    CHECK(big[1] == doctest::Approx(1.25e308));
}

TEST_CASE("weight sharing: attributes and shapes out of range are refused with their range") {
    auto shape_error = [](const char* op, const std::vector<Shape>& in, double clusters, double iterations) {
        Attrs a;
        a.set("clusters", clusters);
        a.set("iterations", iterations);
        try {
            op_named(op).shape(in, a);
        } catch (const ShapeError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(shape_error("kmeans_centroids", {{4, 4}}, 0, 100) == "clusters must be from 1 to 256, got 0");
    CHECK(shape_error("kmeans_centroids", {{4, 4}}, 257, 100) == "clusters must be from 1 to 256, got 257");
    CHECK(shape_error("kmeans_centroids", {{4, 4}}, 4, 0) == "iterations must be from 1 to 1000, got 0");
    CHECK(shape_error("kmeans_centroids", {{0}}, 4, 10) == "W has no elements: k-means needs at least one");
    CHECK(shape_error("kmeans_centroids", {{4, 4}}, 4, 10).empty());
    CHECK(shape_error("shared_weights", {{4, 4}, {2, 2}}, 4, 10) ==
          "C must be a 1-D list of at least one centroid, shape (k,), got (2, 2)");
    CHECK(shape_error("shared_weights", {{4, 4}, {0}}, 4, 10).find("C must be a 1-D list") == 0);
}

TEST_CASE("weight sharing: the lesson reduces the figure's gradient and passes the gradient check") {
    const Graph g = load_lesson("weight-sharing");
    const Trace t = run(g);
    const Tensor& c = t.nodes[*g.find("C")].value;
    const Tensor& dc = *t.nodes[*g.find("C")].grad;
    const Tensor& dw = *t.nodes[*g.find("W")].grad;
    const std::vector<double> centroids = {-1.0, 0.0, 1.5, 2.0}, sums = {-0.03, 0.04, 0.02, 0.04};
    for (std::size_t k = 0; k < 4; ++k) {
        CHECK(c[k] == doctest::Approx(centroids[k]).epsilon(1e-14));
        CHECK(dc[k] == doctest::Approx(sums[k]).epsilon(1e-12));
    }
    for (std::size_t i = 0; i < 16; ++i) {
        const auto k = static_cast<std::size_t>(kFigureIndices[i]);
        const std::vector<double> sizes = {4, 5, 3, 4};
        CHECK(dw[i] == doctest::Approx(sums[k] / sizes[k]).epsilon(1e-12));
    }
    const GradcheckReport r = check_gradients(g, t, GradcheckOptions{});
    CHECK(r.passed());
    for (const NodeCheck& check : r.checks) {
        CHECK(check.surrogates.empty());
        CHECK(check.kinks == 0);
        CHECK(check.compared == check.elements);
    }
}

TEST_CASE("weight sharing: k-means on 100k weights with 256 clusters is refused by the work limit before any work") {
    auto lesson = [](int iterations) {
        return std::string(R"({"name":"kmbig","title":"t","leaves":[{"name":"W","kind":"param","shape":[100000],)") +
               R"("random":{"seed":1,"dist":"normal","mean":0,"std":1}}],"nodes":[{"name":"C",)" +
               R"("op":"kmeans_centroids","inputs":["W"],"attrs":{"clusters":256,"iterations":)" +
               std::to_string(iterations) + R"(}}],"output":{"node":"C","upstream":{"fill":1}}})";
    };
    try {
        (void)parse_lesson(lesson(400), "kmbig.json");
        FAIL("accepted");
    } catch (const LessonError& e) {
        CHECK(std::string(e.what()).find("multiply-adds by C = kmeans_centroids") != std::string::npos);
    }
    CHECK_THROWS_AS((void)parse_lesson(lesson(600), "kmbig.json"), LessonError);
}

TEST_CASE("weight sharing: all-equal weights tie the centroids, and moving one across the tie is a kink, not a FAIL") {
    const std::string text =
        R"({"name":"kmequal_ws","title":"t","leaves":[{"name":"W","kind":"param","shape":[2,3],"fill":0.5}],)"
        R"("nodes":[{"name":"C","op":"kmeans_centroids","inputs":["W"],"attrs":{"clusters":4}},)"
        R"({"name":"Ws","op":"shared_weights","inputs":["W","C"]}],"output":{"node":"Ws","upstream":)"
        R"({"random":{"seed":5,"dist":"uniform","low":-1,"high":1,"decimals":2}}}})";
    const Graph g = parse_lesson(text, "kmequal_ws.json");
    const GradcheckReport r = check_gradients(g, run(g), GradcheckOptions{});
    CHECK(r.passed());
    const NodeCheck* c = nullptr;
    for (const NodeCheck& check : r.checks)
        if (g.nodes[check.node].name == "C") c = &check;
    REQUIRE(c != nullptr);
    CHECK(c->kinks > 0);
    // Centroids in ascending order: the pieces are the cluster indices, as before.
    const Tensor w(Shape{2}, std::vector<double>{0.1, 0.9});
    CHECK(shared_pieces_of(w, Tensor(Shape{2}, std::vector<double>{0.0, 1.0})) == std::vector<long long>{0, 1});
    CHECK(shared_pieces_of(w, Tensor(Shape{2}, std::vector<double>{0.5 + 1e-6, 0.5})) !=
          shared_pieces_of(w, Tensor(Shape{2}, std::vector<double>{0.5 - 1e-6, 0.5})));
}
