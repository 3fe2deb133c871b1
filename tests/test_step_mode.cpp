// Step mode (`run --step`): the run text in blocks, the driver fed keys from
// a string, and the binary driven end to end through a pseudo-terminal.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "bnstep/lesson.hpp"
#include "bnstep/study.hpp"
#include "study_support.hpp"

using namespace bnstep;
using namespace bnstep_test;

namespace {

std::string run_text(const Trace& t, const PrintOptions& opt) {
    std::ostringstream os;
    print_run_text(os, t, opt);
    return os.str();
}

// The driver's output without its prompt lines and with nothing else of its own.
std::string without_prompts(const std::string& text) {
    std::string out;
    for (const std::string& line : lines_of(text))
        if (line.rfind("-- ", 0) != 0) out += line + "\n";
    return out;
}

struct Stepped {
    StepEnd end;
    std::string out;
};

Stepped step(const Trace& t, const std::string& keys) {
    std::istringstream in(keys);
    StreamKeys source(in);
    std::ostringstream out;
    const StepEnd end = step_through(out, source, run_text_blocks(t, PrintOptions{}), *t.graph, StepOptions{});
    return {end, out.str()};
}

}  // namespace

TEST_CASE("step mode: the blocks put together are run's text, for every built-in lesson") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const Trace t = run(g);
        const std::vector<RunBlock> blocks = run_text_blocks(t, PrintOptions{});
        std::string joined;
        for (const RunBlock& b : blocks) joined += b.text;
        CHECK(joined == run_text(t, PrintOptions{}));
        // One block per node forward, one per node the backward pass shows.
        std::size_t forward = 0, backward = 0;
        for (const RunBlock& b : blocks) {
            if (b.part == RunBlock::Part::Forward) CHECK(*b.node == forward++);
            if (b.part == RunBlock::Part::Backward) ++backward;
        }
        CHECK(forward == g.nodes.size());
        std::size_t shown = 0;
        for (std::size_t i : t.backward_order) shown += !g.nodes[i].is_leaf() || t.nodes[i].received.size() > 1;
        CHECK(backward == shown);
        CHECK(blocks.front().part == RunBlock::Part::Header);
        CHECK(blocks.back().part == RunBlock::Part::Cost);
    }
}

TEST_CASE("step mode: the keys") {
    CHECK(key_for_char('\n') == Key::Next);
    CHECK(key_for_char('n') == Key::Next);
    CHECK(key_for_char(' ') == Key::Next);
    CHECK(key_for_char('b') == Key::Back);
    CHECK(key_for_char('q') == Key::Quit);
    CHECK(key_for_char(3) == Key::Quit);  // Ctrl-C
    CHECK(key_for_char('?') == Key::Help);
    CHECK(key_for_char('x') == Key::Other);
}

TEST_CASE("step mode: Enter through every node prints run's text, one pause per node") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    // 13 forward nodes and 10 backward steps (9..1 and step 0's sum).
    const Stepped s = step(t, std::string(23, '\n'));
    CHECK(s.end == StepEnd::Finished);
    CHECK(without_prompts(s.out) == run_text(t, PrintOptions{}));
    CHECK(contains(s.out, "-- 1/23 forward: step 0 (x) --"));
    CHECK(contains(s.out, "-- 5/23 forward: step 1 (mu) --"));
    CHECK(contains(s.out, "-- 14/23 backward: step 9 (out) --"));
    CHECK(contains(s.out, "-- 23/23 backward: step 0 (x) --"));
    CHECK_FALSE(contains(s.out, "-- 24/23"));
}

TEST_CASE("step mode: b goes back one node, ? shows the keys, q quits, end of input stops") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    const std::vector<RunBlock> blocks = run_text_blocks(t, PrintOptions{});

    Stepped s = step(t, "nnb?q");
    CHECK(s.end == StepEnd::Quit);
    // x, gamma, beta, then back to gamma: gamma's block twice, beta's once.
    const std::string gamma_block = blocks[2].text, beta_block = blocks[3].text;
    REQUIRE(contains(gamma_block, "gamma  param (3,)"));
    std::size_t first = s.out.find(gamma_block), second = s.out.find(gamma_block, first + 1);
    CHECK(first != std::string::npos);
    CHECK(second != std::string::npos);
    CHECK(s.out.find(beta_block) < second);
    CHECK(contains(s.out, step_keys_help()));
    CHECK_FALSE(contains(s.out, blocks[4].text));  // eps: q stopped before it
    CHECK_FALSE(contains(s.out, "BACKWARD PASS"));

    s = step(t, "b");
    CHECK(contains(s.out, "(this is the first node)"));
    CHECK(s.end == StepEnd::InputEnded);

    s = step(t, "xn");
    CHECK(contains(s.out, "(that key does nothing; ? shows the keys)"));
    CHECK(contains(s.out, "-- 2/23 forward: gamma --"));

    // Back from the first backward step shows the backward pass's heading again.
    s = step(t, std::string(13, 'n') + "nbq");
    const std::string heading = "BACKWARD PASS   L = sum(out * dout)";
    CHECK(s.out.find(heading) != s.out.rfind(heading));
}

TEST_CASE("step mode: run --step without a terminal is a one-line error, never a wait") {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"run", "--step"},
          std::vector<std::string>{"run", "conv2d", "--step", "--color", "never"}}) {
        const RunResult r = run_bnstep(args, "", {}, Stdin::DevNull, 20);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(lines_of(r.err).size() == 1);
        CHECK(contains(r.err, "bnstep: error: --step reads keys from a terminal, and standard input is not one"));
    }
    const RunResult json = run_bnstep({"run", "--step", "--format", "json"});
    CHECK(json.exit_code == 2);
    CHECK(contains(json.err, "--step shows the text output: it cannot be combined with --format json"));
}

TEST_CASE("step mode end to end: keys typed on a pseudo-terminal") {
    PtySession pty({"run", "batchnorm", "--step", "--color", "never"});
    REQUIRE(pty.wait_for("-- 1/23 forward: step 0 (x) --"));
    CHECK(contains(pty.output(), "[[   1     2   0.5]"));
    CHECK_FALSE(contains(pty.output(), "gamma  param"));
    // While it waits for a key, the terminal reads keypresses one by one without echo.
    const termios waiting = pty.settings();
    CHECK((waiting.c_lflag & ICANON) == 0);
    CHECK((waiting.c_lflag & ECHO) == 0);

    pty.type("n");
    REQUIRE(pty.wait_for("-- 2/23 forward: gamma --"));
    CHECK(contains(pty.output(), "gamma  param (3,)"));
    pty.type("b");
    REQUIRE(pty.wait_for("-- 1/23 forward: step 0 (x) --", 2));
    pty.type("?");
    REQUIRE(pty.wait_for("b: back one node"));
    pty.type("\r");  // Enter
    REQUIRE(pty.wait_for("-- 2/23 forward: gamma --", 2));
    pty.type("\x1b[C");  // the right arrow
    REQUIRE(pty.wait_for("-- 3/23 forward: beta --"));
    pty.type("q");
    const auto code = pty.finish();
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK_FALSE(contains(pty.output(), "BACKWARD PASS"));
    // The terminal is as it was.
    const termios after = pty.settings();
    CHECK((after.c_lflag & ICANON) != 0);
    CHECK((after.c_lflag & ECHO) != 0);
}

TEST_CASE("step mode end to end: through every node to the cost, and the terminal restored after SIGTERM") {
    {
        PtySession pty({"run", "conv2d", "--step", "--color", "never"});
        REQUIRE(pty.wait_for("-- 1/7 forward: step 0 (x) --"));
        // conv2d: 5 forward nodes, 2 backward steps.
        for (int k = 0; k < 7; ++k) pty.type("n");
        const auto code = pty.finish();
        REQUIRE(code.has_value());
        CHECK(*code == 0);
        CHECK(contains(pty.output(), "-- 7/7 backward: step 1 (conv) --"));
        CHECK(contains(pty.output(), "GRADIENTS OF THE INPUTS AND PARAMETERS"));
        CHECK(contains(pty.output(), "COST"));
    }
    {
        PtySession pty({"run", "batchnorm", "--step", "--color", "never"});
        REQUIRE(pty.wait_for("-- 1/23"));
        pty.signal(SIGTERM);
        const auto code = pty.finish();
        REQUIRE(code.has_value());
        CHECK(*code == 128 + SIGTERM);
        const termios after = pty.settings();
        CHECK((after.c_lflag & ICANON) != 0);
        CHECK((after.c_lflag & ECHO) != 0);
    }
}

TEST_CASE("step mode: a node taller than the terminal is shown a screenful at a time") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    std::istringstream in(std::string(300, 'n'));
    StreamKeys source(in);
    std::ostringstream out;
    StepOptions options;
    options.rows = 12;
    CHECK(step_through(out, source, run_text_blocks(t, PrintOptions{}), g, options) == StepEnd::Finished);
    // Everything is shown, and never more than 11 lines (12 rows less the
    // prompt's) between two prompts.
    CHECK(without_prompts(out.str()) == run_text(t, PrintOptions{}));
    const std::vector<std::string> lines = lines_of(out.str());
    std::size_t run_length = 0, longest = 0, last_prompt = 0;
    for (std::size_t k = 0; k < lines.size(); ++k) {
        if (lines[k].rfind("-- ", 0) == 0) {
            longest = std::max(longest, run_length);
            run_length = 0;
            last_prompt = k;
        } else {
            ++run_length;
        }
    }
    CHECK(longest == 11);
    CHECK(last_prompt > 23);  // more pauses than the 23 nodes
    CHECK(contains(out.str(), "-- 1/23 forward: step 0 (x) -- line 11 of "));
}

TEST_CASE("step mode: b clears the screen and draws the previous node, and q says how to go on") {
    const Graph g = load_lesson("batchnorm");
    const Trace t = run(g);
    const std::vector<RunBlock> blocks = run_text_blocks(t, PrintOptions{});
    Stepped s = step(t, "nnbq");
    const std::size_t clear = s.out.find(kClearScreen);
    REQUIRE(clear != std::string::npos);
    // After the clear, gamma's block (blocks[2]) comes first, then the prompt.
    CHECK(s.out.compare(clear + std::string(kClearScreen).size(), blocks[2].text.size(), blocks[2].text) == 0);
    CHECK(contains(s.out,
                   "stopped at gamma; continue with\n  bnstep run batchnorm --only forward --nodes gamma..\n"
                   "  and then bnstep run batchnorm --only backward\n"));

    s = step(t, std::string(13, 'n') + "q");  // the first backward step
    const std::string hint = "bnstep run batchnorm --only backward --nodes ..9";
    CHECK(contains(s.out, "stopped at step 9 (out) of the backward pass; continue with\n  " + hint + "\n"));
    // The command it names goes on from there: every backward step, no forward pass.
    const RunResult next = run_bnstep({"run", "batchnorm", "--only", "backward", "--nodes", "..9", "--color", "never"});
    CHECK(next.exit_code == 0);
    CHECK_FALSE(contains(next.out, "FORWARD PASS"));
    CHECK(contains(next.out, "\nstep 9  out = gammax + beta\n"));
    CHECK(contains(next.out, "\nstep 0  x\n"));
}

TEST_CASE("step mode end to end: a small terminal pages within a node, and q exits 0 with where it stopped") {
    for (const PtyOptions& options : {PtyOptions{.rows = 15, .columns = 80, .env = {}},
                                      PtyOptions{.rows = 0, .columns = 0, .env = {{"LINES", "15"}}}}) {
        PtySession pty({"run", "batchnorm", "--step", "--color", "never"}, options);
        REQUIRE(pty.wait_for("-- 1/23 forward: step 0 (x) -- line 14 of "));
        pty.type("n");
        REQUIRE(pty.wait_for("-- 1/23 forward: step 0 (x) -- Enter: next"));
        pty.type("n");
        REQUIRE(pty.wait_for("-- 2/23 forward: gamma --"));
        pty.type("b");
        REQUIRE(pty.wait_for(kClearScreen));
        pty.type("q");
        const auto code = pty.finish();
        REQUIRE(code.has_value());
        CHECK(*code == 0);
        CHECK(contains(pty.output(),
                       "stopped at step 0 (x); continue with\r\n  bnstep run batchnorm --only forward --nodes 0..\r\n"
                       "  and then bnstep run batchnorm --only backward\r\n"));
    }
}

TEST_CASE("step mode: q in the forward pass names the rest of it and the whole backward pass, in 80 columns") {
    const Graph g = load_lesson("group-conv-shuffle");
    const Trace t = run(g);
    const std::vector<RunBlock> blocks = run_text_blocks(t, PrintOptions{});
    // Forward node 5 is the sixth pause.
    const Stepped s = step(t, "nnnnnq");
    const std::string name = g.nodes[5].step ? std::to_string(*g.nodes[5].step) : g.nodes[5].name;
    CHECK(contains(s.out, "\n  bnstep run group-conv-shuffle --only forward --nodes " + name +
                              "..\n"
                              "  and then bnstep run group-conv-shuffle --only backward\n"));
    for (const std::string& line : lines_of(s.out.substr(s.out.find("stopped at")))) CHECK(line.size() <= 80);
    // The two commands print what the walk had not shown: the forward nodes
    // from 5 on, then every step of the backward pass (each block's heading).
    const RunResult f =
        run_bnstep({"run", "group-conv-shuffle", "--only", "forward", "--nodes", name + "..", "--color", "never"});
    const RunResult r = run_bnstep({"run", "group-conv-shuffle", "--only", "backward", "--color", "never"});
    const auto heading = [](const RunBlock& b) { return lines_of(b.text).at(1); };
    for (const RunBlock& b : blocks) {
        if (b.part == RunBlock::Part::Forward) CHECK(contains(f.out, "\n" + heading(b)) == (*b.node >= 5));
        if (b.part == RunBlock::Part::Backward) CHECK(contains(r.out, "\n" + heading(b) + "\n"));
    }
    CHECK_FALSE(contains(f.out, "BACKWARD PASS"));

    // Within a --nodes range, the range is kept.
    RunView view;
    view.nodes = std::vector<bool>(g.nodes.size(), false);
    for (std::size_t i = 3; i <= 7; ++i) view.nodes[i] = true;
    const std::vector<RunBlock> part = run_text_blocks(t, PrintOptions{}, view);
    std::size_t at = 0;
    while (part[at].part != RunBlock::Part::Forward || *part[at].node != 5) ++at;
    const auto ref = [&](std::size_t i) {
        return g.nodes[i].step ? std::to_string(*g.nodes[i].step) : g.nodes[i].name;
    };
    CHECK(contains(step_stopped(g, part, at), "--only forward --nodes " + ref(5) + ".." + ref(7) + "\n"));
    CHECK(contains(step_stopped(g, part, at), "--only backward --nodes " + ref(3) + ".." + ref(7) + "\n"));
}

TEST_CASE("step mode: the prompt line fits 80 columns, however long the node's name") {
    for (const std::string& progress : {std::string(), std::string("line 123 of 4567")}) {
        for (std::size_t n : {5U, 40U, 60U, 120U}) {
            const std::string where = "123/456 backward: step 12 (" + std::string(n, 'a') + ")";
            const std::string line = step_prompt(where, progress);
            CAPTURE(line);
            CHECK(line.size() < 80);
            CHECK(line.rfind("-- 123/456 backward: step 12 (aaaaa", 0) == 0);
            if (!progress.empty()) CHECK(contains(line, progress));
        }
    }
    // Every prompt of the longest lesson's walk, on a small terminal.
    const Graph g = load_lesson("group-conv-shuffle");
    const Trace t = run(g);
    std::istringstream in(std::string(400, 'n'));
    StreamKeys keys(in);
    std::ostringstream out;
    StepOptions o;
    o.rows = 10;
    step_through(out, keys, run_text_blocks(t, PrintOptions{}), *t.graph, o);
    for (const std::string& line : lines_of(out.str()))
        if (line.rfind("-- ", 0) == 0) CHECK(line.size() <= 80);
}
