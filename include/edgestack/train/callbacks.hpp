// Callbacks for train::fit and Pipeline::fit: a progress bar (a redrawn line on a terminal,
// plain lines otherwise), early stopping, keep-best and every-epoch checkpoints. Each is a
// plain object with some of fit's optional hooks; on_epoch_end returning true stops.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "edgestack/core/error.hpp"
#include "edgestack/train/checkpoint.hpp"
#include "edgestack/train/fit.hpp"

namespace edgestack::train {

/// The epoch figure a callback watches.
/// (mae and val_mae for regression and autoencoders, which have no accuracy)
enum class Monitor { loss, accuracy, val_loss, val_accuracy, mae, val_mae };

/// "loss", "accuracy", "val_loss", "val_accuracy", "mae" or "val_mae".
inline const char* to_string(Monitor m) noexcept {
    switch (m) {
    case Monitor::loss: return "loss";
    case Monitor::accuracy: return "accuracy";
    case Monitor::val_loss: return "val_loss";
    case Monitor::val_accuracy: return "val_accuracy";
    case Monitor::mae: return "mae";
    case Monitor::val_mae: return "val_mae";
    }
    return "?";
}

namespace detail {
inline double monitored(const EpochStats& s, Monitor m, const char* who) {
    double v = 0.0;
    switch (m) {
    case Monitor::loss: v = s.loss; break;
    case Monitor::accuracy: v = s.accuracy; break;
    case Monitor::val_loss: v = s.val_loss; break;
    case Monitor::val_accuracy: v = s.val_accuracy; break;
    case Monitor::mae: v = s.mae; break;
    case Monitor::val_mae: v = s.val_mae; break;
    }
    const bool val = m == Monitor::val_loss || m == Monitor::val_accuracy || m == Monitor::val_mae;
    if (std::isnan(v) && val && std::isnan(s.val_loss))
        throw config_error(std::string(who) + ": monitors " + to_string(m) +
                           " but fit was given no validation data - pass a validation loader "
                           "or monitor loss/accuracy");
    if (std::isnan(v))
        throw config_error(std::string(who) + ": monitors " + to_string(m) +
                           ", which this task does not have - monitor (val_)accuracy for "
                           "labels, (val_)mae for float targets or autoencoders");
    return v;
}
inline bool higher_is_better(Monitor m) noexcept {
    return m == Monitor::accuracy || m == Monitor::val_accuracy;
}
/// Tracks the best value of a monitored figure.
struct Best {
    Monitor monitor;
    double min_delta = 0.0;
    double value = std::numeric_limits<double>::quiet_NaN();
    std::size_t epoch = 0;
    bool improves(double v) const noexcept {
        if (std::isnan(value)) return true;
        return higher_is_better(monitor) ? v > value + min_delta : v < value - min_delta;
    }
};
inline std::string clock_text(double seconds) {
    const auto s = static_cast<long>(std::lround(std::max(0.0, seconds)));
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}
} // namespace detail

/// Loss, accuracy and time left while training. On a terminal it redraws one line per
/// epoch (bar, running loss and accuracy, ETA); otherwise (a log file, CI) it writes one
/// plain line per epoch, and every `every` batches if `every` > 0, so logs stay readable.
class ProgressBar {
public:
    /// terminal: redraw one line; plain: append lines; automatic: terminal when `out` is
    /// a TTY.
    enum class Style { automatic, terminal, plain };

    /// Writes to `out`; with `every` > 0, plain mode also logs every `every` batches.
    explicit ProgressBar(std::FILE* out = stdout, Style style = Style::automatic,
                         std::size_t every = 0)
        : out_(out), every_(every) {
        terminal_ = style == Style::terminal ||
                    (style == Style::automatic && ::isatty(::fileno(out_)) == 1);
    }

    bool is_terminal() const noexcept { return terminal_; } ///< whether it redraws in place

    /// Starts the epoch's counters.
    void on_epoch_begin(std::size_t, std::size_t batches) {
        batches_ = batches;
        loss_sum_ = 0.0;
        correct_ = seen_ = 0;
        start_ = last_draw_ = clock::now();
    }

    /// Updates the line (terminal) or logs (plain, every `every` batches).
    void on_batch_end(const BatchStats& s) {
        loss_sum_ += static_cast<double>(s.loss) * s.size;
        correct_ += s.correct;
        seen_ += s.size;
        const std::size_t done = s.batch + 1;
        const auto now = clock::now();
        if (terminal_) {
            // Redrawing costs a write per batch; ten times a second is plenty for the eye.
            if (done == s.batches || now - last_draw_ >= std::chrono::milliseconds(100)) {
                last_draw_ = now;
                draw(s, done, now);
            }
        } else if (every_ > 0 && done % every_ == 0 && done != s.batches) {
            std::fprintf(out_, "epoch %zu/%zu batch %zu/%zu: loss %.4f acc %.2f%% ETA %s\n",
                         s.epoch + 1, s.epochs, done, s.batches, loss_sum_ / seen_,
                         100.0 * correct_ / seen_, detail::clock_text(eta(done, now)).c_str());
            std::fflush(out_);
        }
    }

    /// Writes the epoch's final line.
    void on_epoch_end(const EpochStats& s) {
        std::string line = terminal_ ? "\r\x1b[2K" : "";
        char buf[256];
        const bool labels = !std::isnan(s.accuracy);
        if (labels)
            std::snprintf(buf, sizeof buf, "epoch %zu/%zu: loss %.4f acc %.2f%%", s.epoch + 1,
                          s.epochs, s.loss, 100.0 * s.accuracy);
        else
            std::snprintf(buf, sizeof buf, "epoch %zu/%zu: loss %.4f mae %.4g", s.epoch + 1,
                          s.epochs, s.loss, s.mae);
        line += buf;
        if (s.has_validation()) {
            if (labels)
                std::snprintf(buf, sizeof buf, "  val_loss %.4f val_acc %.2f%%", s.val_loss,
                              100.0 * s.val_accuracy);
            else
                std::snprintf(buf, sizeof buf, "  val_loss %.4f val_mae %.4g", s.val_loss,
                              s.val_mae);
            line += buf;
        }
        std::snprintf(buf, sizeof buf, "  %.1f s (%.0f samples/s)\n", s.seconds,
                      s.samples_per_second());
        line += buf;
        std::fputs(line.c_str(), out_);
        std::fflush(out_);
    }

private:
    using clock = std::chrono::steady_clock;

    double eta(std::size_t done, clock::time_point now) const {
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        return elapsed / static_cast<double>(done) * static_cast<double>(batches_ - done);
    }

    void draw(const BatchStats& s, std::size_t done, clock::time_point now) {
        constexpr std::size_t width = 24;
        const std::size_t filled = batches_ ? width * done / batches_ : width;
        std::string bar(filled, '=');
        if (filled < width) bar += '>';
        bar.resize(width, ' ');
        // Appended, not `"/" + std::to_string(...)`: GCC 12 misreads that form as an
        // overlapping memcpy (-Wrestrict, GCC bug 105651).
        std::string of;
        if (s.epochs) of.append("/").append(std::to_string(s.epochs));
        std::fprintf(out_, "\r\x1b[2Kepoch %zu%s [%s] %zu/%zu  loss %.4f  acc %.2f%%  ETA %s",
                     s.epoch + 1, of.c_str(), bar.c_str(), done, batches_, loss_sum_ / seen_,
                     100.0 * correct_ / seen_, detail::clock_text(eta(done, now)).c_str());
        std::fflush(out_);
    }

    std::FILE* out_;
    std::size_t every_;
    bool terminal_ = false;
    std::size_t batches_ = 0, correct_ = 0, seen_ = 0;
    double loss_sum_ = 0.0;
    clock::time_point start_{}, last_draw_{};
};

/// Stop when the monitored figure has not improved by more than `min_delta` for
/// `patience` epochs. With restore_best, the model gets back the parameters (and state)
/// of its best epoch when training stops or ends.
class EarlyStopping {
public:
    /// Throws config_error for a negative or NaN min_delta.
    explicit EarlyStopping(Monitor monitor = Monitor::val_loss, std::size_t patience = 3,
                           double min_delta = 0.0, bool restore_best = false)
        : best_{monitor, min_delta}, patience_(patience), restore_(restore_best) {
        if (!(min_delta >= 0.0))
            throw config_error("EarlyStopping: min_delta = " + std::to_string(min_delta) +
                               " must be >= 0");
    }

    /// True to stop. Throws config_error when it watches a validation figure and there is
    /// none.
    template <class M>
    bool on_epoch_end(const EpochStats& s, M& model) {
        const double v = detail::monitored(s, best_.monitor, "EarlyStopping");
        if (best_.improves(v)) {
            best_.value = v;
            best_.epoch = s.epoch;
            wait_ = 0;
            if (restore_) {
                const auto p = model.parameters();
                params_.assign(p.begin(), p.end());
                const auto st = detail::model_state(model);
                state_.assign(st.begin(), st.end());
            }
            return false;
        }
        if (++wait_ <= patience_ && s.epoch + 1 < s.epochs) return false;
        stopped_ = wait_ > patience_;
        if (restore_ && !params_.empty()) {
            std::copy(params_.begin(), params_.end(), model.parameters().begin());
            std::copy(state_.begin(), state_.end(), detail::model_state(model).begin());
            restored_ = true;
        }
        return stopped_;
    }

    bool stopped() const noexcept { return stopped_; } ///< whether it stopped the run
    bool restored() const noexcept { return restored_; } ///< whether it restored the best epoch
    double best_value() const noexcept { return best_.value; } ///< best monitored value seen
    /// Epoch of that value (0-based).
    std::size_t best_epoch() const noexcept { return best_.epoch; }

private:
    detail::Best best_;
    std::size_t patience_;
    bool restore_;
    std::size_t wait_ = 0;
    bool stopped_ = false, restored_ = false;
    std::vector<float> params_, state_;
};

/// Write a checkpoint of the model to `path` whenever the monitored figure improves, so
/// `path` always holds the best model seen (atomically replaced: never half-written).
class KeepBestCheckpoint {
public:
    /// Saves to `path` whenever `monitor` improves by more than `min_delta`.
    explicit KeepBestCheckpoint(std::filesystem::path path,
                                Monitor monitor = Monitor::val_accuracy, double min_delta = 0.0)
        : path_(std::move(path)), best_{monitor, min_delta} {}

    /// Saves the model when the figure improved.
    template <class M>
    void on_epoch_end(const EpochStats& s, M& model) {
        const double v = detail::monitored(s, best_.monitor, "KeepBestCheckpoint");
        if (!best_.improves(v)) return;
        best_.value = v;
        best_.epoch = s.epoch;
        save_checkpoint(path_, model, TrainingProgress{s.epoch + 1, 0});
        ++saves_;
    }

    double best_value() const noexcept { return best_.value; } ///< best monitored value seen
    /// Epoch of that value (0-based).
    std::size_t best_epoch() const noexcept { return best_.epoch; }
    std::size_t saves() const noexcept { return saves_; }                ///< checkpoints written
    const std::filesystem::path& path() const noexcept { return path_; } ///< where

private:
    std::filesystem::path path_;
    detail::Best best_;
    std::size_t saves_ = 0;
};

/// Write model, optimizer and progress to `path` after every epoch: what resuming needs.
template <StatefulOptimizer O>
class EpochCheckpoint {
public:
    /// Saves to `path` with `optimizer`'s state (held by pointer: it must outlive this) and
    /// the run's `seed`.
    EpochCheckpoint(std::filesystem::path path, const O& optimizer, std::uint64_t seed)
        : path_(std::move(path)), optimizer_(&optimizer), seed_(seed) {}

    /// Saves model, optimizer state and progress.
    template <class M>
    void on_epoch_end(const EpochStats& s, M& model) {
        save_checkpoint(path_, model, *optimizer_, TrainingProgress{s.epoch + 1, seed_});
    }

private:
    std::filesystem::path path_;
    const O* optimizer_;
    std::uint64_t seed_;
};

} // namespace edgestack::train
