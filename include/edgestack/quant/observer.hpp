// Range observers for post-training quantization: each watches the values one activation
// tensor takes over the calibration batches and proposes the real range [lo, hi] that its
// int8 parameters will cover. Ptq<Observer> keeps one per quantized value.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

#include "edgestack/quant/fixed_point.hpp"
#include "edgestack/quant/scheme.hpp"

namespace edgestack::quant {

/// Watches batches of one tensor and proposes a range.
template <class O>
concept Observer = std::default_initializable<O> && std::copy_constructible<O> &&
                   requires(O& o, const O& co, std::span<const float> x) {
                       o.observe(x);
                       { co.range() } -> std::same_as<Range>;
                   };

/// The smallest and largest value ever seen. Exact, and hurt most by outliers.
struct MinMax {
    /// Shown in summaries.
    static constexpr const char* name = "min-max";
    Range r; ///< the range so far

    /// Widens the range to take in `x`.
    void observe(std::span<const float> x) {
        if (x.empty()) return;
        const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
        if (!r.valid) r = {*lo, *hi, true};
        r.lo = std::min(r.lo, *lo);
        r.hi = std::max(r.hi, *hi);
    }
    /// The range seen (invalid before any value).
    Range range() const { return r; }
};

/// An exponential moving average of each batch's min and max (PyTorch's
/// MovingAverageMinMaxObserver): the first batch sets it, each later one moves it by
/// `momentum`.
struct MovingAverageMinMax {
    /// Shown in summaries.
    static constexpr const char* name = "moving-average min-max";
    float momentum = 0.1f; ///< share of each new batch's min / max in the average, (0, 1]
    Range r;               ///< the average so far

    /// Moves the range towards `x`'s min and max (the first batch sets it).
    void observe(std::span<const float> x) {
        if (x.empty()) return;
        const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
        if (!r.valid) {
            r = {*lo, *hi, true};
            return;
        }
        r.lo += momentum * (*lo - r.lo);
        r.hi += momentum * (*hi - r.hi);
    }
    /// The averaged range (invalid before any value).
    Range range() const { return r; }
};

namespace detail {

/// A histogram whose range grows to cover everything seen; when it grows, old counts move
/// to the new bin that holds their old bin's centre.
class Histogram {
public:
    static constexpr std::size_t bins = 2048;

    void add(std::span<const float> x) {
        if (x.empty()) return;
        const auto [mn, mx] = std::minmax_element(x.begin(), x.end());
        float lo = *mn, hi = *mx;
        if (!std::isfinite(lo) || !std::isfinite(hi)) return;
        if (counts_.empty()) {
            counts_.assign(bins, 0.0);
            lo_ = lo;
            hi_ = hi > lo ? hi : lo + 1e-6f;
        } else if (lo < lo_ || hi > hi_) {
            regrid(std::min(lo, lo_), std::max(hi, hi_));
        }
        const float inv = static_cast<float>(bins) / (hi_ - lo_);
        for (float v : x) counts_[index(v, inv)] += 1.0;
        total_ += static_cast<double>(x.size());
    }

    bool empty() const noexcept { return total_ == 0.0; }
    float lo() const noexcept { return lo_; }
    float hi() const noexcept { return hi_; }
    double total() const noexcept { return total_; }
    float width() const noexcept { return (hi_ - lo_) / static_cast<float>(bins); }
    float center(std::size_t i) const noexcept {
        return lo_ + (static_cast<float>(i) + 0.5f) * width();
    }
    double count(std::size_t i) const noexcept { return counts_[i]; }

    /// The value below which a fraction `p` of the mass lies (linear within a bin).
    float quantile(double p) const {
        const double target = p * total_;
        double acc = 0.0;
        for (std::size_t i = 0; i < bins; ++i) {
            if (acc + counts_[i] >= target && counts_[i] > 0.0) {
                const double f = (target - acc) / counts_[i];
                return lo_ + (static_cast<float>(i) + static_cast<float>(f)) * width();
            }
            acc += counts_[i];
        }
        return hi_;
    }

private:
    std::size_t index(float v, float inv) const noexcept {
        const auto i = static_cast<std::ptrdiff_t>((v - lo_) * inv);
        return static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(i, 0, bins - 1));
    }
    void regrid(float lo, float hi) {
        std::vector<double> old(bins, 0.0);
        old.swap(counts_);
        const float old_lo = lo_, old_w = (hi_ - lo_) / static_cast<float>(bins);
        lo_ = lo;
        hi_ = hi;
        const float inv = static_cast<float>(bins) / (hi_ - lo_);
        for (std::size_t i = 0; i < bins; ++i)
            if (old[i] > 0.0)
                counts_[index(old_lo + (static_cast<float>(i) + 0.5f) * old_w, inv)] += old[i];
    }

    std::vector<double> counts_;
    float lo_ = 0.0f, hi_ = 0.0f;
    double total_ = 0.0;
};

} // namespace detail

/// The range between two percentiles of everything seen: clips the rare outliers that
/// would otherwise stretch the scale. `percentile` 99.99 keeps [0.01%, 99.99%].
struct Percentile {
    /// Shown in summaries.
    static constexpr const char* name = "percentile";
    double percentile = 99.99; ///< upper percentile kept, the lower is 100 minus it; in [50, 100]
    detail::Histogram h; ///< histogram of everything seen

    /// Adds `x` to the histogram.
    void observe(std::span<const float> x) { h.add(x); }
    /// The range between the two percentiles (invalid before any value).
    Range range() const {
        if (h.empty()) return {};
        const double p = std::clamp(percentile, 50.0, 100.0) / 100.0;
        return {h.quantile(1.0 - p), h.quantile(p), true};
    }
};

/// The range whose int8 grid minimises the mean squared error between the values seen and
/// their quantized form (rounding inside the range plus clipping outside), searched over
/// ranges shrunk from the min-max one, each end separately.
struct MseOptimal {
    /// Shown in summaries.
    static constexpr const char* name = "MSE-optimal";
    std::size_t steps = 24; ///< candidates per end: shrink by 0%, 2.5%, ... of each end
    detail::Histogram h;    ///< histogram of everything seen

    /// Adds `x` to the histogram.
    void observe(std::span<const float> x) { h.add(x); }

    /// Squared error, summed over the histogram, of quantizing with the grid of [lo, hi].
    double error(float lo, float hi) const {
        const AffineParams p = choose_affine(lo, hi);
        double e = 0.0;
        for (std::size_t i = 0; i < detail::Histogram::bins; ++i) {
            const double c = h.count(i);
            if (c == 0.0) continue;
            const float v = h.center(i);
            const double d = static_cast<double>(v - fake_quantize(v, p));
            e += c * d * d;
        }
        return e;
    }

    /// The candidate range with the least error (invalid before any value).
    Range range() const {
        if (h.empty()) return {};
        const float lo0 = std::min(h.lo(), 0.0f), hi0 = std::max(h.hi(), 0.0f);
        Range best{lo0, hi0, true};
        double best_e = error(lo0, hi0);
        for (std::size_t i = 0; i < steps; ++i) {
            const float lo = lo0 * (1.0f - 0.025f * static_cast<float>(i));
            for (std::size_t j = 0; j < steps; ++j) {
                const float hi = hi0 * (1.0f - 0.025f * static_cast<float>(j));
                if (hi - lo <= 0.0f) continue;
                const double e = error(lo, hi);
                if (e < best_e) {
                    best_e = e;
                    best = {lo, hi, true};
                }
            }
        }
        return best;
    }
};

} // namespace edgestack::quant
