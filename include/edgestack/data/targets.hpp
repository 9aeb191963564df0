// Loaders for tasks beyond classification: samples with float targets (regression,
// multi-output regression) and samples that are their own target (autoencoders), the step
// that turns columns of a Table into targets, and the targets' standardization.
#pragma once

#include <algorithm>
#include <cmath>
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

/// Standardizes float targets, per output: t' = (t - mean) / sd, with mean and sd fitted on
/// the training targets only; inverse() turns a model's outputs back into target units.
/// Training on standardized targets keeps the loss and its gradients near 1 whatever the
/// targets' units.
class TargetScaler {
public:
    /// Fits the mean and standard deviation (population, as scikit-learn's StandardScaler)
    /// of each of the `outputs` columns of `targets` (samples back to back). A column whose
    /// values are all equal gets sd 1. Throws shape_error for no whole sample.
    void fit(std::span<const float> targets, std::size_t outputs = 1) {
        if (outputs == 0 || targets.empty() || targets.size() % outputs != 0)
            throw shape_error("TargetScaler: " + std::to_string(targets.size()) +
                              " targets do not make whole samples of " + std::to_string(outputs));
        const std::size_t n = targets.size() / outputs;
        mean_.assign(outputs, 0.0);
        sd_.assign(outputs, 0.0);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t k = 0; k < outputs; ++k) mean_[k] += targets[i * outputs + k];
        for (auto& m : mean_) m /= static_cast<double>(n);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t k = 0; k < outputs; ++k) {
                const double d = targets[i * outputs + k] - mean_[k];
                sd_[k] += d * d;
            }
        for (auto& v : sd_) {
            v = std::sqrt(v / static_cast<double>(n));
            if (!(v > 0.0)) v = 1.0;
        }
    }
    /// Whether fit() has run.
    bool fitted() const noexcept { return !mean_.empty(); }
    std::size_t outputs() const noexcept { return mean_.size(); } ///< columns fitted
    const std::vector<double>& mean() const noexcept { return mean_; } ///< per output
    const std::vector<double>& sd() const noexcept { return sd_; }     ///< per output

    /// Standardizes `t` in place (samples of outputs() values back to back).
    void transform(std::span<float> t) const { apply(t, false); }
    /// Turns standardized values (a model's outputs) back into target units, in place.
    void inverse(std::span<float> t) const { apply(t, true); }

private:
    void apply(std::span<float> t, bool back) const {
        if (!fitted()) throw config_error("TargetScaler: not fitted - call fit() first");
        if (t.size() % outputs() != 0)
            throw shape_error("TargetScaler: " + std::to_string(t.size()) +
                              " values do not make whole samples of " +
                              std::to_string(outputs()));
        for (std::size_t i = 0; i < t.size(); ++i) {
            const std::size_t k = i % outputs();
            t[i] = static_cast<float>(back ? t[i] * sd_[k] + mean_[k] : (t[i] - mean_[k]) / sd_[k]);
        }
    }
    std::vector<double> mean_, sd_;
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
