// Evaluation of a trained model over a whole data set: a classifier over a Loader (loss,
// accuracy, top-k, confusion matrix, per-class precision/recall/F1), a regressor or an
// autoencoder over a Loader or over arrays of inputs and targets (MAE, RMSE, R²). All run
// the model in eval mode.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/data/batcher.hpp"
#include "edgestack/train/loss.hpp"
#include "edgestack/train/metrics.hpp"
#include "edgestack/train/objective.hpp"

namespace edgestack::train {

/// Run `model` in eval mode over every sample of `loader`, `batch_size` at a time; the loss
/// is softmax cross-entropy and top-k uses `top_k` (clamped to the number of classes).
template <Model M, LabelLoader L>
Evaluation evaluate(M& model, const L& loader, std::size_t batch_size = 256,
                    std::size_t top_k = 5) {
    constexpr std::size_t classes = M::output_shape::size;
    constexpr std::size_t features = M::input_shape::size;
    if (batch_size == 0) throw config_error("evaluate: batch_size must be >= 1");
    if (loader.sample_size() != features)
        throw shape_error("evaluate: the loader's samples have " +
                          std::to_string(loader.sample_size()) + " values, the model needs " +
                          std::to_string(features));
    ClassificationMetrics metrics(classes, top_k);
    data::Batch batch;
    std::vector<float> dlogits;
    Rng rng(0);
    for (std::size_t start = 0; start < loader.size(); start += batch_size) {
        const std::size_t n = std::min(batch_size, loader.size() - start);
        batch.resize(n, features);
        for (std::size_t i = 0; i < n; ++i) batch.y[i] = loader.read(start + i, batch.sample(i));
        const float* logits = model.forward(batch.x.data(), n, nn::Mode::eval, rng);
        dlogits.resize(n * classes);
        const float loss =
            SoftmaxCrossEntropy{}(logits, batch.y.data(), n, classes, dlogits.data());
        metrics.add(logits, batch.y.data(), n, loss);
    }
    return metrics.result();
}

/// Run `model` in eval mode over every sample of a loader with float targets (or none: an
/// autoencoder, compared with its inputs), `batch_size` at a time; the report's loss is
/// `loss` (a RegressionLoss, mean squared error by default).
template <Model M, Loader L, class F = MeanSquaredError>
    requires(!LabelLoader<L>)
RegressionReport evaluate(M& model, const L& loader, std::size_t batch_size = 256,
                          const F& loss = {}) {
    constexpr TargetKind kind = target_kind_of<L>;
    static_assert(check_loss<kind, F>());
    constexpr std::size_t outputs = M::output_shape::size;
    constexpr std::size_t features = M::input_shape::size;
    if (batch_size == 0) throw config_error("evaluate: batch_size must be >= 1");
    if (loader.sample_size() != features)
        throw shape_error("evaluate: the loader's samples have " +
                          std::to_string(loader.sample_size()) + " values, the model needs " +
                          std::to_string(features));
    std::size_t targets = outputs;
    if constexpr (kind == TargetKind::value) targets = loader.target_size();
    else targets = features;
    if (targets != outputs)
        throw shape_error("evaluate: the loader gives " + std::to_string(targets) +
                          " targets per sample, the model outputs " + std::to_string(outputs));
    RegressionMetrics metrics(outputs);
    data::Batch batch;
    std::vector<float> grad;
    Rng rng(0);
    for (std::size_t start = 0; start < loader.size(); start += batch_size) {
        const std::size_t n = std::min(batch_size, loader.size() - start);
        batch.resize(n, features, kind == TargetKind::value ? outputs : 0);
        for (std::size_t i = 0; i < n; ++i) data::read_sample(loader, start + i, batch, i);
        const float* y = model.forward(batch.x.data(), n, nn::Mode::eval, rng);
        grad.resize(n * outputs);
        const float* t = Objective<kind>::targets(batch);
        const float l = loss(y, t, n, outputs, grad.data());
        metrics.add({y, n * outputs}, {t, n * outputs}, l);
    }
    return metrics.result();
}

/// Run `model` in eval mode over `inputs` (samples back to back) and compare its outputs
/// with `targets` (one per output value).
template <Model M>
RegressionReport evaluate_regression(M& model, std::span<const float> inputs,
                                     std::span<const float> targets,
                                     std::size_t batch_size = 256) {
    constexpr std::size_t in = M::input_shape::size;
    constexpr std::size_t out = M::output_shape::size;
    if (batch_size == 0) throw config_error("evaluate_regression: batch_size must be >= 1");
    if (inputs.size() % in != 0 || targets.size() != inputs.size() / in * out)
        throw shape_error("evaluate_regression: " + std::to_string(inputs.size()) +
                          " input values and " + std::to_string(targets.size()) +
                          " targets do not make whole samples of " + std::to_string(in) +
                          " inputs and " + std::to_string(out) + " outputs");
    const std::size_t n = inputs.size() / in;
    std::vector<float> predictions(n * out);
    Rng rng(0);
    for (std::size_t start = 0; start < n; start += batch_size) {
        const std::size_t b = std::min(batch_size, n - start);
        const float* y = model.forward(inputs.data() + start * in, b, nn::Mode::eval, rng);
        std::copy_n(y, b * out, predictions.begin() + static_cast<std::ptrdiff_t>(start * out));
    }
    return regression_metrics(predictions, targets, out);
}

} // namespace edgestack::train
