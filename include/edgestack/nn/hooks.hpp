// Training-time hooks into a model: quantization-aware training and pruning install one to
// see (and change) each layer's parameters, output and gradients without changing the model
// type. A model with no hooks installed pays one pointer test per layer.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "edgestack/nn/concepts.hpp"

namespace edgestack::nn {

/// What a hook learns of the layer it is called for.
struct LayerInfo {
    std::size_t index = 0;        ///< position in the model
    std::string name;             ///< "Conv2D<32, 3>"
    std::size_t weight_count = 0; ///< leading parameters that are weights ([out][...] layout)
    std::size_t bias_count = 0;   ///< parameters after the weights (one per output channel)
    /// True when the weights are [...][channel] (depthwise [kh][kw][c]) instead of [out][...].
    bool weights_channel_last = false;
    std::size_t output_channels = 0; ///< channels of the output (per-channel quantization)
    std::size_t input_size = 0;   ///< floats per sample
    std::size_t output_size = 0;  ///< floats per sample
    bool has_weights() const noexcept { return weight_count > 0; } ///< whether weight_count > 0
};

/// Callbacks a model calls around each layer while training: the way QAT fake-quantizes and
/// pruning masks weights without the layers knowing. Every hook does nothing by default.
class TrainHooks {
public:
    virtual ~TrainHooks() = default;
    /// Before a layer's forward: the parameters it should use (e.g. fake-quantized weights
    /// in a buffer the hook owns). The same span is passed to its backward.
    virtual std::span<const float> forward_params(const LayerInfo&, std::span<const float> p,
                                                  Mode) {
        return p;
    }
    /// After a layer's forward: may change its output in place (fake-quantize activations).
    virtual void after_forward(const LayerInfo&, std::span<float> /*out*/, Mode) {}
    /// Before a layer's backward: may change the gradient arriving at its output (the
    /// straight-through estimator's mask); `out` is the output after_forward left.
    virtual void before_backward(const LayerInfo&, std::span<float> /*dout*/,
                                 std::span<const float> /*out*/) {}
    /// After a layer's backward: may change its parameter gradients (pruning masks).
    virtual void after_backward(const LayerInfo&, std::span<float> /*grads*/) {}
};

} // namespace edgestack::nn
