// The quiz: its questions' answers against batch norm computed by hand, the
// seeded choice of questions, the conversation (hint, second try, worked
// arithmetic, score) driven by a string, and the command end to end.
#include <doctest/doctest.h>

#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/study.hpp"
#include "study_support.hpp"

using namespace bnstep;
using namespace bnstep_test;
using json = nlohmann::json;

namespace {

bool close(double a, double b, double rel = 1e-12) { return std::fabs(a - b) <= rel * std::max(1.0, std::fabs(b)); }

// The expected answer of a batch-norm question, from the hand computation only.
double expected(const Trace& t, const Question& q) {
    const Graph& g = *t.graph;
    const std::string node = g.nodes[q.node].name;
    if (q.kind == QuizKind::Upstream) return batchnorm_gradient("d" + node, q.at).value();
    const EdgeGrad& e = t.edge(*q.edge);
    if (q.kind == QuizKind::Local) return batchnorm_local(node, g.nodes[e.input].name, q.at).value();
    return batchnorm_gradient(e.name, q.at).value();
}

struct Session {
    QuizResult result;
    std::string out;
};

Session converse(const Trace& t, const std::vector<Question>& qs, const std::string& answers) {
    std::istringstream in(answers);
    std::ostringstream out;
    Session s;
    s.result = run_quiz(in, out, t, qs, QuizOptions{}, PrintOptions{}, true);
    s.out = out.str();
    return s;
}

std::string exact(double v) { return fmt::format("{:.17g}\n", v); }

}  // namespace

TEST_CASE("quiz: every question of every batch-norm step has the answer worked out by hand") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    std::set<std::string> kinds_seen;
    std::size_t count = 0;
    for (std::uint64_t seed = 1; seed <= 5; ++seed)
        for (const Node& n : g.nodes) {
            QuizOptions o;
            o.seed = seed;
            o.node = *g.find(n.name);
            std::vector<Question> qs;
            try {
                qs = make_quiz(t, o, NumFmt{});
            } catch (const UsageError&) {
                // The leaves with one consumer and eps have no backward step of their own.
                CHECK((n.name == "gamma" || n.name == "beta" || n.name == "eps"));
                continue;
            }
            for (const Question& q : qs) {
                CAPTURE(n.name);
                CAPTURE(q.asked);
                CHECK(close(q.answer, expected(t, q)));
                if (q.kind != QuizKind::Local) CHECK(close(q.worked.result, q.answer, 1e-12));
                kinds_seen.insert(std::string(quiz_kind_name(q.kind)));
                ++count;
            }
        }
    CHECK(kinds_seen == std::set<std::string>{"local", "upstream", "downstream"});
    // Per seed: step 9 (2 local, 2 downstream), 8 (1 + 2 + 2), 7 (5), 6 (3), 5 (3: eps is a constant),
    // 4 (3), 3 (3), 2 (5), 1 (3), x (1 upstream).
    CHECK(count == 5 * (4 + 5 + 5 + 3 + 3 + 3 + 3 + 5 + 3 + 1));
}

TEST_CASE("quiz: one question per backward step, drawn from the seed") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    const std::vector<Question> a = make_quiz(t, QuizOptions{}, NumFmt{});
    std::vector<std::string> nodes;
    for (const Question& q : a) nodes.push_back(g.nodes[q.node].name);
    CHECK(nodes == std::vector<std::string>{"out", "gammax", "xhat", "ivar", "sqrtvar", "var", "sq", "xmu", "mu", "x"});
    const std::vector<Question> again = make_quiz(t, QuizOptions{}, NumFmt{});
    bool all_same = true, any_differs = false;
    for (std::size_t k = 0; k < a.size(); ++k) all_same = all_same && a[k].asked == again[k].asked;
    CHECK(all_same);
    for (std::uint64_t seed = 2; seed < 6; ++seed) {
        QuizOptions o;
        o.seed = seed;
        const std::vector<Question> other = make_quiz(t, o, NumFmt{});
        for (std::size_t k = 0; k < a.size(); ++k) any_differs = any_differs || a[k].asked != other[k].asked;
        for (const Question& q : other) CHECK(close(q.answer, expected(t, q)));
    }
    CHECK(any_differs);
}

TEST_CASE("quiz: --kind narrows the questions") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    for (QuizKind kind : {QuizKind::Local, QuizKind::Upstream, QuizKind::Downstream}) {
        QuizOptions o;
        o.kinds = {kind};
        const std::vector<Question> qs = make_quiz(t, o, NumFmt{});
        for (const Question& q : qs) CHECK(q.kind == kind);
        // Upstream: not at the output (given), and x only through its sum.
        CHECK(qs.size() == 9u);
    }
    QuizOptions o;
    o.node = *g.find("gamma");
    CHECK_THROWS_AS(make_quiz(t, o, NumFmt{}), UsageError);
    o.node = *g.find("x");
    o.kinds = {QuizKind::Local};
    CHECK_THROWS_AS(make_quiz(t, o, NumFmt{}), UsageError);
}

TEST_CASE("quiz: answers are parsed and compared within the relative tolerance") {
    CHECK(parse_answer("0.25") == 0.25);
    CHECK(parse_answer("  -1.5e-2 ") == -0.015);
    CHECK(parse_answer("1/4") == 0.25);
    CHECK(parse_answer("-3/4\r") == -0.75);
    CHECK_FALSE(parse_answer("").has_value());
    CHECK_FALSE(parse_answer("abc").has_value());
    CHECK_FALSE(parse_answer("1/0").has_value());
    CHECK_FALSE(parse_answer("nan").has_value());
    CHECK_FALSE(parse_answer("0x10").has_value());
    CHECK(answer_matches(0.5345, 0.534522, 0.01));
    CHECK_FALSE(answer_matches(0.52, 0.534522, 0.01));
    CHECK(answer_matches(-0.4, -0.4, 1e-9));
    CHECK_FALSE(answer_matches(0.4, -0.4, 0.5));
    CHECK(answer_matches(0.0, 6.9e-18, 0.01, 0.1));  // round-off of an exact zero whose terms are about 0.1
    CHECK_FALSE(answer_matches(0.001, 0.0, 0.01));
    CHECK_FALSE(answer_matches(0.001, 0.0, 0.01, 0.05));
}

TEST_CASE("quiz: right answers score everything, a wrong one gets a hint and a second try, two get the arithmetic") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    const std::vector<Question> qs = make_quiz(t, QuizOptions{}, NumFmt{});
    std::string answers;
    for (const Question& q : qs) answers += exact(expected(t, q));
    Session s = converse(t, qs, answers);
    CHECK(s.result.finished);
    CHECK(s.result.asked == 10);
    CHECK(s.result.correct == 10);
    CHECK(s.result.first_try == 10);
    CHECK(contains(s.out, "Score: 10 of 10 right (10 at the first try)"));
    CHECK(contains(s.out, "Nothing to review."));

    // Question 1 wrong then right, question 2 wrong twice, a line that is no number, then the rest right.
    answers = "999\n" + exact(expected(t, qs[0])) + "banana\n999\n999\n";
    for (std::size_t k = 2; k < qs.size(); ++k) answers += exact(expected(t, qs[k]));
    s = converse(t, qs, answers);
    CHECK(s.result.finished);
    CHECK(s.result.correct == 9);
    CHECK(s.result.first_try == 8);
    CHECK(s.result.review == std::vector<std::size_t>{qs[0].node, qs[1].node});
    CHECK(contains(s.out, "not quite. Hint: " + qs[0].hint.substr(0, 20)));
    CHECK(contains(s.out, "'banana' is not a number"));
    CHECK(contains(s.out, "not right: " + qs[1].asked + " = "));
    CHECK(contains(s.out, qs[1].worked.lhs + " = " + qs[1].worked.symbolic));
    CHECK(contains(s.out, "Score: 9 of 10 right (8 at the first try)"));
    CHECK(contains(s.out,
                   "To review (each command works the element out):\n    step 9 (out): bnstep trace batchnorm "
                   "--node 9 --"));
    CHECK(contains(s.out, "\n    step 8 (gammax): bnstep trace batchnorm --node 8 --"));

    // The answers run out, or the student quits.
    s = converse(t, qs, exact(expected(t, qs[0])));
    CHECK_FALSE(s.result.finished);
    CHECK(s.result.asked == 1);
    CHECK(contains(s.out, "Stopped after 1 of 10 questions (the answers ran out)."));
    s = converse(t, qs, "q\n");
    CHECK_FALSE(s.result.finished);
    CHECK(s.result.asked == 0);
    CHECK(contains(s.out, "Stopped after 0 of 10 questions (you quit)."));
}

TEST_CASE("quiz: every built-in lesson has questions whose worked arithmetic ends at the answer") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const Trace t = run(g);
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            QuizOptions o;
            o.seed = seed;
            for (const Question& q : make_quiz(t, o, NumFmt{})) {
                CAPTURE(q.asked);
                // A local gradient is a factor of the worked element, not its result.
                if (q.kind != QuizKind::Local) CHECK(close(q.worked.result, q.answer, 1e-9));
                CHECK(std::isfinite(q.answer));
            }
        }
    }
}

TEST_CASE("quiz end to end: answers from a file, a pipe's end, JSON for teachers, errors") {
    const json j = json::parse(run_bnstep({"quiz", "--format", "json", "--seed", "7"}).out);
    CHECK(j.at("command") == "quiz");
    CHECK(j.at("lesson") == "batchnorm");
    CHECK(j.at("seed") == 7);
    REQUIRE(j.at("questions").size() == 10);
    TempDir dir;
    std::ofstream answers(dir.path() / "answers.txt");
    for (const json& q : j.at("questions")) {
        const std::string kind = q.at("kind"), node = q.at("node");
        const auto at = q.at("index").get<std::vector<std::size_t>>();
        const double want = kind == "local" ? batchnorm_local(node, q.at("input"), at).value()
                                            : batchnorm_gradient(q.at("gradient"), at).value();
        CAPTURE(q.dump());
        CHECK(close(q.at("answer").get<double>(), want));
        answers << fmt::format("{:.6g}", want) << '\n';
    }
    answers.close();

    RunResult r =
        run_bnstep({"quiz", "--seed", "7", "--answers", (dir.path() / "answers.txt").string(), "--color", "never"});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(contains(r.out, "Score: 10 of 10 right (10 at the first try)"));
    CHECK(contains(r.out, "answer> "));

    r = run_bnstep({"quiz", "--node", "7", "--color", "never"});  // standard input is /dev/null
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "Question 1 of 5   step 7  xhat = xmu * ivar   (4, 3)"));
    CHECK(contains(r.out, "Stopped after 0 of 5 questions (the answers ran out)."));

    r = run_bnstep({"quiz", "--node", "gamma"});
    CHECK(r.exit_code == 2);
    CHECK(lines_of(r.err).size() == 1);
    CHECK(contains(
        r.err, "bnstep: error: lesson batchnorm: no question fits node 'gamma'; nodes with questions: step 9 (out)"));
    r = run_bnstep({"quiz", "--kind", "sideways"});
    CHECK(r.exit_code == 2);
    CHECK(lines_of(r.err).size() == 1);
    r = run_bnstep({"quiz", "--answers", (dir.path() / "missing.txt").string()});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "missing.txt: cannot read the file"));
    r = run_bnstep({"quiz", "--tolerance", "-1"});
    CHECK(r.exit_code == 2);

    // Colour only when asked for (the output is a pipe here), never with NO_COLOR.
    const std::string no = run_bnstep({"quiz", "--node", "6"}).out;
    CHECK_FALSE(contains(no, "\x1b["));
    CHECK(
        contains(run_bnstep({"quiz", "--node", "6", "--color", "always"}, "", {{"NO_COLOR", kUnsetEnv}}).out, "\x1b["));
    CHECK_FALSE(
        contains(run_bnstep({"quiz", "--node", "6", "--color", "always"}, "", {{"NO_COLOR", "1"}}).out, "\x1b["));
}
