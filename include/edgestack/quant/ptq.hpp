// Post-training quantization of a model: quant::Ptq<Observer> watches N calibration batches
// from the pipeline's Loader (Pipeline::calibrate), then lowers the fp32 graph to the
// integer-only int8 form the engine runs (Pipeline::deploy). The graph-level quantizer
// (graph_ptq.hpp) chooses the int8 parameters; Ptq adds the model's fake-quantized forward.
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
#include "edgestack/quant/graph_ptq.hpp"
#include "edgestack/quant/observer.hpp"
#include "edgestack/quant/scheme.hpp"

namespace edgestack::quant {

/// Post-training int8 quantization: calibrate() runs the fp32 model over a few batches and
/// records the range of every value of its canonical graph - inside Residual blocks too -
/// with an `Obs` observer (GraphPtq); lower() then quantizes the graph with those ranges
/// (activations per tensor, weights as `Scheme` says).
template <Observer Obs = MinMax, WeightScheme Scheme = Int8PerChannel>
class Ptq {
public:
    /// The observer each value's range comes from.
    using observer_type = Obs;
    /// How the weights are quantized.
    using scheme_type = Scheme;
    /// Shown in summaries.
    static constexpr const char* name = "int8 PTQ";

    Ptq() = default;
    /// Every observed value starts from a copy of `prototype` (e.g. a Percentile with its
    /// percentile set).
    explicit Ptq(Obs prototype) : prototype_(std::move(prototype)) {}

    /// Observe `n_batches` batches (or the whole loader, if shorter) in eval mode.
    template <detail::HookableModel M, class Batches>
    void calibrate(M& model, Batches& batches, std::size_t n_batches) {
        auto s = std::make_shared<detail::QuantState>();
        s->build(model, Scheme::per_channel);
        // The layer outputs, for forward(): what the model's own layers see.
        std::vector<Obs> obs(s->graph.values.size(), prototype_);
        batches_seen_ = detail::run_calibration(
            model, *s, batches, n_batches,
            [&](int v, std::span<const float> x) { obs[static_cast<std::size_t>(v)].observe(x); });
        for (std::size_t v = 0; v < obs.size(); ++v) s->ranges[v] = obs[v].range();
        // Every value of the canonical graph, for lower(): the same batches again.
        auto graph = std::make_shared<GraphPtq<Obs, Scheme>>(s->graph, prototype_);
        graph->observe(batches, n_batches);
        state_ = std::move(s);
        graph_ = std::move(graph);
    }
    /// Whether calibrate() has run.
    bool calibrated() const noexcept { return state_ != nullptr; }
    /// Batches the last calibrate() observed.
    std::size_t batches_seen() const noexcept { return batches_seen_; }

    /// The range chosen for each value of the model's fp32 graph (empty before calibrate).
    std::span<const Range> ranges() const noexcept {
        return state_ ? std::span<const Range>(state_->ranges) : std::span<const Range>{};
    }

    /// Rewrite the fp32 graph of the calibrated model into its int8 form.
    void lower(compile::Graph& g) const {
        if (!state_)
            throw config_error("Ptq: not calibrated - call Pipeline::calibrate(loader, batches) "
                               "before deploy()");
        if (!state_->matches(g))
            throw config_error("Ptq: the graph to lower is not the one calibrated (" +
                               std::to_string(g.values.size()) + " values, calibrated " +
                               std::to_string(state_->graph.values.size()) + ")");
        compile::Graph canonical = g;
        compile::canonicalize(canonical);
        if (canonical.values != graph_->graph().values)
            throw config_error("Ptq: the graph to lower is not the one calibrated");
        g = detail::lower_int8(canonical, graph_->ranges(), Scheme::per_channel);
    }

    /// The fake-quantized forward pass with the calibrated ranges (the engine's result in
    /// float); the returned buffer belongs to the model.
    template <detail::HookableModel M>
    const float* forward(M& model, const float* in, std::size_t batch) {
        if (!state_) throw config_error("Ptq: not calibrated - call calibrate first");
        return detail::simulate(model, *state_, in, batch, qin_);
    }

private:
    Obs prototype_{};
    std::shared_ptr<detail::QuantState> state_;
    std::shared_ptr<const GraphPtq<Obs, Scheme>> graph_;
    std::size_t batches_seen_ = 0;
    std::vector<float> qin_;
};

} // namespace edgestack::quant
