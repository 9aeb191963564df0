// The training loop: batches in, forward, loss, backward, optimizer step, callbacks out.
// One loop for every task: what the loss compares the outputs with (labels, float targets
// or the inputs) is the Objective policy of the batches' target kind (train/objective.hpp).
// Callbacks are any objects with some of the hooks below; every hook is optional and
// detected at compile time (on_epoch_end returning true stops training).
#pragma once

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
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

/// The hooks of one callback, type-erased: a null hook is one the callback does not have.
/// train::fit runs its loop over an array of these, so the loop is compiled once whatever
/// the callbacks are.
struct CallbackHooks {
    void* self = nullptr; ///< the callback
    void (*train_begin)(void* self) = nullptr; ///< its on_train_begin
    /// Its on_epoch_begin(epoch, batches per epoch).
    void (*epoch_begin)(void* self, std::size_t epoch, std::size_t batches) = nullptr;
    void (*batch_end)(void* self, const BatchStats& s) = nullptr; ///< its on_batch_end
    /// Its on_epoch_end, given the model being trained; true stops training.
    bool (*epoch_end)(void* self, const EpochStats& s, void* model) = nullptr;
    void (*train_end)(void* self, const FitReport& r) = nullptr; ///< its on_train_end
};

/// The hooks `cb` has, for a model of type M.
template <class M, class Cb>
CallbackHooks hooks_of(Cb& cb) {
    CallbackHooks h;
    h.self = const_cast<void*>(static_cast<const void*>(std::addressof(cb)));
    if constexpr (requires { cb.on_train_begin(); })
        h.train_begin = [](void* p) { static_cast<Cb*>(p)->on_train_begin(); };
    if constexpr (requires(std::size_t e) { cb.on_epoch_begin(e, e); })
        h.epoch_begin = [](void* p, std::size_t e, std::size_t n) {
            static_cast<Cb*>(p)->on_epoch_begin(e, n);
        };
    if constexpr (requires(const BatchStats& s) { cb.on_batch_end(s); })
        h.batch_end = [](void* p, const BatchStats& s) { static_cast<Cb*>(p)->on_batch_end(s); };
    if constexpr (requires(const EpochStats& s, M& m) { cb.on_epoch_end(s, m); } ||
                  requires(const EpochStats& s) { cb.on_epoch_end(s); })
        h.epoch_end = [](void* p, const EpochStats& s, void* m) {
            return on_epoch_end(*static_cast<Cb*>(p), s, *static_cast<M*>(m));
        };
    if constexpr (requires(const FitReport& r) { cb.on_train_end(r); })
        h.train_end = [](void* p, const FitReport& r) { static_cast<Cb*>(p)->on_train_end(r); };
    return h;
}

/// What the epoch loop needs from the model, the batches, the optimizer and the loss,
/// type-erased for the same reason as CallbackHooks.
struct FitSteps {
    void* self = nullptr;  ///< what the functions below work on
    void* model = nullptr; ///< handed to the callbacks' on_epoch_end
    std::size_t classes = 0;   ///< outputs per sample
    bool has_accuracy = false; ///< whether StepFigures::correct means anything
    /// @{
    /// The batch source's start_epoch, batches_per_epoch and next.
    void (*start_epoch)(void* self, std::size_t epoch) = nullptr;
    std::size_t (*batches_per_epoch)(void* self) = nullptr;
    bool (*next)(void* self, data::Batch& batch) = nullptr;
    /// @}
    /// Forward, loss, backward, optimizer step and after_step on one batch of `n` samples;
    /// `dlogits` has room for n x classes floats; `rate` receives the step's learning rate.
    StepFigures (*train_batch)(void* self, const data::Batch& batch, std::size_t n, Rng& rng,
                               float* dlogits, double& rate) = nullptr;
    /// {loss, accuracy or MAE} on the validation data, NaNs without any.
    std::pair<double, double> (*validate)(void* self) = nullptr;
};

/// The typed side of FitSteps: one instantiation per model, batch source, optimizer, loss
/// and the two hooks, whatever the callbacks.
template <class M, class Batches, class O, class F, class Validate, class AfterStep>
struct FitContext {
    M& model;
    Batches& batches;
    O& optimizer;
    const F& loss;
    Validate& validate;
    AfterStep& after_step;

    static constexpr TargetKind kind = target_kind_of_batches<Batches>();
    static constexpr std::size_t classes = M::output_shape::size;

    static FitContext& of(void* p) { return *static_cast<FitContext*>(p); }

    static StepFigures train_batch(void* p, const data::Batch& batch, std::size_t n, Rng& rng,
                                   float* dlogits, double& rate) {
        FitContext& c = of(p);
        if constexpr (kind == TargetKind::value)
            if (batch.t.shape()[1] != classes)
                throw shape_error("train::fit: the loader gives " +
                                  std::to_string(batch.t.shape()[1]) +
                                  " targets per sample, the model outputs " +
                                  std::to_string(classes));
        const float* logits = c.model.forward(batch.x.data(), n, nn::Mode::train, rng);
        const StepFigures f = Objective<kind>::apply(c.loss, logits, batch, n, classes, dlogits);
        c.model.backward(dlogits);
        rate = current_rate(c.optimizer);
        c.optimizer.step(c.model.parameters(), c.model.gradients());
        c.after_step(c.model);
        return f;
    }

    FitSteps steps() {
        FitSteps s;
        s.self = this;
        s.model = std::addressof(model);
        s.classes = classes;
        s.has_accuracy = Objective<kind>::has_accuracy;
        s.start_epoch = [](void* p, std::size_t e) { of(p).batches.start_epoch(e); };
        s.batches_per_epoch = [](void* p) -> std::size_t {
            return of(p).batches.batches_per_epoch();
        };
        s.next = [](void* p, data::Batch& b) -> bool { return of(p).batches.next(b); };
        s.train_batch = &train_batch;
        s.validate = [](void* p) -> std::pair<double, double> {
            FitContext& c = of(p);
            const auto [loss, metric] = c.validate(c.model);
            return {loss, metric};
        };
        return s;
    }
};

/// The epoch loop itself, not a template: one copy serves every model, optimizer and set
/// of callbacks (what varies is reached through `s` and `hooks`, once per batch at most).
inline FitReport run_fit(const FitSteps& s, EpochRange range, Rng rng,
                         std::span<const CallbackHooks> hooks) {
    const std::size_t epochs = range.last;
    const std::size_t classes = s.classes;
    using clock = std::chrono::steady_clock;
    FitReport report;
    const auto t_start = clock::now();
    for (const CallbackHooks& h : hooks)
        if (h.train_begin) h.train_begin(h.self);
    data::Batch batch;
    AlignedVector<float> dlogits; // aligned: Dense sums it with alignment-dependent order
    for (std::size_t epoch = range.first; epoch < epochs; ++epoch) {
        const auto t0 = clock::now();
        s.start_epoch(s.self, epoch);
        const std::size_t n_batches = s.batches_per_epoch(s.self);
        for (const CallbackHooks& h : hooks)
            if (h.epoch_begin) h.epoch_begin(h.self, epoch, n_batches);
        Rng epoch_rng = rng.split(epoch);
        double loss_sum = 0.0, abs_error = 0.0;
        std::size_t correct = 0, seen = 0, b = 0;
        double rate = std::numeric_limits<double>::quiet_NaN();
        while (s.next(s.self, batch)) {
            const std::size_t n = batch.size();
            dlogits.resize(n * classes);
            const StepFigures f = s.train_batch(s.self, batch, n, epoch_rng, dlogits.data(), rate);
            const float l = f.loss;
            const std::size_t c = f.correct;
            abs_error += f.abs_error;
            loss_sum += static_cast<double>(l) * n;
            correct += c;
            seen += n;
            const BatchStats bs{epoch, b++, n_batches, l, c, n, epochs};
            for (const CallbackHooks& h : hooks)
                if (h.batch_end) h.batch_end(h.self, bs);
        }
        EpochStats es;
        es.epoch = epoch;
        es.epochs = epochs;
        es.samples = seen;
        es.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
        constexpr double nan = std::numeric_limits<double>::quiet_NaN();
        if (s.has_accuracy)
            es.accuracy = seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
        else {
            es.accuracy = nan;
            es.mae = seen ? abs_error / static_cast<double>(seen * classes) : nan;
        }
        es.seconds = std::chrono::duration<double>(clock::now() - t0).count();
        es.learning_rate = rate;
        const auto [vl, vm] = s.validate(s.self);
        es.val_loss = vl;
        (s.has_accuracy ? es.val_accuracy : es.val_mae) = vm;
        report.history.push_back(es);
        bool stop = false;
        for (const CallbackHooks& h : hooks)
            if (h.epoch_end) stop = h.epoch_end(h.self, es, s.model) || stop;
        if (stop) {
            report.stopped_early = epoch + 1 < epochs;
            break;
        }
    }
    report.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
    for (const CallbackHooks& h : hooks)
        if (h.train_end) h.train_end(h.self, report);
    return report;
}

/// fit() with its callbacks already type-erased (detail::hooks_of): what a caller that
/// forwards a callback pack uses, so that its own code is not compiled once per pack.
template <Model M, class Batches, Optimizer O, class F, class Validate, class AfterStep>
FitReport fit_with_hooks(M& model, Batches& batches, O& optimizer, const F& loss,
                         EpochRange range, Rng rng, Validate& validate, AfterStep& after_step,
                         std::span<const CallbackHooks> hooks) {
    constexpr TargetKind kind = target_kind_of_batches<Batches>();
    static_assert(check_loss<kind, F>());
    static_assert(kind != TargetKind::input || M::output_shape::size == M::input_shape::size,
                  "train::fit: the loader gives no targets, so the model must reproduce its "
                  "input - its output shape must hold as many values as its input shape");
    FitContext<M, Batches, O, F, Validate, AfterStep> c{model,    batches,  optimizer,
                                                        loss,     validate, after_step};
    return run_fit(c.steps(), range, rng, hooks);
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
    const std::array<detail::CallbackHooks, sizeof...(Callbacks)> hooks{
        detail::hooks_of<M>(callbacks)...};
    return detail::fit_with_hooks(model, batches, optimizer, loss, range, rng, validate,
                                  after_step, std::span<const detail::CallbackHooks>(hooks));
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
