// What the training loop does between forward and backward, per kind of target: feed the
// model's outputs and the batch's labels (classification), float targets (regression) or
// inputs (autoencoders) to the loss, and count what the epoch figures need. One policy,
// so that train::fit and the data-parallel loop stay one loop for every task.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "edgestack/concepts.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/train/concepts.hpp"

namespace edgestack::train {

/// Whether loss `F` takes the targets of a loader of kind `K`: a ClassificationLoss for
/// labels, a RegressionLoss for float targets and for inputs.
template <TargetKind K, class F>
inline constexpr bool loss_fits_v =
    K == TargetKind::label ? ClassificationLoss<F> : RegressionLoss<F>;

/// Fails the build, in one line naming both sides, when loss `F` does not take the targets
/// of a loader of kind `K`.
template <TargetKind K, class F>
consteval bool check_loss() {
    static_assert(K != TargetKind::label || ClassificationLoss<F>,
                  "loss and loader disagree: the loader gives int32 class labels, the loss "
                  "does not take them (not a ClassificationLoss) - use SoftmaxCrossEntropy, "
                  "or a loader with float targets for MeanSquaredError or Huber");
    static_assert(K == TargetKind::label || RegressionLoss<F>,
                  "loss and loader disagree: the loader gives float targets (or none: the "
                  "input is the target), the loss does not take them (not a RegressionLoss) - "
                  "use MeanSquaredError or Huber, or a loader with int32 labels for "
                  "SoftmaxCrossEntropy");
    return true;
}

/// What one batch contributed to the epoch's figures.
struct StepFigures {
    float loss = 0.0f;         ///< mean loss of the batch
    std::size_t correct = 0;   ///< samples predicted right (labels only)
    double abs_error = 0.0;    ///< sum of |output - target| over every output (no labels)
};

/// The loss step for targets of kind `K`: `has_accuracy` tells whether `correct` means
/// anything; `has_error` whether `abs_error` does.
template <TargetKind K>
struct Objective {
    static constexpr bool has_accuracy = K == TargetKind::label; ///< classification
    static constexpr bool has_error = K != TargetKind::label;    ///< regression, autoencoder

    /// The targets of `batch` for outputs of `outputs` floats per sample: the float targets,
    /// or the inputs themselves.
    static const float* targets(const data::Batch& batch) noexcept {
        return K == TargetKind::value ? batch.t.data() : batch.x.data();
    }

    /// Runs `loss` on the model's outputs `out` (n x outputs) against the batch's targets and
    /// writes d(loss)/d(out) into `grad`.
    template <class F>
    static StepFigures apply(const F& loss, const float* out, const data::Batch& batch,
                             std::size_t n, std::size_t outputs, float* grad) {
        StepFigures f;
        if constexpr (!loss_fits_v<K, F>) {
            (void)loss, (void)out, (void)batch, (void)n, (void)outputs, (void)grad;
        } else if constexpr (K == TargetKind::label) {
            f.loss = loss(out, batch.y.data(), n, outputs, grad);
            for (std::size_t b = 0; b < n; ++b) {
                const float* z = out + b * outputs;
                std::size_t best = 0;
                for (std::size_t k = 1; k < outputs; ++k)
                    if (z[k] > z[best]) best = k;
                f.correct += static_cast<std::int32_t>(best) == batch.y[b];
            }
        } else {
            const float* t = targets(batch);
            f.loss = loss(out, t, n, outputs, grad);
            for (std::size_t i = 0; i < n * outputs; ++i)
                f.abs_error += std::abs(static_cast<double>(out[i]) - static_cast<double>(t[i]));
        }
        return f;
    }
};

/// The kind of target a batch source gives: its `target_kind` member, else labels.
template <class Batches>
consteval TargetKind target_kind_of_batches() {
    if constexpr (requires { Batches::target_kind; })
        return Batches::target_kind;
    else
        return TargetKind::label;
}

} // namespace edgestack::train
