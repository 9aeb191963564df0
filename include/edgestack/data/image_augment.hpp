// Image augmentation policies for NHWC samples (SampleLayout gives H, W, C): random shift or
// crop with padding, horizontal flip, small rotation, Gaussian noise, random erasing and
// brightness/contrast. Each acts with probability `p` and is meant for data::Augment<...>.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <numbers>
#include <span>
#include <vector>

#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"

namespace edgestack::data {

/// What fills the pixels a transform uncovers.
enum class Fill { zero, edge };

namespace detail {
// Per-thread scratch, so policies stay const, thread-safe and allocation-free after warm-up.
inline std::span<float> scratch(std::size_t n) {
    thread_local std::vector<float> buf;
    if (buf.size() < n) buf.resize(n);
    return {buf.data(), n};
}

inline std::ptrdiff_t draw_offset(Rng& r, std::size_t max) {
    return static_cast<std::ptrdiff_t>(r.below(2 * max + 1)) - static_cast<std::ptrdiff_t>(max);
}

// Moves the image by (dy, dx) in place; uncovered pixels take `fill`'s value.
inline void translate(std::span<float> x, const SampleLayout& d, std::ptrdiff_t dy,
                      std::ptrdiff_t dx, Fill fill) {
    const auto H = static_cast<std::ptrdiff_t>(d.height), W = static_cast<std::ptrdiff_t>(d.width);
    const auto C = static_cast<std::ptrdiff_t>(d.channels);
    if (dy == 0 && dx == 0) return;
    if (fill == Fill::edge) {
        // Replicating edges reads arbitrary source pixels: go through a copy.
        auto src = scratch(x.size());
        std::copy(x.begin(), x.end(), src.begin());
        for (std::ptrdiff_t y = 0; y < H; ++y) {
            const std::ptrdiff_t sy = std::clamp<std::ptrdiff_t>(y - dy, 0, H - 1);
            for (std::ptrdiff_t xx = 0; xx < W; ++xx) {
                const std::ptrdiff_t sx = std::clamp<std::ptrdiff_t>(xx - dx, 0, W - 1);
                std::memcpy(&x[(y * W + xx) * C], &src[(sy * W + sx) * C], sizeof(float) * C);
            }
        }
        return;
    }
    // Zero fill in place: rows in the order that never overwrites a row still to be read.
    const std::ptrdiff_t lo = std::max<std::ptrdiff_t>(0, dx), hi = std::min(W, W + dx);
    auto do_row = [&](std::ptrdiff_t y) {
        float* row = &x[y * W * C];
        const std::ptrdiff_t sy = y - dy;
        if (sy < 0 || sy >= H || hi <= lo) {
            std::fill(row, row + W * C, 0.0f);
            return;
        }
        std::memmove(row + lo * C, &x[(sy * W + (lo - dx)) * C], sizeof(float) * (hi - lo) * C);
        std::fill(row, row + lo * C, 0.0f);
        std::fill(row + hi * C, row + W * C, 0.0f);
    };
    if (dy > 0)
        for (std::ptrdiff_t y = H - 1; y >= 0; --y) do_row(y);
    else
        for (std::ptrdiff_t y = 0; y < H; ++y) do_row(y);
}

// 4096 standard-normal quantiles, rescaled to unit variance. Noise for augmentation does not
// need exact tails (they stop at about 3.5 sigma); a table lookup per value, five per 64-bit
// draw, is what keeps noise from dominating the cost of a batch.
// Built at run time, on first use. Not a lambda: a lambda is implicitly constexpr, and GCC
// then tries to fill the table while compiling (4096 x 60 calls of erfc), which took over
// 4 s of every file that included this header.
inline std::array<float, 4096> make_normal_table() {
    std::array<float, 4096> t{};
    double sq = 0.0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const double q = (static_cast<double>(i) + 0.5) / static_cast<double>(t.size());
        double lo = -10.0, hi = 10.0; // bisection on the normal CDF
        for (int k = 0; k < 60; ++k) {
            const double mid = 0.5 * (lo + hi);
            (0.5 * std::erfc(-mid / std::numbers::sqrt2) < q ? lo : hi) = mid;
        }
        t[i] = static_cast<float>(0.5 * (lo + hi));
        sq += static_cast<double>(t[i]) * t[i];
    }
    const double scale = 1.0 / std::sqrt(sq / static_cast<double>(t.size()));
    for (auto& v : t) v = static_cast<float>(v * scale);
    return t;
}

inline const std::array<float, 4096>& normal_table() {
    static const std::array<float, 4096> table = make_normal_table();
    return table;
}

inline void add_normal_noise(std::span<float> x, float stddev, Rng& r) {
    const auto& t = normal_table();
    const std::size_t n = x.size();
    for (std::size_t i = 0; i < n;) {
        std::uint64_t bits = r();
        for (int k = 0; k < 5 && i < n; ++k, ++i, bits >>= 12) x[i] += stddev * t[bits & 4095];
    }
}
} // namespace detail

/// Moves the image by up to MaxShift pixels along each axis.
template <std::size_t MaxShift>
struct Shift {
    float p = 1.0f;         ///< probability of acting on a sample
    Fill fill = Fill::zero; ///< what the uncovered border takes
    /// Augments sample `x` (laid out as `d`) in place with probability `p`, drawing from `r`.
    void operator()(std::span<float> x, const SampleLayout& d, Rng& r) const {
        if (!r.bernoulli(p)) return;
        const auto dy = d.height > 1 ? detail::draw_offset(r, MaxShift) : 0;
        const auto dx = detail::draw_offset(r, MaxShift);
        detail::translate(x, d, dy, dx, fill);
    }
};

/// Pads the image by Pad pixels on every side and crops a random window of the original
/// size - the same distribution of outcomes as Shift<Pad>.
template <std::size_t Pad>
using RandomCrop = Shift<Pad>;

/// Mirrors the image left to right.
struct FlipX {
    float p = 0.5f; ///< probability of acting on a sample
    /// Augments sample `x` (laid out as `d`) in place with probability `p`, drawing from `r`.
    void operator()(std::span<float> x, const SampleLayout& d, Rng& r) const {
        if (!r.bernoulli(p)) return;
        const std::size_t W = d.width, C = d.channels;
        for (std::size_t y = 0; y < d.height; ++y) {
            float* row = x.data() + y * W * C;
            for (std::size_t a = 0, b = W - 1; a < b; ++a, --b)
                for (std::size_t c = 0; c < C; ++c) std::swap(row[a * C + c], row[b * C + c]);
        }
    }
};

/// Rotates the image about its centre by an angle drawn from [-MaxDegrees, MaxDegrees],
/// bilinear, uncovered pixels zero.
template <std::size_t MaxDegrees>
struct Rotate {
    float p = 0.5f; ///< probability of acting on a sample
    /// Augments sample `x` (laid out as `d`) in place with probability `p`, drawing from `r`.
    void operator()(std::span<float> x, const SampleLayout& d, Rng& r) const {
        if (!r.bernoulli(p)) return;
        const float a = r.uniform(-1.0f, 1.0f) * static_cast<float>(MaxDegrees) *
                        std::numbers::pi_v<float> / 180.0f;
        const float cs = std::cos(a), sn = std::sin(a);
        const auto H = static_cast<std::ptrdiff_t>(d.height), W = static_cast<std::ptrdiff_t>(d.width);
        const std::size_t C = d.channels;
        auto src = detail::scratch(x.size());
        std::copy(x.begin(), x.end(), src.begin());
        const float cy = 0.5f * static_cast<float>(H - 1), cx = 0.5f * static_cast<float>(W - 1);
        auto at = [&](std::ptrdiff_t yy, std::ptrdiff_t xx, std::size_t c) {
            return (yy < 0 || yy >= H || xx < 0 || xx >= W) ? 0.0f
                                                             : src[(yy * W + xx) * C + c];
        };
        for (std::ptrdiff_t y = 0; y < H; ++y) {
            // Inverse mapping, linear along the row: where in the source each output pixel is.
            const float oy = static_cast<float>(y) - cy;
            const float sy0 = -sn * -cx + cs * oy + cy, sx0 = cs * -cx + sn * oy + cx;
            for (std::ptrdiff_t xx = 0; xx < W; ++xx) {
                const float sy = sy0 - sn * static_cast<float>(xx);
                const float sx = sx0 + cs * static_cast<float>(xx);
                const float fy = std::floor(sy), fx = std::floor(sx);
                const auto y0 = static_cast<std::ptrdiff_t>(fy), x0 = static_cast<std::ptrdiff_t>(fx);
                const float wy = sy - fy, wx = sx - fx;
                float* o = &x[(y * W + xx) * C];
                if (y0 >= 0 && x0 >= 0 && y0 + 1 < H && x0 + 1 < W) {
                    const float* s00 = &src[(y0 * W + x0) * C];
                    const float* s10 = s00 + W * static_cast<std::ptrdiff_t>(C);
                    for (std::size_t c = 0; c < C; ++c) {
                        const float top = s00[c] + (s00[C + c] - s00[c]) * wx;
                        const float bot = s10[c] + (s10[C + c] - s10[c]) * wx;
                        o[c] = top + (bot - top) * wy;
                    }
                } else if (y0 < -1 || x0 < -1 || y0 >= H || x0 >= W) {
                    for (std::size_t c = 0; c < C; ++c) o[c] = 0.0f;
                } else {
                    for (std::size_t c = 0; c < C; ++c) {
                        const float top = at(y0, x0, c) * (1 - wx) + at(y0, x0 + 1, c) * wx;
                        const float bot = at(y0 + 1, x0, c) * (1 - wx) + at(y0 + 1, x0 + 1, c) * wx;
                        o[c] = top * (1 - wy) + bot * wy;
                    }
                }
            }
        }
    }
};

/// Adds N(0, stddev) to every value, then clamps to [lo, hi] (set lo > hi to not clamp).
struct GaussianNoise {
    float p = 0.5f;       ///< probability of acting on a sample
    float stddev = 0.05f; ///< of the noise, in pixel units ([0, 1] images)
    float lo = 0.0f;      ///< clamp floor
    float hi = 1.0f;      ///< clamp ceiling
    /// Augments sample `x` (laid out as `d`) in place with probability `p`, drawing from `r`.
    void operator()(std::span<float> x, const SampleLayout&, Rng& r) const {
        if (!r.bernoulli(p)) return;
        detail::add_normal_noise(x, stddev, r);
        if (lo <= hi)
            for (auto& v : x) v = std::clamp(v, lo, hi);
    }
};

/// Random erasing (cutout): fills a rectangle covering a fraction in [min_area, max_area] of
/// the image, aspect ratio in [1/max_aspect, max_aspect], with `value`.
struct RandomErasing {
    float p = 0.5f;          ///< probability of acting on a sample
    float min_area = 0.02f;  ///< smallest share of the image erased
    float max_area = 0.2f;   ///< largest share of the image erased
    float max_aspect = 3.0f; ///< the rectangle's width/height ratio stays within 1/x .. x
    float value = 0.0f;      ///< what the rectangle is filled with
    /// Augments sample `x` (laid out as `d`) in place with probability `p`, drawing from `r`.
    void operator()(std::span<float> x, const SampleLayout& d, Rng& r) const {
        if (!r.bernoulli(p)) return;
        const float area = r.uniform(min_area, max_area) * static_cast<float>(d.height * d.width);
        const float la = std::log(max_aspect);
        const float aspect = std::exp(r.uniform(-la, la));
        const auto h = std::clamp<std::size_t>(
            static_cast<std::size_t>(std::lround(std::sqrt(area * aspect))), 1, d.height);
        const auto w = std::clamp<std::size_t>(
            static_cast<std::size_t>(std::lround(std::sqrt(area / aspect))), 1, d.width);
        const std::size_t y0 = r.below(d.height - h + 1), x0 = r.below(d.width - w + 1);
        const std::size_t C = d.channels;
        for (std::size_t y = y0; y < y0 + h; ++y)
            std::fill_n(x.data() + (y * d.width + x0) * C, w * C, value);
    }
};

/// x -> (x - mean) * c + mean + b, c in [1 - contrast, 1 + contrast], b in [-brightness,
/// brightness]; then clamped to [lo, hi] (lo > hi: no clamp).
struct BrightnessContrast {
    float p = 0.5f;          ///< probability of acting on a sample
    float brightness = 0.1f; ///< largest shift b
    float contrast = 0.2f;   ///< largest change of the factor c away from 1
    float lo = 0.0f;         ///< clamp floor
    float hi = 1.0f;         ///< clamp ceiling
    /// Augments sample `x` (laid out as `d`) in place with probability `p`, drawing from `r`.
    void operator()(std::span<float> x, const SampleLayout&, Rng& r) const {
        if (!r.bernoulli(p)) return;
        const float b = r.uniform(-brightness, brightness);
        const float c = r.uniform(1.0f - contrast, 1.0f + contrast);
        float mean = 0.0f;
        for (float v : x) mean += v;
        mean /= static_cast<float>(x.size());
        const float shift = mean * (1.0f - c) + b;
        for (auto& v : x) v = v * c + shift;
        if (lo <= hi)
            for (auto& v : x) v = std::clamp(v, lo, hi);
    }
};

} // namespace edgestack::data
