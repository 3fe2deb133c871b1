#pragma once
// Direct kernels for convolutions whose filters each read one input channel
// (C/groups = 1: depthwise, with any number of filters per channel). im2col
// would build a matrix product with a single row per filter; these loops
// instead slide each 2-D kernel over its plane, the innermost loop along a row.
#include "bnstep/tensor.hpp"
#include "ops/conv_kernels.hpp"

namespace bnstep::ops {

bool is_depthwise(const ConvGeometry& g);

Tensor depthwise_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b);
Tensor depthwise_input_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& w);
Tensor depthwise_weight_grad(const ConvGeometry& g, const Tensor& dout, const Tensor& x);

}  // namespace bnstep::ops
