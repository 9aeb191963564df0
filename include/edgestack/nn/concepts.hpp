// The layer contract, written once. A user names layer *specs* (`Dense<128>`); Sequential
// binds each spec to the shape that flows into it (`Dense<128>::bind<Shape<784>>`), giving a
// concrete layer that satisfies `Layer`. ExampleLayer below is the contract as code.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"

namespace edgestack::nn {

/// Training mode enables dropout and batch statistics; eval mode is deterministic.
enum class Mode { train, eval };

/// A concrete (bound) layer.
///
/// Buffers are batch-major: `in` holds `batch * input_shape::size` floats, `out` holds
/// `batch * output_shape::size`. Parameters and gradients are views into the model's one
/// contiguous block; `backward` overwrites (does not accumulate into) `grads`, and writes
/// the gradient with respect to the input into `din` unless `din` is null (first layer).
/// `forward` in train mode may keep what `backward` needs (masks, statistics) in the layer.
template <class L>
concept Layer =
    ShapeType<typename L::input_shape> && ShapeType<typename L::output_shape> &&
    requires(L& l, const L& cl, const float* in, float* out, std::size_t batch,
             std::span<float> p, std::span<const float> cp, Mode mode, Rng& rng,
             compile::Graph& g, int value) {
        { L::param_count } -> std::convertible_to<std::size_t>;
        { L::macs } -> std::convertible_to<std::size_t>;
        { L::name() } -> std::convertible_to<std::string>;
        cl.init(p, rng);
        l.forward(in, out, batch, cp, mode, rng);
        l.backward(in, cp.data(), cp.data(), out, batch, cp, p);
        { cl.lower(g, value, cp) } -> std::same_as<int>;
    };

/// Optional members, detected when present (nn/detail/layer_traits.hpp):
/// - `weight_count`: the leading parameters that are weights laid out [out][...] (then
///   biases); hooks fake-quantize and prune them per output channel. Default: all of them.
///   Layers whose weights are not one such tensor (BatchNorm, recurrent, attention,
///   Residual) declare 0.
/// - `weights_channel_last = true`: weights laid out [...][channel] (depthwise conv).
/// - state: `state_count`, `init_state(span)` and `attach_state(span)` for non-trainable
///   values (BatchNorm's running statistics) kept in the model's state block, which
///   optimizers do not touch and checkpoints save. The layer keeps the attached view.
template <class L>
concept StatefulLayer = Layer<L> && requires(L& l, const L& cl, std::span<float> s) {
    { L::state_count } -> std::convertible_to<std::size_t>;
    cl.init_state(s);
    l.attach_state(s);
};

/// A layer spec: something Sequential can bind to an input shape.
template <class Spec, class In>
concept LayerSpecFor = ShapeType<In> && requires { typename Spec::template bind<In>; } &&
                       Layer<typename Spec::template bind<In>>;

/// The archetype: the smallest type that satisfies `Layer`. It is an identity over Shape<4>
/// and documents, by example, what each member is for. Tests check it against the concept.
struct ExampleLayer {
    using input_shape = Shape<4>;                  ///< the shape the layer was bound to
    using output_shape = Shape<4>;                 ///< computed from input_shape at compile time
    static constexpr std::size_t param_count = 0;  ///< floats in the model's parameter block
    static constexpr std::size_t weight_count = 0; ///< optional: leading [out][...] weights
    static constexpr std::size_t macs = 0;         ///< multiply-accumulates per sample
    /// Shown in summaries and error messages ("Conv2D<32, 3>").
    static std::string name() { return "ExampleLayer"; }

    /// Fills the layer's parameters (its slice of the model's block) from `rng`.
    void init(std::span<float> /*params*/, Rng& /*rng*/) const {}
    /// Computes `batch` outputs from `batch` inputs with its parameters; in train mode it may
    /// keep what backward needs, and draw from `rng` (dropout).
    void forward(const float* in, float* out, std::size_t batch, std::span<const float>,
                 Mode, Rng&) {
        for (std::size_t i = 0; i < batch * input_shape::size; ++i) out[i] = in[i];
    }
    /// From the gradient at the output `dout`: writes the parameter gradients into `grads`
    /// (overwriting) and the input gradient into `din` unless it is null (first layer).
    void backward(const float* /*in*/, const float* /*out*/, const float* dout, float* din,
                  std::size_t batch, std::span<const float>, std::span<float>) {
        if (din == nullptr) return;
        for (std::size_t i = 0; i < batch * input_shape::size; ++i) din[i] = dout[i];
    }
    /// Append this layer's nodes reading `value`; return the value id of its output.
    int lower(compile::Graph& /*g*/, int value, std::span<const float>) const { return value; }
};

} // namespace edgestack::nn
