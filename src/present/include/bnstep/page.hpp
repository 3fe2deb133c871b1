#pragma once
// `bnstep html`: one self-contained HTML page per lesson. The page steps
// through the forward and the backward pass, shows each node as `run` does,
// works any element out as `trace` does and quizzes as `quiz` does; its numbers
// and text come from those printers, embedded with `run --format json`, so the
// page and the terminal cannot disagree. The graph is laid out by Graphviz.
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "bnstep/executor.hpp"
#include "bnstep/print.hpp"

namespace bnstep {

struct PageOptions {
    PrintOptions print;       // precision; `full` and `max_elements`: which tensors are tables
    double tolerance = 0.01;  // predict-first accepts what the quiz accepts at this relative tolerance
    std::string command;      // the command that made the page, shown at its foot
};

// What the page's script reads: `run` (the document of `run --format json`,
// tensors too large to show replaced by null) and `page` (per node the numbers
// as `run` prints them, every element worked out, the predict-first question).
// `raw` is the trace of run(), `display` of run_for_display(), of one graph.
nlohmann::json page_data(const Trace& raw, const Trace& display, const PageOptions& options);

// The whole page, from the graph's two traces and its SVG picture.
std::string lesson_page(const Trace& raw, const Trace& display, const std::string& svg, const PageOptions& options);

}  // namespace bnstep
