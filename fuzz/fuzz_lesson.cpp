// libFuzzer target: any bytes as a lesson, through what every command does
// with it: load, run, text and JSON, trace at several nodes, the gradient
// check, saliency, a quiz with scripted answers, worksheets in Markdown and
// LaTeX, and pictures in DOT and Mermaid. A lesson, usage or numeric error is
// the expected answer to bad input; anything else escaping (an internal
// error, another exception) or any sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "bnstep/error.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/print.hpp"
#include "bnstep/saliency.hpp"
#include "bnstep/study.hpp"

namespace {

using namespace bnstep;

std::size_t total_elements(const Graph& g) {
    std::size_t n = 0;
    for (const Node& node : g.nodes) n += element_count(node.shape);
    return n;
}

void study(const Graph& g, const Trace& t, std::ostringstream& sink) {
    const PrintOptions print;
    QuizOptions quiz;
    quiz.seed = g.nodes.size();
    const std::vector<Question> questions = make_quiz(t, quiz, print.num);
    sink << quiz_json(t, questions, quiz).dump();
    std::istringstream answers("0\n1/4\nnot a number\n-2.5e3\n\n1\n");
    run_quiz(answers, sink, t, questions, quiz, print, true);
    for (const SheetFormat format : {SheetFormat::Markdown, SheetFormat::Latex})
        for (const bool key : {false, true}) sink << worksheet(t, format, key, print);
    PictureOptions picture;
    picture.backward = true;
    picture.values = true;
    picture.highlight = g.output;
    sink << graph_dot(t, picture) << graph_mermaid(t, picture);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    LessonOptions options;
    options.limits.file_bytes = 1 << 20;
    options.limits.nodes = 200;
    options.limits.elements = 4096;
    options.limits.memory_bytes = 64 << 20;
    options.limits.work = 1 << 24;
    try {
        const Graph g = parse_lesson(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json",
                                     builtin_ops(), options);
        const Trace t = run(g);
        std::ostringstream sink;
        print_run_text(sink, t, PrintOptions{});
        sink << run_json(t).dump();
        const std::size_t step = g.nodes.size() > 8 ? g.nodes.size() / 8 : 1;
        for (std::size_t i = 0; i < g.nodes.size(); i += step) {
            print_trace_text(sink, t, i, default_index(g.nodes[i].shape), PrintOptions{});
            sink << trace_json(t, i, default_index(g.nodes[i].shape), NumFmt{}, std::nullopt).dump();
        }
        study(g, t, sink);
        const std::size_t elements = total_elements(g);
        if (elements <= 256) {
            const GradcheckReport report = check_gradients(g, t, GradcheckOptions{});
            print_check_text(sink, {report}, PrintOptions{});
            sink << check_json({report}).dump();
        }
        if (elements <= 64) {
            SaliencyOptions saliency;
            saliency.max_work = options.limits.work;
            const SaliencyReport report = compute_saliency(g, saliency);
            print_saliency_text(sink, report, PrintOptions{});
            sink << saliency_json(report).dump();
        }
    } catch (const LessonError&) {
    } catch (const UsageError&) {
    } catch (const NumericError&) {
    }
    return 0;
}
