// Post-training int8 quantization of any fp32 compile::Graph - an imported ONNX model, a
// hand-built graph or a lowered model - from calibration samples: every value of the
// canonical graph is observed (inside residual blocks and concats too), then the graph is
// rewritten into the int8 form every backend runs. Ptq and the reference nets' helper use it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/quant/detail/plan.hpp"
#include "edgestack/quant/observer.hpp"
#include "edgestack/quant/scheme.hpp"

namespace edgestack::quant {

/// Calibrates and quantizes one fp32 graph. Construct it from the graph, feed it samples
/// with observe() (a span of whole samples or a batch source), then call lower():
///
///     quant::GraphPtq<quant::Percentile> ptq(io::import_onnx_graph("model.onnx"));
///     ptq.observe(calibration_samples);
///     compile::Graph int8 = ptq.lower();
///
/// The observed graph is the canonical one (batch norm folded, dropout removed, relu/relu6
/// fused), run by the Reference backend, so each range is that of the value the int8
/// engine stores; values that keep their input's parameters (max pool, flatten, an unfused
/// relu) and softmax outputs follow the engine's int8 contract (docs/quantization.md).
template <Observer Obs = MinMax, WeightScheme Scheme = Int8PerChannel>
class GraphPtq {
public:
    /// The observer each value's range comes from.
    using observer_type = Obs;
    /// How the weights are quantized.
    using scheme_type = Scheme;

    /// Prepares to calibrate `fp32`; every value starts from a copy of `prototype` (e.g. a
    /// Percentile with its percentile set). Throws config_error for a graph that is
    /// already int8, and whatever the Reference backend throws for one it cannot run.
    explicit GraphPtq(compile::Graph fp32, Obs prototype = {})
        : engine_(canonical(std::move(fp32))),
          observers_(engine_.graph().values.size(), prototype) {}

    /// Observes `samples`, whole samples one after another in the graph's input layout
    /// (NHWC for images), run in chunks of at most `chunk` samples. Throws shape_error for
    /// a span that is not a whole number of samples.
    void observe(std::span<const float> samples, std::size_t chunk = 64) {
        const std::size_t per = engine_.input_size();
        if (samples.empty() || samples.size() % per != 0)
            throw shape_error("GraphPtq: calibration holds " + std::to_string(samples.size()) +
                              " floats, not a whole number of " + std::to_string(per) +
                              "-float samples");
        chunk = std::max<std::size_t>(chunk, 1);
        for (std::size_t first = 0; first < samples.size(); first += chunk * per)
            observe_chunk(samples.subspan(first, std::min(chunk * per, samples.size() - first)));
    }

    /// Observes up to `n_batches` batches of `batches` (anything with start_epoch(epoch)
    /// and next(data::Batch&), e.g. data::Batcher); returns how many it saw. Throws
    /// config_error when it sees none.
    template <class Batches>
    std::size_t observe(Batches& batches, std::size_t n_batches) {
        if (n_batches == 0) throw config_error("GraphPtq: calibration needs at least one batch");
        data::Batch batch;
        std::size_t seen = 0;
        batches.start_epoch(0);
        for (; seen < n_batches && batches.next(batch); ++seen)
            observe(std::span<const float>(batch.x.data(), batch.x.size()));
        if (seen == 0) throw config_error("GraphPtq: the calibration data gave no batch (empty?)");
        return seen;
    }

    /// Samples observed so far.
    std::size_t samples_seen() const noexcept { return samples_; }

    /// The canonical fp32 graph being observed; ranges() is indexed like its values.
    const compile::Graph& graph() const noexcept { return engine_.graph(); }

    /// The range chosen for each value so far (invalid where nothing was observed).
    std::vector<Range> ranges() const {
        std::vector<Range> r(observers_.size());
        for (std::size_t v = 0; v < r.size(); ++v) r[v] = observers_[v].range();
        return r;
    }

    /// The int8 graph: activations per tensor from the observed ranges, weights as
    /// `Scheme` says. Throws config_error before anything was observed.
    compile::Graph lower() const {
        if (samples_ == 0)
            throw config_error("GraphPtq: nothing observed - call observe(samples) before lower()");
        return detail::lower_int8(engine_.graph(), ranges(), Scheme::per_channel);
    }

private:
    static compile::Graph canonical(compile::Graph g) {
        if (!g.value_quant.empty())
            throw config_error("GraphPtq: the graph is already int8; quantize its fp32 form");
        compile::canonicalize(g);
        return g;
    }

    void observe_chunk(std::span<const float> x) {
        const std::size_t batch = x.size() / engine_.input_size();
        if (arena_.max_batch() < batch) arena_ = engine_.make_arena(batch);
        out_.resize(batch * engine_.output_size());
        observers_[0].observe(x);
        const auto& nodes = engine_.graph().nodes;
        const bool ran = engine_.run_traced(
            x, out_, arena_, [&](std::size_t step, const auto& s, const std::byte* p) {
                const auto v = static_cast<std::size_t>(nodes[step].output);
                observers_[v].observe(
                    std::span<const float>(reinterpret_cast<const float*>(p), batch * s.out.size()));
            });
        if (!ran) throw shape_error("GraphPtq: the Reference engine refused a calibration chunk");
        samples_ += batch;
    }

    backend::ReferenceEngine engine_;
    std::vector<Obs> observers_;
    backend::Arena arena_;
    std::vector<float> out_;
    std::size_t samples_ = 0;
};

/// One call: `g`'s int8 form calibrated on `calibration` (whole samples) with a copy of
/// `prototype` per value; see GraphPtq.
template <Observer Obs = MinMax, WeightScheme Scheme = Int8PerChannel>
compile::Graph quantize_graph(compile::Graph g, std::span<const float> calibration,
                              Obs prototype = {}) {
    GraphPtq<Obs, Scheme> ptq(std::move(g), std::move(prototype));
    ptq.observe(calibration);
    return ptq.lower();
}

} // namespace edgestack::quant
