// The training loop: batches in, forward, loss, backward, optimizer step, callbacks out.
// One loop for every task: what the loss compares the outputs with (labels, float targets
// or the inputs) is the Objective policy of the batches' target kind (train/objective.hpp).
// Callbacks are any objects with some of the hooks below; every hook is optional and
// detected at compile time (on_epoch_end returning true stops training).
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "edgestack/concepts.hpp"
#include <string>
#include <utility>

#include "edgestack/core/aligned.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/train/concepts.hpp"
#include "edgestack/train/objective.hpp"

namespace edgestack::train {

/// How fit() runs: epochs, batch size, shuffling, where to resume.
struct FitOptions {
    /// Train until this many epochs are done (counting those before initial_epoch).
    std::size_t epochs = 1;
    std::size_t batch_size = 64; ///< samples per optimizer step
    bool shuffle = true;         ///< reshuffle every epoch, from (seed, epoch)
    bool drop_last = false;      ///< leave out a last batch smaller than batch_size
    /// The first epoch to run: set it from a checkpoint to resume (load_checkpoint).
    std::size_t initial_epoch = 0;
};

/// Epochs [first, last) of a run; a resumed run starts past 0 and, because every epoch's
/// shuffle and random streams derive from (seed, epoch), repeats the uninterrupted run.
struct EpochRange {
    std::size_t first = 0; ///< first epoch to run
    std::size_t last = 0;  ///< one past the last
};

/// What a callback's on_batch_end sees after each optimizer step.
struct BatchStats {
    /// @{
    /// The epoch (0-based), the batch within it (0-based) and the batches per epoch.
    std::size_t epoch = 0, batch = 0, batches = 0;
    /// @}
    float loss = 0.0f; ///< mean loss of the batch
    /// @{
    /// Samples of the batch predicted right, and samples in it.
    std::size_t correct = 0, size = 0;
    /// @}
    std::size_t epochs = 0; ///< last, so older positional initialisers still compile
};

/// What a callback's on_epoch_end sees, and FitReport::history keeps, per epoch.
struct EpochStats {
    /// @{
    /// The epoch (0-based) and the epochs of the run.
    std::size_t epoch = 0, epochs = 0;
    /// @}
    /// @{
    /// Mean training loss and accuracy over the epoch's batches (accuracy NaN when the
    /// targets are not labels: regression, autoencoders).
    double loss = 0.0, accuracy = 0.0;
    /// @}
    /// On the validation loader; NaN without one.
    double val_loss = std::numeric_limits<double>::quiet_NaN();
    /// On the validation loader; NaN without one.
    double val_accuracy = std::numeric_limits<double>::quiet_NaN();
    std::size_t samples = 0; ///< samples trained on
    double seconds = 0.0;    ///< wall-clock time of the epoch
    /// The rate the epoch's last optimizer step used (NaN for an optimizer without
    /// current_learning_rate()).
    double learning_rate = std::numeric_limits<double>::quiet_NaN();
    /// Training throughput (0 when no time was measured).
    double samples_per_second() const noexcept { return seconds > 0 ? samples / seconds : 0.0; }
    /// Mean absolute error over every output of the epoch's batches (NaN with labels).
    double mae = std::numeric_limits<double>::quiet_NaN();
    /// On the validation loader; NaN without one, or with labels.
    double val_mae = std::numeric_limits<double>::quiet_NaN();
    /// Whether a validation loader was given.
    bool has_validation() const noexcept {
        return !std::isnan(val_accuracy) || !std::isnan(val_mae) || !std::isnan(val_loss);
    }
};

/// What fit() returns.
struct FitReport {
    std::vector<EpochStats> history; ///< one entry per epoch run
    bool stopped_early = false;      ///< a callback stopped the run
    double seconds = 0.0;            ///< wall-clock time of the whole run
};

namespace detail {

inline std::size_t count_correct(const float* logits, const std::int32_t* labels,
                                 std::size_t batch, std::size_t classes) noexcept {
    std::size_t correct = 0;
    for (std::size_t b = 0; b < batch; ++b) {
        const float* z = logits + b * classes;
        std::size_t best = 0;
        for (std::size_t k = 1; k < classes; ++k)
            if (z[k] > z[best]) best = k;
        correct += static_cast<std::int32_t>(best) == labels[b];
    }
    return correct;
}

/// The rate the optimizer's next step will use, or NaN when it does not say.
template <class O>
double current_rate(const O& optimizer) {
    if constexpr (requires { optimizer.current_learning_rate(); })
        return static_cast<double>(optimizer.current_learning_rate());
    else
        return std::numeric_limits<double>::quiet_NaN();
}

template <class Cb>
void on_train_begin(Cb& cb) {
    if constexpr (requires { cb.on_train_begin(); }) cb.on_train_begin();
}
template <class Cb>
void on_epoch_begin(Cb& cb, std::size_t epoch, std::size_t batches) {
    if constexpr (requires { cb.on_epoch_begin(epoch, batches); }) cb.on_epoch_begin(epoch, batches);
}
template <class Cb>
void on_batch_end(Cb& cb, const BatchStats& s) {
    if constexpr (requires { cb.on_batch_end(s); }) cb.on_batch_end(s);
}
template <class Cb, class M>
bool on_epoch_end(Cb& cb, const EpochStats& s, M& model) {
    if constexpr (requires { { cb.on_epoch_end(s, model) } -> std::convertible_to<bool>; })
        return cb.on_epoch_end(s, model);
    else if constexpr (requires { cb.on_epoch_end(s, model); }) {
        cb.on_epoch_end(s, model);
        return false;
    } else if constexpr (requires { { cb.on_epoch_end(s) } -> std::convertible_to<bool>; })
        return cb.on_epoch_end(s);
    else if constexpr (requires { cb.on_epoch_end(s); }) {
        cb.on_epoch_end(s);
        return false;
    } else
        return false;
}
template <class Cb>
void on_train_end(Cb& cb, const FitReport& r) {
    if constexpr (requires { cb.on_train_end(r); }) cb.on_train_end(r);
}

} // namespace detail

/// Train `model` for epochs [range.first, range.last) of batches from `batches`
/// (start_epoch(e), next(batch), batches_per_epoch(), and optionally `target_kind`: labels
/// when it has none). The loss must take those targets: a ClassificationLoss for labels, a
/// RegressionLoss for float targets or inputs (autoencoders); a mismatch fails the build
/// with one line naming both. `validate(model)` returns {loss, accuracy} (labels) or {loss,
/// MAE} (otherwise), or NaNs when there is nothing to validate on; `after_step(model)` runs
/// after every optimizer step (quantizer hooks).
template <Model M, class Batches, Optimizer O, class F, class Validate, class AfterStep,
          class... Callbacks>
FitReport fit(M& model, Batches& batches, O& optimizer, const F& loss, EpochRange range,
              Rng rng, Validate&& validate, AfterStep&& after_step, Callbacks&... callbacks) {
    constexpr TargetKind kind = target_kind_of_batches<Batches>();
    static_assert(check_loss<kind, F>());
    static_assert(kind != TargetKind::input || M::output_shape::size == M::input_shape::size,
                  "train::fit: the loader gives no targets, so the model must reproduce its "
                  "input - its output shape must hold as many values as its input shape");
    using Objective = train::Objective<kind>;
    const std::size_t epochs = range.last;
    using clock = std::chrono::steady_clock;
    constexpr std::size_t classes = M::output_shape::size;
    FitReport report;
    const auto t_start = clock::now();
    (detail::on_train_begin(callbacks), ...);
    data::Batch batch;
    AlignedVector<float> dlogits; // aligned: Dense sums it with alignment-dependent order
    for (std::size_t epoch = range.first; epoch < epochs; ++epoch) {
        const auto t0 = clock::now();
        batches.start_epoch(epoch);
        const std::size_t n_batches = batches.batches_per_epoch();
        (detail::on_epoch_begin(callbacks, epoch, n_batches), ...);
        Rng epoch_rng = rng.split(epoch);
        double loss_sum = 0.0, abs_error = 0.0;
        std::size_t correct = 0, seen = 0, b = 0;
        double rate = std::numeric_limits<double>::quiet_NaN();
        while (batches.next(batch)) {
            const std::size_t n = batch.size();
            if constexpr (kind == TargetKind::value)
                if (batch.t.shape()[1] != classes)
                    throw shape_error("train::fit: the loader gives " +
                                      std::to_string(batch.t.shape()[1]) +
                                      " targets per sample, the model outputs " +
                                      std::to_string(classes));
            dlogits.resize(n * classes);
            const float* logits = model.forward(batch.x.data(), n, nn::Mode::train, epoch_rng);
            const StepFigures f =
                Objective::apply(loss, logits, batch, n, classes, dlogits.data());
            const float l = f.loss;
            const std::size_t c = f.correct;
            abs_error += f.abs_error;
            model.backward(dlogits.data());
            rate = detail::current_rate(optimizer);
            optimizer.step(model.parameters(), model.gradients());
            after_step(model);
            loss_sum += static_cast<double>(l) * n;
            correct += c;
            seen += n;
            [[maybe_unused]] const BatchStats bs{epoch, b++, n_batches, l, c, n, epochs};
            (detail::on_batch_end(callbacks, bs), ...);
        }
        EpochStats es;
        es.epoch = epoch;
        es.epochs = epochs;
        es.samples = seen;
        es.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
        constexpr double nan = std::numeric_limits<double>::quiet_NaN();
        if constexpr (Objective::has_accuracy)
            es.accuracy = seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
        else {
            es.accuracy = nan;
            es.mae = seen ? abs_error / static_cast<double>(seen * classes) : nan;
        }
        es.seconds = std::chrono::duration<double>(clock::now() - t0).count();
        es.learning_rate = rate;
        const auto [vl, vm] = validate(model);
        es.val_loss = vl;
        (Objective::has_accuracy ? es.val_accuracy : es.val_mae) = vm;
        report.history.push_back(es);
        bool stop = false;
        ((stop = detail::on_epoch_end(callbacks, es, model) || stop), ...);
        if (stop) {
            report.stopped_early = epoch + 1 < epochs;
            break;
        }
    }
    report.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
    (detail::on_train_end(callbacks, report), ...);
    return report;
}

/// As above, for epochs [0, epochs).
template <Model M, class Batches, Optimizer O, class F, class Validate,
          class AfterStep, class... Callbacks>
FitReport fit(M& model, Batches& batches, O& optimizer, const F& loss, std::size_t epochs,
              Rng rng, Validate&& validate, AfterStep&& after_step, Callbacks&... callbacks) {
    return fit(model, batches, optimizer, loss, EpochRange{0, epochs}, rng, validate,
               after_step, callbacks...);
}

} // namespace edgestack::train
