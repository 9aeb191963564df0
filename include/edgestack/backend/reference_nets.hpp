// The built-in reference networks (the Fashion-MNIST CNN and a depthwise-separable CNN) as
// graphs with seeded random weights, plus a min/max post-training quantization of a graph
// following the int8 contract. Benchmarks, the edgestack_bench tool and the backend tests
// use them; trained models come from nn:: and quant:: instead.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/quant/graph_ptq.hpp"

namespace edgestack::backend::nets {

using compile::Dims;
using compile::Graph;
using compile::Node;
using compile::Op;

/// Output extent of a window `k` with stride `s` over `in` plus `pad` padding in all.
inline std::size_t out_extent(std::size_t in, std::size_t k, std::size_t s, std::size_t pad) {
    return (in + pad - k) / s + 1;
}

/// Total padding of a "same" convolution: the output has ceil(in / s) positions.
inline std::size_t same_pad(std::size_t in, std::size_t k, std::size_t s) {
    const std::size_t need = ((in + s - 1) / s - 1) * s + k;
    return need > in ? need - in : 0;
}

/// Conv k x k, `oc` filters, stride s, "same" padding when `same` (else none), He-uniform.
inline int conv2d(Graph& g, int x, std::size_t oc, std::size_t k, Rng& rng, std::size_t s = 1,
                  bool same = true) {
    const Dims in = g.values.at(static_cast<std::size_t>(x));
    Node n;
    n.op = Op::conv2d;
    n.name = g.fresh_name(n.op);
    n.kernel = {k, k};
    n.stride = {s, s};
    if (same) {
        const std::size_t ph = same_pad(in[0], k, s), pw = same_pad(in[1], k, s);
        n.pad = {ph / 2, pw / 2, ph - ph / 2, pw - pw / 2};
    }
    const std::size_t taps = k * k * in[2];
    const float lim = std::sqrt(6.0f / static_cast<float>(taps));
    n.weights.resize(oc * taps);
    for (auto& w : n.weights) w = rng.uniform(-lim, lim);
    n.bias.resize(oc);
    for (auto& b : n.bias) b = rng.uniform(-0.1f, 0.1f);
    const std::size_t oh = out_extent(in[0], k, s, n.pad[0] + n.pad[2]);
    const std::size_t ow = out_extent(in[1], k, s, n.pad[1] + n.pad[3]);
    return g.append(std::move(n), {x}, {oh, ow, oc});
}

/// Depthwise k x k, stride s, "same" padding, He-uniform; returns the output value.
inline int depthwise(Graph& g, int x, std::size_t k, Rng& rng, std::size_t s = 1) {
    const Dims in = g.values.at(static_cast<std::size_t>(x));
    Node n;
    n.op = Op::depthwise_conv2d;
    n.name = g.fresh_name(n.op);
    n.kernel = {k, k};
    n.stride = {s, s};
    const std::size_t ph = same_pad(in[0], k, s), pw = same_pad(in[1], k, s);
    n.pad = {ph / 2, pw / 2, ph - ph / 2, pw - pw / 2};
    const float lim = std::sqrt(6.0f / static_cast<float>(k * k));
    n.weights.resize(k * k * in[2]);
    for (auto& w : n.weights) w = rng.uniform(-lim, lim);
    n.bias.resize(in[2]);
    for (auto& b : n.bias) b = rng.uniform(-0.1f, 0.1f);
    return g.append(std::move(n), {x},
                    {out_extent(in[0], k, s, ph), out_extent(in[1], k, s, pw), in[2]});
}

/// Dense to `out` units, He-uniform weights; returns the output value.
inline int dense(Graph& g, int x, std::size_t out, Rng& rng) {
    const std::size_t in = compile::volume(g.values.at(static_cast<std::size_t>(x)));
    Node n;
    n.op = Op::dense;
    n.name = g.fresh_name(n.op);
    const float lim = std::sqrt(6.0f / static_cast<float>(in));
    n.weights.resize(out * in);
    for (auto& w : n.weights) w = rng.uniform(-lim, lim);
    n.bias.resize(out);
    for (auto& b : n.bias) b = rng.uniform(-0.1f, 0.1f);
    return g.append(std::move(n), {x}, {out});
}

/// A k x k pool (`op` max_pool2d or avg_pool2d), stride s, padding top, left, bottom, right.
inline int pool(Graph& g, int x, Op op, std::size_t k, std::size_t s, std::array<std::size_t, 4> pad = {0, 0, 0, 0}) {
    const Dims in = g.values.at(static_cast<std::size_t>(x));
    Node n;
    n.op = op;
    n.name = g.fresh_name(op);
    n.kernel = {k, k};
    n.stride = {s, s};
    n.pad = pad;
    return g.append(std::move(n), {x},
                    {out_extent(in[0], k, s, pad[0] + pad[2]), out_extent(in[1], k, s, pad[1] + pad[3]), in[2]});
}

/// An element-wise op (relu, sigmoid, ...; `alpha` for leaky_relu).
inline int unary(Graph& g, int x, Op op, float alpha = 0.0f) {
    Node n;
    n.op = op;
    n.name = g.fresh_name(op);
    n.alpha = alpha;
    return g.append(std::move(n), {x}, g.values.at(static_cast<std::size_t>(x)));
}

/// Flattens value `x` into one dimension.
inline int flatten(Graph& g, int x) {
    Node n;
    n.op = Op::flatten;
    n.name = g.fresh_name(n.op);
    return g.append(std::move(n), {x}, {compile::volume(g.values.at(static_cast<std::size_t>(x)))});
}

/// Conv 32 3x3 same + ReLU, MaxPool 2, Conv 64 3x3 same + ReLU, MaxPool 2, Flatten,
/// Dense 128 + ReLU, Dense 10 on 28x28x1 (the Fashion-MNIST CNN of the design notes).
inline Graph cnn(std::uint64_t seed = 1) {
    Rng rng(seed);
    Graph g = Graph::with_input({28, 28, 1});
    int v = conv2d(g, 0, 32, 3, rng);
    v = unary(g, v, Op::relu);
    v = pool(g, v, Op::max_pool2d, 2, 2);
    v = conv2d(g, v, 64, 3, rng);
    v = unary(g, v, Op::relu);
    v = pool(g, v, Op::max_pool2d, 2, 2);
    v = flatten(g, v);
    v = dense(g, v, 128, rng);
    v = unary(g, v, Op::relu);
    dense(g, v, 10, rng);
    return g;
}

/// A MobileNet-style depthwise-separable CNN on 28x28x1: Conv 32 3x3 stride 2 + ReLU, then
/// [depthwise 3x3 + ReLU, pointwise 1x1 + ReLU] to 64 (stride 1) and 128 (stride 2),
/// global average pool, Dense 10.
inline Graph ds_cnn(std::uint64_t seed = 2) {
    Rng rng(seed);
    Graph g = Graph::with_input({28, 28, 1});
    int v = conv2d(g, 0, 32, 3, rng, 2);
    v = unary(g, v, Op::relu);
    v = depthwise(g, v, 3, rng, 1);
    v = unary(g, v, Op::relu);
    v = conv2d(g, v, 64, 1, rng);
    v = unary(g, v, Op::relu);
    v = depthwise(g, v, 3, rng, 2);
    v = unary(g, v, Op::relu);
    v = conv2d(g, v, 128, 1, rng);
    v = unary(g, v, Op::relu);
    Node gap;
    gap.op = Op::global_avg_pool;
    gap.name = g.fresh_name(gap.op);
    v = g.append(std::move(gap), {v}, {128});
    dense(g, v, 10, rng);
    return g;
}

/// Deterministic inputs in [0, 1) for `n` samples.
inline std::vector<float> random_inputs(const Graph& g, std::size_t n, std::uint64_t seed = 7) {
    Rng rng(seed);
    std::vector<float> x(n * g.input_size());
    for (auto& v : x) v = rng.uniform();
    return x;
}

/// Post-training min/max quantization to the int8 contract: per-tensor asymmetric
/// activations from the ranges the Reference backend sees on `calibration` (whole samples),
/// per-output-channel symmetric weights. quant::quantize_graph with its defaults.
inline void quantize_minmax(Graph& g, std::span<const float> calibration) {
    if (!g.value_quant.empty()) throw config_error("quantize_minmax: graph is already int8");
    g = quant::quantize_graph(g, calibration);
}

} // namespace edgestack::backend::nets
