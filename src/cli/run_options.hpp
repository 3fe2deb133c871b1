#pragma once
// What `run` prints: --only, --nodes, --brief, --index and --cost, read into a RunView.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "bnstep/print.hpp"

namespace bnstep::cli {

struct RunViewArgs {
    std::string only;
    std::optional<std::string> nodes, index;  // given, even as ''

    bool brief = false;
    bool cost = false;
};

void add_run_view_options(CLI::App& cmd, RunViewArgs& a);
// The view of lesson `g` the options ask for; a UsageError for a node the
// lesson lacks, a range that runs backwards, an empty --nodes or --index, or an
// --index that fits none of its tensors.
RunView run_view(const RunViewArgs& a, const Graph& g);
// A UsageError when --format json is asked with an option that shapes the text
// (--brief, --only, --nodes, --index): JSON always has every node and value.
void check_json_view(const RunViewArgs& a);

}  // namespace bnstep::cli
