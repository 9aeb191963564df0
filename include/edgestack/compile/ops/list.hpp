// The list of graph ops, one line each: the enum compile::Op, op names, and the op-unit
// registry (compile/ops.hpp) are all generated from it. Adding an op means a line here and
// its unit header in this folder (compile/ops/<name>.hpp); nothing else in the tree switches
// on ops.
#pragma once

/// X(name, Unit): `name` is the enumerator and the snake-case op name, `Unit` the struct in
/// namespace compile::ops that holds everything about the op. The order is the enum's.
#define EDGESTACK_COMPILE_OPS(X)                                                               \
    X(dense, Dense)                                                                            \
    X(conv2d, Conv2d)                                                                          \
    X(depthwise_conv2d, DepthwiseConv2d)                                                       \
    X(max_pool2d, MaxPool2d)                                                                   \
    X(avg_pool2d, AvgPool2d)                                                                   \
    X(global_avg_pool, GlobalAvgPool)                                                          \
    X(batch_norm, BatchNorm)                                                                   \
    X(relu, Relu)                                                                              \
    X(relu6, Relu6)                                                                            \
    X(leaky_relu, LeakyRelu)                                                                   \
    X(sigmoid, Sigmoid)                                                                        \
    X(tanh, Tanh)                                                                              \
    X(hard_swish, HardSwish)                                                                   \
    X(softmax, Softmax)                                                                        \
    X(flatten, Flatten)                                                                        \
    X(add, Add)                                                                                \
    X(dropout, Dropout)                                                                        \
    X(lstm, Lstm)                                                                              \
    X(gru, Gru)                                                                                \
    X(layer_norm, LayerNorm)                                                                   \
    X(attention, Attention)                                                                    \
    X(positional_embedding, PositionalEmbedding)                                               \
    X(concat, Concat)                                                                          \
    X(mul, Mul)
