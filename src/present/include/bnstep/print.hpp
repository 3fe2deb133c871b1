#pragma once
// Printers: turn a Trace or a gradcheck report into text or JSON. They never
// compute gradients; they only show what the executor kept.
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bnstep/compare.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/net_trim.hpp"
#include "bnstep/numfmt.hpp"
#include "bnstep/fisher.hpp"
#include "bnstep/layerwise_obs.hpp"
#include "bnstep/saliency.hpp"

namespace bnstep {

// ANSI colour for the parts of a line, or plain text.
struct Style {
    bool color = false;
    std::string heading(std::string_view s) const;  // bold
    std::string node(std::string_view s) const;     // cyan
    std::string grad(std::string_view s) const;     // yellow
    std::string ok(std::string_view s) const;       // green
    std::string bad(std::string_view s) const;      // red
    std::string dim(std::string_view s) const;      // faint
};

struct PrintOptions {
    NumFmt num;
    Style style;
    int width = 80;                  // the terminal's columns, for wrapping prose
    bool full = false;               // print every tensor whole, however large
    std::size_t max_elements = 300;  // larger tensors print as shape and summary statistics
    bool utf8 = true;                // "∂out/∂gamma"; false: "d(out)/d(gamma)" (notation.hpp)
};

// A tensor as aligned lines: "[[ 1  2]", " [ 3  4]]"; a scalar as one line. Rows
// wider than max_width (0: no limit) continue on the next line.
std::vector<std::string> matrix_lines(const Tensor& t, const NumFmt& num, std::size_t max_width = 0);
// One line for a tensor too large to print: its size, min, max, mean, rms.
std::string tensor_summary(const Tensor& t, const NumFmt& num);

// Words wrapped to `width` columns, the first line prefixed by `indent`, the
// others by `hanging` (by `indent` when empty).
std::string wrap(std::string_view text, std::size_t width, std::string_view indent, std::string_view hanging = "");

// The forward formula of an op node with its names ("xmu * ivar").
std::string forward_formula(const Graph& g, std::size_t node);

// "step 7" or "" for a node without a step.
std::string step_label(const Node& node);

// The element of interest: `wanted` if it fits, else the default (1 on each
// axis longer than 1, 0 elsewhere), projected onto `shape` NumPy-style.
Index project_index(const Index& wanted, const Shape& from, const Shape& shape);
Index default_index(const Shape& shape);

// What `run` shows; by default all of it, with one element of every backward
// edge worked out.
struct RunView {
    bool forward = true;              // --only backward: no forward pass
    bool backward = true;             // --only forward: no backward pass and no gradients
    std::vector<bool> nodes = {};     // --nodes: the nodes shown, by index (empty: all)
    bool brief = false;               // --brief: summaries, no worked elements, no repeated tensors
    std::optional<Index> index = {};  // --index: the element worked out (default: see run_element)
    bool cost = false;                // --cost: the cost table even with nothing to count
    bool shows(std::size_t node) const { return nodes.empty() || (node < nodes.size() && nodes[node]); }
};

// The element `run` works out in a tensor: `preferred` unless `chosen` is
// false and its value is 0 (at the tensor's scale), then the first element
// (row-major) that is not 0; `preferred` when all are.
Index run_element(const Tensor& value, const Index& preferred, bool chosen);

void print_run_text(std::ostream& os, const Trace& trace, const PrintOptions& opt, const RunView& view = {});
// The same text in blocks: the header, one block per node of the forward pass,
// the start of the backward pass, one per node of the backward pass, the
// gradients, the cost. `run --step` pauses after each node's block.
struct RunBlock {
    enum class Part { Header, Forward, BackwardStart, Backward, Gradients, Cost };
    Part part;
    std::optional<std::size_t> node;  // Forward and Backward blocks: the node shown
    std::string text;
};
std::vector<RunBlock> run_text_blocks(const Trace& trace, const PrintOptions& opt, const RunView& view = {});
// `input_index`, when given, picks the element of each input's gradient it fits.
void print_trace_text(std::ostream& os, const Trace& trace, std::size_t node, const Index& index,
                      const PrintOptions& opt, const std::optional<Index>& input_index = std::nullopt);
// The cost table that ends `run`: weights and multiply-adds per node, totals,
// and the lesson's comparison of two designs.
void print_cost_text(std::ostream& os, const Graph& g, const CostReport& cost, const PrintOptions& opt);
nlohmann::json cost_json(const Graph& g, const CostReport& cost);

void print_check_text(std::ostream& os, const std::vector<GradcheckReport>& reports, const PrintOptions& opt);
// "ok", "ok (surrogate)", "KINK" (no element could be compared) or "FAIL".
std::string check_verdict(const NodeCheck& c);

nlohmann::json tensor_json(const Tensor& t);
// A worked element as `trace --format json` writes it: lhs, symbolic, numeric, result, notes.
nlohmann::json worked_json(const Worked& w);
// Adds "variant" (and "student" when given) to a JSON output's object for the
// lesson, when it is a variant; the lesson as written adds nothing.
void add_variant_json(nlohmann::json& j, const Graph& g);
nlohmann::json run_json(const Trace& trace);
nlohmann::json trace_json(const Trace& trace, std::size_t node, const Index& index, const NumFmt& num,
                          const std::optional<Index>& input_index = std::nullopt);
// The element of input `shape` a trace works out: `input_index` if it fits,
// else `index` of the node's output projected onto it.
Index input_element(const Index& index, const Shape& node_shape, const Shape& shape,
                    const std::optional<Index>& input_index);
nlohmann::json check_json(const std::vector<GradcheckReport>& reports);

// The Optimal Brain Damage table of `bnstep saliency`.
// `compare`: one file in detail (every tensor, the first wrong one worked
// out), several as one line each; JSON; CSV with a row per file.
void print_compare_text(std::ostream& os, const std::vector<CompareOutcome>& outcomes, const PrintOptions& opt);
nlohmann::json compare_json(const std::vector<CompareOutcome>& outcomes);
std::string compare_csv(const std::vector<CompareOutcome>& outcomes);

void print_saliency_text(std::ostream& os, const SaliencyReport& report, const PrintOptions& opt);
nlohmann::json saliency_json(const SaliencyReport& report);
// `saliency --method obs`: layer-wise Optimal Brain Surgeon on one matmul's weight.
void print_obs_text(std::ostream& os, const ObsReport& report, const PrintOptions& opt);
nlohmann::json obs_json(const ObsReport& report);
// `saliency --method fisher`: the empirical Fisher diagonal from per-example gradients, beside OBD.
void print_fisher_text(std::ostream& os, const FisherReport& report, const PrintOptions& opt);
nlohmann::json fisher_json(const FisherReport& report);

// `bnstep net-trim`: the ADMM log of one unit at the last epsilon (its first
// 10 iterations, then every `every`-th and the last; 0: about 20 lines), the
// trimmed weights per epsilon and the sparsity-versus-error table.
struct NetTrimShow {
    std::size_t unit = 0;
    std::size_t every = 0;
};
void print_net_trim_text(std::ostream& os, const NetTrimReport& report, const NetTrimShow& show,
                         const PrintOptions& opt);
nlohmann::json net_trim_json(const NetTrimReport& report);

// The op reference (docs/ops.md) and a short text listing, from the op table.
std::string op_reference_markdown(const OpTable& ops);
std::string op_list_text(const OpTable& ops, const Style& style, std::size_t width = 80);
// lessons/lesson.schema.json: the lesson format as a JSON Schema (draft
// 2020-12), its op rules from the op table.
std::string lesson_schema_json(const OpTable& ops);

}  // namespace bnstep
