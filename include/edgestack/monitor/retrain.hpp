// The retraining trigger: when drift or delayed-label accuracy crosses its threshold, train
// a candidate on the new data, register it, and promote it only if it beats the serving
// version on a holdout. Stage 6 (monitor) closing the loop back to stages 2-4.
// Link edgestack::crypto (the registry).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/monitor/drift.hpp"
#include "edgestack/train/fit.hpp"

namespace edgestack::monitor {

/// When should_retrain() says yes, and when a candidate gets promoted.
struct RetrainPolicy {
    bool on_input_drift = true;   ///< retrain on input drift (DriftReport::input_drift)
    bool on_output_drift = true;  ///< on output drift
    bool on_scalar_drift = false; ///< on a drifted scalar (input mean, confidence)
    /// Retrain when delayed-label accuracy falls below this (0 disables).
    double min_accuracy = 0.0;
    /// Labels needed before accuracy counts, and labelled samples needed to retrain at all.
    std::size_t min_labelled = 200;
    /// The candidate must beat the serving version on the holdout by more than this.
    double min_gain = 0.0;
    /// Batches of the new data fed to the quantizer's calibration after training (ignored
    /// by quantizers without one).
    std::size_t calibration_batches = 32;
};

/// What should_retrain() decided.
struct TriggerDecision {
    bool retrain = false; ///< train a candidate now
    std::string reason; ///< why (or why not), for logs and telemetry
};

/// Decide from the latest drift report, delayed-label accuracy and labelled-sample count.
inline TriggerDecision should_retrain(const RetrainPolicy& p, const DriftReport& drift,
                                      std::optional<double> accuracy, std::size_t labelled) {
    TriggerDecision d;
    std::string why;
    if (drift.enough_data) {
        if (p.on_input_drift && drift.input_drift)
            why += "input drift (" + std::to_string(drift.drifted_features) + " features above PSI threshold); ";
        if (p.on_output_drift && drift.output_drift)
            why += "output drift (PSI " + std::to_string(drift.output_psi) + "); ";
        if (p.on_scalar_drift)
            for (const auto& s : drift.scalars)
                if (s.drifted)
                    why += s.name + " drift (KS p=" + std::to_string(s.ks.p_value) + "); ";
    }
    if (p.min_accuracy > 0.0 && accuracy && labelled >= p.min_labelled && *accuracy < p.min_accuracy)
        why += "accuracy " + std::to_string(*accuracy) + " below " + std::to_string(p.min_accuracy) + "; ";
    if (why.empty()) {
        d.reason = "no trigger";
        return d;
    }
    if (labelled < p.min_labelled) {
        d.reason = why + "but only " + std::to_string(labelled) + " labelled samples (need " +
                   std::to_string(p.min_labelled) + ")";
        return d;
    }
    d.retrain = true;
    d.reason = why.substr(0, why.size() - 2);
    return d;
}

/// Top-1 accuracy of an engine over a loader.
template <Engine E, Loader L>
double engine_accuracy(const E& engine, const L& data, std::size_t batch = 128) {
    if (data.size() == 0) throw config_error("engine_accuracy: the loader is empty");
    const std::size_t isz = engine.input_size(), osz = engine.output_size();
    if (data.sample_size() != isz)
        throw shape_error("engine_accuracy: samples have " + std::to_string(data.sample_size()) +
                          " values, the engine takes " + std::to_string(isz));
    auto arena = engine.make_arena(batch);
    std::vector<float> x(batch * isz), y(batch * osz);
    std::vector<std::int32_t> labels(batch);
    std::size_t correct = 0;
    for (std::size_t start = 0; start < data.size(); start += batch) {
        const std::size_t n = std::min(batch, data.size() - start);
        for (std::size_t i = 0; i < n; ++i)
            labels[i] = data.read(start + i, std::span<float>(x.data() + i * isz, isz));
        if (!engine.run(std::span<const float>(x.data(), n * isz),
                        std::span<float>(y.data(), n * osz), arena))
            throw error("engine_accuracy: the engine refused a batch of " + std::to_string(n));
        for (std::size_t i = 0; i < n; ++i) {
            const float* z = y.data() + i * osz;
            std::size_t best = 0;
            for (std::size_t k = 1; k < osz; ++k)
                if (z[k] > z[best]) best = k;
            correct += static_cast<std::int32_t>(best) == labels[i];
        }
    }
    return static_cast<double>(correct) / static_cast<double>(data.size());
}

/// What a retraining round did.
struct RetrainOutcome {
    std::uint64_t candidate_version = 0; ///< registry version of the new model
    std::uint64_t serving_version = 0;   ///< before the decision; 0 when none was serving
    double candidate_accuracy = 0.0;     ///< on the holdout
    double serving_accuracy = 0.0;       ///< of the serving version, same holdout
    bool promoted = false;               ///< whether the candidate now serves
    std::string reason;                  ///< why it was promoted or not
};

/// Train `candidate` (a Pipeline, already holding the starting weights) on `new_data`,
/// register it under `name` with its holdout accuracy, and promote it if it beats the
/// serving version (scored by `serving_accuracy(loaded_model, holdout)`) by more than
/// policy.min_gain. `serialize(candidate)` gives the bytes to store (e.g. a model file);
/// `serialize(candidate, info)` may also add files to `info` (a new drift reference).
template <class PipelineT, class Opt, class Serialize, class ServingAccuracy>
RetrainOutcome retrain_and_register(PipelineT& candidate,
                                    const typename PipelineT::loader_type& new_data,
                                    const typename PipelineT::loader_type& holdout, Opt& optimizer,
                                    const train::FitOptions& fit, deploy::Registry& registry,
                                    const std::string& name, Serialize&& serialize,
                                    ServingAccuracy&& serving_accuracy,
                                    const RetrainPolicy& policy, deploy::ModelInfo info = {}) {
    RetrainOutcome out;
    candidate.fit(new_data, optimizer, fit);
    candidate.calibrate(new_data, policy.calibration_batches);
    out.candidate_accuracy = engine_accuracy(candidate.deploy(), holdout);
    if (const auto sv = registry.serving(name)) {
        out.serving_version = *sv;
        out.serving_accuracy = serving_accuracy(registry.load(name, *sv), holdout);
    }
    info.metrics["holdout_accuracy"] = out.candidate_accuracy;
    if (out.serving_version) info.metrics["serving_holdout_accuracy"] = out.serving_accuracy;
    info.metrics["retrain_samples"] = static_cast<double>(new_data.size());
    std::vector<std::byte> bytes;
    if constexpr (std::is_invocable_v<Serialize&, PipelineT&, deploy::ModelInfo&>)
        bytes = serialize(candidate, info);
    else
        bytes = serialize(candidate);
    out.candidate_version = registry.add(name, bytes, info);
    const bool better = out.serving_version == 0 ||
                        out.candidate_accuracy > out.serving_accuracy + policy.min_gain;
    if (better) {
        registry.promote(name, out.candidate_version);
        out.promoted = true;
        out.reason = "candidate v" + std::to_string(out.candidate_version) + " scores " +
                     std::to_string(out.candidate_accuracy) + " on the holdout against " +
                     std::to_string(out.serving_accuracy) + ": promoted";
    } else {
        out.reason = "candidate v" + std::to_string(out.candidate_version) + " scores " +
                     std::to_string(out.candidate_accuracy) + " on the holdout, not above " +
                     std::to_string(out.serving_accuracy) + " + " + std::to_string(policy.min_gain) +
                     ": kept as a candidate, not promoted";
    }
    return out;
}

} // namespace edgestack::monitor
