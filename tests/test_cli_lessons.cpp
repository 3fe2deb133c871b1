// End-to-end tests of the bnstep binary: the lessons' numbers. Every number is
// checked against a value computed here, independently, with plain loops from
// the batch-norm formulas of docs/background.md#batch-normalization-step-by-step
// and the literals of lessons/batchnorm.json read at run time: never against
// bnstep output pasted back in. The command's mechanics are in test_cli.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bnstep/op.hpp"
#include "batchnorm_reference.hpp"
#include "cli_support.hpp"
#include "cli_test_support.hpp"

using namespace bnstep_test;
using namespace bnstep_cli_test;
using json = nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("cli: lessons lists every built-in lesson with its node count") {
    const auto facts = lesson_facts();
    std::map<std::string, std::size_t> want_counts;
    for (const auto& f : facts) want_counts[f.name] = f.node_count;
    // The counts the brief names, so a lesson file edited by mistake shows up too.
    CHECK(want_counts.at("batchnorm") == 13);
    CHECK(want_counts.at("batchnorm-closed-form") == 4);
    CHECK(want_counts.at("affine-bn-relu") == 9);

    SUBCASE("text") {
        const std::string out = ok_output({"lessons"});
        const auto lines = lines_of(out);
        CHECK(lines.size() == facts.size());
        std::map<std::string, std::size_t> got;
        std::vector<std::string> order;
        const std::regex row(R"(^(\S+)\s+(\d+) nodes\s+(.+)$)");
        for (const auto& line : lines) {
            std::smatch m;
            CAPTURE(line);
            REQUIRE(std::regex_match(line, m, row));
            got[m[1]] = std::stoul(m[2]);
            order.push_back(m[1]);
            const auto f =
                std::find_if(facts.begin(), facts.end(), [&](const LessonFacts& x) { return x.name == m[1]; });
            REQUIRE(f != facts.end());
            CHECK(m[3] == f->title);
        }
        CHECK(got == want_counts);
        CHECK(std::is_sorted(order.begin(), order.end()));
    }
    SUBCASE("json") {
        const json j = ok_json({"lessons", "--format", "json"});
        CHECK(j.at("command") == "lessons");
        CHECK(j.at("bnstep") == project_version());
        const json& list = j.at("lessons");
        REQUIRE(list.is_array());
        CHECK(list.size() == facts.size());
        std::vector<std::string> order;
        std::map<std::string, std::size_t> got;
        for (const json& l : list) {
            order.push_back(l.at("name"));
            got[l.at("name")] = l.at("nodes").get<std::size_t>();
            const auto f =
                std::find_if(facts.begin(), facts.end(), [&](const LessonFacts& x) { return x.name == l.at("name"); });
            REQUIRE(f != facts.end());
            CHECK(l.at("title") == f->title);
        }
        CHECK(got == want_counts);
        CHECK(std::is_sorted(order.begin(), order.end()));
    }
}

// ---------------------------------------------------------------------------
// run, text

TEST_CASE("cli: run batchnorm walks forward steps 1-9 and backward steps 9-0") {
    const std::string out = ok_output({"run", "batchnorm", "--color", "never"});
    const std::size_t backward_at = out.find("BACKWARD PASS");
    REQUIRE(backward_at != std::string::npos);
    const std::string forward = out.substr(0, backward_at);
    const std::size_t gradients_at = out.find("GRADIENTS OF THE INPUTS");
    REQUIRE(gradients_at != std::string::npos);
    const std::string backward = out.substr(backward_at, gradients_at - backward_at);
    CHECK(contains(forward, "FORWARD PASS"));

    std::vector<int> fwd = step_headings(forward);
    CHECK(fwd == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(step_headings(backward) == std::vector<int>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0});

    SUBCASE("the gradients are named as in the staged derivation") {
        for (const char* name : {"dxhat", "divar", "dsqrtvar", "dvar", "dsq", "dxmu1", "dxmu2", "dx1", "dx2", "dmu",
                                 "dbeta", "dgamma", "dgammax", "dout", "dx"}) {
            CAPTURE(name);
            CHECK(has_word(backward, name));
        }
        CHECK(contains(backward, "dxmu = dxmu1 + dxmu2"));
        CHECK(contains(backward, "dx = dx1 + dx2"));
        // The two fan-outs come in the right places: dxmu at step 2, dx at step 0.
        const std::size_t step2 = backward.find("\nstep 2 ");
        const std::size_t step1 = backward.find("\nstep 1 ");
        const std::size_t step0 = backward.find("\nstep 0 ");
        REQUIRE(step2 != std::string::npos);
        REQUIRE(step1 != std::string::npos);
        REQUIRE(step0 != std::string::npos);
        const std::size_t fan_xmu = backward.find("dxmu = dxmu1 + dxmu2");
        const std::size_t fan_x = backward.find("dx = dx1 + dx2");
        CHECK((step2 < fan_xmu && fan_xmu < step1));
        CHECK(step0 < fan_x);
    }
    SUBCASE("the gradients summary shows the independently computed values") {
        const BatchNorm& bn = reference();
        const std::size_t summary = out.find("GRADIENTS OF THE INPUTS AND PARAMETERS");
        REQUIRE(summary != std::string::npos);
        const auto lines = lines_of(out.substr(summary));
        auto numbers_after = [&](const std::string& heading) {
            std::vector<double> numbers;
            for (std::size_t k = 0; k + 1 < lines.size(); ++k)
                if (lines[k].rfind(heading, 0) == 0) {
                    std::string row = lines[k + 1];
                    std::replace(row.begin(), row.end(), '[', ' ');
                    std::replace(row.begin(), row.end(), ']', ' ');
                    std::istringstream in(row);
                    for (double v; in >> v;) numbers.push_back(v);
                }
            return numbers;
        };
        const auto dgamma = numbers_after("dgamma ");
        const auto dbeta = numbers_after("dbeta ");
        REQUIRE(dgamma.size() == bn.D);
        REQUIRE(dbeta.size() == bn.D);
        for (std::size_t j = 0; j < bn.D; ++j) {
            CHECK(dgamma[j] == doctest::Approx(bn.dgamma[j]).epsilon(5e-4));
            CHECK(dbeta[j] == doctest::Approx(bn.dbeta[j]).epsilon(5e-4));
        }
    }
}

TEST_CASE("cli: run batchnorm --format json matches an independent computation") {
    const BatchNorm& bn = reference();
    const json j = ok_json({"run", "batchnorm", "--format", "json"});
    CHECK(j.at("lesson") == "batchnorm");
    CHECK(j.at("output") == "out");

    SUBCASE("every node has the documented fields") {
        const auto facts = lesson_facts();
        REQUIRE(j.at("nodes").size() == fact_of(facts, "batchnorm").node_count);
        for (const json& n : j.at("nodes")) {
            CAPTURE(n.value("name", "?"));
            for (const char* key : {"name", "step", "op", "inputs", "attrs", "shape", "value", "grad"}) {
                CAPTURE(key);
                CHECK(n.contains(key));
            }
            for (const json& in : n.at("inputs")) {
                CAPTURE(in.value("name", "?"));
                for (const char* key : {"name", "local", "local_value", "contribution"}) {
                    CAPTURE(key);
                    CHECK(in.contains(key));
                }
            }
        }
        // Steps as in the canonical table.
        const std::vector<std::string> steps = {"x",       "mu",   "xmu",  "sq",     "var",
                                                "sqrtvar", "ivar", "xhat", "gammax", "out"};
        for (std::size_t s = 0; s < steps.size(); ++s) {
            CAPTURE(steps[s]);
            CHECK(node_named(j, steps[s]).at("step") == s);
        }
    }
    SUBCASE("forward values") {
        check_close(node_named(j, "mu").at("value"), bn.mu, kTol, "mu");
        check_close(node_named(j, "xmu").at("value"), bn.xmu, kTol, "xmu");
        check_close(node_named(j, "sq").at("value"), bn.sq, kTol, "sq");
        check_close(node_named(j, "var").at("value"), bn.var, kTol, "var");
        check_close(node_named(j, "sqrtvar").at("value"), bn.sqrtvar, kTol, "sqrtvar");
        check_close(node_named(j, "ivar").at("value"), bn.ivar, kTol, "ivar");
        check_close(node_named(j, "xhat").at("value"), bn.xhat, kTol, "xhat");
        check_close(node_named(j, "gammax").at("value"), bn.gammax, kTol, "gammax");
        check_close(node_named(j, "out").at("value"), bn.out, kTol, "out");
    }
    SUBCASE("gradients of the inputs and parameters") {
        check_close(j.at("gradients").at("dx"), bn.dx, kTol, "gradients.dx");
        check_close(j.at("gradients").at("dgamma"), bn.dgamma, kTol, "gradients.dgamma");
        check_close(j.at("gradients").at("dbeta"), bn.dbeta, kTol, "gradients.dbeta");
        check_close(node_named(j, "x").at("grad"), bn.dx, kTol, "x.grad");
        check_close(node_named(j, "gamma").at("grad"), bn.dgamma, kTol, "gamma.grad");
        check_close(node_named(j, "beta").at("grad"), bn.dbeta, kTol, "beta.grad");
        // The staged result agrees with the closed form.
        check_close(j.at("gradients").at("dx"), bn.dx_closed, kTol, "dx vs closed form");
        CHECK(node_named(j, "eps").at("grad").is_null());
    }
    SUBCASE("intermediate gradients, node by node") {
        check_close(node_named(j, "out").at("grad"), bn.dout, kTol, "dout");
        check_close(node_named(j, "gammax").at("grad"), bn.dgammax, kTol, "dgammax");
        check_close(node_named(j, "xhat").at("grad"), bn.dxhat, kTol, "dxhat");
        check_close(node_named(j, "ivar").at("grad"), bn.divar, kTol, "divar");
        check_close(node_named(j, "sqrtvar").at("grad"), bn.dsqrtvar, kTol, "dsqrtvar");
        check_close(node_named(j, "var").at("grad"), bn.dvar, kTol, "dvar");
        check_close(node_named(j, "sq").at("grad"), bn.dsq, kTol, "dsq");
        check_close(node_named(j, "xmu").at("grad"), bn.dxmu, kTol, "dxmu");
        check_close(node_named(j, "mu").at("grad"), bn.dmu, kTol, "dmu");
    }
    SUBCASE("each edge's contribution, with its name") {
        auto edge = [&](const std::string& node, const std::string& input) -> const json& {
            return input_named(node_named(j, node), input);
        };
        CHECK(edge("xhat", "ivar").at("gradient") == "divar");
        check_close(edge("xhat", "ivar").at("contribution"), bn.divar, kTol, "divar contribution");
        CHECK(edge("xhat", "xmu").at("gradient") == "dxmu1");
        check_close(edge("xhat", "xmu").at("contribution"), bn.dxmu1, kTol, "dxmu1");
        check_close(edge("xhat", "xmu").at("local_value"), Mat(bn.N, bn.ivar), kTol, "local of xmu in xhat is ivar");
        check_close(edge("xhat", "ivar").at("local_value"), bn.xmu, kTol, "local of ivar in xhat is xmu");
        CHECK(edge("sq", "xmu").at("gradient") == "dxmu2");
        check_close(edge("sq", "xmu").at("contribution"), bn.dxmu2, kTol, "dxmu2");
        CHECK(edge("xmu", "x").at("gradient") == "dx1");
        check_close(edge("xmu", "x").at("contribution"), bn.dx1, kTol, "dx1");
        CHECK(edge("xmu", "mu").at("gradient") == "dmu");
        check_close(edge("xmu", "mu").at("contribution"), bn.dmu, kTol, "dmu contribution");
        CHECK(edge("mu", "x").at("gradient") == "dx2");
        check_close(edge("mu", "x").at("contribution"), bn.dx2, kTol, "dx2");
        check_close(edge("ivar", "sqrtvar").at("contribution"), bn.dsqrtvar, kTol, "dsqrtvar contribution");
        check_close(edge("sqrtvar", "var").at("contribution"), bn.dvar, kTol, "dvar contribution");
        check_close(edge("var", "sq").at("contribution"), bn.dsq, kTol, "dsq contribution");
        check_close(edge("gammax", "gamma").at("contribution"), bn.dgamma, kTol, "dgamma contribution");
        check_close(edge("gammax", "xhat").at("contribution"), bn.dxhat, kTol, "dxhat contribution");
        check_close(edge("out", "beta").at("contribution"), bn.dbeta, kTol, "dbeta contribution");
        // A constant gets nothing.
        CHECK(edge("sqrtvar", "eps").at("contribution").is_null());
        // x collects from two nodes, xmu from two nodes.
        CHECK(node_named(j, "x").at("received").size() == 2);
        CHECK(node_named(j, "xmu").at("received").size() == 2);
    }
}

TEST_CASE("cli: run batchnorm-closed-form gives the staged dx, dgamma and dbeta") {
    const BatchNorm& bn = reference();
    // The closed-form lesson must describe the same layer as the staged one.
    const json closed_lesson = read_json_file(lesson_path("batchnorm-closed-form"));
    const json staged_lesson = read_json_file(lesson_path("batchnorm"));
    CHECK(leaf(closed_lesson, "x").at("values") == leaf(staged_lesson, "x").at("values"));
    CHECK(closed_lesson.at("output").at("upstream") == staged_lesson.at("output").at("upstream"));

    const json closed = ok_json({"run", "batchnorm-closed-form", "--format", "json"});
    const json staged = ok_json({"run", "batchnorm", "--format", "json"});
    for (const char* g : {"dx", "dgamma", "dbeta"}) {
        CAPTURE(g);
        const json& a = closed.at("gradients").at(g);
        const json& b = staged.at("gradients").at(g);
        if (a.at(0).is_array())
            check_close(a, b.get<Mat>(), kTol, g);
        else
            check_close(a, b.get<Vec>(), kTol, g);
    }
    check_close(closed.at("gradients").at("dx"), bn.dx_closed, kTol, "closed dx vs closed form");
    check_close(closed.at("gradients").at("dgamma"), bn.dgamma, kTol, "closed dgamma");
    check_close(closed.at("gradients").at("dbeta"), bn.dbeta, kTol, "closed dbeta");
    check_close(node_named(closed, "out").at("value"), bn.out, kTol, "closed out");
}

TEST_CASE("cli: run affine-bn-relu: h = XW + b, db is zero, ReLU gates the gradient") {
    const json j = ok_json({"run", "affine-bn-relu", "--format", "json"});
    const Mat X = node_named(j, "X").at("value").get<Mat>();
    const Mat W = node_named(j, "W").at("value").get<Mat>();
    const Vec b = node_named(j, "b").at("value").get<Vec>();
    const Vec gamma = node_named(j, "gamma").at("value").get<Vec>();
    const Vec beta = node_named(j, "beta").at("value").get<Vec>();
    // The literals the lesson file gives directly.
    const json lesson = read_json_file(lesson_path("affine-bn-relu"));
    CHECK(b == leaf(lesson, "b").at("values").get<Vec>());
    CHECK(gamma == leaf(lesson, "gamma").at("values").get<Vec>());
    const std::size_t N = X.size(), D = W.size(), H = W.at(0).size();
    REQUIRE(X.at(0).size() == D);

    // h = X W + b
    Mat h(N, Vec(H, 0.0));
    for (std::size_t i = 0; i < N; ++i)
        for (std::size_t k = 0; k < H; ++k) {
            for (std::size_t d = 0; d < D; ++d) h[i][k] += X[i][d] * W[d][k];
            h[i][k] += b[k];
        }
    check_close(node_named(j, "h").at("value"), h, kTol, "h");

    // Batch norm of h (fused node y), recomputed with the reference code.
    BatchNorm bn;
    bn.x = h;
    bn.gamma = gamma;
    bn.beta = beta;
    bn.eps = node_named(j, "y").at("attrs").at("eps").get<double>();
    const Mat y = node_named(j, "y").at("value").get<Mat>();
    const Mat da = node_named(j, "a").at("grad").get<Mat>();
    check_close(da, j.at("seed").get<Mat>(), 0.0, "da is the seed");

    // ReLU: a = max(y, 0); dy = da where y > 0, else 0.
    Mat dy(N, Vec(H, 0.0));
    Mat a(N, Vec(H, 0.0));
    std::size_t gated = 0;
    for (std::size_t i = 0; i < N; ++i)
        for (std::size_t k = 0; k < H; ++k) {
            a[i][k] = std::max(y[i][k], 0.0);
            dy[i][k] = y[i][k] > 0 ? da[i][k] : 0.0;
            if (y[i][k] <= 0 && da[i][k] != 0.0) ++gated;
        }
    CHECK(gated > 0);  // the lesson shows the gate closing on a non-zero upstream gradient
    check_close(node_named(j, "a").at("value"), a, 0.0, "a = relu(y)");
    check_close(node_named(j, "y").at("grad"), dy, 0.0, "dy");

    bn.dout = dy;
    bn.compute();
    check_close(node_named(j, "y").at("value"), bn.out, kTol, "y = batchnorm(h)");
    check_close(node_named(j, "h").at("grad"), bn.dx_closed, kTol, "dh");
    check_close(j.at("gradients").at("dgamma"), bn.dgamma, kTol, "dgamma");
    check_close(j.at("gradients").at("dbeta"), bn.dbeta, kTol, "dbeta");

    // db: batch norm removes the mean, so a constant bias gets no gradient.
    check_close(j.at("gradients").at("db"), Vec(H, 0.0), kTol, "db");
    // dW = X^T dh, dX = dh W^T
    Mat dW(D, Vec(H, 0.0)), dX(N, Vec(D, 0.0));
    for (std::size_t i = 0; i < N; ++i)
        for (std::size_t d = 0; d < D; ++d)
            for (std::size_t k = 0; k < H; ++k) {
                dW[d][k] += X[i][d] * bn.dx_closed[i][k];
                dX[i][d] += bn.dx_closed[i][k] * W[d][k];
            }
    check_close(j.at("gradients").at("dW"), dW, kTol, "dW");
    check_close(j.at("gradients").at("dX"), dX, kTol, "dX");
}

// ---------------------------------------------------------------------------
// trace

TEST_CASE("cli: trace --index 2,1 on step 7 works divar[1] out by hand") {
    const BatchNorm& bn = reference();
    const std::string out = ok_output({"trace", "--node", "7", "--index", "2,1"});
    const auto lines = lines_of(out);
    std::size_t at = lines.size();
    for (std::size_t k = 0; k < lines.size(); ++k)
        if (contains(lines[k], "divar[1] = sum_k dxhat[k,1] * xmu[k,1]")) at = k;
    REQUIRE(at + 2 < lines.size());

    // "= (a0)(b0) + (a1)(b1) + ...": the products of dxhat[k,1] and xmu[k,1].
    const std::string& numeric = lines[at + 1];
    CAPTURE(numeric);
    const std::regex product(R"(\(([^()]+)\)\(([^()]+)\))");
    std::vector<std::pair<double, double>> terms;
    for (auto it = std::sregex_iterator(numeric.begin(), numeric.end(), product); it != std::sregex_iterator(); ++it)
        terms.emplace_back(std::stod((*it)[1]), std::stod((*it)[2]));
    REQUIRE(terms.size() == bn.N);
    for (std::size_t k = 0; k < bn.N; ++k) {
        CAPTURE(k);
        CHECK(terms[k].first == doctest::Approx(bn.dxhat[k][1]).epsilon(5e-4));
        CHECK(terms[k].second == doctest::Approx(bn.xmu[k][1]).epsilon(5e-4));
    }
    // "= result"
    std::smatch m;
    const std::string& result_line = lines[at + 2];
    CAPTURE(result_line);
    REQUIRE(std::regex_match(result_line, m, std::regex(R"(^\s*= (\S+)\s*$)")));
    CHECK(std::stod(m[1]) == doctest::Approx(bn.divar[1]).epsilon(5e-4));

    // And the forward element xhat[2,1].
    CHECK(contains(out, "xhat[2,1] = xmu[2,1] * ivar[1]"));
}

TEST_CASE("cli: trace --format json: the worked results equal the computed elements") {
    const BatchNorm& bn = reference();
    const json t = ok_json({"trace", "--node", "7", "--index", "2,1", "--format", "json"});
    const json run = ok_json({"run", "--format", "json"});
    CHECK(t.at("index") == json::array({2, 1}));
    CHECK(t.at("node").at("name") == "xhat");

    const double fwd = t.at("forward").at("result").get<double>();
    CHECK(std::abs(fwd - bn.xhat[2][1]) <= kTol);
    CHECK(fwd == t.at("node").at("value").at(2).at(1).get<double>());

    bool saw_divar = false, saw_dxmu1 = false;
    for (const json& b : t.at("backward")) {
        const double result = b.at("worked").at("result").get<double>();
        const json& edge = input_named(t.at("node"), b.at("input").get<std::string>());
        if (b.at("gradient") == "divar") {
            saw_divar = true;
            CHECK(b.at("index") == json::array({1}));
            CHECK(std::abs(result - bn.divar[1]) <= kTol);
            CHECK(result == edge.at("contribution").at(1).get<double>());
            CHECK(result == node_named(run, "ivar").at("grad").at(1).get<double>());
        }
        if (b.at("gradient") == "dxmu1") {
            saw_dxmu1 = true;
            CHECK(b.at("index") == json::array({2, 1}));
            CHECK(std::abs(result - bn.dxmu1[2][1]) <= kTol);
            CHECK(result == edge.at("contribution").at(2).at(1).get<double>());
        }
    }
    CHECK(saw_divar);
    CHECK(saw_dxmu1);
}

TEST_CASE("cli: check-gradients passes on every built-in lesson and lists every node") {
    const auto facts = lesson_facts();
    const std::string out = ok_output({"check-gradients"});
    std::size_t total = 0;
    for (const auto& f : facts) total += f.differentiable.size();

    // Split into per-lesson sections at the "lesson <name>" lines.
    std::map<std::string, std::set<std::string>> listed;
    std::string current;
    const std::regex lesson_line(R"(^lesson (\S+)\s)");
    const std::regex row(R"(^\s+(\d+|-)\s+(\S+)\s+\([0-9, ]*\)\s+(\d+)\s+(\S+)\s+(\S+))");
    for (const auto& line : lines_of(out)) {
        std::smatch m;
        if (std::regex_search(line, m, lesson_line)) {
            current = m[1];
            continue;
        }
        if (!current.empty() && std::regex_search(line, m, row)) {
            CAPTURE(line);
            listed[current].insert(m[2]);
            CHECK(m[5] == "ok");
            CHECK(std::stod(m[4]) < 1e-5);
        }
    }
    for (const auto& f : facts) {
        CAPTURE(f.name);
        CHECK(listed[f.name] == f.differentiable);
    }
    CHECK(listed.size() == facts.size());
    CHECK(contains(out, "summary: " + std::to_string(facts.size()) + " lessons, " + std::to_string(total) +
                            " nodes checked, 0 failed"));
}

TEST_CASE("cli: check-gradients batchnorm --format json") {
    const auto facts = lesson_facts();
    const json j = ok_json({"check-gradients", "batchnorm", "--format", "json"});
    CHECK(j.at("passed") == true);
    CHECK(j.at("failures") == 0);
    const double tolerance = j.at("options").at("tolerance").get<double>();
    CHECK(tolerance == 1e-5);
    REQUIRE(j.at("lessons").size() == 1);
    const json& l = j.at("lessons").at(0);
    CHECK(l.at("lesson") == "batchnorm");
    CHECK(l.at("passed") == true);
    std::set<std::string> names;
    for (const json& n : l.at("nodes")) {
        CAPTURE(n.at("name").get<std::string>());
        names.insert(n.at("name").get<std::string>());
        CHECK(n.at("passed") == true);
        CHECK(n.at("max_error").get<double>() < tolerance);
        CHECK(n.at("max_error").get<double>() >= 0.0);
    }
    CHECK(names == fact_of(facts, "batchnorm").differentiable);
}

TEST_CASE("cli: trace points to the step that sent a node its gradient") {
    CHECK(contains(ok_output({"trace", "--node", "gamma"}), "upstream gradient dgamma (3,), from step 8 (gammax)"));
    CHECK(contains(ok_output({"trace", "--node", "gamma"}), "(bnstep trace batchnorm --node 8 works it out)"));
    CHECK(contains(ok_output({"trace", "--node", "5"}), "(bnstep trace batchnorm --node 6 works it out)"));
}
