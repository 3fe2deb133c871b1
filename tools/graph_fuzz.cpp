// bnstep_graph_fuzz: random lessons from the op table, each loaded, run,
// gradient-checked and its worked examples checked (tests/random_graphs.hpp).
// On a failure it prints the seed and the lesson, which can be saved as a
// regression test, and exits 1.
//
//   bnstep_graph_fuzz [--count N] [--seed S] [--seconds T] [--keep-going]
//                     [--max-ops N] [--quiet] [--print SEED]
#include <chrono>
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bnstep/op.hpp"
#include "random_graphs.hpp"

using namespace bnstep;

namespace {

constexpr const char* kUsage =
    "usage: bnstep_graph_fuzz [--count N] [--seed S] [--seconds T] [--keep-going] [--max-ops N] [--quiet]\n"
    "       bnstep_graph_fuzz --print SEED\n"
    "\n"
    "Generates random lessons from the op table, seeds S, S+1, ..., and checks that each\n"
    "loads, runs, gives the generator's forward values, passes check-gradients with the\n"
    "default options and has worked examples (bnstep trace) that agree with the values and\n"
    "gradients. A failing check that passes with a 10x larger or smaller step, or that\n"
    "crosses a kink (relu, a max-pool tie, a clip bound, a rounding step), is counted as a\n"
    "finite-difference artefact; elements whose +-h crosses a kink are not compared by\n"
    "check-gradients in the first place, and are counted apart. Stops\n"
    "after N graphs or T seconds (default: 1000 graphs), or at the first failure, printing\n"
    "its seed and lesson (exit status 1).\n"
    "\n"
    "  --count N      run N graphs (with --seconds: whichever comes first)\n"
    "  --seed S       the first seed (default 1)\n"
    "  --seconds T    run for T seconds\n"
    "  --keep-going   report every failure and go on; exit 1 at the end if any\n"
    "  --max-ops N    random op nodes per graph, 1 to N (default 8; helpers come on top)\n"
    "  --quiet        no progress lines\n"
    "  --print SEED   print the lesson of one seed and exit (to save it as a file)\n";

[[noreturn]] void usage_error(const std::string& what) {
    fmt::print(stderr, "bnstep_graph_fuzz: {}\n\n{}", what, kUsage);
    std::exit(2);
}

std::uint64_t number(int argc, char** argv, int& i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage_error(flag + " needs a value");
    const std::string text = argv[++i];
    try {
        std::size_t used = 0;
        const unsigned long long v = std::stoull(text, &used);
        if (used != text.size() || text[0] == '-') throw std::invalid_argument(text);
        return v;
    } catch (const std::exception&) {
        usage_error(fmt::format("{} expects a non-negative integer, got '{}'", flag, text));
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t count = 0, first_seed = 1, seconds = 0;
    bool have_count = false, keep_going = false, quiet = false;
    std::optional<std::uint64_t> print_seed;
    fuzz::GeneratorOptions options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--count") {
            count = number(argc, argv, i);
            have_count = true;
        } else if (arg == "--seed") {
            first_seed = number(argc, argv, i);
        } else if (arg == "--seconds") {
            seconds = number(argc, argv, i);
        } else if (arg == "--max-ops") {
            const std::uint64_t n = number(argc, argv, i);
            if (n < 1 || n > 64) usage_error("--max-ops must be from 1 to 64");
            options.max_ops = static_cast<int>(n);
        } else if (arg == "--keep-going") {
            keep_going = true;
        } else if (arg == "--quiet") {
            quiet = true;
        } else if (arg == "--print") {
            print_seed = number(argc, argv, i);
        } else if (arg == "--help" || arg == "-h") {
            fmt::print("{}", kUsage);
            return 0;
        } else {
            usage_error("unknown argument '" + arg + "'");
        }
    }
    if (print_seed) {
        fmt::print("{}", fuzz::generate_lesson(*print_seed, options).json);
        return 0;
    }
    if (!have_count && seconds == 0) count = 1000;

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(clock::now() - start).count(); };

    std::map<fuzz::Verdict, std::size_t> verdicts;
    std::map<std::string, std::size_t> generated, exercised, features;
    std::size_t graphs = 0, generator_errors = 0, avoided = 0, nodes = 0, elements = 0, at_kinks = 0, failures = 0;
    std::vector<std::uint64_t> skipped_seeds;
    double next_progress = 2.0;

    auto progress = [&] {
        fmt::print(
            "[{:7.1f} s] {} graphs ({:.0f}/s): {} passed, {} skipped (kink {}, round-off {}, truncation {}), {} "
            "failed\n",
            elapsed(), graphs, graphs / std::max(elapsed(), 1e-9), verdicts[fuzz::Verdict::Passed],
            skipped_seeds.size(), verdicts[fuzz::Verdict::KinkSkipped], verdicts[fuzz::Verdict::RoundoffSkipped],
            verdicts[fuzz::Verdict::TruncationSkipped], failures);
        std::fflush(stdout);
    };

    for (std::uint64_t seed = first_seed;; ++seed) {
        if (have_count && graphs >= count) break;
        if (seconds > 0 && elapsed() >= double(seconds)) break;
        ++graphs;
        fuzz::GeneratedLesson lesson;
        try {
            lesson = fuzz::generate_lesson(seed, options);
        } catch (const std::exception& e) {
            ++generator_errors;
            ++failures;
            fmt::print("\nFAILURE at seed {}: the generator broke its own rules: {}\n", seed, e.what());
            if (!keep_going) break;
            continue;
        }
        for (const std::string& op : lesson.ops) ++generated[op];
        for (const auto& [f, n] : lesson.features) features[f] += n;
        avoided += lesson.avoided;
        const fuzz::CheckResult r = fuzz::check_lesson(lesson, GradcheckOptions{});
        ++verdicts[r.verdict];
        for (const std::string& op : r.exercised) ++exercised[op];
        nodes += r.nodes_checked;
        elements += r.elements_checked;
        at_kinks += r.elements_at_kinks;
        if (r.verdict == fuzz::Verdict::KinkSkipped || r.verdict == fuzz::Verdict::RoundoffSkipped ||
            r.verdict == fuzz::Verdict::TruncationSkipped) {
            skipped_seeds.push_back(seed);
            if (!quiet) fmt::print("seed {}: {}\n{}", seed, fuzz::verdict_name(r.verdict), r.message);
        } else if (r.verdict != fuzz::Verdict::Passed) {
            ++failures;
            fmt::print("\nFAILURE at seed {}: {}\n{}\n", seed, fuzz::verdict_name(r.verdict), r.message);
            fmt::print("--- the lesson (bnstep_graph_fuzz --print {} > random-{}.json) ---\n{}---\n", seed, seed,
                       lesson.json);
            if (!keep_going) break;
        }
        if (!quiet && elapsed() >= next_progress) {
            progress();
            next_progress = elapsed() + 10.0;
        }
    }

    const double total = elapsed();
    fmt::print("\n{} graphs from seed {} in {:.1f} s ({:.0f}/s), {} nodes and {} elements gradient-checked\n", graphs,
               first_seed, total, graphs / std::max(total, 1e-9), nodes, elements);
    fmt::print("  elements not compared, their +-h crossed a kink: {}\n", at_kinks);
    fmt::print("  passed            {}\n", verdicts[fuzz::Verdict::Passed]);
    fmt::print("  skipped, finite-difference artefacts:\n");
    fmt::print("    a kink crossed  {}\n", verdicts[fuzz::Verdict::KinkSkipped]);
    fmt::print("    round-off       {}\n", verdicts[fuzz::Verdict::RoundoffSkipped]);
    fmt::print("    truncation      {}\n", verdicts[fuzz::Verdict::TruncationSkipped]);
    if (!skipped_seeds.empty()) {
        std::string list;
        for (std::size_t k = 0; k < skipped_seeds.size() && k < 20; ++k) list += fmt::format(" {}", skipped_seeds[k]);
        fmt::print("  skipped seeds:{}{}\n", list, skipped_seeds.size() > 20 ? " ..." : "");
    }
    fmt::print("  rejected (loader) {}\n", verdicts[fuzz::Verdict::Rejected]);
    fmt::print("  run errors        {}\n", verdicts[fuzz::Verdict::RunError]);
    fmt::print("  value mismatches  {}\n", verdicts[fuzz::Verdict::ValueMismatch]);
    fmt::print("  gradient failures {}\n", verdicts[fuzz::Verdict::Failed]);
    fmt::print("  worked-example mismatches {}\n", verdicts[fuzz::Verdict::ExplainMismatch]);
    fmt::print("  generator errors  {}\n", generator_errors);
    fmt::print("  op choices avoided at a kink or a tiny variance: {}\n", avoided);
    fmt::print("\nop coverage (nodes whose backward was checked / nodes generated):\n");
    std::size_t missing = 0;
    for (const std::string& op : builtin_ops().names()) {
        fmt::print("  {:20} {:9} / {}\n", op, exercised[op], generated[op]);
        missing += exercised[op] == 0;
    }
    fmt::print("\nfeatures (occurrences):\n");
    for (const auto& [f, n] : features) fmt::print("  {:44} {}\n", f, n);
    if (missing) fmt::print("\n{} op(s) never checked\n", missing);
    return failures ? 1 : 0;
}
