// dist::ShardedBatcher: the data stage of data-parallel training. Every rank shuffles the
// whole Loader the same way (same seed), cuts the order into global batches of
// `batch_size * ranks` samples, and reads and augments only its own slice of each one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <string>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/data/batcher.hpp"

namespace edgestack::dist {

/// How a ShardedBatcher cuts an epoch into global batches.
struct ShardOptions {
    std::size_t batch_size = 64; ///< per rank; the global batch is batch_size * ranks
    bool shuffle = true;         ///< reshuffle the order at each epoch, from (seed, epoch)
    bool drop_last = false;      ///< drop a last global batch smaller than the others
};

/// The order and the per-sample augmentation streams are those of data::Batcher with the
/// global batch size, so one rank with batch 2B sees, batch after batch, exactly the
/// samples that two ranks with batch B see together (the equivalence test checks it).
/// In the last, short global batch a rank may get fewer samples, or none; every rank still
/// takes part in every step, so collectives stay matched.
template <Loader L, Augmentation A>
class ShardedBatcher {
public:
    /// This rank's share (`rank` of `ranks`) of `loader`'s batches. Throws config_error for
    /// batch_size 0 or a rank outside [0, ranks), shape_error when `layout` does not hold one
    /// sample.
    ShardedBatcher(const L& loader, const A& augment, SampleLayout layout, ShardOptions options,
                   Rng rng, int rank, int ranks)
        : loader_(&loader), augment_(&augment), layout_(layout), opt_(options), rng_(rng),
          rank_(static_cast<std::size_t>(rank)), ranks_(static_cast<std::size_t>(ranks)) {
        if (opt_.batch_size == 0)
            throw config_error("ShardedBatcher: batch_size must be at least 1");
        if (ranks < 1 || rank < 0 || rank >= ranks)
            throw config_error("ShardedBatcher: rank " + std::to_string(rank) +
                               " is outside [0, " + std::to_string(ranks) + ")");
        if (layout_.size() != loader.sample_size())
            throw shape_error("ShardedBatcher: the loader's samples have " +
                              std::to_string(loader.sample_size()) +
                              " values but the model expects " + std::to_string(layout_.size()));
        order_.resize(loader.size());
        start_epoch(0);
    }

    /// Samples per step over all ranks: batch_size x ranks.
    std::size_t global_batch_size() const noexcept { return opt_.batch_size * ranks_; }

    /// Steps per epoch: the same on every rank.
    std::size_t batches_per_epoch() const noexcept {
        const std::size_t n = loader_->size(), b = global_batch_size();
        return opt_.drop_last ? n / b : (n + b - 1) / b;
    }

    /// Reset to the first batch of `epoch`, reshuffled from (seed, epoch).
    void start_epoch(std::size_t epoch) {
        epoch_ = epoch;
        step_ = 0;
        std::iota(order_.begin(), order_.end(), std::size_t{0});
        if (opt_.shuffle) {
            Rng r = rng_.split(epoch);
            for (std::size_t i = order_.size(); i > 1; --i)
                std::swap(order_[i - 1], order_[r.below(i)]);
        }
    }

    /// Skip to global batch `step` of the current epoch (resuming mid-epoch).
    void seek(std::size_t step) noexcept { step_ = std::min(step, batches_per_epoch()); }
    /// The global batch next() reads next.
    std::size_t step() const noexcept { return step_; }

    /// Size of global batch `step` (all ranks together), 0 past the end.
    std::size_t global_size(std::size_t step) const noexcept {
        if (step >= batches_per_epoch()) return 0;
        return std::min(global_batch_size(), loader_->size() - step * global_batch_size());
    }

    /// Fill `out` with this rank's slice of the next global batch (possibly empty); false
    /// once the epoch is exhausted. `global` receives the size of the whole global batch.
    bool next(data::Batch& out, std::size_t& global) {
        global = global_size(step_);
        if (global == 0) return false;
        const std::size_t start = step_ * global_batch_size();
        const std::size_t lo = std::min(rank_ * opt_.batch_size, global);
        const std::size_t hi = std::min(lo + opt_.batch_size, global);
        const std::size_t b = hi - lo;
        out.resize(b, layout_.size(), data::target_size_of(*loader_));
        const Rng epoch_rng = rng_.split(0x1000 + epoch_);
        for (std::size_t i = 0; i < b; ++i) {
            const std::size_t idx = order_[start + lo + i];
            data::read_sample(*loader_, idx, out, i);
            if constexpr (!requires { A::is_identity; }) {
                Rng r = epoch_rng.split(idx);
                (*augment_)(out.sample(i), layout_, r);
            }
        }
        ++step_;
        return true;
    }

private:
    const L* loader_;
    const A* augment_;
    SampleLayout layout_;
    ShardOptions opt_;
    Rng rng_;
    std::size_t rank_, ranks_;
    std::vector<std::size_t> order_;
    std::size_t epoch_ = 0, step_ = 0;
};

} // namespace edgestack::dist
