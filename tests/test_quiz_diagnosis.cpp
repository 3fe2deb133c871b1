// The quiz's diagnosis of wrong answers (each classic mistake recognised on
// a lesson where it applies, its wrong value derived by hand here), the
// tolerance around a true 0, no trick-zero questions, and the score's list of
// nodes to review with the commands that work them out.
#include <doctest/doctest.h>

#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bnstep/lesson.hpp"
#include "bnstep/study.hpp"
#include "study_support.hpp"

using namespace bnstep;
using namespace bnstep_test;
using json = nlohmann::json;

namespace {

// The question for one element of the gradient `node` sends to `input`.
Question downstream(const Trace& t, const std::string& node, const std::string& input, const Index& at) {
    const Graph& g = *t.graph;
    const std::size_t i = *g.find(node);
    Question q;
    q.node = i;
    q.kind = QuizKind::Downstream;
    for (const EdgeGrad& e : t.nodes[i].edges)
        if (g.nodes[e.input].name == input) q.edge = std::make_pair(i, e.slot);
    REQUIRE(q.edge.has_value());
    q.at = at;
    q.answer = t.edge(*q.edge).contribution.at(at);
    return q;
}

std::string mistake(const Trace& t, const Question& q, double given) {
    const auto m = diagnose_answer(t, q, given, 0.01);
    return m ? m->name : "none";
}

}  // namespace

TEST_CASE("quiz diagnosis: each classic mistake of batch norm is named") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    const BatchNorm& b = batchnorm_by_hand();

    // var = mean(sq): dsq[i,j] = dvar[j] / 4. Forgetting the 1/N gives dvar[j], 4 times too large.
    Question q = downstream(t, "var", "sq", {2, 1});
    CHECK(std::fabs(q.answer - b.dvar[1] / 4) < 1e-12);
    CHECK(mistake(t, q, b.dvar[1]) == "off by a factor");
    CHECK(contains(diagnose_answer(t, q, b.dvar[1], 0.01)->explanation, "4 times too large"));
    CHECK(mistake(t, q, b.dvar[1] / 16) == "off by a factor");  // 4 times too small

    // xmu = x - mu: dmu[j] = -(sum_i dxmu[i,j]); the sum itself has the wrong sign.
    q = downstream(t, "xmu", "mu", {0});
    const double column_sum = b.dxmu[0][0] + b.dxmu[1][0] + b.dxmu[2][0] + b.dxmu[3][0];
    CHECK(mistake(t, q, column_sum) == "the wrong sign");

    // xhat = xmu * ivar, ivar broadcast over the rows: divar[j] = sum_i dxhat[i,j] * xmu[i,j].
    q = downstream(t, "xhat", "ivar", {2});
    CHECK(mistake(t, q, b.dxhat[3][2] * b.xmu[3][2]) == "not summed over the broadcast axis");
    // The node's own input instead of the other factor: dxmu1 = dxhat * ivar, not dxhat * xmu.
    q = downstream(t, "xhat", "xmu", {1, 0});
    CHECK(mistake(t, q, b.dxhat[1][0] * b.xmu[1][0]) == "the node's own input");

    // xmu feeds sq and xhat: dxmu = dxmu1 + dxmu2; one of them alone is a mistake.
    q = Question{};
    q.node = *g.find("xmu");
    q.kind = QuizKind::Upstream;
    q.at = {3, 1};
    q.answer = b.dxmu[3][1];
    CHECK(mistake(t, q, b.dxmu1[3][1]) == "only one contribution");
    CHECK(mistake(t, q, b.dxmu2[3][1]) == "only one contribution");

    // An answer no mistake explains, and the right one, are named nothing.
    q = downstream(t, "var", "sq", {2, 1});
    CHECK(mistake(t, q, 123.0) == "none");
    CHECK(mistake(t, q, q.answer) != "off by a factor");
}

TEST_CASE("quiz diagnosis: a matmul's transposed product") {
    const Graph g = load_lesson("affine-bn-relu");
    const Trace t = run(g);
    // XW = X @ W, X (4, 3), W (3, 2): dX[i,k] = sum_j dXW[i,j] * W[k,j], worked here from the values.
    const Tensor& dxw = *t.nodes[*g.find("XW")].grad;
    const Tensor& w = t.nodes[*g.find("W")].value;
    auto dx = [&](std::size_t i, std::size_t k) {
        return dxw.at({i, 0}) * w.at({k, 0}) + dxw.at({i, 1}) * w.at({k, 1});
    };
    const Question q = downstream(t, "XW", "X", {0, 2});
    CHECK(std::fabs(q.answer - dx(0, 2)) < 1e-12);
    // Element [2,0] read for [0,2]: the transposed product (the two differ by far more than the tolerance).
    REQUIRE(std::fabs(dx(2, 0) - dx(0, 2)) > 0.05 * std::fabs(dx(0, 2)));
    CHECK(mistake(t, q, dx(2, 0)) == "a transposed operand");
}

TEST_CASE("quiz: an answer near a true 0 is right within the tolerance of its terms") {
    // -0.000005 for a sum of terms of about 0.1 that cancels exactly.
    CHECK(answer_matches(-0.000005, 6.9e-18, 0.01, 0.2));
    CHECK(answer_matches(0.0, 6.9e-18, 0.01, 0.2));
    CHECK_FALSE(answer_matches(-0.005, 6.9e-18, 0.01, 0.2));
    CHECK_FALSE(answer_matches(-0.000005, 6.9e-18, 0.01));  // without the terms' scale: relative only
    CHECK(answer_matches(0.5345, 0.534522, 0.01, 0.0));

    // affine-bn-relu marks db's 0 as the point: asked, and a pencil answer to it is right.
    const Graph g = load_lesson("affine-bn-relu");
    const Trace t = run(g);
    QuizOptions o;
    o.node = *g.find("h");
    o.kinds = {QuizKind::Downstream};
    bool asked = false;
    for (const Question& q : make_quiz(t, o, NumFmt{})) {
        if (t.edge(*q.edge).name != "db") continue;
        asked = true;
        CHECK(std::fabs(q.answer) < 1e-12);
        // db[k] adds the column k of dh: the scale of its terms is their absolute sum
        // (of the printed terms, so to the printed digits).
        const Tensor& dh = *t.nodes[*g.find("h")].grad;
        double terms = 0;
        for (std::size_t i = 0; i < 4; ++i) terms += std::fabs(dh.at({i, q.at[0]}));
        CHECK(q.scale == doctest::Approx(terms).epsilon(1e-3));
        CHECK(answer_matches(-0.000005, q.answer, 0.01, q.scale));
    }
    CHECK(asked);
}

TEST_CASE("quiz: no question of a built-in lesson has an answer of 0, unless the lesson marks it") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const Trace t = run(g);
        for (std::uint64_t seed = 1; seed <= 25; ++seed) {
            QuizOptions o;
            o.seed = seed;
            for (const Question& q : make_quiz(t, o, NumFmt{})) {
                CAPTURE(q.asked);
                const std::size_t gets = q.kind == QuizKind::Upstream ? q.node : t.edge(*q.edge).input;
                if (q.kind != QuizKind::Local && g.nodes[gets].zero_gradient) continue;
                // Far above round-off: more than 2^-40 of the upstream gradient and inputs it comes from.
                const std::size_t from = q.edge ? q.edge->first : q.node;
                double scale = 0;
                for (std::size_t k = 0; k < t.nodes[from].grad->size(); ++k)
                    scale = std::max(scale, std::fabs((*t.nodes[from].grad)[k]));
                CHECK(std::fabs(q.answer) > std::ldexp(scale, -40));
            }
        }
    }
}

TEST_CASE("quiz end to end: the mistake named, every node to review with its command") {
    const json j = json::parse(run_bnstep({"quiz", "--format", "json", "--node", "4", "--kind", "downstream"}).out);
    REQUIRE(j.at("questions").size() == 1);
    const json& q = j.at("questions")[0];
    REQUIRE(q.at("gradient") == "dsq");
    const std::vector<std::size_t> at = q.at("index").get<std::vector<std::size_t>>();
    // dsq = dvar / 4: forgetting the 1/N answers dvar[j].
    const double forgot = batchnorm_gradient("dvar", {at[1]}).value();
    TempDir dir;
    std::ofstream(dir.path() / "a.txt") << fmt::format("{:.6g}\n{:.6g}\n", forgot, forgot);
    RunResult r = run_bnstep({"quiz", "--node", "4", "--kind", "downstream", "--answers",
                              (dir.path() / "a.txt").string(), "--color", "never"});
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "not quite (off by a factor): the answer is 4 times too large"));
    CHECK(contains(r.out, "It goes: dsq" + fmt::format("[{},{}]", at[0], at[1])));
    CHECK(contains(r.out, "not right: (off by a factor) dsq"));
    CHECK(contains(r.out,
                   fmt::format("step 4 (var): bnstep trace batchnorm --node 4 --input-index {},{}", at[0], at[1])));

    // Every answer wrong: every node of the walk is listed, each with its command.
    std::string all_wrong;
    for (int k = 0; k < 20; ++k) all_wrong += "999\n";  // 10 questions, two tries each
    std::ofstream(dir.path() / "b.txt") << all_wrong;
    r = run_bnstep({"quiz", "--answers", (dir.path() / "b.txt").string(), "--color", "never"});
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "Score: 0 of 10 right"));
    for (const std::string node :
         {"step 9 (out)", "step 8 (gammax)", "step 7 (xhat)", "step 6 (ivar)", "step 5 (sqrtvar)", "step 4 (var)",
          "step 3 (sq)", "step 2 (xmu)", "step 1 (mu)", "step 0 (x)"})
        CHECK(contains(r.out, "    " + node + ": bnstep trace batchnorm --node "));

    // The zero that affine-bn-relu marks as the point: a pencil answer to it is right.
    const json k = json::parse(run_bnstep({"quiz", "affine-bn-relu", "--format", "json", "--node", "2"}).out);
    std::string answers;
    for (const json& one : k.at("questions")) {
        // The JSON gives the scale of each answer's terms: db's terms are about 0.1 to 1, its value about 0.
        if (one.at("gradient") == "db" && one.at("kind") == "downstream") CHECK(one.at("scale").get<double>() > 0.05);
        answers += one.at("gradient") == "db" && one.at("kind") == "downstream"
                       ? "-0.000005\n"
                       : fmt::format("{:.17g}\n", one.at("answer").get<double>());
    }
    std::ofstream(dir.path() / "c.txt") << answers;
    r = run_bnstep(
        {"quiz", "affine-bn-relu", "--node", "2", "--answers", (dir.path() / "c.txt").string(), "--color", "never"});
    CHECK(contains(r.out, fmt::format("Score: {0} of {0} right", k.at("questions").size())));
}

TEST_CASE("quiz diagnosis: a dropped constant factor and a matmul operand read untransposed") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    const BatchNorm& b = batchnorm_by_hand();
    // sq = xmu^2: dxmu2[3,1] = dsq[3,1] * 2*xmu[3,1], dsq = dvar / 4. Without the 2 it is half that.
    Question q = downstream(t, "sq", "xmu", {3, 1});
    const double dsq = b.dvar[1] / 4;
    CHECK(std::fabs(q.answer - dsq * 2 * b.xmu[3][1]) < 1e-12);
    CHECK(mistake(t, q, dsq * b.xmu[3][1]) == "a dropped constant factor");
    CHECK(contains(diagnose_answer(t, q, dsq * b.xmu[3][1], 0.01)->explanation, "constant factor 2"));
    CHECK(mistake(t, q, dsq * 4 * b.xmu[3][1]) == "a dropped constant factor");  // the 2 twice

    // quantize-8bit: y = x @ Wq, x (4, 3), Wq (3, 2): dx[i,k] = sum_j dy[i,j] * Wq[k,j].
    // Reading Wq[j,k] instead gives dy[2,0]*Wq[0,1] + dy[2,1]*Wq[1,1] for dx[2,1].
    const Graph g8 = load_lesson("quantize-8bit");
    const Trace t8 = run(g8);
    const Tensor& dy = *t8.nodes[*g8.find("y")].grad;
    const Tensor& wq = t8.nodes[*g8.find("Wq")].value;
    q = downstream(t8, "y", "x", {2, 1});
    CHECK(std::fabs(q.answer - (dy.at({2, 0}) * wq.at({1, 0}) + dy.at({2, 1}) * wq.at({1, 1}))) < 1e-12);
    const double untransposed = dy.at({2, 0}) * wq.at({0, 1}) + dy.at({2, 1}) * wq.at({1, 1});
    REQUIRE(std::fabs(untransposed - q.answer) > 0.05 * std::fabs(q.answer));
    CHECK(mistake(t8, q, untransposed) == "a transposed operand");
    CHECK(contains(diagnose_answer(t8, q, untransposed, 0.01)->explanation, "Wq[j,k] where Wq[k,j]"));
}
