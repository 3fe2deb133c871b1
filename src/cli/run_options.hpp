#pragma once
// What `run` prints: --only, --nodes, --brief, --index and --cost, read into a RunView.
#include <CLI/CLI.hpp>
#include <string>

#include "bnstep/print.hpp"

namespace bnstep::cli {

struct RunViewArgs {
    std::string only, nodes, index;
    bool brief = false;
    bool cost = false;
};

void add_run_view_options(CLI::App& cmd, RunViewArgs& a);
// The view of lesson `g` the options ask for; a UsageError for a node the
// lesson lacks, a range that runs backwards, or an --index that fits none of its tensors.
RunView run_view(const RunViewArgs& a, const Graph& g);

}  // namespace bnstep::cli
