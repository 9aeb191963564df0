// Augmentation policies composed as one flat list: Augment<Shift<2>, FlipX, GaussianNoise>
// applies each policy in order to a sample, every random choice drawn from the sample's own
// stream. Augment<> is empty and recognised as the identity, so it costs nothing.
#pragma once

#include <cstddef>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

#include "edgestack/concepts.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"

namespace edgestack::data {

/// Applies Ps... in order. Each policy is stored by value (empty ones take no space) and
/// decides itself, from its probability `p`, whether it acts on a given sample.
template <class... Ps>
class Augment {
    static_assert((Augmentation<Ps> && ...),
                  "Augment<...>: every policy needs `void operator()(std::span<float>, const "
                  "SampleLayout&, Rng&) const` and a copy constructor");

public:
    Augment() = default;
    /// Policies given values, in list order.
    explicit Augment(Ps... policies) : ps_(std::move(policies)...) {}

    /// Applies every policy in order to sample `x` (laid out as `layout`), drawing from `rng`.
    void operator()(std::span<float> x, const SampleLayout& layout, Rng& rng) const {
        std::apply([&](const Ps&... p) { (p(x, layout, rng), ...); }, ps_);
    }

    /// The I-th policy, to read or change its parameters.
    template <std::size_t I>
    auto& get() noexcept { return std::get<I>(ps_); }
    /// The I-th policy, read-only.
    template <std::size_t I>
    const auto& get() const noexcept { return std::get<I>(ps_); }

private:
    [[no_unique_address]] std::tuple<Ps...> ps_;
};

/// The empty list: the Batcher skips it entirely.
template <>
class Augment<> {
public:
    /// Tells the Batcher to skip augmentation altogether.
    static constexpr bool is_identity = true;
    /// Does nothing.
    void operator()(std::span<float>, const SampleLayout&, Rng&) const noexcept {}
};

} // namespace edgestack::data
