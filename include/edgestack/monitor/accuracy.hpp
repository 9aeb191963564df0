// Accuracy from labels that arrive after the prediction (a user corrects a result, an
// inspection confirms it): predictions wait, keyed by request id, until their label comes.
// Stage 6 (monitor): feeds the retraining trigger and /metrics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "edgestack/core/error.hpp"

namespace edgestack::monitor {

/// Accuracy of a served model from labels that arrive later (a user's correction, a sensor's
/// ground truth): predictions wait under a request id until their label comes. Thread-safe.
class DelayedAccuracy {
public:
    /// Accuracy over the last `window` labelled predictions; at most `max_pending`
    /// predictions wait for a label (the oldest are forgotten first, and counted).
    explicit DelayedAccuracy(std::size_t window = 1000, std::size_t max_pending = 100000)
        : window_(window), max_pending_(max_pending) {
        if (window_ == 0 || max_pending_ == 0)
            throw config_error("DelayedAccuracy: window and max_pending must be >= 1");
    }

    /// Records the prediction `cls` made for request `id` (a repeated id replaces it).
    void predicted(const std::string& id, std::int32_t cls) {
        std::lock_guard lock(m_);
        if (pending_.emplace(id, cls).second) order_.push_back(id);
        else pending_[id] = cls;
        while (pending_.size() > max_pending_) {
            if (pending_.erase(order_.front()) != 0) ++expired_;
            order_.pop_front();
        }
        // Labelled ids linger in order_; drop them from the front so it stays bounded.
        while (order_.size() > 2 * max_pending_ && !pending_.count(order_.front()))
            order_.pop_front();
    }

    /// False when no prediction waits under `id` (unknown, already labelled, or expired).
    bool labelled(const std::string& id, std::int32_t truth) {
        std::lock_guard lock(m_);
        const auto it = pending_.find(id);
        if (it == pending_.end()) {
            ++unmatched_;
            return false;
        }
        hits_.push_back(it->second == truth);
        correct_ += hits_.back();
        if (hits_.size() > window_) {
            correct_ -= hits_.front();
            hits_.pop_front();
        }
        pending_.erase(it);
        ++total_labelled_;
        return true;
    }

    /// Accuracy over the window; nothing until a first label arrived.
    std::optional<double> accuracy() const {
        std::lock_guard lock(m_);
        if (hits_.empty()) return std::nullopt;
        return static_cast<double>(correct_) / static_cast<double>(hits_.size());
    }
    /// Labelled predictions in the window now.
    std::size_t window_size() const {
        std::lock_guard lock(m_);
        return hits_.size();
    }
    /// Predictions waiting for a label.
    std::size_t pending() const {
        std::lock_guard lock(m_);
        return pending_.size();
    }
    /// Labels matched to a prediction since construction.
    std::uint64_t labelled_total() const {
        std::lock_guard lock(m_);
        return total_labelled_;
    }
    /// Predictions forgotten unlabelled because max_pending was reached.
    std::uint64_t expired() const {
        std::lock_guard lock(m_);
        return expired_;
    }
    /// Labels that matched no waiting prediction.
    std::uint64_t unmatched() const {
        std::lock_guard lock(m_);
        return unmatched_;
    }
    /// Empties the accuracy window (e.g. after a new version is promoted); counts stay.
    void reset_window() {
        std::lock_guard lock(m_);
        hits_.clear();
        correct_ = 0;
    }

private:
    std::size_t window_, max_pending_;
    mutable std::mutex m_;
    std::unordered_map<std::string, std::int32_t> pending_;
    std::deque<std::string> order_; // arrival order, may hold ids already labelled
    std::deque<bool> hits_;
    std::size_t correct_ = 0;
    std::uint64_t total_labelled_ = 0, expired_ = 0, unmatched_ = 0;
};

} // namespace edgestack::monitor
