// A mini-batch: samples stored batch-major in one contiguous block, one label each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "edgestack/core/tensor.hpp"

namespace edgestack::data {

/// One batch as the training loop sees it: samples as the rows of `x`, their labels and
/// where each came from. Reused from batch to batch; resize() keeps its storage when it can.
struct Batch {
    Tensor<2> x;                    ///< [batch][features], each row one NHWC sample
    std::vector<std::int32_t> y;    ///< one label per row
    std::vector<std::size_t> index; ///< where each row came from in its Loader

    /// Samples in the batch.
    std::size_t size() const noexcept { return y.size(); }
    /// Values per sample.
    std::size_t features() const noexcept { return x.shape()[1]; }

    /// Makes room for `batch` samples of `features` values (reallocating only on a change).
    void resize(std::size_t batch, std::size_t features) {
        if (x.shape()[0] != batch || x.shape()[1] != features) x.resize({batch, features});
        y.resize(batch);
        index.resize(batch);
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
