#pragma once
// Softmax along one axis, shared by the softmax ops and the losses built on
// it. A tensor is seen as rows: every row holds the elements that differ only
// in their index along the axis.
#include <cstddef>
#include <string>
#include <vector>

#include "bnstep/op.hpp"

namespace bnstep::ops {

struct AxisRows {
    std::size_t outer = 1, len = 1, inner = 1;  // sizes before, along and after the axis

    AxisRows(const Shape& shape, std::size_t axis);
    std::size_t count() const { return outer * inner; }
    std::size_t at(std::size_t row, std::size_t k) const { return (row / inner * len + k) * inner + row % inner; }
    std::size_t row_of(std::size_t flat) const { return flat / (len * inner) * inner + flat % inner; }
    std::size_t k_of(std::size_t flat) const { return flat / inner % len; }
};

// The `axis` attribute made non-negative; a ShapeError for a scalar or an
// axis out of range. The `temperature` attribute, a ShapeError unless > 0.
std::size_t axis_attr(const Shape& shape, const Attrs& attrs);
double temperature_attr(const Attrs& attrs);

// One row of x/T with its largest element subtracted, as computed:
// exps[k] = exp(x_k/T - max), sum = sum_k exps[k].
struct SoftmaxRow {
    double max = 0.0;
    std::vector<double> scaled;  // x_k/T
    std::vector<double> exps;
    double sum = 0.0;

    double softmax(std::size_t k) const { return exps[k] / sum; }
    double log_softmax(std::size_t k) const;  // x_k/T - max - log(sum)
    double logsumexp() const;                 // max + log(sum) = log(sum_k exp(x_k/T))
};

SoftmaxRow softmax_row(const Tensor& x, const AxisRows& rows, std::size_t row, double temperature);

Tensor softmax_along(const Tensor& x, std::size_t axis, double temperature);
Tensor log_softmax_along(const Tensor& x, std::size_t axis, double temperature);

// For worked examples: the row's elements x/T written as "x" or "x/T".
std::string scaled_operand(double x, double temperature, const NumFmt& num);
// "x[0,k]" or "x[0,k]/T" for element k of the row through `at` in a formula.
std::string scaled_element(const std::string& name, const Index& at, std::size_t axis, double temperature);

}  // namespace bnstep::ops
