#pragma once
// Pieces the text printers share.
#include <ostream>
#include <string>

#include "bnstep/print.hpp"

namespace bnstep::text {

// The tensor's lines, each indented.
void tensor(std::ostream& os, const Tensor& t, const PrintOptions& opt, const std::string& indent);

// "step 7  xhat = xmu * ivar" (or "x  input (4, 3)" for a leaf).
std::string node_heading(const Graph& g, std::size_t i, const PrintOptions& opt);

// Who sent a contribution: "step 7 (xhat)".
std::string sender(const Graph& g, std::size_t consumer);

// One input's part of a node's backward step: formula, local value,
// contribution and any broadcast undone.
// --brief: each tensor as one line and no intermediate tensor.
void edge(std::ostream& os, const Trace& t, std::size_t node, const EdgeGrad& e, const PrintOptions& opt,
          const std::string& indent, bool brief = false);

// "dxmu = dxmu1 + dxmu2" with where each part came from, for a node that
// received several contributions.
std::string accumulation(const Trace& t, std::size_t node);
// "a surrogate gradient: it passed through the straight-through estimator of ..."
std::string surrogate_note(const Trace& t, std::size_t node);

// The note under a tensor that holds exact zeros round_off_zeros set ("dmu[1]
// is 0: column 1 of dxmu * local sums to 0 exactly ..."), once per tensor: the
// node's value or gradient, or the contribution of the node's edge `slot`;
// "" when it holds none.
std::string zero_note(const Trace& t, RoundedZero::Where where, std::size_t node, std::size_t slot = 0);

// A worked element: "lhs = symbolic\n     = numeric\n     = result".
void worked(std::ostream& os, const Worked& w, const PrintOptions& opt, const std::string& indent);

// run_detail.cpp: a tensor in one line ("[1 2 0.5]", or "min .., max ..,
// mean .."), and printed that way (brief) or whole.
std::string brief_summary(const Tensor& t, const NumFmt& num);
void shown_tensor(std::ostream& os, const Tensor& t, const PrintOptions& opt, const std::string& indent, bool brief);
// The element `run` works out on a backward edge, and on a sum of
// contributions ("worked element [1,1]:" and its lines); nothing with --brief
// or when --index fits neither the node nor the tensor.
void edge_worked(std::ostream& os, const Trace& t, std::size_t node, const EdgeGrad& e, const PrintOptions& opt,
                 const RunView& view, const std::string& indent);
void accumulation_worked(std::ostream& os, const Trace& t, std::size_t node, const PrintOptions& opt,
                         const RunView& view, const std::string& indent);

}  // namespace bnstep::text
