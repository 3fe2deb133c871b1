// `bnstep run`: one worked element per backward edge, --brief, --only, --nodes,
// --index, --cost, and the pager; in the library and end to end.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "bnstep/lesson.hpp"
#include "bnstep/study.hpp"
#include "study_support.hpp"

using namespace bnstep;
using namespace bnstep_test;

namespace {

std::string rv_text(const Trace& t, const RunView& view = {}) {
    std::ostringstream os;
    print_run_text(os, t, PrintOptions{}, view);
    return os.str();
}

std::size_t rv_count(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
    return n;
}

// The lines of a run's backward pass from the line starting with `from` up to
// the next blank line.
std::string rv_section(const std::string& text, const std::string& from) {
    const std::size_t start = text.find("\n" + from, text.find("BACKWARD PASS"));
    if (start == std::string::npos) return "";
    const std::size_t end = text.find("\n\n", start + 1);
    return text.substr(start + 1, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

TEST_CASE("run: every backward edge that carries a gradient, and every sum, shows one worked element") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const Trace t = run(g);
        std::size_t expected = 0;
        for (std::size_t i : t.backward_order) {
            const NodeState& st = t.nodes[i];
            if (g.nodes[i].is_leaf() && st.received.size() <= 1) continue;
            expected += st.received.size() > 1;
            for (const EdgeGrad& e : st.edges) expected += e.status == EdgeGrad::Status::Flows;
        }
        const std::string text = rv_text(t);
        CHECK(rv_count(text, "worked element ") == expected);
        RunView brief;
        brief.brief = true;
        const std::string short_text = rv_text(t, brief);
        CHECK(rv_count(short_text, "worked element ") == 0);
        CHECK(lines_of(short_text).size() < lines_of(text).size());
    }
}

TEST_CASE("run: batchnorm's worked elements are the numbers worked out by hand") {
    const BatchNorm& bn = batchnorm_by_hand();
    const NumFmt num;
    const std::string text = rv_text(run(load_lesson("batchnorm")));
    // step 8, to gamma: element [1] of dgamma = sum over the rows of dgammax * xhat.
    const std::string gamma = rv_section(text, "step 8");
    CHECK(contains(gamma, "worked element [1]:"));
    CHECK(contains(gamma, "dgamma[1] = sum_k dgammax[k,1] * xhat[k,1]"));
    CHECK(contains(gamma, "= " + num(bn.dgamma[1])));
    // step 9, to beta: dbeta[1] sums column 1 of dout, -0.3 + 0.1 + 0.3 - 0.1 = 0,
    // so the element worked out is the first that is not 0, dbeta[0] = 0.6.
    const std::string beta = rv_section(text, "step 9");
    CHECK(contains(beta, "worked element [0]:"));
    CHECK(contains(beta, "dbeta[0] = sum_k dout[k,0] * 1"));
    CHECK(contains(beta, "= 0.6\n"));
    CHECK_FALSE(contains(beta, "dbeta[1] ="));
    // step 0: x feeds two nodes; the sum's element [1,1].
    const std::string x = text.substr(text.find("\nstep 0  x\n"));
    CHECK(contains(x, "worked element [1,1]:"));
    CHECK(contains(x, "dx[1,1] = dx1[1,1] + dx2[1,1]"));
    CHECK(contains(x, "= " + num(bn.dx[1][1])));
}

TEST_CASE("run_element: the preferred element unless it is 0, then the first that is not") {
    Tensor t({2, 3});
    for (std::size_t k = 0; k < 6; ++k) t[k] = 0.0;
    t[4] = 2.5;  // [1,1]
    CHECK(run_element(t, {1, 1}, false) == Index{1, 1});
    t[2] = -1.0;   // [0,2]
    t[4] = 1e-18;  // round-off beside -1: 0 at the tensor's scale
    CHECK(run_element(t, {1, 1}, false) == Index{0, 2});
    CHECK(run_element(t, {1, 1}, true) == Index{1, 1});  // --index is taken as given
    const Tensor zeros({2, 2});
    CHECK(run_element(zeros, {1, 1}, false) == Index{1, 1});
}

TEST_CASE("run --index picks the element: the node's, projected onto each input") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    RunView view;
    view.index = Index{2, 0};
    const std::string text = rv_text(t, view);
    // gammax (4, 3) at [2,0]: dgammax[2,0] = dout[2,0] = -0.2; gamma (3,) at [0].
    CHECK(contains(text, "dgammax[2,0] = dout[2,0] * 1"));
    CHECK(contains(text, "dgamma[0] = sum_k dgammax[k,0] * xhat[k,0]"));
    // A node of shape (3,) takes [2,0] for none of its tensors: step 6 (ivar)
    // works out no element, and says so where the element would be.
    CHECK_FALSE(contains(rv_section(text, "step 6"), "worked element ["));
    CHECK(contains(rv_section(text, "step 6"),
                   "\n            (--index 2,0 does not fit dsqrtvar (3,): no worked element)\n"));

    const RunResult bad = run_bnstep({"run", "batchnorm", "--index", "9,9", "--color", "never"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.out.empty());
    CHECK(lines_of(bad.err).size() == 1);
    CHECK(contains(bad.err, "--index 9,9 fits none of the tensors of lesson batchnorm"));
    const RunResult ok = run_bnstep({"run", "batchnorm", "--index", "0,2", "--color", "never"});
    CHECK(ok.exit_code == 0);
    CHECK(contains(ok.out, "dxhat[0,2] = dgammax[0,2] * gamma[2]"));
}

TEST_CASE("run --brief: one line per tensor, no worked element, a gradient printed once") {
    const RunResult full = run_bnstep({"run", "depthwise-separable", "--color", "never"});
    const RunResult brief = run_bnstep({"run", "depthwise-separable", "--brief", "--color", "never"});
    REQUIRE(brief.exit_code == 0);
    CHECK(lines_of(brief.out).size() * 3 < lines_of(full.out).size());
    CHECK_FALSE(contains(brief.out, "[["));
    CHECK_FALSE(contains(brief.out, "worked element"));
    const RunResult bn = run_bnstep({"run", "batchnorm", "--brief", "--color", "never"});
    // x's 12 values: min -2, max 3, mean 10/12 (from lessons/batchnorm.json).
    CHECK(contains(bn.out, "        min -2, max 3, mean 0.8333\n"));
    CHECK(contains(bn.out, "dbeta = sum over axis 0 of (dout * local)   (3,): [0.6 0 0.2]"));
    CHECK(contains(bn.out, "dgamma (3,): shown above, at step 8 (gammax)"));
    CHECK(contains(bn.out, "local = 1 for every element"));
}

TEST_CASE("run --only and --nodes limit the nodes printed") {
    const RunResult fwd = run_bnstep({"run", "batchnorm", "--only", "forward", "--color", "never"});
    CHECK(fwd.exit_code == 0);
    CHECK(contains(fwd.out, "FORWARD PASS"));
    CHECK_FALSE(contains(fwd.out, "BACKWARD PASS"));
    CHECK_FALSE(contains(fwd.out, "GRADIENTS"));
    const RunResult back = run_bnstep({"run", "batchnorm", "--only", "backward", "--color", "never"});
    CHECK_FALSE(contains(back.out, "FORWARD PASS"));
    CHECK(contains(back.out, "BACKWARD PASS"));
    CHECK(contains(back.out, "GRADIENTS OF THE INPUTS AND PARAMETERS"));

    for (const char* range : {"3..7", "sq..xhat", "3..xhat"}) {
        CAPTURE(range);
        const RunResult r = run_bnstep({"run", "batchnorm", "--nodes", range, "--color", "never"});
        CHECK(r.exit_code == 0);
        for (int step = 0; step <= 9; ++step) {
            const bool in = step >= 3 && step <= 7;
            // Each step heads one block forward and one backward.
            CHECK(rv_count(r.out, "\nstep " + std::to_string(step) + " ") == (in ? 2U : 0U));
        }
        CHECK_FALSE(contains(r.out, "GRADIENTS"));  // no leaf in 3..7
    }
    const RunResult open_end = run_bnstep({"run", "batchnorm", "--nodes", "8..", "--color", "never"});
    CHECK(rv_count(open_end.out, "\nstep 9 ") == 2);
    CHECK(rv_count(open_end.out, "\nstep 7 ") == 0);
    const RunResult one = run_bnstep({"run", "batchnorm", "--nodes", "gamma", "--color", "never"});
    CHECK(contains(one.out, "gamma  param (3,)"));
    CHECK(contains(one.out, "dgamma (3,)"));
    CHECK_FALSE(contains(one.out, "\nstep "));

    const RunResult bad = run_bnstep({"run", "batchnorm", "--nodes", "xht..9", "--color", "never"});
    CHECK(bad.exit_code == 2);
    CHECK(lines_of(bad.err).size() == 1);
    CHECK(contains(bad.err, "lesson batchnorm has no step or node 'xht' (did you mean 'xhat'?)"));
    const RunResult backwards = run_bnstep({"run", "batchnorm", "--nodes", "7..3"});
    CHECK(backwards.exit_code == 2);
    CHECK(lines_of(backwards.err).size() == 1);
}

TEST_CASE("run: COST only when there are weights and multiply-adds to count, or with --cost") {
    CHECK_FALSE(contains(run_bnstep({"run", "batchnorm", "--color", "never"}).out, "COST"));
    CHECK(contains(run_bnstep({"run", "batchnorm", "--cost", "--color", "never"}).out, "6 weights, 0 multiply-adds"));
    // conv2d: a convolution has both.
    CHECK(contains(run_bnstep({"run", "conv2d", "--color", "never"}).out, "COST"));
}

namespace {

// A pager that notes it ran (and the LESS it was given) and passes its input on.
struct RvPager {
    std::filesystem::path dir, script, mark;
    RvPager() {
        dir = std::filesystem::temp_directory_path() / ("bnstep-pager-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        script = dir / "pager.sh";
        mark = dir / "used";
        std::ofstream(script) << "#!/bin/sh\necho \"LESS=$LESS\" > '" << mark.string() << "'\ncat\n";
        std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    }
    ~RvPager() { std::filesystem::remove_all(dir); }
    RvPager(const RvPager&) = delete;
    RvPager& operator=(const RvPager&) = delete;
    bool used() {
        const bool was = std::filesystem::exists(mark);
        std::filesystem::remove(mark);
        return was;
    }
};

std::string rv_on_terminal(const std::vector<std::string>& args,
                           const std::vector<std::pair<std::string, std::string>>& env, unsigned short rows = 24) {
    PtySession pty(args, PtyOptions{.rows = rows, .columns = 80, .env = env});
    const auto code = pty.finish();
    CHECK(code == std::optional<int>(0));
    return pty.output();
}

}  // namespace

TEST_CASE("run and trace on a terminal: long output through $PAGER, not with --no-pager or a pipe") {
    RvPager pager;
    const std::vector<std::pair<std::string, std::string>> env{{"PAGER", pager.script.string()}, {"LESS", kUnsetEnv}};
    std::string out = rv_on_terminal({"run", "batchnorm", "--color", "never"}, env);
    CHECK(contains(out, "GRADIENTS OF THE INPUTS AND PARAMETERS"));
    CHECK(pager.used());
    out = rv_on_terminal({"trace", "batchnorm", "--node", "7", "--color", "never"}, env);
    CHECK(contains(out, "Trace of step 7 (xhat)"));
    CHECK(pager.used());

    // LESS=FRX when LESS is unset, as git does; a set LESS is left alone.
    rv_on_terminal({"run", "batchnorm", "--color", "never"}, env);
    CHECK(std::filesystem::exists(pager.mark));
    CHECK(read_text_file(pager.mark) == "LESS=FRX\n");
    rv_on_terminal({"run", "batchnorm", "--color", "never"}, {{"PAGER", pager.script.string()}, {"LESS", "-S"}});
    CHECK(read_text_file(pager.mark) == "LESS=-S\n");
    pager.used();

    out = rv_on_terminal({"run", "batchnorm", "--no-pager", "--color", "never"}, env);
    CHECK(contains(out, "GRADIENTS OF THE INPUTS AND PARAMETERS"));
    CHECK_FALSE(pager.used());
    // Output shorter than the terminal is printed directly.
    out = rv_on_terminal({"run", "batchnorm", "--color", "never"}, env, 1000);
    CHECK_FALSE(pager.used());
    // PAGER=cat or empty, and a pager that cannot be started: printed directly.
    for (const std::string& p : {std::string("cat"), std::string(""), (pager.dir / "missing").string()}) {
        out = rv_on_terminal({"run", "batchnorm", "--color", "never"}, {{"PAGER", p}});
        CHECK(contains(out, "GRADIENTS OF THE INPUTS AND PARAMETERS"));
    }
    CHECK_FALSE(pager.used());
    // Through a pipe.
    const RunResult piped = run_bnstep({"run", "batchnorm", "--color", "never"}, "", env);
    CHECK(contains(piped.out, "GRADIENTS OF THE INPUTS AND PARAMETERS"));
    CHECK_FALSE(pager.used());
}

TEST_CASE("run --index: every edge and sum it fits no tensor of says so, in one line, in the element's place") {
    // batchnorm has 15 worked elements by default (10 steps: 13 edges that carry
    // a gradient and 2 sums). -i 1 fits only the (3,) tensors, so the others
    // each get one line instead of their element: 15 places in all.
    const RunResult all = run_bnstep({"run", "batchnorm", "--color", "never"});
    const RunResult one = run_bnstep({"run", "batchnorm", "-i", "1", "--color", "never"});
    REQUIRE(one.exit_code == 0);
    const std::size_t worked = rv_count(one.out, "worked element [");
    const std::size_t misfit = rv_count(one.out, ": no worked element)\n");
    CHECK(rv_count(all.out, "worked element ") == 15);
    CHECK(worked + misfit == 15);
    CHECK(misfit == 7);  // dgammax, dxhat, dxmu1, dxmu2, dx1 (edges); dxmu, dx (sums)
    CHECK(contains(one.out, "\n        (--index 1 does not fit dxmu (4, 3): no worked element)\n"));
    CHECK(contains(one.out, "\n            (--index 1 does not fit dxhat (4, 3): no worked element)\n"));
}

TEST_CASE("run --brief: a summary statistic that is round-off prints 0") {
    // affine-bn-relu's normalized values sum to 0 exactly: their mean is 0, not
    // the 2.776e-17 that summing in floating point leaves.
    const RunResult r = run_bnstep({"run", "affine-bn-relu", "--brief", "--color", "never"});
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, "min -1.175, max 1.675, mean 0\n"));
    CHECK_FALSE(contains(r.out, "e-17"));
    CHECK_FALSE(contains(r.out, "e-18"));
    // batchnorm's xmu (x minus its column means 1, 0.5, 1) sums to 0 too.
    const RunResult bn = run_bnstep({"run", "batchnorm", "--brief", "--nodes", "xmu", "--color", "never"});
    CHECK(contains(bn.out, "min -3, max 2, mean 0\n"));
}

TEST_CASE("run --nodes: the upstream gradient from a step not shown is printed with its values") {
    // dvar = -0.5 * sum_k(dout*gamma*xmu)_k / (var+eps)^1.5, by hand (lessons/batchnorm.json):
    // [-0.19472, 0.14311, 0.57243].
    const RunResult r = run_bnstep({"run", "batchnorm", "--nodes", "3..4", "--color", "never"});
    REQUIRE(r.exit_code == 0);
    const std::string step4 = rv_section(r.out, "step 4");
    const std::size_t from = step4.find("upstream gradient dvar (3,), from step 5 (sqrtvar)\n");
    REQUIRE(from != std::string::npos);
    const std::size_t values = step4.find("[-0.1947   0.1431   0.5724]", from);
    CHECK(values != std::string::npos);
    CHECK(values < step4.find("to sq:"));
    // Step 3's upstream, dsq, comes from step 4, which is shown: not printed twice.
    CHECK(rv_count(r.out, "[[-0.04868   0.03578    0.1431]") == 1);
    // --brief: as one line.
    const RunResult brief = run_bnstep({"run", "batchnorm", "--nodes", "3..4", "--brief", "--color", "never"});
    CHECK(contains(brief.out, "from step 5 (sqrtvar)\n        [-0.1947 0.1431 0.5724]\n"));
}

TEST_CASE("run: an empty --nodes or --index, and --format json with a text-only option, are one-line errors") {
    const std::vector<std::vector<std::string>> bad{
        {"run", "batchnorm", "--nodes", ""},
        {"run", "batchnorm", "-i", ""},
        {"run", "batchnorm", "--index="},
        {"run", "batchnorm", "--format", "json", "--brief"},
        {"run", "batchnorm", "--format", "json", "--only", "forward"},
        {"run", "batchnorm", "--format", "json", "--nodes", "3..4"},
        {"run", "batchnorm", "--format", "json", "-i", "1"},
    };
    for (const auto& args : bad) {
        CAPTURE(args.back());
        const RunResult r = run_bnstep(args);
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(lines_of(r.err).size() == 1);
    }
    CHECK(contains(run_bnstep(bad[0]).err, "--nodes '': give a range"));
    CHECK(contains(run_bnstep(bad[3]).err, "--brief applies to text output"));
    CHECK(contains(run_bnstep({"run", "batchnorm", "--format", "json", "--brief", "--only", "forward"}).err,
                   "--brief, --only apply to text output"));
    CHECK(run_bnstep({"run", "batchnorm", "--format", "json", "--cost"}).exit_code == 0);
}
