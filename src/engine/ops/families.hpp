#pragma once
// Each file under src/engine/ops/ adds one family of ops to the table.
#include "bnstep/op.hpp"

namespace bnstep::ops {

void add_elementwise_ops(OpTable& table);       // elementwise.cpp
void add_reduce_ops(OpTable& table);            // reduce.cpp
void add_linalg_ops(OpTable& table);            // linalg.cpp
void add_norm_ops(OpTable& table);              // batchnorm.cpp
void add_norm_inference_ops(OpTable& table);    // batchnorm_inference.cpp
void add_conv_ops(OpTable& table);              // conv.cpp
void add_pool_ops(OpTable& table);              // pool.cpp
void add_shape_ops(OpTable& table);             // shape.cpp
void add_softmax_ops(OpTable& table);           // softmax.cpp
void add_loss_ops(OpTable& table);              // loss.cpp
void add_elementwise_loss_ops(OpTable& table);  // loss_elementwise.cpp
void add_binarize_ops(OpTable& table);          // binarize.cpp
void add_quantize_ops(OpTable& table);          // quantize.cpp
void add_pow2_quantize_ops(OpTable& table);     // pow2_quantize.cpp
void add_prune_ops(OpTable& table);             // prune.cpp
void add_weight_sharing_ops(OpTable& table);    // weight_sharing.cpp

}  // namespace bnstep::ops
