// Magnitude pruning during training: compress::Pruned<Optimizer> wraps any optimizer and,
// after each of its steps, zeroes the smallest-magnitude weights of every layer to follow a
// sparsity schedule. Pruned weights are zeroed after every step, so they stay zero through
// fine-tuning whatever the optimizer's momentum would do.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/nn/hooks.hpp"

namespace edgestack::compress {

/// Sparsity s(t) rising from `initial` at `begin_step` to `final` at `end_step` as
/// s = final + (initial - final) (1 - progress)^power (Zhu & Gupta 2017, the TF Model
/// Optimization schedule), updated every `frequency` steps.
struct PolynomialSparsity {
    float initial = 0.0f;        ///< sparsity at begin_step, in [0, 1)
    float final = 0.5f;          ///< sparsity from end_step on, in [0, 1)
    std::size_t begin_step = 0;  ///< optimizer step the pruning starts at
    std::size_t end_step = 1000; ///< step it reaches `final`
    std::size_t frequency = 100; ///< steps between mask updates
    float power = 3.0f;          ///< how fast it rises early (3: fast, then slow)

    /// Throws config_error for sparsities outside [0, 1), end_step <= begin_step or a zero
    /// frequency.
    void validate() const {
        if (!(initial >= 0.0f && initial < 1.0f) || !(final >= 0.0f && final < 1.0f))
            throw config_error("PolynomialSparsity: initial and final must be in [0, 1), got " +
                               std::to_string(initial) + " and " + std::to_string(final));
        if (end_step <= begin_step)
            throw config_error("PolynomialSparsity: end_step (" + std::to_string(end_step) +
                               ") must be after begin_step (" + std::to_string(begin_step) + ")");
        if (frequency == 0) throw config_error("PolynomialSparsity: frequency must be >= 1");
    }
    /// Target sparsity after `step` steps (0 before begin_step).
    float at(std::size_t step) const noexcept {
        if (step < begin_step) return 0.0f;
        if (step >= end_step) return final;
        const float p = static_cast<float>(step - begin_step) /
                        static_cast<float>(end_step - begin_step);
        return final + (initial - final) * std::pow(1.0f - p, power);
    }
    /// Whether the masks are recomputed after step `step` (1-based count of steps done).
    bool update_at(std::size_t step) const noexcept {
        return step >= begin_step && (step <= end_step) &&
               ((step - begin_step) % frequency == 0 || step == end_step);
    }
};

/// Sparsity fixed from the first step (one-shot pruning, then fine-tuning).
struct ConstantSparsity {
    float sparsity = 0.5f; ///< share of each layer's weights set to zero, in [0, 1)
    /// Throws config_error for a sparsity outside [0, 1).
    void validate() const {
        if (!(sparsity >= 0.0f && sparsity < 1.0f))
            throw config_error("ConstantSparsity: sparsity must be in [0, 1), got " +
                               std::to_string(sparsity));
    }
    /// `sparsity`, at every step.
    float at(std::size_t) const noexcept { return sparsity; }
    /// Masks are set after the first step only.
    bool update_at(std::size_t step) const noexcept { return step <= 1; }
};

/// Where the prunable weights of a model are in its parameter block.
struct WeightBlock {
    std::size_t offset = 0; ///< first weight, as an index into the parameters
    std::size_t count = 0;  ///< weights in the block
};

/// The weight blocks of every layer of a Sequential-like model (biases are not pruned).
template <class M>
std::vector<WeightBlock> weight_blocks(const M& model) {
    std::vector<WeightBlock> b;
    for (std::size_t i = 0; i < M::depth; ++i) {
        const nn::LayerInfo& info = model.layer_info(i);
        if (info.weight_count > 0) b.push_back({M::param_offsets[i], info.weight_count});
    }
    return b;
}

/// Fraction of exact zeros among the weights of `blocks` in `params`.
inline double sparsity_of(std::span<const float> params, const std::vector<WeightBlock>& blocks) {
    std::size_t zeros = 0, total = 0;
    for (const auto& b : blocks) {
        for (std::size_t i = 0; i < b.count; ++i) zeros += params[b.offset + i] == 0.0f;
        total += b.count;
    }
    return total ? static_cast<double>(zeros) / static_cast<double>(total) : 0.0;
}

/// Magnitude pruning as an optimizer wrapper: after each step of `inner`, the masks are
/// updated when the schedule says so (the smallest weights of each block by magnitude), and
/// masked parameters are held at zero.
template <class Optimizer, class Schedule = PolynomialSparsity>
class Pruned {
public:
    /// Throws config_error for an invalid schedule or no blocks.
    Pruned(Optimizer inner, std::vector<WeightBlock> blocks, Schedule schedule = {})
        : inner_(std::move(inner)), blocks_(std::move(blocks)), schedule_(schedule) {
        schedule_.validate();
        if (blocks_.empty()) throw config_error("Pruned: the model has no weights to prune");
    }

    /// One step of the inner optimizer, then pruning. Throws shape_error when a block lies
    /// outside `p`.
    void step(std::span<float> p, std::span<const float> g) {
        if (mask_.size() != p.size()) {
            for (const auto& b : blocks_)
                if (b.offset + b.count > p.size())
                    throw shape_error("Pruned: a weight block ends at " +
                                      std::to_string(b.offset + b.count) +
                                      " but the parameter block has " + std::to_string(p.size()));
            mask_.assign(p.size(), 1);
        }
        inner_.step(p, g);
        ++steps_;
        if (schedule_.update_at(steps_)) update_masks(p, schedule_.at(steps_));
        for (std::size_t i = 0; i < p.size(); ++i)
            if (!mask_[i]) p[i] = 0.0f;
    }

    /// Prune now to `sparsity` per layer (one-shot), keeping earlier prunes.
    void prune_now(std::span<float> p, float sparsity) {
        if (mask_.size() != p.size()) mask_.assign(p.size(), 1);
        update_masks(p, sparsity);
        for (std::size_t i = 0; i < p.size(); ++i)
            if (!mask_[i]) p[i] = 0.0f;
    }

    std::size_t steps() const noexcept { return steps_; }                 ///< steps taken
    float target() const noexcept { return schedule_.at(steps_); }        ///< sparsity now
    Optimizer& inner() noexcept { return inner_; }                        ///< the wrapped one
    const std::vector<WeightBlock>& blocks() const noexcept { return blocks_; } ///< as given
    /// 1 for a live parameter, 0 for a pruned one (empty before the first step).
    std::span<const std::uint8_t> mask() const noexcept { return mask_; }

private:
    // Per layer: the `sparsity` fraction of weights with the smallest magnitude is masked.
    // Already-pruned weights are zero, so they are among the smallest and stay masked.
    void update_masks(std::span<const float> p, float sparsity) {
        std::vector<float> mags;
        for (const auto& b : blocks_) {
            const auto k = static_cast<std::size_t>(std::floor(sparsity * static_cast<float>(b.count)));
            if (k == 0) continue;
            mags.resize(b.count);
            for (std::size_t i = 0; i < b.count; ++i)
                mags[i] = mask_[b.offset + i] ? std::fabs(p[b.offset + i]) : -1.0f;
            std::vector<std::uint32_t> order(b.count);
            for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
            std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k - 1),
                             order.end(), [&](std::uint32_t a, std::uint32_t c) {
                                 return mags[a] < mags[c] || (mags[a] == mags[c] && a < c);
                             });
            for (std::size_t j = 0; j < k; ++j) mask_[b.offset + order[j]] = 0;
        }
    }

    Optimizer inner_;
    std::vector<WeightBlock> blocks_;
    Schedule schedule_;
    std::vector<std::uint8_t> mask_;
    std::size_t steps_ = 0;
};

/// Prune the weights of `model` while `optimizer` trains it: Pruned(optimizer, model, schedule).
template <class Optimizer, class M, class Schedule = PolynomialSparsity>
Pruned<Optimizer, Schedule> prune_while_training(Optimizer optimizer, const M& model,
                                                 Schedule schedule = {}) {
    return Pruned<Optimizer, Schedule>(std::move(optimizer), weight_blocks(model), schedule);
}

} // namespace edgestack::compress
