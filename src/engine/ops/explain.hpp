#pragma once
// Helpers for the worked examples of `trace`: writing one element of a
// tensor by name and index, and a sum of terms.
#include <functional>
#include <string>
#include <vector>

#include "bnstep/op.hpp"

namespace bnstep::ops {

// A position in some tensor where each axis is a concrete number ("2") or a
// summation letter ("k").
using SymIndex = std::vector<std::string>;

SymIndex concrete(const Index& index);

// `name[...]` for an operand of shape `operand` read at position `pos` of a
// broadcast result (size-1 axes read 0, missing leading axes are dropped).
std::string element(const std::string& name, const Shape& operand, const SymIndex& pos);

// The letters used for summation axes, in order: k, l, m, n.
std::string sum_letter(std::size_t nth);

// "sum_k " or "sum_{k,l} " for the given letters; "" for none.
std::string sum_prefix(const std::vector<std::string>& letters);

// "t1 + t2 + ..." ; many terms are elided to the first few, the last and a count.
std::string join_terms(const std::vector<std::string>& terms);
// The same for printed arithmetic: the elided middle is one operand, its sum
// printed by `num`, so that the line still evaluates:
// "t1 + t2 + t3 + t4 + [19 more terms: 0.1234] + t24".
std::string join_terms(const std::vector<std::string>& terms, const NumFmt& num);

// The elementwise rule for `sum`-like results: every element of `in_shape`
// that position `out_at` of a broadcast reads.
std::vector<Index> broadcast_sources(const Shape& out_shape, const Shape& in_shape, const Index& in_at);

// lhs = symbolic = sum over s < count of x_s * y_s, the pairs from `factors`.
Worked sum_of_products(std::string lhs, std::string symbolic, std::size_t count,
                       const std::function<std::pair<double, double>(std::size_t)>& factors, const NumFmt& num);

// "log((-2))" -> "log(-2)": a negative operand needs no second pair of parentheses.
std::string drop_double_parens(std::string s);

}  // namespace bnstep::ops
