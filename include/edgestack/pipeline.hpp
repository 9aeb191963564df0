// edgestack::Pipeline: the whole path from data to engine named as one type,
// Pipeline<Loader, Augmentation, Model, Quantizer, Backend>. Each stage is a policy; empty
// policies take no space, and deploy() hands back an engine with no trace of the pipeline.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "edgestack/compile/graph.hpp"
#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/batcher.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/train/checkpoint.hpp"
#include "edgestack/train/concepts.hpp"
#include "edgestack/train/evaluate.hpp"
#include "edgestack/train/fit.hpp"
#include "edgestack/train/loss.hpp"

namespace edgestack {

namespace detail {

// One static_assert per requirement, so a policy that misses one is told which, at the
// pipeline's declaration, before any template deep inside it fails.

template <class L>
consteval bool check_loader() {
    static_assert(requires(const L& l) { { l.size() } -> std::convertible_to<std::size_t>; },
                  "Pipeline stage 1 (Loader): missing `std::size_t size() const`");
    static_assert(
        requires(const L& l) { { l.sample_size() } -> std::convertible_to<std::size_t>; },
        "Pipeline stage 1 (Loader): missing `std::size_t sample_size() const`");
    static_assert(LabelLoader<L> || ValueLoader<L> || InputLoader<L>,
                  "Pipeline stage 1 (Loader): missing `std::int32_t read(std::size_t, "
                  "std::span<float>) const` with `num_classes()` (labels), or `void "
                  "read(std::size_t, std::span<float>, std::span<float>) const` with "
                  "`target_size()` (float targets), or `void read(std::size_t, "
                  "std::span<float>) const` (no targets: autoencoders)");
    return true;
}

template <class A>
consteval bool check_augmentation() {
    static_assert(std::copy_constructible<A>,
                  "Pipeline stage 2 (Augmentation): must be copy-constructible");
    static_assert(requires(const A& a, std::span<float> x, const SampleLayout& d, Rng& r) {
        a(x, d, r);
    }, "Pipeline stage 2 (Augmentation): missing `void operator()(std::span<float>, const "
       "SampleLayout&, Rng&) const` - use data::NoAugment for none");
    return true;
}

template <class M>
consteval bool check_model() {
    static_assert(requires { typename M::input_shape; typename M::output_shape; },
                  "Pipeline stage 3 (Model): missing `input_shape` / `output_shape` types "
                  "(edgestack::Shape<...>)");
    static_assert(requires(M& m) { { m.parameters() } -> std::convertible_to<std::span<float>>; },
                  "Pipeline stage 3 (Model): missing `std::span<float> parameters()`");
    static_assert(requires(M& m) { { m.gradients() } -> std::convertible_to<std::span<float>>; },
                  "Pipeline stage 3 (Model): missing `std::span<float> gradients()`");
    static_assert(requires(M& m, Rng& r) { m.init(r); },
                  "Pipeline stage 3 (Model): missing `void init(Rng&)`");
    static_assert(requires(M& m, const float* x, std::size_t n, Rng& r) {
        { m.forward(x, n, nn::Mode::train, r) } -> std::same_as<const float*>;
    }, "Pipeline stage 3 (Model): missing `const float* forward(const float*, std::size_t, "
       "nn::Mode, Rng&)`");
    static_assert(requires(M& m, const float* d) { m.backward(d); },
                  "Pipeline stage 3 (Model): missing `void backward(const float*)`");
    static_assert(requires(const M& m) { { m.lower() } -> std::same_as<compile::Graph>; },
                  "Pipeline stage 3 (Model): missing `compile::Graph lower() const`");
    return true;
}

template <class Q>
consteval bool check_quantizer() {
    static_assert(std::default_initializable<Q>,
                  "Pipeline stage 4 (Quantizer): must be default-constructible");
    static_assert(requires(const Q& q, compile::Graph& g) { q.lower(g); },
                  "Pipeline stage 4 (Quantizer): missing `void lower(compile::Graph&) const` - "
                  "use quant::NoQuant for none");
    return true;
}

template <class B>
consteval bool check_backend() {
    static_assert(requires(const B& b, const compile::Graph& g) { b.compile(g); },
                  "Pipeline stage 5 (Backend): missing `compile(const compile::Graph&) const`");
    static_assert(requires(const B& b, const compile::Graph& g) { { b.compile(g) } -> Engine; },
                  "Pipeline stage 5 (Backend): compile() must return an Engine (input_size, "
                  "output_size, make_arena, noexcept run) - see edgestack/concepts.hpp");
    return true;
}

} // namespace detail

/// Streams of the pipeline's seeded generator, one per purpose.
enum class Stream : std::uint64_t { init = 1, shuffle = 2, augment = 3, train = 4 };

/// The whole path as one type: where samples come from, how they are augmented, the model,
/// how it is quantized, and the backend that runs it. fit() trains, evaluate() measures,
/// calibrate() prepares post-training quantization, deploy() lowers the model to an engine.
/// A policy that does not fit its stage fails here, with a message naming the stage and
/// the missing member; empty policies take no space.
template <class LoaderT, class AugmentT, class ModelT, class QuantizerT, class BackendT>
class Pipeline {
    static_assert(detail::check_loader<LoaderT>());
    static_assert(detail::check_augmentation<AugmentT>());
    static_assert(detail::check_model<ModelT>());
    static_assert(detail::check_quantizer<QuantizerT>());
    static_assert(detail::check_backend<BackendT>());

public:
    using loader_type = LoaderT;        ///< stage 1: where samples come from
    using augment_type = AugmentT;      ///< stage 1: augmentation while training
    using model_type = ModelT;          ///< stage 2: the model trained
    using quantizer_type = QuantizerT;  ///< stage 2b: how deploy() quantizes
    using backend_type = BackendT;      ///< stage 5: what runs the engine
    /// What deploy() returns.
    using engine_type = decltype(std::declval<const BackendT&>().compile(
        std::declval<const compile::Graph&>()));
    using input_shape = typename ModelT::input_shape;   ///< per sample, compile-time
    using output_shape = typename ModelT::output_shape; ///< per sample, compile-time
    /// What the loader's samples are trained against: labels, float targets or inputs.
    static constexpr TargetKind target_kind = target_kind_of<LoaderT>;
    /// The loss fit() uses: softmax cross-entropy for labels, mean squared error otherwise.
    using default_loss = std::conditional_t<target_kind == TargetKind::label,
                                            train::SoftmaxCrossEntropy, train::MeanSquaredError>;
    /// What evaluate() returns: a classification report for labels, regression errors
    /// (MAE, RMSE, R²) otherwise.
    using evaluation_type = std::conditional_t<target_kind == TargetKind::label,
                                               train::Evaluation, train::RegressionReport>;

    /// Every random choice of this pipeline derives from `seed`.
    explicit Pipeline(std::uint64_t seed = 0x5eed, AugmentT augment = {},
                      QuantizerT quantizer = {}, BackendT backend = {})
        : augment_(std::move(augment)), quantizer_(std::move(quantizer)),
          backend_(std::move(backend)), rng_(seed) {
        Rng init_rng = rng_.split(static_cast<std::uint64_t>(Stream::init));
        model_.init(init_rng);
    }

    ModelT& model() noexcept { return model_; }                 ///< the model being trained
    const ModelT& model() const noexcept { return model_; }     ///< read-only
    AugmentT& augmentation() noexcept { return augment_; }      ///< to change its parameters
    QuantizerT& quantizer() noexcept { return quantizer_; }     ///< e.g. to set ranges
    const BackendT& backend() const noexcept { return backend_; } ///< as given
    std::uint64_t seed() const noexcept { return rng_.seed(); } ///< as given

    /// Train on `data` with `optimizer`; callbacks are optional hooks (see train/fit.hpp).
    template <train::Optimizer O, class... Callbacks>
    train::FitReport fit(const LoaderT& data, O& optimizer, const train::FitOptions& options,
                         Callbacks&&... callbacks) {
        return fit_impl(data, nullptr, optimizer, default_loss{}, options, callbacks...);
    }

    /// As fit, evaluating on `validation` after every epoch (EpochStats::val_*).
    template <train::Optimizer O, class... Callbacks>
    train::FitReport fit(const LoaderT& data, const LoaderT& validation, O& optimizer,
                         const train::FitOptions& options, Callbacks&&... callbacks) {
        return fit_impl(data, &validation, optimizer, default_loss{}, options, callbacks...);
    }

    /// As fit, with a loss of the caller's choice: a ClassificationLoss for a loader of
    /// labels, a RegressionLoss (MeanSquaredError, Huber) for float targets or none.
    template <train::Optimizer O, class F, class... Callbacks>
    train::FitReport fit_with_loss(const LoaderT& data, O& optimizer, const F& loss,
                                   const train::FitOptions& options, Callbacks&&... callbacks) {
        static_assert(train::check_loss<target_kind, F>());
        return fit_impl(data, nullptr, optimizer, loss, options, callbacks...);
    }

    /// As fit_with_loss, evaluating on `validation` after every epoch with the same loss.
    template <train::Optimizer O, class F, class... Callbacks>
    train::FitReport fit_with_loss(const LoaderT& data, const LoaderT& validation,
                                   O& optimizer, const F& loss,
                                   const train::FitOptions& options, Callbacks&&... callbacks) {
        static_assert(train::check_loss<target_kind, F>());
        return fit_impl(data, &validation, optimizer, loss, options, callbacks...);
    }

    /// Save the model, `optimizer`'s state and the next epoch to `path` (atomically).
    template <train::StatefulOptimizer O>
    void save_checkpoint(const std::filesystem::path& path, const O& optimizer,
                         std::size_t next_epoch) {
        train::save_checkpoint(path, model_, optimizer, {next_epoch, seed()});
    }

    /// Load a checkpoint written by save_checkpoint (or train::EpochCheckpoint) into the
    /// model and `optimizer`; returns the epoch to resume from (FitOptions::initial_epoch).
    /// A checkpoint of another seed is refused: its run could not be repeated exactly.
    template <train::StatefulOptimizer O>
    std::size_t resume(const std::filesystem::path& path, O& optimizer) {
        const auto info = train::read_checkpoint(path);
        if (info.progress.seed != seed())
            throw config_error(path.string() + ": written by a pipeline seeded " +
                               std::to_string(info.progress.seed) + ", this one is seeded " +
                               std::to_string(seed()));
        return train::load_checkpoint(path, model_, optimizer).epoch;
    }

    /// Loss, accuracy and confusion matrix of the current model on `data` (labels), or its
    /// MAE, RMSE, R² and mean squared error (float targets, or inputs for autoencoders).
    evaluation_type evaluate(const LoaderT& data, std::size_t batch_size = 256) {
        check_loader_fits(data);
        return train::evaluate(model_, data, batch_size);
    }

    /// Feed `batches` batches of `data` through the quantizer's observers (PTQ). Quantizers
    /// without a `calibrate` hook ignore it.
    void calibrate(const LoaderT& data, std::size_t batches, std::size_t batch_size = 64) {
        if constexpr (requires(QuantizerT& q, ModelT& m, data::Batcher<LoaderT, data::NoAugment>& b,
                               std::size_t n) { q.calibrate(m, b, n); }) {
            check_loader_fits(data);
            const data::NoAugment none;
            data::Batcher<LoaderT, data::NoAugment> batcher(
                data, none, layout_of<input_shape>(), {batch_size, false, false},
                rng_.split(static_cast<std::uint64_t>(Stream::shuffle)));
            quantizer_.calibrate(model_, batcher, batches);
        }
    }

    /// Lower the trained model, let the quantizer rewrite it, and compile it on the backend.
    /// The engine owns everything it needs: the pipeline may be destroyed afterwards.
    engine_type deploy() const {
        compile::Graph g = model_.lower();
        quantizer_.lower(g);
        return backend_.compile(g);
    }

private:
    void check_loader_fits(const LoaderT& data) const {
        if (data.sample_size() != input_shape::size)
            throw shape_error("Pipeline: the loader's samples have " +
                              std::to_string(data.sample_size()) + " values; the model's input " +
                              input_shape::name() + " needs " + std::to_string(input_shape::size));
        if constexpr (target_kind == TargetKind::label) {
            if (data.num_classes() > output_shape::size)
                throw shape_error("Pipeline: the loader has " +
                                  std::to_string(data.num_classes()) +
                                  " classes but the model outputs " +
                                  std::to_string(output_shape::size));
        } else if constexpr (target_kind == TargetKind::value) {
            if (data.target_size() != output_shape::size)
                throw shape_error("Pipeline: the loader gives " +
                                  std::to_string(data.target_size()) +
                                  " targets per sample but the model outputs " +
                                  std::to_string(output_shape::size));
        } else {
            if (output_shape::size != input_shape::size)
                throw shape_error("Pipeline: the loader gives no targets, so the model must "
                                  "reproduce its input " + input_shape::name() +
                                  ", but it outputs " + output_shape::name());
        }
    }

    template <class O, class F, class... Callbacks>
    train::FitReport fit_impl(const LoaderT& data, const LoaderT* validation, O& optimizer,
                              const F& loss, const train::FitOptions& options,
                              Callbacks&... callbacks) {
        const std::array<train::detail::CallbackHooks, sizeof...(Callbacks)> hooks{
            train::detail::hooks_of<ModelT>(callbacks)...};
        return fit_erased(data, validation, optimizer, loss, options, hooks);
    }

    // The part of fit that does not depend on the callbacks, compiled once for all of them.
    template <class O, class F>
    train::FitReport fit_erased(const LoaderT& data, const LoaderT* validation, O& optimizer,
                                const F& loss, const train::FitOptions& options,
                                std::span<const train::detail::CallbackHooks> hooks) {
        check_loader_fits(data);
        if (validation != nullptr) check_loader_fits(*validation);
        if (options.batch_size == 0) throw config_error("FitOptions: batch_size must be >= 1");
        if (options.initial_epoch > options.epochs)
            throw config_error("FitOptions: initial_epoch (" +
                               std::to_string(options.initial_epoch) + ") is past epochs (" +
                               std::to_string(options.epochs) + ")");
        if constexpr (requires(QuantizerT& q, ModelT& m) { q.prepare(m); })
            quantizer_.prepare(model_);
        data::Batcher<LoaderT, AugmentT> batcher(
            data, augment_, layout_of<input_shape>(),
            {options.batch_size, options.shuffle, options.drop_last},
            rng_.split(static_cast<std::uint64_t>(Stream::shuffle)));
        auto validate = [&](ModelT& m) -> std::pair<double, double> {
            if (validation == nullptr)
                return {std::numeric_limits<double>::quiet_NaN(),
                        std::numeric_limits<double>::quiet_NaN()};
            if constexpr (target_kind == TargetKind::label) {
                const auto ev = train::evaluate(m, *validation);
                return {ev.loss, ev.accuracy};
            } else {
                const auto ev = train::evaluate(m, *validation, 256, loss);
                return {ev.loss, ev.mae};
            }
        };
        auto after_step = [&](ModelT& m) {
            if constexpr (requires(QuantizerT& q) { q.after_step(m); }) quantizer_.after_step(m);
        };
        return train::detail::fit_with_hooks(
            model_, batcher, optimizer, loss,
            train::EpochRange{options.initial_epoch, options.epochs},
            rng_.split(static_cast<std::uint64_t>(Stream::train)), validate, after_step, hooks);
    }

    [[no_unique_address]] AugmentT augment_;
    [[no_unique_address]] QuantizerT quantizer_;
    [[no_unique_address]] BackendT backend_;
    ModelT model_;
    Rng rng_;
};

} // namespace edgestack
