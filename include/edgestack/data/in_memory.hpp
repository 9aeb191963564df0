// A Loader over samples already in memory (features and labels in two vectors): the
// simplest source for a Pipeline, for tests, and for data produced by the program itself.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::data {

/// A Loader over features and labels the program already holds. Throws shape_error when the
/// features do not make whole samples, format_error for a label outside [0, num_classes).
class InMemoryLoader {
public:
    InMemoryLoader() = default;

    /// `features` holds `labels.size()` samples of `sample_size` floats each, back to back.
    InMemoryLoader(std::vector<float> features, std::vector<std::int32_t> labels,
                   std::size_t sample_size, std::size_t num_classes)
        : x_(std::move(features)), y_(std::move(labels)), sample_size_(sample_size),
          classes_(num_classes) {
        if (sample_size_ == 0) throw shape_error("InMemoryLoader: sample_size must be > 0");
        if (x_.size() != y_.size() * sample_size_)
            throw shape_error("InMemoryLoader: " + std::to_string(x_.size()) +
                              " feature values do not make " + std::to_string(y_.size()) +
                              " samples of " + std::to_string(sample_size_));
        for (std::size_t i = 0; i < y_.size(); ++i)
            if (y_[i] < 0 || static_cast<std::size_t>(y_[i]) >= classes_)
                throw format_error("InMemoryLoader: label " + std::to_string(y_[i]) +
                                   " of sample " + std::to_string(i) + " is outside [0, " +
                                   std::to_string(classes_) + ")");
    }

    /// Samples held.
    std::size_t size() const noexcept { return y_.size(); }
    /// Floats per sample.
    std::size_t sample_size() const noexcept { return sample_size_; }
    /// Labels lie in [0, num_classes()).
    std::size_t num_classes() const noexcept { return classes_; }

    /// Copy sample i's features into `out` (sample_size() floats) and return its label.
    std::int32_t read(std::size_t i, std::span<float> out) const {
        std::copy_n(x_.begin() + static_cast<std::ptrdiff_t>(i * sample_size_), sample_size_,
                    out.begin());
        return y_[i];
    }

private:
    std::vector<float> x_;
    std::vector<std::int32_t> y_;
    std::size_t sample_size_ = 0;
    std::size_t classes_ = 0;
};

} // namespace edgestack::data
