// The numbers behind the server's /dashboard page: a bounded ring of points (windowed
// latency quantiles, requests/s, errors by status code, drift PSI per feature, delayed-label
// accuracy) and of serving-version events, each optionally mirrored into a history store so
// charts survive a restart. Stage 6 (monitor); the server samples into it, /dashboard/data
// reads it as JSON.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgestack/core/error.hpp"
#include "edgestack/monitor/latency.hpp"

namespace edgestack::monitor {

/// One sample of the dashboard, covering the interval that ends at `time_ms`.
struct DashboardPoint {
    std::int64_t time_ms = 0;                  ///< Unix time
    double p50 = 0;                            ///< median engine seconds, this interval only
    double p90 = 0;                            ///< 90th percentile
    double p99 = 0;                            ///< 99th percentile
    double requests_per_second = 0;            ///< successful inferences
    std::map<unsigned, std::uint64_t> errors;  ///< HTTP status >= 400 -> answers in this interval
    std::vector<double> feature_psi;           ///< drift per input feature (empty: no monitor)
    std::optional<double> accuracy;            ///< delayed-label accuracy, when known
};

/// The serving version of a model changed: through the admin routes ("promote",
/// "rollback") or because the registry's pointer moved ("reload").
struct DashboardEvent {
    std::int64_t time_ms = 0; ///< Unix time
    std::string model;        ///< the model's name
    std::string action;       ///< "promote", "rollback" or "reload"
    std::uint64_t from = 0;   ///< the version before; 0: none
    std::uint64_t to = 0;     ///< the version after
};

/// The point as the page reads it: "t", "p50", "p90", "p99", "rps", "errors", "psi", and
/// "accuracy" (null when unknown).
inline nlohmann::json to_json(const DashboardPoint& p) {
    nlohmann::json errors = nlohmann::json::object();
    for (const auto& [code, n] : p.errors) errors[std::to_string(code)] = n;
    nlohmann::json j{{"t", p.time_ms},       {"p50", p.p50},     {"p90", p.p90},
                     {"p99", p.p99},         {"rps", p.requests_per_second},
                     {"errors", errors},     {"psi", p.feature_psi}};
    j["accuracy"] = p.accuracy ? nlohmann::json(*p.accuracy) : nlohmann::json(nullptr);
    return j;
}

/// The event as the page reads it.
inline nlohmann::json to_json(const DashboardEvent& e) {
    return {{"t", e.time_ms}, {"model", e.model}, {"action", e.action}, {"from", e.from},
            {"to", e.to}};
}

namespace detail::dashboard {

// Stored history is read back defensively: a row that is not what to_json wrote (an older
// layout, a damaged file) is skipped, never thrown on or half-used.
inline bool finite_number(const nlohmann::json& j) {
    return j.is_number() && std::isfinite(j.get<double>());
}

inline std::optional<DashboardPoint> point_from(const std::string& text) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    for (const char* k : {"t", "p50", "p90", "p99", "rps"})
        if (!j.contains(k) || !finite_number(j[k])) return std::nullopt;
    DashboardPoint p;
    p.time_ms = j["t"].get<std::int64_t>();
    p.p50 = j["p50"].get<double>();
    p.p90 = j["p90"].get<double>();
    p.p99 = j["p99"].get<double>();
    p.requests_per_second = j["rps"].get<double>();
    if (j.contains("errors") && j["errors"].is_object())
        for (const auto& [code, n] : j["errors"].items()) {
            unsigned c = 0;
            for (char ch : code) c = ch >= '0' && ch <= '9' && c < 1000 ? c * 10 + unsigned(ch - '0') : 1000;
            if (c >= 100 && c < 600 && n.is_number_unsigned()) p.errors[c] = n.get<std::uint64_t>();
        }
    if (j.contains("psi") && j["psi"].is_array())
        for (const auto& v : j["psi"])
            if (finite_number(v)) p.feature_psi.push_back(v.get<double>());
    if (j.contains("accuracy") && finite_number(j["accuracy"])) p.accuracy = j["accuracy"].get<double>();
    return p;
}

inline std::optional<DashboardEvent> event_from(const std::string& text) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("t") || !j["t"].is_number_integer() ||
        !j.contains("model") || !j["model"].is_string() || !j.contains("action") ||
        !j["action"].is_string() || !j.contains("from") || !j["from"].is_number_unsigned() ||
        !j.contains("to") || !j["to"].is_number_unsigned())
        return std::nullopt;
    return DashboardEvent{j["t"].get<std::int64_t>(), j["model"].get<std::string>(),
                          j["action"].get<std::string>(), j["from"].get<std::uint64_t>(),
                          j["to"].get<std::uint64_t>()};
}

} // namespace detail::dashboard

/// Bucket counts of a LatencyHistogram at one moment; two of them give the quantiles of the
/// requests in between (the histogram itself only knows "since start").
using LatencyCounts = std::array<std::uint64_t, LatencyHistogram::buckets>;

/// The bucket counts of `h` now.
inline LatencyCounts counts_of(const LatencyHistogram& h) {
    LatencyCounts c{};
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = h.bucket_count(i);
    return c;
}

/// The q-quantile (seconds) of the durations recorded between `before` and `now`, with the
/// histogram's geometric interpolation inside a bucket; 0 when none were recorded.
inline double window_quantile(const LatencyCounts& now, const LatencyCounts& before, double q) {
    using H = LatencyHistogram;
    LatencyCounts d{};
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < d.size(); ++i)
        total += d[i] = now[i] >= before[i] ? now[i] - before[i] : 0;
    if (total == 0) return 0.0;
    const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
    double seen = 0.0;
    for (std::size_t i = 0; i < d.size(); ++i) {
        if (d[i] == 0) continue;
        if (seen + static_cast<double>(d[i]) >= rank) {
            const double hi = H::upper_bound(std::min(i, H::buckets - 2));
            const double lo = i == 0 ? hi / 2 : H::upper_bound(i - 1);
            const double f = (rank - seen) / static_cast<double>(d[i]);
            return lo * std::pow(hi / lo, std::clamp(f, 0.0, 1.0));
        }
        seen += static_cast<double>(d[i]);
    }
    return H::upper_bound(H::buckets - 2);
}

/// Where dashboard history is kept across restarts (e.g. TelemetryStore::append_history and
/// TelemetryStore::history). Either may be empty; failures of either are the caller's to
/// count, never a reason to lose the in-memory points.
struct DashboardHistory {
    /// Stores one payload of a kind ("dashboard", "event").
    std::function<void(const std::string& kind, const std::string& payload)> save;
    /// The newest `limit` payloads of a kind, oldest first.
    std::function<std::vector<std::string>(const std::string& kind, std::size_t limit)> load;
};

/// The ring the page is drawn from: at most `capacity` points and `capacity` events, oldest
/// dropped first. Thread-safe.
class DashboardSeries {
public:
    /// Throws config_error for a zero capacity.
    explicit DashboardSeries(std::size_t capacity = 600) : capacity_(capacity) {
        if (capacity_ == 0) throw config_error("DashboardSeries: capacity must be >= 1");
    }

    /// Fill the ring from stored history (newest `capacity` of each kind); rows that do not
    /// parse are skipped. Returns how many points were restored.
    std::size_t restore(const DashboardHistory& h) {
        if (!h.load) return 0;
        const auto points = h.load("dashboard", capacity_);
        const auto events = h.load("event", capacity_);
        std::lock_guard lock(m_);
        std::size_t n = 0;
        for (const auto& text : points)
            if (auto p = detail::dashboard::point_from(text)) {
                push(points_, std::move(*p));
                ++n;
            }
        for (const auto& text : events)
            if (auto e = detail::dashboard::event_from(text)) push(events_, std::move(*e));
        return n;
    }

    /// Appends a point, dropping the oldest beyond capacity.
    void add(DashboardPoint p) {
        std::lock_guard lock(m_);
        push(points_, std::move(p));
    }
    /// Appends an event, dropping the oldest beyond capacity.
    void add(DashboardEvent e) {
        std::lock_guard lock(m_);
        push(events_, std::move(e));
    }

    /// A copy of the points, oldest first.
    std::vector<DashboardPoint> points() const {
        std::lock_guard lock(m_);
        return {points_.begin(), points_.end()};
    }
    /// A copy of the events, oldest first.
    std::vector<DashboardEvent> events() const {
        std::lock_guard lock(m_);
        return {events_.begin(), events_.end()};
    }

    /// {"points": [...], "events": [...]}, oldest first.
    nlohmann::json to_json() const {
        nlohmann::json pts = nlohmann::json::array(), evs = nlohmann::json::array();
        std::lock_guard lock(m_);
        for (const auto& p : points_) pts.push_back(monitor::to_json(p));
        for (const auto& e : events_) evs.push_back(monitor::to_json(e));
        return {{"points", std::move(pts)}, {"events", std::move(evs)}};
    }

private:
    template <class T>
    void push(std::deque<T>& d, T v) {
        d.push_back(std::move(v));
        while (d.size() > capacity_) d.pop_front();
    }

    std::size_t capacity_;
    mutable std::mutex m_;
    std::deque<DashboardPoint> points_;
    std::deque<DashboardEvent> events_;
};

} // namespace edgestack::monitor
