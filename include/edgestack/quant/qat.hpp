// Quantization-aware training: quant::Qat<Scheme> installs training hooks on the model that
// fake-quantize weights (symmetric, per channel) and activations (asymmetric, EMA ranges) in
// every forward pass, with the straight-through estimator in backward; ranges freeze after
// K optimizer steps. deploy() then lowers to the same int8 graph the hooks simulated.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/quant/detail/hooks.hpp"
#include "edgestack/quant/detail/plan.hpp"
#include "edgestack/quant/detail/simulate.hpp"
#include "edgestack/quant/observer.hpp"
#include "edgestack/quant/scheme.hpp"

namespace edgestack::quant {

/// How Qat tracks activation ranges during training.
struct QatOptions {
    /// Weight of each training batch's min / max in the activation ranges' moving average.
    float momentum = 0.01f;
    /// Stop moving the ranges after this many optimizer steps (0: never).
    std::size_t freeze_after = 0;
};

/// Quantization-aware training: trains through fake int8 quantization (weights as `Scheme`
/// says, activations per tensor with ranges tracked during training), then lowers to int8 with
/// the ranges learned.
template <WeightScheme Scheme = Int8PerChannel>
class Qat {
public:
    /// How the weights are quantized.
    using scheme_type = Scheme;
    /// Shown in summaries.
    static constexpr const char* name = "int8 QAT";

    Qat() = default;
    /// Throws config_error unless 0 < momentum <= 1.
    explicit Qat(QatOptions options) : options_(options) {
        if (!(options.momentum > 0.0f && options.momentum <= 1.0f))
            throw config_error("QatOptions: momentum must be in (0, 1], got " +
                               std::to_string(options.momentum));
    }

    /// The options given.
    const QatOptions& options() const noexcept { return options_; }

    /// Before training (Pipeline::fit): install the fake-quantizing hooks. Ranges already
    /// calibrated are kept.
    template <detail::HookableModel M>
    void prepare(M& model) {
        ensure(model);
        impl_->hooks.fake_quant = true;
        impl_->hooks.track_ranges = !frozen();
        impl_->hooks.momentum = options_.momentum;
        model.set_hooks(&impl_->hooks);
    }

    /// After each optimizer step: count, and freeze the ranges after K steps.
    template <class M>
    void after_step(M&) {
        if (!impl_) return;
        ++impl_->steps;
        if (frozen()) impl_->hooks.track_ranges = false;
    }

    /// Start the ranges from min-max over `n_batches` batches of fp32 activations (and learn
    /// the input's range, which training does not see). Call before fitting.
    template <detail::HookableModel M, class Batches>
    void calibrate(M& model, Batches& batches, std::size_t n_batches) {
        ensure(model);
        auto& s = impl_->state;
        std::vector<MinMax> obs(s.graph.values.size());
        detail::run_calibration(
            model, s, batches, n_batches,
            [&](int v, std::span<const float> x) { obs[static_cast<std::size_t>(v)].observe(x); });
        for (std::size_t v = 0; v < obs.size(); ++v) s.ranges[v] = obs[v].range();
    }

    /// Fix the input's real range instead of calibrating it (e.g. [0, 1] for pixels).
    void set_input_range(float lo, float hi) {
        if (!(hi > lo)) throw config_error("Qat::set_input_range: need lo < hi");
        input_ = Range{lo, hi, true};
        if (impl_) impl_->state.ranges[0] = input_;
    }

    /// Remove the hooks: the model trains and predicts in plain fp32 again.
    template <detail::HookableModel M>
    void detach(M& model) const {
        if (impl_ && model.hooks() == &impl_->hooks) model.set_hooks(nullptr);
    }

    /// Optimizer steps taken with the hooks installed.
    std::size_t steps() const noexcept { return impl_ ? impl_->steps : 0; }
    /// Whether the ranges have stopped moving (freeze_after steps reached).
    bool frozen() const noexcept {
        return impl_ && options_.freeze_after > 0 && impl_->steps >= options_.freeze_after;
    }
    /// The range of each value of the model's fp32 graph (empty before prepare or calibrate).
    std::span<const Range> ranges() const noexcept {
        return impl_ ? std::span<const Range>(impl_->state.ranges) : std::span<const Range>{};
    }

    /// Lower the trained model's fp32 graph to int8 with the ranges QAT learned.
    void lower(compile::Graph& g) const {
        if (!impl_)
            throw config_error("Qat: the model was never prepared - train with this quantizer "
                               "(Pipeline::fit) before deploy()");
        if (!impl_->state.matches(g))
            throw config_error("Qat: the graph to lower is not the model trained with QAT");
        g = detail::lower_int8(g, impl_->state.ranges, Scheme::per_channel);
    }

    /// The fake-quantized forward pass in eval mode, input quantized as the engine does.
    template <detail::HookableModel M>
    const float* forward(M& model, const float* in, std::size_t batch) {
        ensure(model);
        const float* y = detail::simulate(model, impl_->state, in, batch, qin_);
        return y;
    }

private:
    struct Impl {
        detail::QuantState state;
        detail::QuantHooks hooks{state};
        std::size_t steps = 0;
        Impl() = default;
        Impl(const Impl&) = delete;
        Impl& operator=(const Impl&) = delete;
    };

    template <class M>
    void ensure(const M& model) {
        if (impl_) return;
        impl_ = std::make_shared<Impl>();
        impl_->state.build(model, Scheme::per_channel);
        if (input_.valid) impl_->state.ranges[0] = input_;
    }

    QatOptions options_{};
    Range input_{};
    std::shared_ptr<Impl> impl_;
    std::vector<float> qin_;
};

} // namespace edgestack::quant
