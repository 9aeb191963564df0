// Losses of the training stage, each with its gradient w.r.t. the model's output.
// Classification losses take integer labels (ClassificationLoss); regression losses take
// float targets (RegressionLoss). All return the mean over the batch.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "edgestack/core/error.hpp"

namespace edgestack::train {

namespace detail {
[[noreturn]] inline void bad_label(const char* loss, std::int32_t label, std::size_t sample,
                                   std::size_t classes) {
    throw format_error(std::string(loss) + ": label " + std::to_string(label) + " of sample " +
                       std::to_string(sample) + " in the batch is outside [0, " +
                       std::to_string(classes) + ")");
}
} // namespace detail

/// Softmax followed by cross-entropy, fused for numerical stability. With label smoothing
/// `s`, the target is (1 - s) on the true class plus s / classes on every class.
struct SoftmaxCrossEntropy {
    float label_smoothing = 0.0f; ///< in [0, 1)

    static std::string name() { return "SoftmaxCrossEntropy"; } ///< shown in logs

    /// Mean loss over the batch; writes d(loss)/d(logits) into `grad` (batch x classes).
    /// Throws config_error for a smoothing outside [0, 1), format_error for a label outside
    /// [0, classes).
    float operator()(const float* logits, const std::int32_t* labels, std::size_t batch,
                     std::size_t classes, float* grad) const {
        if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
            throw config_error("SoftmaxCrossEntropy: label_smoothing = " +
                               std::to_string(label_smoothing) + " is outside [0, 1)");
        double total = 0.0;
        const float off = label_smoothing / static_cast<float>(classes);
        const float on = 1.0f - label_smoothing + off;
        const float inv_batch = 1.0f / static_cast<float>(batch);
        for (std::size_t b = 0; b < batch; ++b) {
            if (labels[b] < 0 || static_cast<std::size_t>(labels[b]) >= classes)
                detail::bad_label("SoftmaxCrossEntropy", labels[b], b, classes);
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

/// Sigmoid followed by binary cross-entropy, on logits (fused: stable for large |z|).
/// With integer labels and one output, the label (0 or 1) is the target; with several
/// outputs, the label's output has target 1 and the others 0 (one-vs-rest). With float
/// targets in [0, 1], one per output, it is the multi-label loss. The mean is taken over
/// every output of every sample, as PyTorch's BCEWithLogitsLoss does.
struct BinaryCrossEntropy {
    static std::string name() { return "BinaryCrossEntropy"; } ///< shown in logs

    /// Mean loss with integer labels (0 or 1 for one output, else a class index); writes
    /// the gradient into `grad`. Throws format_error for a label out of range.
    float operator()(const float* logits, const std::int32_t* labels, std::size_t batch,
                     std::size_t classes, float* grad) const {
        const std::size_t valid = classes == 1 ? 2 : classes;
        for (std::size_t b = 0; b < batch; ++b)
            if (labels[b] < 0 || static_cast<std::size_t>(labels[b]) >= valid)
                detail::bad_label("BinaryCrossEntropy", labels[b], b, valid);
        return run(logits, batch, classes, grad, [&](std::size_t b, std::size_t k) {
            return classes == 1 ? static_cast<float>(labels[b])
                                : (static_cast<std::size_t>(labels[b]) == k ? 1.0f : 0.0f);
        });
    }

    /// Mean loss with float targets in [0, 1], one per output; writes the gradient into
    /// `grad`. Throws format_error for a target outside [0, 1].
    float operator()(const float* logits, const float* targets, std::size_t batch,
                     std::size_t outputs, float* grad) const {
        return run(logits, batch, outputs, grad, [&](std::size_t b, std::size_t k) {
            const float t = targets[b * outputs + k];
            if (!(t >= 0.0f && t <= 1.0f))
                throw format_error("BinaryCrossEntropy: target " + std::to_string(t) +
                                   " of sample " + std::to_string(b) + ", output " +
                                   std::to_string(k) + " is outside [0, 1]");
            return t;
        });
    }

private:
    template <class Target>
    static float run(const float* z, std::size_t batch, std::size_t outputs, float* grad,
                     Target&& target) {
        const std::size_t n = batch * outputs;
        const float inv_n = 1.0f / static_cast<float>(n);
        double total = 0.0;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t k = 0; k < outputs; ++k) {
                const double x = z[b * outputs + k];
                const double t = target(b, k);
                // max(x, 0) - x t + log(1 + e^-|x|) never overflows.
                total += std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x)));
                const double p = 1.0 / (1.0 + std::exp(-x));
                grad[b * outputs + k] = static_cast<float>(p - t) * inv_n;
            }
        return static_cast<float>(total / static_cast<double>(n));
    }
};

/// Mean squared error over every output of every sample: mean((y - t)^2).
struct MeanSquaredError {
    static std::string name() { return "MeanSquaredError"; } ///< shown in logs

    /// Mean loss of outputs `y` against targets `t` (batch x outputs each); writes
    /// d(loss)/dy into `grad`.
    float operator()(const float* y, const float* t, std::size_t batch, std::size_t outputs,
                     float* grad) const {
        const std::size_t n = batch * outputs;
        const float scale = 2.0f / static_cast<float>(n);
        double total = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            const float d = y[i] - t[i];
            total += double(d) * d;
            grad[i] = scale * d;
        }
        return static_cast<float>(total / static_cast<double>(n));
    }
};

/// Huber (smooth L1) loss: quadratic within `delta` of the target, linear beyond, so a few
/// outliers do not dominate the gradient. Mean over every output, as PyTorch's HuberLoss.
struct Huber {
    float delta = 1.0f; ///< where quadratic turns linear, > 0

    static std::string name() { return "Huber"; } ///< shown in logs

    /// Mean loss of outputs `y` against targets `t` (batch x outputs each); writes
    /// d(loss)/dy into `grad`. Throws config_error for delta <= 0.
    float operator()(const float* y, const float* t, std::size_t batch, std::size_t outputs,
                     float* grad) const {
        if (!(delta > 0.0f))
            throw config_error("Huber: delta = " + std::to_string(delta) + " must be > 0");
        const std::size_t n = batch * outputs;
        const float inv_n = 1.0f / static_cast<float>(n);
        double total = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            const float d = y[i] - t[i];
            const float a = std::abs(d);
            if (a <= delta) {
                total += 0.5 * double(d) * d;
                grad[i] = d * inv_n;
            } else {
                total += double(delta) * (a - 0.5 * double(delta));
                grad[i] = (d > 0 ? delta : -delta) * inv_n;
            }
        }
        return static_cast<float>(total / static_cast<double>(n));
    }
};

} // namespace edgestack::train
