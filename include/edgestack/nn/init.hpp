// Weight initializers of the model stage: He (for ReLU-family layers) and Glorot (for
// tanh/sigmoid/linear ones), uniform or normal, all drawing from the model's seeded Rng.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>

#include "edgestack/core/rng.hpp"

namespace edgestack::nn::init {

/// He/Kaiming uniform: U(-sqrt(6/fan_in), +sqrt(6/fan_in)); keeps ReLU activations' variance.
inline void he_uniform(std::span<float> w, std::size_t fan_in, Rng& rng) {
    const float limit = std::sqrt(6.0f / static_cast<float>(fan_in));
    for (float& v : w) v = rng.uniform(-limit, limit);
}

/// He/Kaiming normal: N(0, 2/fan_in).
inline void he_normal(std::span<float> w, std::size_t fan_in, Rng& rng) {
    const float sd = std::sqrt(2.0f / static_cast<float>(fan_in));
    for (float& v : w) v = rng.normal(0.0f, sd);
}

/// Glorot/Xavier uniform: U(-sqrt(6/(fan_in+fan_out)), +...); for saturating activations.
inline void glorot_uniform(std::span<float> w, std::size_t fan_in, std::size_t fan_out, Rng& rng) {
    const float limit = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
    for (float& v : w) v = rng.uniform(-limit, limit);
}

/// Glorot/Xavier normal: N(0, 2/(fan_in+fan_out)).
inline void glorot_normal(std::span<float> w, std::size_t fan_in, std::size_t fan_out, Rng& rng) {
    const float sd = std::sqrt(2.0f / static_cast<float>(fan_in + fan_out));
    for (float& v : w) v = rng.normal(0.0f, sd);
}

/// Sets every value of `w` to `value` (biases, BatchNorm's gamma and beta).
inline void constant(std::span<float> w, float value) {
    for (float& v : w) v = value;
}

} // namespace edgestack::nn::init
