// Learning-rate schedules: the factor by which an optimizer scales its base rate at each
// step. They compose: WarmUp<Cosine>{...} warms up linearly, then follows the cosine.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>

#include "edgestack/core/error.hpp"
#include "edgestack/train/concepts.hpp"

namespace edgestack::train {

/// The base rate throughout.
struct ConstantLr {
    float operator()(std::uint64_t) const noexcept { return 1.0f; } ///< 1 at every step
};

/// Multiply by `gamma` every `every` steps (for "x0.1 every 10 epochs", every = 10 *
/// batches per epoch).
struct StepDecay {
    std::uint64_t every = 1; ///< steps between decays, >= 1
    float gamma = 0.1f;      ///< factor per decay

    /// gamma^(t / every); throws config_error for every = 0.
    float operator()(std::uint64_t t) const {
        if (every == 0) throw config_error("StepDecay: every must be >= 1 step");
        return std::pow(gamma, static_cast<float>(t / every));
    }
};

/// Half a cosine from 1 down to `floor` over `steps` steps, then `floor`.
struct Cosine {
    std::uint64_t steps = 1; ///< length of the decay, >= 1
    float floor = 0.0f;      ///< factor at the end

    /// The factor at step `t`; throws config_error for steps = 0.
    float operator()(std::uint64_t t) const {
        if (steps == 0) throw config_error("Cosine: steps must be >= 1");
        const double x = static_cast<double>(std::min(t, steps)) / static_cast<double>(steps);
        return floor + (1.0f - floor) *
                           static_cast<float>(0.5 * (1.0 + std::cos(std::numbers::pi * x)));
    }
};

/// A linear ramp over the first `steps` steps up to where `Then` starts, then `Then`
/// (counted from the end of the warm-up). Warm-up keeps Adam's first, noisy moment
/// estimates from taking large steps.
template <Schedule Then = ConstantLr>
struct WarmUp {
    std::uint64_t steps = 0; ///< length of the ramp
    Then then{};             ///< the schedule after it

    /// The factor at step `t`.
    float operator()(std::uint64_t t) const {
        if (t < steps)
            return then(0) * static_cast<float>(t + 1) / static_cast<float>(steps);
        return then(t - steps);
    }
};

} // namespace edgestack::train
