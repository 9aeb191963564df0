// Turns a Loader and an Augmentation into shuffled mini-batches, epoch after epoch.
// Every sample's augmentation draws from its own stream, split from (seed, epoch, index),
// so batches are the same whatever the thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/batch.hpp"

namespace edgestack::data {

struct BatchOptions {
    std::size_t batch_size = 64;
    bool shuffle = true;
    bool drop_last = false;
};

template <Loader L, Augmentation A>
class Batcher {
public:
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

    std::size_t batches_per_epoch() const noexcept {
        const std::size_t n = loader_->size(), b = opt_.batch_size;
        return opt_.drop_last ? n / b : (n + b - 1) / b;
    }

    /// Reset to the first batch of `epoch`, reshuffled from (seed, epoch).
    void start_epoch(std::size_t epoch) {
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
        const std::size_t n = order_.size();
        if (cursor_ >= n) return false;
        std::size_t b = std::min(opt_.batch_size, n - cursor_);
        if (opt_.drop_last && b < opt_.batch_size) return false;
        out.resize(b, layout_.size());
        const Rng epoch_rng = rng_.split(0x1000 + epoch_);
        for (std::size_t i = 0; i < b; ++i) {
            const std::size_t idx = order_[cursor_ + i];
            out.index[i] = idx;
            out.y[i] = loader_->read(idx, out.sample(i));
            if constexpr (!requires { A::is_identity; }) {
                Rng r = epoch_rng.split(idx);
                (*augment_)(out.sample(i), layout_, r);
            }
        }
        cursor_ += b;
        return true;
    }

private:
    const L* loader_;
    const A* augment_;
    SampleLayout layout_;
    BatchOptions opt_;
    Rng rng_;
    std::vector<std::size_t> order_;
    std::size_t cursor_ = 0;
    std::size_t epoch_ = 0;
};

} // namespace edgestack::data
