// A mini-batch: samples stored batch-major in one contiguous block, one label each, or
// float targets (regression), or none (autoencoders: the samples are their own targets).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "edgestack/core/aligned.hpp"

namespace edgestack::data {

/// A batch's samples: [batch][features] floats, row-major, in one 64-byte-aligned block.
/// A plain buffer, so that the training loop does not pull in xtensor; for xtensor
/// expressions over it, `edgestack::view(x.data(), x.shape())` (core/tensor.hpp).
class BatchRows {
public:
    using value_type = float; ///< what it holds

    /// Rows, values per row.
    const std::array<std::size_t, 2>& shape() const noexcept { return shape_; }
    std::size_t size() const noexcept { return values_.size(); } ///< values in all
    float* data() noexcept { return values_.data(); } ///< first value of row 0
    const float* data() const noexcept { return values_.data(); } ///< read-only
    float* begin() noexcept { return values_.data(); } ///< as data()
    float* end() noexcept { return values_.data() + values_.size(); } ///< past the last value
    const float* begin() const noexcept { return values_.data(); } ///< read-only
    const float* end() const noexcept { return values_.data() + values_.size(); } ///< read-only
    /// Value `c` of row `r`.
    float& operator()(std::size_t r, std::size_t c) noexcept { return values_[r * shape_[1] + c]; }
    /// Value `c` of row `r`, read-only.
    float operator()(std::size_t r, std::size_t c) const noexcept { return values_[r * shape_[1] + c]; }

    /// Makes it `shape[0]` rows of `shape[1]` values; values that stay in place keep theirs.
    void resize(const std::array<std::size_t, 2>& shape) {
        shape_ = shape;
        values_.resize(shape[0] * shape[1]);
    }

    bool operator==(const BatchRows&) const = default; ///< same shape and values

private:
    std::array<std::size_t, 2> shape_{0, 0};
    AlignedVector<float> values_;
};

/// One batch as the training loop sees it: samples as the rows of `x`, their labels (or
/// float targets) and where each came from. Reused from batch to batch; resize() keeps its
/// storage when it can.
struct Batch {
    BatchRows x;                    ///< [batch][features], each row one NHWC sample
    std::vector<std::int32_t> y;    ///< one label per row (0 when the loader gives none)
    std::vector<std::size_t> index; ///< where each row came from in its Loader
    /// [batch][targets]: a ValueLoader's float targets; 0 columns for other loaders.
    BatchRows t;

    /// Samples in the batch.
    std::size_t size() const noexcept { return y.size(); }
    /// Values per sample.
    std::size_t features() const noexcept { return x.shape()[1]; }

    /// Makes room for `batch` samples of `features` values and `targets` float targets
    /// each (reallocating only on a change).
    void resize(std::size_t batch, std::size_t features, std::size_t targets = 0) {
        if (x.shape()[0] != batch || x.shape()[1] != features) x.resize({batch, features});
        if (t.shape()[0] != batch || t.shape()[1] != targets) t.resize({batch, targets});
        y.resize(batch);
        index.resize(batch);
    }
    /// Float targets of sample `i`, as a view of its row of `t`.
    std::span<float> target(std::size_t i) noexcept {
        return {t.data() + i * t.shape()[1], t.shape()[1]};
    }
    /// Sample `i`, as a view of its row of `x`.
    std::span<float> sample(std::size_t i) noexcept {
        return {x.data() + i * features(), features()};
    }
    /// Sample `i`, read-only.
    std::span<const float> sample(std::size_t i) const noexcept {
        return {x.data() + i * features(), features()};
    }
};

} // namespace edgestack::data
