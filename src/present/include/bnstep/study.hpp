#pragma once
// Learning by doing: a quiz on the backward pass, printable worksheets,
// pictures of the graph (Graphviz DOT, Mermaid) and the step-through driver
// of `run --step`. All of them read a Trace; none computes a gradient.
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bnstep/executor.hpp"
#include "bnstep/print.hpp"

namespace bnstep {

// ---- quiz ----------------------------------------------------------------

enum class QuizKind { Local, Upstream, Downstream };
std::string_view quiz_kind_name(QuizKind kind);  // "local", "upstream", "downstream"

struct QuizOptions {
    std::uint64_t seed = 1;
    std::optional<std::size_t> node;  // quiz this node only, on every question it allows
    std::vector<QuizKind> kinds;      // the kinds allowed; empty: all
    double tolerance = 0.01;          // relative
};

// One number to find, at one node of the backward pass.
struct Question {
    std::size_t node = 0;  // the backward step the question belongs to
    QuizKind kind = QuizKind::Downstream;
    // Local and Downstream: the edge (node, slot). Upstream: the edge that
    // brought the node its gradient, or none when several were added.
    std::optional<std::pair<std::size_t, std::size_t>> edge;
    Index at;           // the element asked for, in the shape of what is asked
    std::string asked;  // "dxmu1[1,1]", "∂xhat/∂ivar at [3,2]" (ASCII: notation.hpp)
    double answer = 0.0;
    // The magnitude of the terms the answer adds (Worked::scale, or the local
    // gradient's own magnitude): an answer this close to a true 0 is right.
    double scale = 0.0;
    std::string hint;  // the formula, shown after a wrong answer
    Worked worked;     // the arithmetic, shown after a second wrong answer
};

// The questions for a walk down the backward pass (the nodes `run` shows
// there): one per node with a kind and an element drawn from `seed`, or with
// `node` set every question that node allows. A UsageError when none fits.
std::vector<Question> make_quiz(const Trace& trace, const QuizOptions& options, const NumFmt& num);

// The nodes that have a question (of the allowed kinds), in walk order: the
// nodes QuizOptions::node may name.
std::vector<std::size_t> nodes_with_questions(const Trace& trace, const QuizOptions& options);

// Whether `given` is `expected` within the relative `tolerance`, or within
// tolerance * `scale` (the magnitude of the terms `expected` adds; 0: none),
// so that a pencil answer to a sum that cancels to 0 is right.
bool answer_matches(double given, double expected, double tolerance, double scale = 0.0);

// A classic mistake a wrong answer matches: its name ("the wrong sign") and
// a sentence or two saying what went wrong.
struct MistakeMatch {
    std::string name;
    std::string explanation;
};

// The classic mistake `given` is the result of (within `tolerance`), if any:
// off by a factor N or 1/N, the wrong sign, a broadcast axis not summed, one
// contribution of several, a multiply's own input instead of the other one,
// a transposed operand.
std::optional<MistakeMatch> diagnose_answer(const Trace& trace, const Question& q, double given, double tolerance);

// The wrong values the classic mistakes give for a question, in the order
// diagnose_answer tries them (the first that `given` matches is the
// diagnosis); none that the answer itself matches.
struct MistakeValue {
    MistakeMatch mistake;
    double value = 0.0;
};
std::vector<MistakeValue> mistake_values(const Trace& trace, const Question& q, double tolerance);

// What the quiz says after a first wrong answer: the mistake it matches
// (`mistake`) and the rule, or the hint. One sentence per line, unwrapped.
std::vector<std::string> first_reply_lines(const Question& q, const std::optional<MistakeMatch>& mistake,
                                           const PrintOptions& opt);
// What it says after a second wrong answer, before the worked arithmetic: the
// mistake it matches, if any, and the answer.
std::string second_reply_line(const Question& q, const std::optional<MistakeMatch>& mistake, const PrintOptions& opt);

// The command that works a question's element out: "bnstep trace LESSON --node 7 --index 1,2".
std::string review_command(const Trace& trace, const Question& q, const std::string& lesson);

// "0.25", "-1.5e-2", "1/4": the number a student typed; none for anything else.
std::optional<double> parse_answer(std::string_view text);

struct QuizResult {
    std::size_t asked = 0;                      // questions put to the student
    std::size_t correct = 0;                    // right at the first or the second try
    std::size_t first_try = 0;                  // right at the first try
    std::vector<std::size_t> review;            // nodes of the questions not right at the first try, in walk order
    std::vector<std::size_t> review_questions;  // for each of them, its first such question (an index)
    bool finished = false;                      // every question answered (not stopped by end of input or q)
};

// Puts the questions, reads one answer per line from `in`. `echo` writes each
// answer after its prompt (for input that is not typed on a terminal).
QuizResult run_quiz(std::istream& in, std::ostream& out, const Trace& trace, const std::vector<Question>& questions,
                    const QuizOptions& options, const PrintOptions& opt, bool echo);

// The questions with their answers, for teachers (`quiz --format json`).
nlohmann::json quiz_json(const Trace& trace, const std::vector<Question>& questions, const QuizOptions& options);

// ---- worksheet -----------------------------------------------------------

enum class SheetFormat { Markdown, Latex };

// A printable sheet: the forward values, then for each backward step the
// formula and a blank per gradient element; `answers` fills the blanks with
// the numbers `run` prints.
std::string worksheet(const Trace& trace, SheetFormat format, bool answers, const PrintOptions& opt);

// A blank of the worksheet and its answer: "dxmu1[1,2]", "local gradient
// ∂xhat/∂ivar[0,1]", "work one element: dx[1,1], number 2 of the arithmetic"
// (a number of the worked element's arithmetic, as trace prints it),
// "work one element: dx[1,1]" (its result). Every blank of the sheet, in the
// sheet's order: the N-th of the list is the N-th blank of the sheet.
struct SheetBlank {
    std::string asked;
    double answer = 0.0;
    double scale = 0.0;  // as Question::scale: the magnitude of the terms the answer adds
};

// The blanks worksheet() writes for this trace, with the answers its key gives.
std::vector<SheetBlank> worksheet_blanks(const Trace& trace, const PrintOptions& opt);

// Text made safe for LaTeX's text mode.
std::string latex_escape(std::string_view text);

// ---- graph pictures ------------------------------------------------------

struct PictureOptions {
    bool backward = false;                 // red edges from each node back to its inputs, labelled with the gradient
    bool values = false;                   // a few numbers of each value and gradient
    std::optional<std::size_t> highlight;  // a node to mark
    NumFmt num;
    std::size_t values_shown = 3;  // numbers per label with `values`
    std::string command;           // the command that made the picture, written in a comment
};

std::string graph_dot(const Trace& trace, const PictureOptions& options);
std::string graph_mermaid(const Trace& trace, const PictureOptions& options);
// graph_dot laid out by Graphviz's library (graph_svg.cpp): the SVG document
// `dot -Tsvg` makes of it. A UsageError when bnstep was built without the
// library's headers, a DataError when the library cannot be loaded.
std::string graph_svg(const Trace& trace, const PictureOptions& options);
std::string layout_svg(const std::string& dot);
bool graphviz_built_in();

// ---- step mode -----------------------------------------------------------

enum class Key { Next, Back, Quit, Help, End, Other };
// Enter, n or space go on; b goes back; q, Ctrl-C or Ctrl-D quit; ? or h show the keys.
Key key_for_char(int c);

// Where step mode's keys come from: a terminal, or in tests a string.
class KeySource {
public:
    virtual ~KeySource() = default;
    virtual Key next_key() = 0;
};

// Keys from a stream, one character each; end of stream is End.
class StreamKeys : public KeySource {
public:
    explicit StreamKeys(std::istream& in) : in_(in) {}
    Key next_key() override;

private:
    std::istream& in_;
};

enum class StepEnd { Finished, Quit, InputEnded };

struct StepOptions {
    Style style;
    bool erase_prompt = false;  // on a terminal: the prompt line is erased once a key is read
    std::size_t rows = 0;       // the terminal's rows: a taller node is shown a screenful at a time (0: whole)
};

// Prints the blocks, pausing after each node's block for a key; a block taller
// than the terminal pauses after each screenful. b clears the screen and draws
// the previous node again; q says where it stopped and how to go on from there.
StepEnd step_through(std::ostream& out, KeySource& keys, const std::vector<RunBlock>& blocks, const Graph& graph,
                     const StepOptions& options);

// The keys of step mode, one line each.
std::string step_keys_help();
// Step mode's output fits this many columns: the prompt line, and what q prints.
inline constexpr std::size_t kStepColumns = 80;
// What q prints at blocks[at]: where it stopped, then the commands that print
// the rest (in the forward pass: the rest of it, then the backward pass), each
// line within kStepColumns.
std::string step_stopped(const Graph& graph, const std::vector<RunBlock>& blocks, std::size_t at);
// The prompt after a pause at `where` ("3/23 forward: step 2 (xmu)"), with
// `progress` ("line 23 of 41") inside a node taller than the terminal; shorter
// than kStepColumns.
std::string step_prompt(const std::string& where, const std::string& progress);
// Clears the terminal's screen and puts the cursor at the top left.
inline constexpr const char* kClearScreen = "\x1b[H\x1b[2J";

}  // namespace bnstep
