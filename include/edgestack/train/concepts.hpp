// Contracts of the training stage: an Optimizer updates one parameter block from one
// gradient block; a ClassificationLoss turns logits and labels into a loss and its gradient,
// a RegressionLoss does the same from float targets; a Schedule scales the learning rate.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace edgestack::train {

/// Anything that updates a parameter block from its gradients: `step(params, grads)`.
template <class O>
concept Optimizer = requires(O& o, std::span<float> p, std::span<const float> g) {
    o.step(p, g);
};

/// Everything an optimizer carries from one step to the next, for checkpoints: its name (so
/// a file written by Adam is not loaded into Sgd), the number of steps taken (which drives
/// schedules and bias correction) and its per-parameter buffers (momentum, moments).
struct OptimizerState {
    std::string name;                      ///< e.g. "Adam", "AdamW"
    std::uint64_t steps = 0;               ///< steps taken
    std::vector<std::vector<float>> slots; ///< per-parameter buffers, each parameters long
};

/// An optimizer whose state can be saved and restored (resuming training).
template <class O>
concept StatefulOptimizer = Optimizer<O> && requires(O& o, const O& co, const OptimizerState& s) {
    { co.state() } -> std::convertible_to<OptimizerState>;
    o.load_state(s);
};

/// `loss(logits, labels, batch, classes, dlogits)` returns the mean loss over the batch and
/// writes d(mean loss)/d(logits) into dlogits.
template <class F>
concept ClassificationLoss = requires(const F& f, const float* logits, const std::int32_t* y,
                                      std::size_t n, float* grad) {
    { f(logits, y, n, n, grad) } -> std::convertible_to<float>;
};

/// `loss(outputs, targets, batch, outputs_per_sample, doutputs)`: as ClassificationLoss,
/// with one float target per output.
template <class F>
concept RegressionLoss = requires(const F& f, const float* out, const float* target,
                                  std::size_t n, float* grad) {
    { f(out, target, n, n, grad) } -> std::convertible_to<float>;
};

/// A learning-rate schedule: the factor applied to the base rate at optimizer step `t`
/// (counted from 0).
template <class S>
concept Schedule = std::copy_constructible<S> && requires(const S& s, std::uint64_t t) {
    { s(t) } -> std::convertible_to<float>;
};

} // namespace edgestack::train
