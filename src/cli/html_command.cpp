// `bnstep html LESSON -o page.html`: one self-contained page per lesson, to
// step through in a browser (src/present/page/, docs/html-page.md).
#include "html_command.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <iostream>

#include "bnstep/error.hpp"
#include "bnstep/output_file.hpp"
#include "bnstep/page.hpp"
#include "bnstep/study.hpp"
#include "bnstep/variant.hpp"
#include "bnstep/visible.hpp"
#include "common.hpp"
#include "option_values.hpp"

namespace bnstep::cli {
namespace {

struct HtmlArgs {
    std::string lesson = "batchnorm";
    std::string output = "-";
    double tolerance = 0.01;
    Common common;
};

std::string page_command(const HtmlArgs& a, const Graph& g) {
    std::string c = fmt::format("bnstep html {}{}", a.lesson, variant_arguments(g.variant, g.student));
    for (const std::string& s : a.common.settings) c += " --set " + s;
    if (a.common.precision != NumFmt{}.precision) c += fmt::format(" --precision {}", a.common.precision);
    if (a.common.full) c += " --full";
    if (a.tolerance != 0.01) c += fmt::format(" --tolerance {:g}", a.tolerance);
    return c;
}

int write_page(HtmlArgs& a) {
    if (a.tolerance >= 1)
        throw UsageError(
            fmt::format("--tolerance {:g}: the page needs a tolerance below 1 (at 1 and above every "
                        "answer of the right sign would count)",
                        a.tolerance));
    if (a.output == "-" && ::isatty(STDOUT_FILENO) != 0)
        throw UsageError("bnstep html writes a web page: give -o FILE.html, or redirect standard output");
    // Measured with /usr/bin/time: about 330 bytes per element (the two traces, the run document), 1.8 KB with
    // --full (every number in the page three times); with a margin.
    a.common.memory_per_element(a.common.full ? 2048 : 384, "the page and its worked elements");
    const Graph g = a.common.load(a.lesson);
    const Trace raw = run(g);
    const Trace display = run_for_display(g);
    PageOptions options;
    options.print = a.common.print();
    options.tolerance = a.tolerance;
    options.command = page_command(a, g);
    PictureOptions picture;
    picture.backward = true;
    const std::string page = lesson_page(raw, display, graph_svg(display, picture), options);
    if (a.output == "-") {
        std::cout << page << std::flush;
        return kOk;
    }
    write_file_atomically(a.output, page);
    std::cout << fmt::format("wrote {}: lesson {}, {} nodes, {} KB; open it in a browser\n", visible(a.output),
                             visible(g.name), g.nodes.size(), (page.size() + 1023) / 1024);
    return kOk;
}

}  // namespace

std::function<int()> html_command(CLI::App& cmd) {
    auto a = std::make_shared<HtmlArgs>();
    add_lesson_argument(cmd, a->lesson);
    cmd.add_option("-o,--output", a->output, "the page to write; - for standard output (not a terminal)")
        ->type_name(kFileType)
        ->capture_default_str();
    add_whole(cmd, "--precision", a->common.precision, 1, 17, "significant digits of the numbers shown");
    cmd.add_option("--tolerance", a->tolerance, "predict first: the relative error an answer may have, as in quiz")
        ->check(positive)
        ->capture_default_str();
    add_lesson_options(cmd, a->common, true);
    cmd.footer(
        "The page holds everything (no network, no server): open it from disk. It steps through the forward and "
        "the backward pass (Next/Back, the arrow keys; the step is in the address, e.g. page.html#backward-7), "
        "works out any number clicked, and in predict-first mode asks for each value before showing it.");
    return [a] { return write_page(*a); };
}

}  // namespace bnstep::cli
