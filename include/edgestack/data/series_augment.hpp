// Augmentation policies for 1-D signals and time series (SampleLayout 1 x T x C: time along
// the width, channels last): jitter, scaling and time shift. Each acts with probability `p`
// and is meant for data::Augment<...>.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <numbers>
#include <span>

#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/image_augment.hpp"

namespace edgestack::data {

/// Adds N(0, stddev) noise to every value (sensor noise).
struct Jitter {
    float p = 0.5f;       ///< probability of acting on a sample
    float stddev = 0.03f; ///< of the noise, in the data's units
    /// Augments sample `x` (laid out as `d`) in place with probability `p`, drawing from `r`.
    void operator()(std::span<float> x, const SampleLayout& d, Rng& r) const {
        if (!r.bernoulli(p)) return;
        GaussianNoise{1.0f, stddev, 1.0f, 0.0f}(x, d, r); // lo > hi: no clamping
    }
};

/// Multiplies each channel by its own factor drawn from N(1, stddev) (sensor gain).
struct Scaling {
    float p = 0.5f;      ///< probability of acting on a sample
    float stddev = 0.1f; ///< spread of the factors around 1
    /// Augments sample `x` (laid out as `d`) in place with probability `p`, drawing from `r`.
    void operator()(std::span<float> x, const SampleLayout& d, Rng& r) const {
        if (!r.bernoulli(p)) return;
        const std::size_t C = d.channels;
        float f[16];
        for (std::size_t c0 = 0; c0 < C; c0 += 16) {
            const std::size_t m = std::min<std::size_t>(16, C - c0);
            for (std::size_t c = 0; c < m; ++c) f[c] = r.normal(1.0f, stddev);
            for (std::size_t t = 0; t < x.size() / C; ++t)
                for (std::size_t c = 0; c < m; ++c) x[t * C + c0 + c] *= f[c];
        }
    }
};

/// How TimeShift treats the steps shifted out and in.
enum class ShiftMode { wrap, zero, edge };

/// Shifts the series along time by up to MaxSteps steps either way.
template <std::size_t MaxSteps>
struct TimeShift {
    float p = 0.5f;                   ///< probability of acting on a sample
    ShiftMode mode = ShiftMode::wrap; ///< what fills the steps shifted in
    /// Augments sample `x` (laid out as `d`) in place with probability `p`, drawing from `r`.
    void operator()(std::span<float> x, const SampleLayout& d, Rng& r) const {
        if (!r.bernoulli(p)) return;
        const auto k = detail::draw_offset(r, MaxSteps);
        if (k == 0) return;
        if (mode != ShiftMode::wrap) {
            detail::translate(x, d, 0, k, mode == ShiftMode::zero ? Fill::zero : Fill::edge);
            return;
        }
        const std::size_t T = d.width, C = d.channels;
        const std::size_t s = static_cast<std::size_t>((k % static_cast<std::ptrdiff_t>(T) +
                                                        static_cast<std::ptrdiff_t>(T))) % T;
        for (std::size_t y = 0; y < d.height; ++y) {
            float* row = x.data() + y * T * C;
            std::rotate(row, row + (T - s) * C, row + T * C);
        }
    }
};

} // namespace edgestack::data
