#include "commands.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iostream>
#include <map>
#include <sstream>

#include "bnstep/error.hpp"
#include "bnstep/notation.hpp"
#include "bnstep/version.hpp"
#include "build_info.hpp"
#include "bnstep/parallel.hpp"
#include "common.hpp"
#include "guard.hpp"
#include "option_values.hpp"
#include "pager.hpp"
#include "run_options.hpp"

namespace bnstep::cli {

namespace {

// Each command: its arguments, what it does with them, and the function that
// adds its options and returns the action; core_commands() wires them up.

int list_lessons(const std::string& format) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& lesson : builtin_lessons()) {
        const Graph g = parse_lesson(lesson.json, "lessons/" + std::string(lesson.name) + ".json");
        if (format == "json")
            list.push_back({{"name", g.name}, {"title", g.title}, {"nodes", g.nodes.size()}});
        else
            std::cout << fmt::format("{:<24} {:>3} nodes  {}\n", g.name, g.nodes.size(), g.title);
    }
    if (format == "json") print_json({{"bnstep", kVersion}, {"command", "lessons"}, {"lessons", list}});
    return kOk;
}

std::function<int()> lessons_command(CLI::App& cmd) {
    auto format = std::make_shared<std::string>("text");
    cmd.add_option("--format", *format, "output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
    return [format] { return list_lessons(*format); };
}

struct RunArgs {
    std::string lesson = "batchnorm";
    Common common;
    RunViewArgs view;
    bool step = false;
    bool no_pager = false;
};

int run_lesson(RunArgs& a) {
    Common& common = a.common;
    if (a.step) check_step_mode(common.format);
    if (common.format == "json") check_json_view(a.view);
    if (common.format == "json")
        common.memory_per_element(192, "the run and its JSON text");
    else if (common.full)
        common.memory_per_element(80, "the run and its text");
    const Graph g = common.load(a.lesson);
    const RunView view = run_view(a.view, g);
    // Text shows exact zeros as 0 (round_off_zeros); JSON keeps the raw doubles.
    const Trace t = common.format == "json" ? run(g) : run_for_display(g);
    if (a.step) return run_step_mode(t, common.print(), view);
    if (common.format == "json") {
        print_json(run_json(t));
    } else {
        std::ostringstream text;
        print_run_text(text, t, common.print(), view);
        page_or_print(text.str(), !a.no_pager);
    }
    return kOk;
}

std::function<int()> run_command(CLI::App& cmd) {
    auto a = std::make_shared<RunArgs>();
    add_lesson_argument(cmd, a->lesson);
    add_common(cmd, a->common, {"text", "json"});
    add_lesson_options(cmd, a->common, true);
    add_run_view_options(cmd, a->view);
    cmd.add_flag("--step", a->step,
                 "pause after each node (on a terminal): Enter or n next, b back one node, q quit, ? keys");
    cmd.add_flag("--no-pager", a->no_pager, "print directly, never through $PAGER");
    return [a] { return run_lesson(*a); };
}

struct TraceArgs {
    std::string lesson = "batchnorm";
    std::string node, index, input_index;
    Common common;
    bool no_pager = false;
};

int trace_node(TraceArgs& a) {
    Common& common = a.common;
    if (common.format == "json") common.memory_per_element(112, "the run and its JSON text");
    const Graph g = common.load(a.lesson);
    const std::size_t i = find_node(g, a.node);
    const Index at = parse_index(a.index, g.nodes[i]);
    const std::optional<Index> input_at = parse_input_index(a.input_index, g, i);
    const Trace t = common.format == "json" ? run(g) : run_for_display(g);
    const PrintOptions opt = common.print();
    if (common.format == "json") {
        print_json(trace_json(t, i, at, opt.num, input_at));
    } else {
        std::ostringstream text;
        print_trace_text(text, t, i, at, opt, input_at);
        page_or_print(text.str(), !a.no_pager);
    }
    return kOk;
}

std::function<int()> trace_command(CLI::App& cmd) {
    auto a = std::make_shared<TraceArgs>();
    add_lesson_argument(cmd, a->lesson);
    cmd.add_option("--node,-n", a->node, "the node: its step number or its name")->type_name(kNodeType)->required();
    cmd.add_option("--index,-i", a->index,
                   "the element of the node to work out, e.g. 1,2 (default: 1 on every axis longer than 1); "
                   "the inputs' gradients use the matching element");
    cmd.add_option("--input-index", a->input_index,
                   "the element of the inputs' gradients to work out instead, e.g. 0,0,7,3 (for each input "
                   "whose rank it fits)");
    add_common(cmd, a->common, {"text", "json"});
    add_lesson_options(cmd, a->common, true);
    cmd.add_flag("--no-pager", a->no_pager, "print directly, never through $PAGER");
    return [a] { return trace_node(*a); };
}

struct CheckArgs {
    std::vector<std::string> lessons;
    GradcheckOptions options;
    Common common;
};

int check_lessons(CheckArgs& a) {
    Common& common = a.common;
    std::vector<std::string> names = a.lessons;
    if (names.empty())
        for (const auto& l : builtin_lessons()) names.emplace_back(l.name);
    std::vector<Graph> graphs;
    // Each thread of the check holds the new values of what a move reaches: at most every node.
    common.memory_per_element(kBytesPerElement + 24 * worker_count(),
                              "the run and a copy of the values per thread of the check");
    for (const auto& name : names) graphs.push_back(common.load(name));
    std::vector<Trace> traces;
    std::vector<GradcheckReport> reports;
    for (const Graph& g : graphs) traces.push_back(run(g, TraceDetail::Gradients));
    for (std::size_t k = 0; k < graphs.size(); ++k) reports.push_back(check_gradients(graphs[k], traces[k], a.options));
    if (common.format == "json")
        print_json(check_json(reports));
    else
        print_check_text(std::cout, reports, common.print());
    for (const auto& r : reports)
        if (!r.passed()) return kCheckFailed;
    return kOk;
}

void add_check_mode(CLI::App& cmd, GradcheckOptions& options) {
    const std::map<std::string, GradcheckMode> modes{{"auto", GradcheckMode::Auto},
                                                     {"full", GradcheckMode::Full},
                                                     {"sparse", GradcheckMode::Sparse},
                                                     {"directional", GradcheckMode::Directional},
                                                     {"local", GradcheckMode::Local}};
    cmd.add_option_function<std::string>(
           "--mode", [&options, modes](const std::string& m) { options.mode = modes.at(m); },
           "full: every element; sparse: --samples elements per node; directional: one random "
           "direction per node, full where it fails; local: every element, moved through its consumers "
           "only; auto (default): full for small lessons, local for long graphs (over 500 nodes), else "
           "directional")
        ->check(CLI::IsMember({"auto", "full", "sparse", "directional", "local"}));
}

std::function<int()> check_command(CLI::App& cmd) {
    auto a = std::make_shared<CheckArgs>();
    GradcheckOptions& options = a->options;
    cmd.add_option("lessons", a->lessons, "built-in lesson names or .json paths (default: all built-in lessons)")
        ->type_name(kLessonType);
    cmd.add_option("--step", options.step, "h, the step of the centred differences")
        ->check(positive)
        ->capture_default_str();
    cmd.add_option("--tolerance", options.tolerance, "the largest relative error that passes")
        ->check(positive)
        ->capture_default_str();
    cmd.add_option("--floor", options.floor,
                   "the smallest denominator of the relative error, so gradients near 0 compare absolutely")
        ->check(positive)
        ->capture_default_str();
    add_check_mode(cmd, options);
    add_whole(cmd, "--samples", options.samples, 1, kMaxElementsLimit, "elements checked per node in sparse mode");
    add_whole(cmd, "--seed", options.seed, 0, UINT64_MAX, "seed of the sparse sample and of the directions");
    add_common(cmd, a->common, {"text", "json"});
    add_lesson_options(cmd, a->common, false);
    return [a] { return check_lessons(*a); };
}

struct SaliencyArgs {
    std::string lesson = "obd-saliency";
    std::string method = "obd";
    SaliencyOptions options;
    double damping = 0.0;
    std::size_t example = 0;
    Common common;
};

int fisher_pruning(const SaliencyArgs& a, const Graph& g) {
    const FisherReport report =
        compute_fisher(g, FisherOptions{.saliency = a.options, .example = a.example, .example_name = "--example"});
    if (a.common.format == "json")
        print_json(fisher_json(report));
    else
        print_fisher_text(std::cout, report, a.common.print());
    return kOk;
}

int layerwise_obs(SaliencyArgs& a, const Graph& g) {
    if (a.options.params.size() > 1)
        throw UsageError(fmt::format("--method obs prunes one layer: give one --param (the weight of a matmul), not {}",
                                     a.options.params.size()));
    const ObsOptions options{.param = a.options.params.empty() ? "" : a.options.params.front(),
                             .damping = a.damping,
                             .prune = a.options.prune,
                             .max_work = a.common.limits.work,
                             .max_elements = a.common.limits.elements,
                             .param_name = "--param",
                             .damping_name = "--damping",
                             .prune_name = "--prune",
                             .max_work_name = a.common.limits.names.work,
                             .max_elements_name = a.common.limits.names.elements};
    const ObsReport report = compute_layerwise_obs(g, options);
    if (a.common.format == "json")
        print_json(obs_json(report));
    else
        print_obs_text(std::cout, report, a.common.print());
    return kOk;
}

int rank_saliency(SaliencyArgs& a) {
    if (a.method != "obs" && a.damping != 0.0)
        throw UsageError(
            fmt::format("--damping is for --method obs (the inverse of the layer's Hessian), not {}", a.method));
    if (a.method != "fisher" && a.example != 0)
        throw UsageError(
            fmt::format("--example is for --method fisher (the example whose gradient is shown), not {}", a.method));
    const Graph g = a.common.load(a.lesson);
    if (a.method == "obs") return layerwise_obs(a, g);
    a.options.max_work = a.common.limits.work;
    a.options.max_work_name = a.common.limits.names.work;
    a.options.params_name = "--param";
    a.options.prune_name = "--prune";
    if (a.method == "fisher") return fisher_pruning(a, g);
    const SaliencyReport report = compute_saliency(g, a.options);
    if (a.common.format == "json")
        print_json(saliency_json(report));
    else
        print_saliency_text(std::cout, report, a.common.print());
    return kOk;
}

std::function<int()> saliency_command(CLI::App& cmd) {
    auto a = std::make_shared<SaliencyArgs>();
    add_lesson_argument(cmd, a->lesson);
    cmd.add_option("--method", a->method,
                   "obd: Optimal Brain Damage, 0.5 * h_kk * w^2; fisher: 0.5 * F_kk * w^2 from per-example "
                   "gradients; obs: layer-wise Optimal Brain Surgeon on the matmul whose weight is --param")
        ->check(CLI::IsMember({"obd", "fisher", "obs"}))
        ->capture_default_str();
    cmd.add_option("--param", a->options.params,
                   "a leaf whose weights to rank (repeatable; default: every param); with --method obs, the weight W "
                   "of one matmul y = x @ W")
        ->type_name(kLeafType);
    add_whole(cmd, "--prune", a->options.prune, 1, kMaxElementsLimit,
              "how many weights to remove when comparing the rankings (default: a quarter)",
              "from 1 to the number of weights")
        ->default_str("");
    add_non_negative(cmd, "--damping", a->damping,
                     "--method obs: invert H + lambda * I instead of H (needed when H is singular)");
    add_whole(cmd, "--example", a->example, 0, kMaxElementsLimit,
              "--method fisher: the example (along the input leaves' first axis) whose own gradient is shown",
              "from 0 to N-1, N the number of examples")
        ->capture_default_str();
    cmd.add_option("--step", a->options.gradient_step, "h of the gradient's centred difference")
        ->check(positive)
        ->capture_default_str();
    cmd.add_option("--loss-step", a->options.loss_step, "h of the loss's second difference")
        ->check(positive)
        ->capture_default_str();
    add_common(cmd, a->common, {"text", "json"});
    add_lesson_options(cmd, a->common, false);
    return [a] { return rank_saliency(*a); };
}

struct NetTrimArgs {
    std::string lesson = "net-trim";
    NetTrimOptions options;
    NetTrimShow show;
    Common common;
};

int trim_layer(NetTrimArgs& a) {
    const Graph g = a.common.load(a.lesson);
    NetTrimOptions& o = a.options;
    o.max_work = a.common.limits.work;
    o.max_work_name = a.common.limits.names.work;
    o.param_name = "--param";
    o.epsilon_name = "--epsilon";
    o.iterations_name = "--iterations";
    o.rho_name = "--rho";
    o.tolerance_name = "--tolerance";
    o.threshold_name = "--zero-threshold";
    const NetTrimReport report = net_trim(g, o);
    const std::size_t units = report.w.shape()[1];
    if (a.show.unit >= units)
        throw UsageError(fmt::format("--unit {}: {} has {} units, numbered from 0 to {}", a.show.unit,
                                     g.nodes[report.param].name, units, units - 1));
    if (a.common.format == "json")
        print_json(net_trim_json(report));
    else
        print_net_trim_text(std::cout, report, a.show, a.common.print());
    return kOk;
}

// "0,0.05" given once or more -> the numbers; an empty list or item, or an
// item that is not a number, is a one-line error naming --epsilon.
std::vector<double> parse_epsilons(const std::vector<std::string>& texts) {
    std::vector<double> values;
    for (const std::string& text : texts) {
        std::size_t start = 0;
        while (true) {
            const std::size_t comma = std::min(text.find(',', start), text.size());
            const std::string item = text.substr(start, comma - start);
            double v = 0;
            const auto [stop, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
            if (item.empty() || ec != std::errc() || stop != item.data() + item.size() || !std::isfinite(v))
                throw CLI::ValidationError(
                    "--epsilon",
                    fmt::format("expected numbers >= 0 separated by commas, like 0,0.05,0.1, got '{}'", text));
            values.push_back(v);
            if (comma == text.size()) break;
            start = comma + 1;
        }
    }
    return values;
}

std::function<int()> net_trim_command(CLI::App& cmd) {
    auto a = std::make_shared<NetTrimArgs>();
    NetTrimOptions& o = a->options;
    add_lesson_argument(cmd, a->lesson);
    cmd.add_option("--param", o.param,
                   "the weight leaf W of a layer relu(matmul(X, W)) (default: the first param that is one)")
        ->type_name(kLeafType);
    cmd.add_option_function<std::vector<std::string>>(
           "--epsilon", [&o](const std::vector<std::string>& texts) { o.epsilons = parse_epsilons(texts); },
           "how far each unit's active outputs may move, ||(X w)_O - y_O||_2 <= epsilon (repeatable or "
           "comma-separated; default: 0,0.05,0.1,0.2,0.5)")
        ->expected(1)
        ->take_all()
        ->type_name("E");
    add_whole(cmd, "--iterations", o.iterations, 1, kNetTrimMaxIterations,
              "the most ADMM iterations per unit and epsilon");
    cmd.add_option("--rho", o.rho, "the ADMM penalty rho, from 1e-6 to 1e6")->check(positive)->capture_default_str();
    cmd.add_option("--tolerance", o.tolerance, "tol of the stopping rule (absolute and relative)")
        ->check(positive)
        ->capture_default_str();
    cmd.add_option("--zero-threshold", o.zero_threshold, "weights with |w| at or below it count as zero in the table")
        ->capture_default_str();
    add_whole(cmd, "--unit", a->show.unit, 0, kMaxElementsLimit,
              "the unit whose ADMM iterations the text shows, at the last epsilon");
    add_whole(cmd, "--log-every", a->show.every, 1, kNetTrimMaxIterations,
              "in the text log, every K-th iteration after the first 10 (default: about 20 lines)")
        ->type_name("K")
        ->default_str("");
    add_common(cmd, a->common, {"text", "json"});
    add_lesson_options(cmd, a->common, false);
    return [a] { return trim_layer(*a); };
}

int list_ops(const Common& common) {
    if (common.format == "markdown")
        std::cout << op_reference_markdown(builtin_ops());
    else if (common.format == "schema")
        std::cout << lesson_schema_json(builtin_ops());
    else
        std::cout << partials(op_list_text(builtin_ops(), common.print().style), common.print().utf8);
    return kOk;
}

std::function<int()> ops_command(CLI::App& cmd) {
    auto common = std::make_shared<Common>();
    cmd.add_option("--format", common->format, "output format (schema: lessons/lesson.schema.json)")
        ->check(CLI::IsMember({"text", "markdown", "schema"}))
        ->capture_default_str();
    cmd.add_option("--color", common->color, "colour: auto (only on a terminal), always or never")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->capture_default_str();
    return [common] { return list_ops(*common); };
}

}  // namespace

std::vector<Command> core_commands() {
    return {
        {"lessons", "list the built-in lessons", lessons_command},
        {"run", "forward and backward pass of a lesson, every node explained", run_command},
        {"trace", "one node in depth, with one element worked by hand", trace_command},
        {"check-gradients", "numeric against analytic gradient, every node (default: every built-in lesson)",
         check_command},
        {"saliency",
         "rank weights for pruning: Optimal Brain Damage, Fisher information or layer-wise Optimal Brain Surgeon",
         saliency_command},
        {"ops", "the op table: each op's forward rule and local-gradient formulas", ops_command},
        {"net-trim", "Net-Trim: prune a ReLU layer by minimising ||W||_1 with its outputs kept, solved by ADMM",
         net_trim_command},
    };
}

std::vector<Command> all_commands() {
    std::vector<Command> table = core_commands();
    for (auto& c : study_commands()) table.push_back(std::move(c));
    for (auto& c : exercise_commands()) table.push_back(std::move(c));
    for (auto& c : compression_commands()) table.push_back(std::move(c));
    for (auto& c : tool_commands()) table.push_back(std::move(c));
    return table;
}

std::unique_ptr<CLI::App> make_app() {
    auto app = std::make_unique<CLI::App>(
        "bnstep: backpropagation by hand, one node at a time.\n"
        "Every forward value, local gradient, upstream and downstream gradient, with the arithmetic shown.",
        "bnstep");
    // A function, so that the build is described only when --version is given.
    app->set_version_flag("--version", std::function<std::string()>(version_text),
                          "print the version, the commit and the build, and exit");
    app->footer(
        "Exit codes: 0 success, 1 a gradient check failed or compare found a wrong tensor (or a NaN appeared),\n"
        "2 a usage, lesson or data-file error.\n"
        "Run 'bnstep COMMAND --help' for a command's options, 'man bnstep' for the manual.");
    return app;
}

int run(int argc, char** argv) {
    if (const std::string problem = worker_setting_problem(); !problem.empty()) throw UsageError(problem);
    const std::unique_ptr<CLI::App> app = make_app();
    std::vector<std::string> names;
    std::function<int()> action;
    const std::vector<Command> table = all_commands();
    // Only the command being run is built, with its options: building them all
    // is a good part of bnstep's start-up time. Without a command (--help, an
    // unknown word) every command is listed, by name.
    const std::string wanted = argc >= 2 ? argv[1] : "";
    for (const auto& c : table)
        if (!c.hidden) names.emplace_back(c.name);
    const auto named = std::find_if(table.begin(), table.end(), [&](const Command& c) { return c.name == wanted; });
    const bool known = named != table.end();
    for (const auto& c : table) {
        if ((known && wanted != c.name) || (!known && c.hidden)) continue;
        CLI::App* sub = app->add_subcommand(c.name, c.help);
        if (c.hidden) sub->group("");
        if (wanted == c.name) {
            auto act = c.setup(*sub);
            sub->callback([&action, act] { action = act; });
        }
    }
    if (argc >= 2 && argv[1][0] != '-' && !known) {
        const std::string hint = did_you_mean(argv[1], names);
        throw UsageError(fmt::format("unknown command '{}'{}; commands: {} (see bnstep --help)", argv[1],
                                     hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                     fmt::join(names, ", ")));
    }
    try {
        app->parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app->exit(e);
    } catch (const CLI::ParseError& e) {
        report_error("error", fmt::format("{} (see bnstep {}--help)", e.what(), known ? wanted + " " : ""));
        return kUsage;
    }
    if (!action) {
        std::cout << app->help();
        return kOk;
    }
    return action();
}

}  // namespace bnstep::cli
