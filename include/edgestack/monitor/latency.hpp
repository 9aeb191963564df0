// Latency and throughput of a running engine: a lock-free log-scale histogram (p50/p95/p99),
// a sliding-window request rate, and error counts. Stage 6 (monitor): the server records
// into these on every request; /metrics and the retraining loop read them.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace edgestack::monitor {

/// Histogram of durations on a log scale: four buckets per doubling from 1 us to about
/// 67 s, so a quantile is known to within ~19% of its value. record() is wait-free.
class LatencyHistogram {
public:
    static constexpr std::size_t per_doubling = 4;                ///< buckets per doubling
    static constexpr std::size_t buckets = 26 * per_doubling + 1; ///< last one: overflow
    static constexpr double min_seconds = 1e-6;                   ///< upper bound of bucket 0

    /// Upper bound (seconds) of bucket i; the last bucket has none (+Inf).
    static double upper_bound(std::size_t i) noexcept {
        return min_seconds * std::exp2(static_cast<double>(i) / per_doubling);
    }

    /// Counts one duration, in seconds.
    void record(double seconds) noexcept {
        std::size_t i = 0;
        if (seconds > min_seconds) {
            const double k = std::ceil(std::log2(seconds / min_seconds) * per_doubling - 1e-9);
            i = std::min<std::size_t>(buckets - 1, static_cast<std::size_t>(std::max(0.0, k)));
        }
        counts_[i].fetch_add(1, std::memory_order_relaxed);
        count_.fetch_add(1, std::memory_order_relaxed);
        // Sum in nanoseconds: an integer keeps record() a single atomic add.
        sum_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
    }

    /// Counts one duration.
    template <class Rep, class Period>
    void record(std::chrono::duration<Rep, Period> d) noexcept {
        record(std::chrono::duration<double>(d).count());
    }

    /// Durations recorded.
    std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
    /// Their sum (each truncated to whole nanoseconds).
    double sum_seconds() const noexcept {
        return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
    }
    /// Durations in bucket `i` (no bounds check: i < buckets).
    std::uint64_t bucket_count(std::size_t i) const noexcept {
        return counts_[i].load(std::memory_order_relaxed);
    }

    /// The q-quantile (0 < q < 1) in seconds, interpolated geometrically inside its bucket;
    /// 0 when nothing was recorded.
    double quantile(double q) const noexcept {
        std::array<std::uint64_t, buckets> c{};
        std::uint64_t total = 0;
        for (std::size_t i = 0; i < buckets; ++i) total += c[i] = bucket_count(i);
        if (total == 0) return 0.0;
        const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
        double seen = 0.0;
        for (std::size_t i = 0; i < buckets; ++i) {
            if (c[i] == 0) continue;
            if (seen + static_cast<double>(c[i]) >= rank) {
                const double hi = upper_bound(std::min(i, buckets - 2));
                const double lo = i == 0 ? hi / 2 : upper_bound(i - 1);
                const double f = (rank - seen) / static_cast<double>(c[i]);
                return lo * std::pow(hi / lo, std::clamp(f, 0.0, 1.0));
            }
            seen += static_cast<double>(c[i]);
        }
        return upper_bound(buckets - 2);
    }

    /// Forgets everything (not atomic with respect to concurrent record() calls).
    void reset() noexcept {
        for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
        count_.store(0, std::memory_order_relaxed);
        sum_ns_.store(0, std::memory_order_relaxed);
    }

private:
    std::array<std::atomic<std::uint64_t>, buckets> counts_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_ns_{0};
};

/// Events per second over the last `Slots` seconds (whole seconds, the current one partial).
template <std::size_t Slots = 10>
class RateMeter {
public:
    using clock = std::chrono::steady_clock; ///< the time base

    /// Counts `n` events at `now`.
    void add(std::uint64_t n = 1, clock::time_point now = clock::now()) {
        std::lock_guard lock(m_);
        advance(now);
        slots_[head_] += n;
    }

    /// Events per second over the last Slots seconds (over the time since construction while
    /// that is shorter, at least one second).
    double per_second(clock::time_point now = clock::now()) {
        std::lock_guard lock(m_);
        advance(now);
        std::uint64_t total = 0;
        for (auto s : slots_) total += s;
        const double elapsed = std::min<double>(
            Slots, std::chrono::duration<double>(now - start_).count());
        return elapsed > 0 ? static_cast<double>(total) / std::max(elapsed, 1.0) : 0.0;
    }

private:
    void advance(clock::time_point now) {
        const auto sec = std::chrono::duration_cast<std::chrono::seconds>(now - start_).count();
        if (sec - current_ >= static_cast<long long>(Slots)) {
            slots_.fill(0);
            current_ = sec;
            return;
        }
        while (current_ < sec) {
            ++current_;
            head_ = (head_ + 1) % Slots;
            slots_[head_] = 0;
        }
    }

    std::mutex m_;
    clock::time_point start_ = clock::now();
    long long current_ = 0;
    std::size_t head_ = 0;
    std::array<std::uint64_t, Slots> slots_{};
};

/// What one served model has done: inference latency, samples, and failures by cause.
struct ModelStats {
    LatencyHistogram latency;            ///< engine time per request
    RateMeter<10> throughput;            ///< requests per second
    std::atomic<std::uint64_t> requests{0};      ///< successful inference requests
    std::atomic<std::uint64_t> samples{0};       ///< samples in them
    std::atomic<std::uint64_t> client_errors{0}; ///< 4xx: the request was wrong
    std::atomic<std::uint64_t> server_errors{0}; ///< 5xx: the engine or the server failed

    /// The counters and latency quantiles (seconds) at one moment.
    struct Snapshot {
        std::uint64_t requests;     ///< successful inference requests
        std::uint64_t samples;      ///< samples in them
        std::uint64_t client_errors; ///< 4xx answers
        std::uint64_t server_errors; ///< 5xx answers
        double p50;                 ///< median latency since start
        double p95;                 ///< 95th percentile
        double p99;                 ///< 99th percentile
        double requests_per_second; ///< over the last 10 s
    };
    /// Reads everything now.
    Snapshot snapshot() {
        return {requests.load(), samples.load(), client_errors.load(), server_errors.load(),
                latency.quantile(0.50), latency.quantile(0.95), latency.quantile(0.99),
                throughput.per_second()};
    }
};

} // namespace edgestack::monitor
