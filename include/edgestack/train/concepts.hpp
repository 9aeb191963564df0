// Contracts of the training stage: an Optimizer updates one parameter block from one
// gradient block; a ClassificationLoss turns logits and labels into a loss and its gradient.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace edgestack::train {

template <class O>
concept Optimizer = requires(O& o, std::span<float> p, std::span<const float> g) {
    o.step(p, g);
};

/// `loss(logits, labels, batch, classes, dlogits)` returns the mean loss over the batch and
/// writes d(mean loss)/d(logits) into dlogits.
template <class F>
concept ClassificationLoss = requires(const F& f, const float* logits, const std::int32_t* y,
                                      std::size_t n, float* grad) {
    { f(logits, y, n, n, grad) } -> std::convertible_to<float>;
};

} // namespace edgestack::train
