// The empty augmentation policy: samples pass through unchanged, at no cost in size or time.
#pragma once

#include <span>

#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"

namespace edgestack::data {

struct NoAugment {
    static constexpr bool is_identity = true;
    void operator()(std::span<float>, const SampleLayout&, Rng&) const noexcept {}
};

} // namespace edgestack::data
