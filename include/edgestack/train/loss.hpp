// Losses for classification, with their gradients w.r.t. the logits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace edgestack::train {

/// Softmax followed by cross-entropy, fused for numerical stability. With label smoothing
/// `s`, the target is (1 - s) on the true class plus s / classes on every class.
struct SoftmaxCrossEntropy {
    float label_smoothing = 0.0f;

    float operator()(const float* logits, const std::int32_t* labels, std::size_t batch,
                     std::size_t classes, float* grad) const {
        double total = 0.0;
        const float off = label_smoothing / static_cast<float>(classes);
        const float on = 1.0f - label_smoothing + off;
        const float inv_batch = 1.0f / static_cast<float>(batch);
        for (std::size_t b = 0; b < batch; ++b) {
            const float* z = logits + b * classes;
            float* g = grad + b * classes;
            const float zmax = *std::max_element(z, z + classes);
            double sum = 0.0;
            for (std::size_t k = 0; k < classes; ++k) sum += std::exp(double(z[k] - zmax));
            const double log_sum = std::log(sum);
            const auto label = static_cast<std::size_t>(labels[b]);
            for (std::size_t k = 0; k < classes; ++k) {
                const double log_p = double(z[k] - zmax) - log_sum;
                const float target = k == label ? on : off;
                total -= target * log_p;
                g[k] = (static_cast<float>(std::exp(log_p)) - target) * inv_batch;
            }
        }
        return static_cast<float>(total / static_cast<double>(batch));
    }
};

} // namespace edgestack::train
