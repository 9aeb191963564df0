// Views of a Loader: a Subset is a list of indices into another loader (train/validation
// splits, folds, slices) that copies no sample. Also the label tools that splits need:
// class counts, class weights and a stratified split with a seed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"

namespace edgestack::data {

/// The label of sample i: through `label(i)` when the loader has it (no pixels touched),
/// else by reading the sample into `scratch`.
template <LabelLoader L>
std::int32_t label_of(const L& l, std::size_t i, std::vector<float>& scratch) {
    if constexpr (requires { { l.label(i) } -> std::convertible_to<std::int32_t>; })
        return l.label(i);
    else {
        scratch.resize(l.sample_size());
        return l.read(i, scratch);
    }
}

/// Samples `indices` of `base`, in that order. Holds a pointer: `base` must outlive it.
template <Loader L>
class Subset {
public:
    Subset() = default;
    /// Throws config_error when an index is outside `base`.
    Subset(const L& base, std::vector<std::size_t> indices)
        : base_(&base), idx_(std::move(indices)) {
        for (std::size_t k = 0; k < idx_.size(); ++k)
            if (idx_[k] >= base.size())
                throw config_error("Subset: index " + std::to_string(idx_[k]) + " at position " +
                                   std::to_string(k) + " is outside the loader's " +
                                   std::to_string(base.size()) + " samples");
    }
    Subset(const L&&, std::vector<std::size_t>) = delete; // would dangle

    /// Samples [first, last) of `base`.
    static Subset range(const L& base, std::size_t first, std::size_t last) {
        last = std::min(last, base.size());
        std::vector<std::size_t> idx;
        for (std::size_t i = first; i < last; ++i) idx.push_back(i);
        return Subset(base, std::move(idx));
    }

    /// Samples in the subset.
    std::size_t size() const noexcept { return idx_.size(); }
    /// Floats per sample, as in the base loader.
    std::size_t sample_size() const noexcept { return base_->sample_size(); }
    /// The base loader's class count (a LabelLoader's subset).
    std::size_t num_classes() const noexcept
        requires LabelLoader<L>
    {
        return base_->num_classes();
    }
    /// The base loader's floats per target (a ValueLoader's subset).
    std::size_t target_size() const noexcept
        requires ValueLoader<L>
    {
        return base_->target_size();
    }
    /// Sample `i` of the subset, i.e. sample `indices()[i]` of the base; returns its label
    /// (nothing for an InputLoader's subset).
    decltype(auto) read(std::size_t i, std::span<float> out) const
        requires(LabelLoader<L> || InputLoader<L>)
    {
        return base_->read(idx_[i], out);
    }
    /// Sample `i` of the subset and its float targets (a ValueLoader's subset).
    void read(std::size_t i, std::span<float> out, std::span<float> target) const
        requires ValueLoader<L>
    {
        base_->read(idx_[i], out, target);
    }
    /// Label of sample `i`, when the base loader can give it without reading the sample.
    std::int32_t label(std::size_t i) const
        requires requires(const L& l) { l.label(i); }
    {
        return base_->label(idx_[i]);
    }
    /// The base loader's per-sample layout, when it has one.
    auto layout() const
        requires requires(const L& l) { l.layout(); }
    {
        return base_->layout();
    }
    /// Positions in the base loader, in the subset's order.
    const std::vector<std::size_t>& indices() const noexcept { return idx_; }
    /// The loader the subset views.
    const L& base() const noexcept { return *base_; }

private:
    const L* base_ = nullptr;
    std::vector<std::size_t> idx_;
};

/// How many samples of each class `l` holds.
template <LabelLoader L>
std::vector<std::size_t> class_counts(const L& l) {
    std::vector<std::size_t> counts(l.num_classes(), 0);
    std::vector<float> scratch;
    for (std::size_t i = 0; i < l.size(); ++i) {
        const auto y = label_of(l, i, scratch);
        if (y < 0 || static_cast<std::size_t>(y) >= counts.size())
            throw format_error("class_counts: sample " + std::to_string(i) + " has label " +
                               std::to_string(y) + ", outside [0, " +
                               std::to_string(counts.size()) + ")");
        ++counts[static_cast<std::size_t>(y)];
    }
    return counts;
}

/// Weights inversely proportional to class frequency, n / (classes * n_k), so that every
/// class contributes equally to a weighted loss; absent classes get weight 0.
inline std::vector<float> class_weights(const std::vector<std::size_t>& counts) {
    std::size_t n = 0, present = 0;
    for (auto c : counts) {
        n += c;
        present += c != 0;
    }
    std::vector<float> w(counts.size(), 0.0f);
    for (std::size_t k = 0; k < counts.size(); ++k)
        if (counts[k] != 0)
            w[k] = static_cast<float>(static_cast<double>(n) /
                                      (static_cast<double>(present) * static_cast<double>(counts[k])));
    return w;
}
/// class_weights() of class_counts(l).
template <LabelLoader L>
std::vector<float> class_weights(const L& l) {
    return class_weights(class_counts(l));
}

/// The two parts of stratified_split(), views into the same loader.
template <Loader L>
struct TrainValidation {
    Subset<L> train;      ///< samples to train on
    Subset<L> validation; ///< samples held out
};

/// Splits `l` so that each class keeps the same share in both parts: round(n_k * fraction)
/// samples of class k go to validation, chosen from a shuffle seeded by `seed`. Indices stay
/// in loader order within each part.
template <LabelLoader L>
TrainValidation<L> stratified_split(const L& l, double validation_fraction, std::uint64_t seed) {
    if (!(validation_fraction >= 0.0 && validation_fraction <= 1.0))
        throw config_error("stratified_split: validation_fraction " +
                           std::to_string(validation_fraction) + " is outside [0, 1]");
    std::vector<std::vector<std::size_t>> by_class(l.num_classes());
    std::vector<float> scratch;
    for (std::size_t i = 0; i < l.size(); ++i) {
        const auto y = label_of(l, i, scratch);
        if (y < 0 || static_cast<std::size_t>(y) >= by_class.size())
            throw format_error("stratified_split: sample " + std::to_string(i) + " has label " +
                               std::to_string(y) + ", outside [0, " +
                               std::to_string(by_class.size()) + ")");
        by_class[static_cast<std::size_t>(y)].push_back(i);
    }
    const Rng root(seed);
    std::vector<std::size_t> tr, va;
    for (std::size_t k = 0; k < by_class.size(); ++k) {
        auto& v = by_class[k];
        Rng r = root.split(k);
        for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[r.below(i)]);
        const auto nv = static_cast<std::size_t>(
            std::llround(static_cast<double>(v.size()) * validation_fraction));
        va.insert(va.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(nv));
        tr.insert(tr.end(), v.begin() + static_cast<std::ptrdiff_t>(nv), v.end());
    }
    std::sort(tr.begin(), tr.end());
    std::sort(va.begin(), va.end());
    return {Subset<L>(l, std::move(tr)), Subset<L>(l, std::move(va))};
}

} // namespace edgestack::data
