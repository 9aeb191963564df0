// Turns a Loader and an Augmentation into shuffled mini-batches, epoch after epoch. Samples
// are read and augmented in parallel (oneTBB when edgestack::tbb is linked), and the next
// batch is assembled in the background while the caller trains on the current one. Every
// sample's augmentation draws from its own stream, split from (seed, epoch, index), so
// batches are the same whatever the thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/data/detail/worker.hpp"

namespace edgestack::data {

/// Floats of target per sample: target_size() for a ValueLoader, else 0.
template <Loader L>
std::size_t target_size_of(const L& loader) {
    if constexpr (target_kind_of<L> == TargetKind::value)
        return loader.target_size();
    else
        return 0;
}

/// Reads sample `idx` of `loader` into row `i` of `out` (its label into `out.y[i]`, its
/// float targets into `out.target(i)`; an InputLoader's label is 0). `out` must have room.
template <Loader L>
void read_sample(const L& loader, std::size_t idx, Batch& out, std::size_t i) {
    out.index[i] = idx;
    if constexpr (target_kind_of<L> == TargetKind::label) {
        out.y[i] = static_cast<std::int32_t>(loader.read(idx, out.sample(i)));
    } else if constexpr (target_kind_of<L> == TargetKind::value) {
        loader.read(idx, out.sample(i), out.target(i));
        out.y[i] = 0;
    } else {
        loader.read(idx, out.sample(i));
        out.y[i] = 0;
    }
}

/// How a Batcher cuts an epoch into batches.
struct BatchOptions {
    std::size_t batch_size = 64; ///< samples per batch (at least 1)
    bool shuffle = true;         ///< reshuffle the order at each epoch, from (seed, epoch)
    bool drop_last = false;      ///< leave out a last batch smaller than batch_size
    bool prefetch = true;        ///< assemble batch k+1 in the background while k is used
};

/// Feeds a training loop: shuffled, augmented batches of `loader`'s samples, read in parallel
/// and, with `prefetch`, assembled one batch ahead on a background thread. Holds pointers:
/// the loader and the augmentation must outlive it.
template <Loader L, Augmentation A>
class Batcher {
public:
    /// What the batches' samples are trained against.
    static constexpr TargetKind target_kind = target_kind_of<L>;

    /// Throws config_error for batch_size 0 and shape_error when `layout` does not hold exactly
    /// one of the loader's samples.
    Batcher(const L& loader, const A& augment, SampleLayout layout, BatchOptions options,
            Rng rng)
        : loader_(&loader), augment_(&augment), layout_(layout), opt_(options), rng_(rng) {
        if (opt_.batch_size == 0) throw config_error("Batcher: batch_size must be at least 1");
        if (layout_.size() != loader.sample_size())
            throw shape_error("Batcher: the loader's samples have " +
                              std::to_string(loader.sample_size()) +
                              " values but the model expects " + std::to_string(layout_.size()));
        order_.resize(loader.size());
        start_epoch(0);
    }
    Batcher(const Batcher&) = delete;
    Batcher& operator=(const Batcher&) = delete;
    ~Batcher() { drain(); }

    /// Batches in one epoch (the last may be short unless `drop_last`).
    std::size_t batches_per_epoch() const noexcept {
        const std::size_t n = loader_->size(), b = opt_.batch_size;
        return opt_.drop_last ? n / b : (n + b - 1) / b;
    }

    /// Reset to the first batch of `epoch`, reshuffled from (seed, epoch).
    void start_epoch(std::size_t epoch) {
        drain();
        epoch_ = epoch;
        cursor_ = 0;
        std::iota(order_.begin(), order_.end(), std::size_t{0});
        if (opt_.shuffle) {
            Rng r = rng_.split(epoch);
            for (std::size_t i = order_.size(); i > 1; --i)
                std::swap(order_[i - 1], order_[r.below(i)]);
        }
    }

    /// Fill `out` with the next batch; false once the epoch is exhausted.
    bool next(Batch& out) {
        const std::size_t b = batch_at(cursor_);
        if (b == 0) return false;
        if (staged_) {
            worker_.wait();
            staged_ = false;
            std::swap(out.x, ahead_.x);
            std::swap(out.y, ahead_.y);
            std::swap(out.index, ahead_.index);
            std::swap(out.t, ahead_.t);
        } else {
            assemble(out, cursor_, b);
        }
        cursor_ += b;
        if (opt_.prefetch) {
            const std::size_t nb = batch_at(cursor_);
            if (nb != 0) {
                const std::size_t start = cursor_;
                staged_ = true;
                worker_.submit([this, start, nb] { assemble(ahead_, start, nb); });
            }
        }
        return true;
    }

private:
    // Size of the batch that starts at `pos` in this epoch's order, 0 if there is none.
    std::size_t batch_at(std::size_t pos) const noexcept {
        const std::size_t n = order_.size();
        if (pos >= n) return 0;
        const std::size_t b = std::min(opt_.batch_size, n - pos);
        return opt_.drop_last && b < opt_.batch_size ? 0 : b;
    }

    void assemble(Batch& out, std::size_t start, std::size_t b) const {
        out.resize(b, layout_.size(), target_size_of(*loader_));
        const Rng epoch_rng = rng_.split(0x1000 + epoch_);
        // Chunks of 8 samples: enough work per task to hide scheduling, enough tasks to share.
        parallel_chunks(0, b, 8, [&](std::size_t lo, std::size_t hi) {
            for (std::size_t i = lo; i < hi; ++i) {
                const std::size_t idx = order_[start + i];
                read_sample(*loader_, idx, out, i);
                if constexpr (!requires { A::is_identity; }) {
                    Rng r = epoch_rng.split(idx);
                    (*augment_)(out.sample(i), layout_, r);
                }
            }
        });
    }

    // Waits for a background batch and drops it (epoch restart or destruction).
    void drain() noexcept {
        if (!staged_) return;
        staged_ = false;
        try {
            worker_.wait();
        } catch (...) {
        }
    }

    const L* loader_;
    const A* augment_;
    SampleLayout layout_;
    BatchOptions opt_;
    Rng rng_;
    std::vector<std::size_t> order_;
    std::size_t cursor_ = 0;
    std::size_t epoch_ = 0;
    Batch ahead_;
    bool staged_ = false;
    detail::Worker worker_;
};

} // namespace edgestack::data
