// The int8 scheme (TFLite / ONNX QDQ conventions): weights symmetric int8 per output channel
// (or per tensor), activations asymmetric int8 per tensor, int32 bias. Used by the
// quantizers (Ptq, Qat) when they lower a graph, and by QAT's fake quantization in training.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::quant {

/// Weights symmetric int8, one scale per output channel (the default: what PyTorch's
/// fbgemm/onednn and TFLite use for conv, and what costs nothing extra in the kernels).
struct Int8PerChannel {
    /// One scale per output channel.
    static constexpr bool per_channel = true;
    /// Shown in summaries.
    static constexpr const char* name = "int8 per-channel";
};

/// Weights symmetric int8, one scale for the whole tensor (what XNNPACK's qs8 fully
/// connected operator takes).
struct Int8PerTensor {
    /// One scale per tensor.
    static constexpr bool per_channel = false;
    /// Shown in summaries.
    static constexpr const char* name = "int8 per-tensor";
};

/// How weights are quantized: a type with a constant `per_channel`.
template <class S>
concept WeightScheme = requires {
    { S::per_channel } -> std::convertible_to<bool>;
};

/// How the weights of one layer are laid out along the output channel.
struct ChannelLayout {
    std::size_t channels = 1; ///< output channels
    bool interleaved = false; ///< depthwise [kh][kw][C]: channel = index % C; else [C][...]

    /// Channel of weight `i` in a tensor of `n` weights.
    std::size_t channel_of(std::size_t i, std::size_t n) const noexcept {
        return interleaved ? i % channels : i / (n / channels);
    }
};

/// A real range [lo, hi] seen for one activation tensor.
struct Range {
    float lo = 0.0f;    ///< smallest value
    float hi = 0.0f;    ///< largest value
    bool valid = false; ///< false until something was observed

    /// Asymmetric int8 parameters for this range (widened to include 0).
    AffineParams params() const noexcept { return choose_affine(lo, hi); }
};

/// Symmetric scales for weights `w` (one per channel, or one in total).
inline std::vector<float> weight_scales(std::span<const float> w, ChannelLayout layout,
                                        bool per_channel) {
    const std::size_t c = per_channel ? layout.channels : 1;
    std::vector<float> absmax(c, 0.0f);
    for (std::size_t i = 0; i < w.size(); ++i) {
        const std::size_t k = per_channel ? layout.channel_of(i, w.size()) : 0;
        absmax[k] = std::max(absmax[k], std::fabs(w[i]));
    }
    std::vector<float> s(c);
    for (std::size_t k = 0; k < c; ++k) s[k] = choose_symmetric(absmax[k]);
    return s;
}

/// One weight to its int8 code: round half to even, clamp to [-127, 127].
inline std::int8_t quantize_weight(float w, float scale) noexcept {
    const float q = std::nearbyint(w / scale);
    return static_cast<std::int8_t>(std::clamp(q, -127.0f, 127.0f));
}

/// The weights as the int8 engine will see them, back in float: what QAT trains through.
inline void fake_quantize_weights(std::span<const float> w, std::span<float> out,
                                  ChannelLayout layout, bool per_channel) {
    const auto s = weight_scales(w, layout, per_channel);
    for (std::size_t i = 0; i < w.size(); ++i) {
        const float sc = s[per_channel ? layout.channel_of(i, w.size()) : 0];
        out[i] = sc * static_cast<float>(quantize_weight(w[i], sc));
    }
}

/// One activation through quantize and dequantize (the int8 engine's value, in float).
inline float fake_quantize(float x, AffineParams p) noexcept {
    return dequantize(quantize(x, p.scale, p.zero_point), p.scale, p.zero_point);
}

/// The output channel layout of a weight node.
inline ChannelLayout channel_layout(const compile::Node& n, const compile::Dims& out_shape) {
    ChannelLayout l;
    l.channels = out_shape.empty() ? 1 : out_shape.back();
    l.interleaved = n.op == compile::Op::depthwise_conv2d;
    if (l.channels == 0 || n.weights.size() % l.channels != 0)
        throw shape_error("quant: node '" + n.name + "' has " + std::to_string(n.weights.size()) +
                          " weights, not a multiple of its " + std::to_string(l.channels) +
                          " output channels");
    return l;
}

/// Fill qweights, weight_quant and qbias of a dense/conv/depthwise node whose input has
/// scale `input_scale`.
inline void quantize_weight_node(compile::Node& n, const compile::Dims& out_shape,
                                 float input_scale, bool per_channel) {
    const ChannelLayout layout = channel_layout(n, out_shape);
    const auto scales = weight_scales(n.weights, layout, per_channel);
    n.qweights.resize(n.weights.size());
    for (std::size_t i = 0; i < n.weights.size(); ++i)
        n.qweights[i] = quantize_weight(
            n.weights[i], scales[per_channel ? layout.channel_of(i, n.weights.size()) : 0]);
    n.weight_quant.scale = scales;
    n.weight_quant.zero_point.assign(scales.size(), 0);
    n.weight_quant.axis = per_channel ? 0 : -1;
    n.qbias.clear();
    if (!n.bias.empty()) {
        if (n.bias.size() != layout.channels)
            throw shape_error("quant: node '" + n.name + "' has " + std::to_string(n.bias.size()) +
                              " biases for " + std::to_string(layout.channels) + " channels");
        n.qbias.resize(n.bias.size());
        for (std::size_t c = 0; c < n.bias.size(); ++c)
            n.qbias[c] = quantize_bias(n.bias[c], input_scale, scales[per_channel ? c : 0]);
    }
}

/// Bytes a deployed graph's parameters take: fp32 weights and biases, or int8 weights,
/// int32 biases and the per-channel scales (what a model file must store).
inline std::size_t parameter_bytes(const compile::Graph& g) {
    std::size_t b = 0;
    for (const auto& n : g.nodes) {
        if (!n.qweights.empty()) {
            b += n.qweights.size() + n.qbias.size() * sizeof(std::int32_t) +
                 n.weight_quant.scale.size() * (sizeof(float) + sizeof(std::int32_t));
        } else {
            b += (n.weights.size() + n.bias.size()) * sizeof(float);
        }
        b += n.extra.size() * sizeof(float);
    }
    for (const auto& q : g.value_quant)
        b += q.scale.size() * (sizeof(float) + sizeof(std::int32_t));
    return b;
}

} // namespace edgestack::quant
