// Compile-time footprint of a static model (nn::Sequential) in fp32 or int8, and
// fits_on<Footprint, Device>: true when activations fit the device's RAM and weights plus
// code fit its flash. Usable in a static_assert at the point a deployment is declared.
#pragma once

#include <cstddef>
#include <cstdint>

#include "edgestack/compile/memory_plan.hpp"
#include "edgestack/device/profiles.hpp"

namespace edgestack::device {

/// Bytes per parameter and activation: 4 in fp32, 1 in int8.
enum class Precision { fp32, int8 };

/// Sizes known while the program compiles: 4 bytes per parameter in fp32, 1 in int8 (an
/// upper bound up to the int32 biases, a few hundred bytes on the networks here).
template <class Model, Precision P = Precision::fp32>
struct Footprint {
    /// Bytes per value.
    static constexpr std::size_t elem = P == Precision::int8 ? 1 : sizeof(float);
    static constexpr std::size_t params = Model::param_count; ///< parameters
    static constexpr std::size_t macs = Model::macs;           ///< multiply-accumulates per sample
    /// Activation arena at batch 1, from the static memory plan.
    static constexpr std::size_t arena_bytes = compile::static_arena_bytes<Model, elem>();
    static constexpr std::size_t weight_bytes = params * elem; ///< weights
};

/// A footprint known at compile time: arena and weight bytes as constants (see Footprint).
template <class F>
concept StaticFootprint = requires {
    { F::arena_bytes } -> std::convertible_to<std::size_t>;
    { F::weight_bytes } -> std::convertible_to<std::size_t>;
};

/// Whether footprint F fits device D (arena in RAM, weights and code in flash), known while
/// compiling: `static_assert(device::fits_on<device::Footprint<Net>, device::CortexM7>)`.
template <StaticFootprint F, Device D>
inline constexpr bool fits_on = F::arena_bytes <= D::profile.ram_bytes &&
                                F::weight_bytes + D::profile.code_bytes <= D::profile.flash_bytes;

} // namespace edgestack::device
