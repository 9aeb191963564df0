// The seeded random stream behind every random choice (initialisation, shuffling,
// augmentation, dropout). A run is reproducible for a given seed and thread count: streams
// are split per purpose and per thread, never shared between threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

namespace edgestack {

/// xoshiro256** seeded through splitmix64. Satisfies std::uniform_random_bit_generator, but
/// its own uniform/normal draws are preferred: they give the same numbers on every standard
/// library, which std:: distributions do not promise.
class Rng {
public:
    using result_type = std::uint64_t; ///< what operator() returns

    /// The stream of `seed`.
    explicit Rng(std::uint64_t seed = 0x5eed) noexcept : seed_(seed) {
        std::uint64_t x = seed;
        for (auto& s : s_) s = splitmix64(x);
    }

    static constexpr result_type min() noexcept { return 0; } ///< smallest value operator() returns
    /// Largest value operator() returns.
    static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

    /// The next 64 random bits.
    result_type operator()() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// An independent stream for `stream` (a purpose, a thread, an epoch): the same
    /// (seed, stream) pair always gives the same numbers, whatever was drawn before.
    Rng split(std::uint64_t stream) const noexcept {
        std::uint64_t x = seed_ ^ (0x9e3779b97f4a7c15ULL * (stream + 1));
        return Rng(splitmix64(x));
    }

    std::uint64_t seed() const noexcept { return seed_; } ///< the seed it was made from

    /// Uniform in [0, 1).
    float uniform() noexcept { return static_cast<float>((*this)() >> 40) * 0x1.0p-24f; }
    /// Uniform in [lo, hi).
    float uniform(float lo, float hi) noexcept { return lo + (hi - lo) * uniform(); }

    /// Uniform integer in [0, n); n must be > 0. Lemire's multiply-shift, unbiased enough
    /// for n far below 2^32 as used here.
    std::uint64_t below(std::uint64_t n) noexcept {
        return static_cast<std::uint64_t>((static_cast<unsigned __int128>((*this)()) * n) >> 64);
    }

    /// True with probability `p`.
    bool bernoulli(float p) noexcept { return uniform() < p; }

    /// Standard normal (Box-Muller; the second value is discarded to keep streams simple).
    float normal() noexcept {
        float u1 = uniform();
        while (u1 <= 0.0f) u1 = uniform();
        const float u2 = uniform();
        return std::sqrt(-2.0f * std::log(u1)) * std::cos(2.0f * std::numbers::pi_v<float> * u2);
    }
    /// Normal with the given mean and standard deviation.
    float normal(float mean, float stddev) noexcept { return mean + stddev * normal(); }

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
        return (x << k) | (x >> (64 - k));
    }
    static constexpr std::uint64_t splitmix64(std::uint64_t& x) noexcept {
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    std::uint64_t seed_;
    std::uint64_t s_[4]{};
};

} // namespace edgestack
