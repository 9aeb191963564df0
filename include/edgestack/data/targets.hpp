// Loaders for tasks beyond classification: samples with float targets (regression,
// multi-output regression) and samples that are their own target (autoencoders), plus the
// step that turns columns of a Table into targets.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/data/table.hpp"

namespace edgestack::data {

/// A ValueLoader over features and float targets the program already holds: sample i is
/// `sample_size` floats of `features`, its target `target_size` floats of `targets`.
class InMemoryTargetLoader {
public:
    InMemoryTargetLoader() = default;

    /// Throws shape_error when a size is 0 or the two vectors do not hold the same number of
    /// whole samples.
    InMemoryTargetLoader(std::vector<float> features, std::vector<float> targets,
                         std::size_t sample_size, std::size_t target_size)
        : x_(std::move(features)), t_(std::move(targets)), sample_size_(sample_size),
          target_size_(target_size) {
        if (sample_size_ == 0 || target_size_ == 0)
            throw shape_error("InMemoryTargetLoader: sample_size and target_size must be > 0");
        if (x_.size() % sample_size_ != 0 || t_.size() % target_size_ != 0 ||
            x_.size() / sample_size_ != t_.size() / target_size_)
            throw shape_error("InMemoryTargetLoader: " + std::to_string(x_.size()) +
                              " feature values (samples of " + std::to_string(sample_size_) +
                              ") and " + std::to_string(t_.size()) + " target values (of " +
                              std::to_string(target_size_) +
                              ") do not make the same number of whole samples");
        n_ = x_.size() / sample_size_;
    }

    std::size_t size() const noexcept { return n_; }                  ///< samples held
    std::size_t sample_size() const noexcept { return sample_size_; } ///< floats per sample
    std::size_t target_size() const noexcept { return target_size_; } ///< floats per target

    /// Copies sample `i` into `out` (sample_size() floats) and its target into `target`
    /// (target_size() floats).
    void read(std::size_t i, std::span<float> out, std::span<float> target) const {
        std::copy_n(x_.begin() + static_cast<std::ptrdiff_t>(i * sample_size_), sample_size_,
                    out.begin());
        std::copy_n(t_.begin() + static_cast<std::ptrdiff_t>(i * target_size_), target_size_,
                    target.begin());
    }

    const std::vector<float>& features() const noexcept { return x_; } ///< as given
    const std::vector<float>& targets() const noexcept { return t_; }  ///< as given

private:
    std::vector<float> x_, t_;
    std::size_t sample_size_ = 0, target_size_ = 0, n_ = 0;
};

/// Any Loader's samples without their labels or targets: an InputLoader, so a model trained
/// on it learns to reproduce its input (an autoencoder). Holds a pointer: `base` must
/// outlive it.
template <Loader L>
class InputsOnly {
public:
    InputsOnly() = default;
    /// Views `base`.
    explicit InputsOnly(const L& base) : base_(&base) {}
    InputsOnly(const L&&) = delete; // would dangle

    std::size_t size() const noexcept { return base_->size(); }               ///< as the base
    std::size_t sample_size() const noexcept { return base_->sample_size(); } ///< as the base

    /// Copies sample `i` of the base into `out`; its label or target is dropped.
    void read(std::size_t i, std::span<float> out) const {
        if constexpr (target_kind_of<L> == TargetKind::value) {
            scratch_.resize(base_->target_size());
            base_->read(i, out, scratch_);
        } else {
            base_->read(i, out);
        }
    }
    /// The base loader's per-sample layout, when it has one.
    auto layout() const
        requires requires(const L& l) { l.layout(); }
    {
        return base_->layout();
    }

private:
    const L* base_ = nullptr;
    // One per thread: read() may be called from several threads at once.
    static inline thread_local std::vector<float> scratch_;
};

/// Takes the columns named `names` out of `table` and returns them, row by row (rows x
/// names.size(), in the order of `names`): a CSV's target columns become float targets and
/// the rest stay features. Throws config_error for a name that is not a column or that
/// appears twice, or when no feature column would be left.
inline std::vector<float> take_columns(Table& table, const std::vector<std::string>& names) {
    std::vector<std::size_t> picked;
    for (const auto& n : names) {
        const std::size_t c = table.column(n);
        if (std::find(picked.begin(), picked.end(), c) != picked.end())
            throw config_error("take_columns: column '" + n + "' is named twice");
        picked.push_back(c);
    }
    if (picked.size() >= table.cols())
        throw config_error("take_columns: no feature column would be left");
    const std::size_t rows = table.rows(), cols = table.cols(), k = picked.size();
    std::vector<float> out(rows * k);
    std::vector<char> keep(cols, 1);
    for (auto c : picked) keep[c] = 0;
    std::vector<float> values;
    values.reserve(rows * (cols - k));
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t j = 0; j < k; ++j) out[r * k + j] = table.at(r, picked[j]);
        for (std::size_t c = 0; c < cols; ++c)
            if (keep[c]) values.push_back(table.at(r, c));
    }
    std::vector<std::string> columns;
    std::vector<LabelMap> categories;
    for (std::size_t c = 0; c < cols; ++c)
        if (keep[c]) {
            columns.push_back(table.columns[c]);
            if (c < table.categories.size()) categories.push_back(table.categories[c]);
        }
    table.values = std::move(values);
    table.columns = std::move(columns);
    if (!table.categories.empty()) table.categories = std::move(categories);
    return out;
}

} // namespace edgestack::data
