// Small graphs for the io tests, built by hand so they do not depend on which layers exist:
// a CNN (conv, relu, max pool, flatten, dense) in fp32, and the same graph quantized the
// way the int8 contract (docs/engine.md) describes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "edgestack/compile/graph.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace iotest {

using namespace edgestack;

inline std::vector<float> random_floats(std::size_t n, float lo, float hi, unsigned seed) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(gen);
    return v;
}

/// Input HxWxC -> conv (K filters 3x3, pad 1, fused none) -> relu -> maxpool 2 -> flatten
/// -> dense 10. With `fuse`, the relu is fused into the conv instead.
inline compile::Graph small_cnn(std::size_t h = 8, std::size_t w = 8, std::size_t c = 1,
                                std::size_t k = 4, bool fuse = false, unsigned seed = 1) {
    auto g = compile::Graph::with_input({h, w, c});
    compile::Node conv;
    conv.op = compile::Op::conv2d;
    conv.name = "conv2d_0";
    conv.kernel = {3, 3};
    conv.pad = {1, 1, 1, 1};
    conv.weights = random_floats(k * 9 * c, -0.5f, 0.5f, seed);
    conv.bias = random_floats(k, -0.1f, 0.1f, seed + 1);
    if (fuse) conv.fused = compile::Activation::relu;
    int v = g.append(conv, {0}, {h, w, k});
    if (!fuse) {
        compile::Node relu;
        relu.op = compile::Op::relu;
        relu.name = "relu_0";
        v = g.append(relu, {v}, {h, w, k});
    }
    compile::Node pool;
    pool.op = compile::Op::max_pool2d;
    pool.name = "max_pool2d_0";
    pool.kernel = {2, 2};
    pool.stride = {2, 2};
    v = g.append(pool, {v}, {h / 2, w / 2, k});
    compile::Node flat;
    flat.op = compile::Op::flatten;
    flat.name = "flatten_0";
    const std::size_t f = (h / 2) * (w / 2) * k;
    v = g.append(flat, {v}, {f});
    compile::Node dense;
    dense.op = compile::Op::dense;
    dense.name = "dense_0";
    dense.weights = random_floats(10 * f, -0.3f, 0.3f, seed + 2);
    dense.bias = random_floats(10, -0.1f, 0.1f, seed + 3);
    g.append(dense, {v}, {10});
    return g;
}

/// Dense 784 -> 32 -> relu -> 10: runs on every backend.
inline compile::Graph small_mlp(unsigned seed = 7) {
    auto g = compile::Graph::with_input({784});
    compile::Node d0;
    d0.op = compile::Op::dense;
    d0.name = "dense_0";
    d0.weights = random_floats(32 * 784, -0.08f, 0.08f, seed);
    d0.bias = random_floats(32, -0.1f, 0.1f, seed + 1);
    int v = g.append(d0, {0}, {32});
    compile::Node r;
    r.op = compile::Op::relu;
    r.name = "relu_0";
    v = g.append(r, {v}, {32});
    compile::Node d1;
    d1.op = compile::Op::dense;
    d1.name = "dense_1";
    d1.weights = random_floats(10 * 32, -0.3f, 0.3f, seed + 2);
    d1.bias = random_floats(10, -0.1f, 0.1f, seed + 3);
    g.append(d1, {v}, {10});
    return g;
}

/// Per-value ranges (min, max) of `g` run on samples, from a caller's float evaluator.
/// Quantizes `g` in place: per-channel symmetric weights, int32 bias, per-tensor affine
/// activations from the given ranges (values that keep their input's parameters copy them).
/// `qmax` 63 gives 7-bit weights (the "reduce range" some int8 kernels need).
inline void quantize_in_place(compile::Graph& g, const std::vector<std::pair<float, float>>& range,
                              float qmax = 127.0f) {
    g.value_quant.assign(g.values.size(), {});
    for (std::size_t v = 0; v < g.values.size(); ++v) {
        const auto p = quant::choose_affine(range[v].first, range[v].second);
        g.value_quant[v].scale = {p.scale};
        g.value_quant[v].zero_point = {p.zero_point};
    }
    for (auto& n : g.nodes) {
        const auto in = static_cast<std::size_t>(n.inputs[0]);
        const auto out = static_cast<std::size_t>(n.output);
        if (n.op == compile::Op::relu || n.op == compile::Op::max_pool2d ||
            n.op == compile::Op::flatten)
            g.value_quant[out] = g.value_quant[in];
        if (n.op != compile::Op::dense && n.op != compile::Op::conv2d) continue;
        const std::size_t oc = n.bias.size(), per = n.weights.size() / oc;
        n.weight_quant.axis = 0;
        n.qweights.resize(n.weights.size());
        n.qbias.resize(oc);
        for (std::size_t c = 0; c < oc; ++c) {
            float amax = 0;
            for (std::size_t i = 0; i < per; ++i) amax = std::max(amax, std::abs(n.weights[c * per + i]));
            const float s = amax > 0.0f ? amax / qmax : 1.0f;
            n.weight_quant.scale.push_back(s);
            n.weight_quant.zero_point.push_back(0);
            for (std::size_t i = 0; i < per; ++i)
                n.qweights[c * per + i] = static_cast<std::int8_t>(
                    std::clamp(std::nearbyint(n.weights[c * per + i] / s), -127.0f, 127.0f));
            const double bs = static_cast<double>(g.value_quant[in].scale[0]) * s;
            n.qbias[c] = static_cast<std::int32_t>(std::llround(n.bias[c] / bs));
        }
    }
}

} // namespace iotest
