// The empty augmentation policy: samples pass through unchanged, at no cost in size or time.
#pragma once

#include <span>

#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"

namespace edgestack::data {

/// No augmentation: the Batcher sees `is_identity` and skips the call altogether.
struct NoAugment {
    /// Marks the policy as doing nothing.
    static constexpr bool is_identity = true;
    /// Does nothing.
    void operator()(std::span<float>, const SampleLayout&, Rng&) const noexcept {}
};

} // namespace edgestack::data
