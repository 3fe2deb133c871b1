// The commands for learning by doing: quiz, worksheet, graph; and the
// terminal side of `run --step`.
#include <unistd.h>

#include <fmt/format.h>
#include <sstream>
#include <iostream>

#include "bnstep/error.hpp"
#include "bnstep/study.hpp"
#include "bnstep/variant.hpp"
#include "terminal_keys.hpp"
#include "bnstep/text_file.hpp"
#include "common.hpp"
#include "html_command.hpp"
#include "option_values.hpp"
#include "pager.hpp"
#include "quiz_export_command.hpp"
#include "quiz_grade.hpp"
#include "variant_options.hpp"
#include "worksheet_bulk.hpp"

namespace bnstep::cli {
namespace {

constexpr std::size_t kMaxAnswerBytes = std::size_t{1} << 20;

QuizKind kind_named(const std::string& name) {
    if (name == "local") return QuizKind::Local;
    if (name == "upstream") return QuizKind::Upstream;
    return QuizKind::Downstream;
}

struct QuizArgs {
    std::string lesson = "batchnorm";
    std::string node, answers, grade, output;
    std::vector<std::string> kinds;
    QuizOptions options;
    Common common;
    QuizExportRequest exported;  // --export, --variants, -o
};

int quiz(const QuizArgs& a) {
    QuizOptions options = a.options;
    for (const auto& k : a.kinds) options.kinds.push_back(kind_named(k));
    if (!a.grade.empty()) {
        if (!a.exported.variants.empty() || !a.exported.format.empty())
            throw UsageError(fmt::format("--grade scores a class: leave out --{}",
                                         a.exported.format.empty() ? "variants" : "export"));
        return grade_class({a.lesson, a.grade, a.exported.students, a.output, a.node}, options, a.common);
    }
    if (a.exported.format.empty()) {
        if (!a.exported.variants.empty() || !a.exported.students.empty())
            throw UsageError(fmt::format("{} goes with --export FORMAT (gift, moodle-xml or qti)",
                                         a.exported.variants.empty() ? "--students" : "--variants"));
        if (!a.output.empty())
            throw UsageError("-o writes the scores of --grade or the file of --export: give one of them too");
    }
    const Graph g = a.common.load(a.lesson);
    if (!a.node.empty()) options.node = find_node(g, a.node);
    if (!a.exported.format.empty()) {
        if (!a.answers.empty()) throw UsageError("--export writes the questions for a platform: leave out --answers");
        QuizExportRequest request = a.exported;
        request.output = a.output;
        return export_quiz(a.common, a.lesson, options, request);
    }
    // Answers not typed at a terminal are read whole first, with a bound, so
    // that an endless input (/dev/zero) cannot grow a line without end.
    const bool typed = a.answers.empty() && ::isatty(STDIN_FILENO);
    std::istringstream given;
    if (!a.answers.empty())
        given.str(read_text_file(a.answers, kMaxAnswerBytes, "for answers (--answers)"));
    else if (!typed && a.common.format != "json")
        given.str(read_bounded(STDIN_FILENO, "standard input", kMaxAnswerBytes));
    const Trace t = a.common.format == "json" ? run(g) : run_for_display(g);
    const PrintOptions opt = a.common.print();
    const std::vector<Question> questions = make_quiz(t, options, opt.num);
    if (a.common.format == "json") {
        print_json(quiz_json(t, questions, options));
        return kOk;
    }
    std::istream& in = typed ? std::cin : given;
    const QuizResult r = run_quiz(in, std::cout, t, questions, options, opt, !typed);
    return r.finished ? kOk : kCheckFailed;
}

// The command that makes a picture, for the comment at its top.
std::string picture_command(const std::string& lesson, const Graph& g, const std::string& format,
                            const PictureOptions& o, const std::string& highlight) {
    std::string c =
        fmt::format("bnstep graph {} --format {}{}", lesson, format, variant_arguments(g.variant, g.student));
    if (o.backward) c += " --backward";
    if (o.values) c += " --values";
    if (!highlight.empty()) c += " --highlight " + highlight;
    if (o.values && o.num.precision != NumFmt{}.precision) c += fmt::format(" --precision {}", o.num.precision);
    return c;
}

}  // namespace

int run_step_mode(const Trace& t, const PrintOptions& opt, const RunView& view) {
    TerminalKeys keys(STDIN_FILENO);
    const bool terminal = ::isatty(STDOUT_FILENO) != 0;
    StepOptions step{opt.style, terminal, terminal ? terminal_rows(STDOUT_FILENO) : 0};
    step_through(std::cout, keys, run_text_blocks(t, opt, view), *t.graph, step);
    return kOk;
}

void check_step_mode(const std::string& format) {
    if (format != "text")
        throw UsageError("--step shows the text output: it cannot be combined with --format " + format);
    if (!::isatty(STDIN_FILENO))
        throw UsageError(
            "--step reads keys from a terminal, and standard input is not one (without --step, run prints "
            "every node at once)");
}

namespace {

std::function<int()> quiz_command(CLI::App& cmd) {
    auto a = std::make_shared<QuizArgs>();
    add_lesson_argument(cmd, a->lesson);
    add_whole(cmd, "--seed", a->options.seed, 0, UINT64_MAX, "the seed that picks each question and element");
    cmd.add_option("--node,-n", a->node, "ask every question of this node only (a step number or a name)")
        ->type_name(kNodeType);
    cmd.add_option("--kind", a->kinds, "only questions of this kind (repeatable)")
        ->check(CLI::IsMember({"local", "upstream", "downstream"}));
    cmd.add_option("--answers", a->answers, "read the answers from this file, one per line (default: standard input)")
        ->type_name(kFileType);
    cmd.add_option(
           "--tolerance", a->options.tolerance,
           "the relative error an answer may have (relative to the value, or to the size of its terms where they cancel)")
        ->check(positive)
        ->capture_default_str();
    cmd.add_option("--export", a->exported.format,
                   "write the questions for a learning platform instead of asking: gift or moodle-xml (Moodle), "
                   "qti (a Canvas .zip); needs -o")
        ->check(CLI::IsMember(kQuizExportFormats));
    cmd.add_option("--variants", a->exported.variants,
                   fmt::format("with --export: the variants to export, e.g. 1-40 or 1-3,9 (at most {}), one "
                               "category or quiz each",
                               kMaxVariantsPerRun))
        ->type_name("LIST")
        ->check([](const std::string& list) {
            return list.empty() ? std::string("the list is empty; give variants like 1-40 or 1-3,9") : std::string();
        });
    cmd.add_option("--students", a->exported.students,
                   "with --export: a roster CSV (a name column, optional id and variant), one category or quiz "
                   "per student; with --grade: the roster the class's rows are looked up in (by id, else name)")
        ->type_name(kFileType);
    auto* grade = cmd.add_option("--grade", a->grade,
                                 "score a class: a CSV of a row per student (name or variant, then an answer per "
                                 "question); writes a CSV of scores")
                      ->type_name(kFileType);
    cmd.add_option(
           "--output,-o", a->output,
           "the file to write, replaced whole (through a symbolic link, the file it names): the scores of --grade "
           "(default, or -: standard output) or the questions of --export (-: standard output, for gift and moodle-xml)")
        ->type_name(kFileType);
    add_common(cmd, a->common, {"text", "json"});
    add_lesson_options(cmd, a->common, true);
    grade->excludes(cmd.get_option("--answers"))
        ->excludes(cmd.get_option("--variant"))
        ->excludes(cmd.get_option("--student"));
    cmd.footer(
        "Answers are read one per line; q quits. --format json writes the questions and their answers "
        "instead of asking. --export writes one numerical question per quiz question (the same questions "
        "for every variant of --variants or --students), accepting exactly what the quiz accepts; docs/quiz-export.md "
        "says how to import the file.\nExit code: 0 when every question was answered (whatever the score) or "
        "the file was written, 1 when the answers ran out or q was typed first, 2 a usage or lesson error.\n--grade "
        "scores a whole class: the CSV's header row starts with name (each row's first field is hashed as --student "
        "hashes it, or with --students looked up in that roster's id or name column) or variant, then come the answers in the order the quiz asks them; an empty answer scores 0.");
    return [a] { return quiz(*a); };
}

struct WorksheetArgs {
    std::string lesson = "batchnorm";
    bool answers = false;
    std::string variants, students, out;
    bool force = false;
    Common common;
};

int write_worksheet(const WorksheetArgs& a) {
    const SheetFormat format = a.common.format == "latex" ? SheetFormat::Latex : SheetFormat::Markdown;
    if (!a.variants.empty() || !a.students.empty()) {
        if (a.out.empty())
            throw UsageError(
                fmt::format("{} writes a sheet and a key per variant: give --out DIR, the directory to "
                            "write them to",
                            a.variants.empty() ? "--students" : "--variants"));
        BulkSheets bulk;
        bulk.lesson = a.lesson;
        bulk.by_student = !a.students.empty();
        bulk.picks = bulk.by_student ? read_roster(a.students) : parse_variant_list(a.variants);
        bulk.format = format;
        bulk.out = a.out;
        bulk.force = a.force;
        return write_worksheets(bulk, a.common);
    }
    if (!a.out.empty()) throw UsageError("--out writes many variants: give --variants 1-40 or --students FILE too");
    const Graph g = a.common.load(a.lesson);
    const Trace t = run_for_display(g);
    std::cout << worksheet(t, format, a.answers, a.common.print());
    return kOk;
}

std::function<int()> worksheet_command(CLI::App& cmd) {
    auto a = std::make_shared<WorksheetArgs>();
    a->common.format = "markdown";
    add_lesson_argument(cmd, a->lesson);
    cmd.add_flag("--answers", a->answers,
                 "write the answer key: the blanks filled in with run's numbers, each step's element worked out");
    cmd.add_option("--format", a->common.format, "markdown, or latex for pdflatex")
        ->check(CLI::IsMember({"markdown", "latex"}))
        ->capture_default_str();
    add_whole(cmd, "--precision", a->common.precision, 1, 17, "significant digits of printed numbers");
    auto* variants = cmd.add_option("--variants", a->variants,
                                    "write a sheet and a key for each of these variants, e.g. 1-40 or 1-3,9 (at "
                                    "most 1000), into --out DIR")
                         ->type_name("LIST")
                         ->check([](const std::string& list) {
                             return list.empty() ? std::string("the list is empty; give variants like 1-40 or 1-3,9")
                                                 : std::string();
                         });
    auto* students = cmd.add_option("--students", a->students,
                                    "write a sheet and a key for each student of this roster: a CSV with a name "
                                    "column (and optional id and variant columns), into --out DIR")
                         ->type_name(kFileType)
                         ->excludes(variants);
    cmd.add_option("--out", a->out,
                   "the directory --variants or --students writes (new or empty): the sheets, the keys, answers.csv")
        ->type_name("DIR");
    cmd.add_flag("--force", a->force, "let --out write into a directory that is not empty");
    add_lesson_options(cmd, a->common, true);
    for (auto* many : {variants, students})
        many->excludes(cmd.get_option("--variant"))
            ->excludes(cmd.get_option("--student"))
            ->excludes(cmd.get_option("--answers"));
    cmd.footer(
        "With --variants or --students: DIR/variant-7-sheet.md and variant-7-key.md (for a roster, the student's "
        "name: ada-lovelace-sheet.md), .tex with --format latex and a PDF of each when pdflatex is on PATH, and "
        "DIR/answers.csv: a row per variant and blank (variant, student, blank, asked, answer, tolerance, scale).");
    return [a] { return write_worksheet(*a); };
}

struct GraphArgs {
    std::string lesson = "batchnorm";
    std::string highlight;
    PictureOptions picture;
    Common common;
};

int draw_graph(const GraphArgs& a) {
    const Graph g = a.common.load(a.lesson);
    PictureOptions o = a.picture;
    if (!a.highlight.empty()) o.highlight = find_node(g, a.highlight);
    o.num.precision = a.common.precision;
    o.command = picture_command(a.lesson, g, a.common.format, o, a.highlight);
    const Trace t = run_for_display(g);
    if (a.common.format == "svg")
        std::cout << graph_svg(t, o);
    else
        std::cout << (a.common.format == "mermaid" ? graph_mermaid(t, o) : graph_dot(t, o));
    return kOk;
}

std::function<int()> graph_command(CLI::App& cmd) {
    auto a = std::make_shared<GraphArgs>();
    a->common.format = "dot";
    add_lesson_argument(cmd, a->lesson);
    cmd.add_option("--format", a->common.format, "dot (Graphviz), mermaid, or svg (laid out by Graphviz's library)")
        ->check(CLI::IsMember({"dot", "mermaid", "svg"}))
        ->capture_default_str();
    cmd.add_flag("--backward", a->picture.backward, "add the backward edges, in red, labelled with their gradient");
    cmd.add_flag("--values", a->picture.values, "show the first few numbers of each value and gradient");
    cmd.add_option("--highlight", a->highlight, "mark one node (a step number or a name)")->type_name(kNodeType);
    add_whole(cmd, "--precision", a->common.precision, 1, 17, "significant digits of the numbers --values shows");
    add_lesson_options(cmd, a->common, false);
    cmd.footer("A picture: bnstep graph batchnorm --backward --format svg > batchnorm.svg (the same as piping the DOT "
               "through dot -Tsvg)");
    return [a] { return draw_graph(*a); };
}

}  // namespace

std::vector<Command> study_commands() {
    return {
        {"quiz",
         "predict each gradient of the backward pass: the mistake named or a hint, a second try, then the arithmetic",
         quiz_command},
        {"worksheet", "a printable sheet: forward values, each backward step's formula, blanks and one element to work",
         worksheet_command},
        {"graph", "the computational graph as Graphviz DOT, Mermaid or SVG, backward edges in red", graph_command},
        {"html", "the lesson as one self-contained web page: step through it, click any number, predict first",
         html_command},
    };
}

}  // namespace bnstep::cli
