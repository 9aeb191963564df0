// Drift of live traffic against a reference sample saved at training time: PSI per input
// feature and over the predicted classes, two-sample Kolmogorov-Smirnov for scalar summaries
// (mean input value, top-1 confidence). Stage 6 (monitor): the server's observer feeds
// DriftMonitor; its report drives the retraining trigger.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgestack/core/error.hpp"
#include "edgestack/monitor/prometheus.hpp"

namespace edgestack::monitor {

/// Population stability index of `actual` against `expected` proportions (same bins).
/// Empty bins are floored at 1e-4 so one empty bin does not make it infinite.
inline double psi(std::span<const double> expected, std::span<const double> actual) {
    if (expected.size() != actual.size())
        throw shape_error("psi: " + std::to_string(expected.size()) + " expected bins but " +
                          std::to_string(actual.size()) + " actual bins");
    double s = 0.0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const double e = std::max(expected[i], 1e-4), a = std::max(actual[i], 1e-4);
        s += (a - e) * std::log(a / e);
    }
    return s;
}

/// Result of a two-sample Kolmogorov-Smirnov test.
struct KsResult {
    double statistic = 0.0; ///< sup |F_ref - F_live|
    double p_value = 1.0;   ///< asymptotic (Kolmogorov distribution)
};

/// Two-sample Kolmogorov-Smirnov test; both inputs must be sorted ascending.
inline KsResult ks_two_sample(std::span<const float> a, std::span<const float> b) {
    KsResult r;
    if (a.empty() || b.empty()) return r;
    std::size_t i = 0, j = 0;
    const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
    while (i < a.size() && j < b.size()) {
        const float x = std::min(a[i], b[j]);
        while (i < a.size() && a[i] <= x) ++i;
        while (j < b.size() && b[j] <= x) ++j;
        r.statistic = std::max(r.statistic, std::abs(static_cast<double>(i) / na -
                                                     static_cast<double>(j) / nb));
    }
    const double en = std::sqrt(na * nb / (na + nb));
    const double lambda = (en + 0.12 + 0.11 / en) * r.statistic;
    // Q_KS(lambda) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 lambda^2); 1 for tiny lambda.
    if (lambda < 1e-3) return r;
    double sum = 0.0, sign = 1.0;
    for (int k = 1; k <= 100; ++k) {
        const double term = sign * std::exp(-2.0 * k * k * lambda * lambda);
        sum += term;
        if (std::abs(term) < 1e-12) break;
        sign = -sign;
    }
    r.p_value = std::clamp(2.0 * sum, 0.0, 1.0);
    return r;
}

/// When DriftMonitor::report() calls something drifted.
struct DriftThresholds {
    double feature_psi = 0.25;      ///< a feature has drifted above this PSI
    double feature_fraction = 0.10; ///< input drift: more than this fraction of features drifted
    double output_psi = 0.25;       ///< output drift: PSI of the predicted-class distribution
    double ks_p_value = 0.01;       ///< a scalar has drifted below this p-value
    std::size_t min_window = 100;   ///< no verdict on fewer live samples
};

/// What training saw: per-feature quantile bins and their proportions, the class mix of
/// the predictions, and sorted scalar summaries. Saved beside the model (JSON).
struct ReferenceSample {
    static constexpr int format_version = 1; ///< of the JSON written; readers refuse newer ones
    std::size_t features = 0;                ///< input values per sample
    std::size_t classes = 0;                 ///< output values (logits) per sample
    std::vector<std::vector<float>> edges;     ///< per feature, ascending; bin = first edge >= x
    std::vector<std::vector<double>> expected; ///< per feature, proportions per bin
    std::vector<double> class_mix;             ///< proportions of predicted classes
    std::vector<float> input_mean;             ///< sorted, one per reference sample
    std::vector<float> confidence;             ///< sorted top-1 softmax probability

    /// Bin of `x` among `edges`: the first edge >= x (edges.size() past the last).
    static std::size_t bin_of(const std::vector<float>& edges, float x) noexcept {
        return static_cast<std::size_t>(std::lower_bound(edges.begin(), edges.end(), x) -
                                        edges.begin());
    }

    /// From `n` training inputs (features each) and the model's outputs for them (logits,
    /// classes each). `bins` quantile bins per feature (fewer where values repeat).
    static ReferenceSample build(std::span<const float> inputs, std::span<const float> outputs,
                                 std::size_t n, std::size_t bins = 10) {
        if (n == 0 || inputs.size() % n != 0 || outputs.size() % n != 0)
            throw shape_error("ReferenceSample::build: " + std::to_string(inputs.size()) +
                              " input and " + std::to_string(outputs.size()) +
                              " output values do not split into " + std::to_string(n) +
                              " samples");
        if (bins < 2) throw config_error("ReferenceSample::build: bins must be >= 2");
        ReferenceSample r;
        r.features = inputs.size() / n;
        r.classes = outputs.size() / n;
        r.edges.resize(r.features);
        r.expected.resize(r.features);
        std::vector<float> col(n);
        for (std::size_t f = 0; f < r.features; ++f) {
            for (std::size_t i = 0; i < n; ++i) col[i] = inputs[i * r.features + f];
            std::sort(col.begin(), col.end());
            auto& e = r.edges[f];
            for (std::size_t k = 1; k < bins; ++k) e.push_back(col[(k * (n - 1)) / bins]);
            e.erase(std::unique(e.begin(), e.end()), e.end());
            auto& p = r.expected[f];
            p.assign(e.size() + 1, 0.0);
            for (float x : col) p[bin_of(e, x)] += 1.0 / static_cast<double>(n);
        }
        r.class_mix.assign(r.classes, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            const auto s = summarize(inputs.subspan(i * r.features, r.features),
                                     outputs.subspan(i * r.classes, r.classes));
            r.class_mix[s.predicted] += 1.0 / static_cast<double>(n);
            r.input_mean.push_back(s.mean);
            r.confidence.push_back(s.confidence);
        }
        std::sort(r.input_mean.begin(), r.input_mean.end());
        std::sort(r.confidence.begin(), r.confidence.end());
        return r;
    }

    /// What one sample contributes to the scalar statistics and the class mix.
    struct Summary {
        float mean;            ///< mean of its input values
        float confidence;      ///< top-1 softmax probability of its logits
        std::size_t predicted; ///< index of its largest logit
    };
    /// The Summary of input `x` and its `logits`.
    static Summary summarize(std::span<const float> x, std::span<const float> logits) noexcept {
        double s = 0.0;
        for (float v : x) s += v;
        std::size_t best = 0;
        for (std::size_t k = 1; k < logits.size(); ++k)
            if (logits[k] > logits[best]) best = k;
        double z = 0.0;
        for (float v : logits) z += std::exp(static_cast<double>(v - logits[best]));
        return {static_cast<float>(s / static_cast<double>(std::max<std::size_t>(x.size(), 1))),
                static_cast<float>(1.0 / z), best};
    }

    /// The JSON stored beside a model (reference.json), read back by from_json().
    std::string to_json() const {
        nlohmann::json j{{"format", "edgestack-drift-reference"}, {"version", format_version},
                         {"features", features}, {"classes", classes}, {"edges", edges},
                         {"expected", expected}, {"class_mix", class_mix},
                         {"input_mean", input_mean}, {"confidence", confidence}};
        return j.dump();
    }

    /// Deepest nesting from_json accepts: the format needs 3 levels. Refusing more up front
    /// keeps a hostile file (100,000 '[') from costing memory or stack.
    static constexpr int max_json_depth = 32;

    /// Parse what to_json wrote; `name` (a file name) appears in every error message.
    static ReferenceSample from_json(const std::string& text, const std::string& name) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(text, [&](int depth, nlohmann::json::parse_event_t,
                                                nlohmann::json&) {
                if (depth > max_json_depth)
                    throw format_error(name + ": nested more than " +
                                       std::to_string(max_json_depth) +
                                       " levels deep; a drift reference needs 3");
                return true;
            });
        } catch (const nlohmann::json::parse_error& e) {
            throw format_error(name + ": byte " + std::to_string(e.byte) + ": not valid JSON");
        } catch (const nlohmann::json::exception& e) {
            // A number too large for a double (1E400) is an out_of_range, not a parse_error.
            throw format_error(name + ": not valid JSON (" + e.what() + ")");
        }
        auto value = [&](const char* key) -> const nlohmann::json& {
            if (!j.is_object() || !j.contains(key))
                throw format_error(name + ": field '" + key + "' is missing");
            return j.at(key);
        };
        auto get = [&](const char* key, auto& out) {
            try {
                value(key).get_to(out);
            } catch (const nlohmann::json::exception&) {
                throw format_error(name + ": field '" + key + "' has the wrong type");
            }
        };
        // Counts are whole numbers: nlohmann converts a float such as 1e300 to an integer
        // with a cast whose result is undefined, so anything else is refused first.
        auto count = [&](const char* key) -> std::size_t {
            const auto& v = value(key);
            if (!v.is_number_unsigned())
                throw format_error(name + ": field '" + key + "' must be a whole number >= 0");
            return v.get<std::size_t>();
        };
        const std::size_t version = count("version");
        if (version < 1 || version > static_cast<std::size_t>(format_version))
            throw format_error(name + ": field 'version' is " + std::to_string(version) +
                               "; this reader knows 1.." + std::to_string(format_version));
        ReferenceSample r;
        r.features = count("features");
        r.classes = count("classes");
        if (r.classes == 0)
            throw format_error(name + ": field 'classes' is 0; a model has at least one class");
        get("edges", r.edges);
        get("expected", r.expected);
        get("class_mix", r.class_mix);
        get("input_mean", r.input_mean);
        get("confidence", r.confidence);
        if (r.edges.size() != r.features || r.expected.size() != r.features)
            throw format_error(name + ": fields 'edges'/'expected' must have 'features' (" +
                               std::to_string(r.features) + ") entries");
        for (std::size_t f = 0; f < r.features; ++f) {
            // Binning searches the edges: they must ascend.
            if (!std::is_sorted(r.edges[f].begin(), r.edges[f].end()))
                throw format_error(name + ": field 'edges' entry " + std::to_string(f) +
                                   " is not in ascending order");
            if (r.expected[f].size() != r.edges[f].size() + 1)
                throw format_error(name + ": field 'expected' entry " + std::to_string(f) +
                                   " needs one more bin than its edges");
        }
        if (r.class_mix.size() != r.classes)
            throw format_error(name + ": field 'class_mix' must have 'classes' entries");
        if (!std::is_sorted(r.input_mean.begin(), r.input_mean.end()) ||
            !std::is_sorted(r.confidence.begin(), r.confidence.end()))
            throw format_error(name + ": fields 'input_mean' and 'confidence' must be sorted "
                                      "ascending");
        return r;
    }
};

/// One scalar statistic compared with its reference distribution.
struct ScalarDrift {
    std::string name;     ///< "input_mean" or "confidence"
    KsResult ks;          ///< the test against the reference sample
    bool drifted = false; ///< p-value below the threshold, with enough data
};

/// What DriftMonitor::report() found; the verdicts stay false without enough data.
struct DriftReport {
    std::size_t window = 0;           ///< live samples compared
    std::vector<double> feature_psi;  ///< per feature
    double max_feature_psi = 0.0;     ///< largest of feature_psi
    double mean_feature_psi = 0.0;    ///< mean of feature_psi
    std::size_t drifted_features = 0; ///< features above DriftThresholds::feature_psi
    double output_psi = 0.0;          ///< PSI of the predicted-class mix
    std::vector<ScalarDrift> scalars; ///< input mean and confidence, by KS test
    bool input_drift = false;         ///< too many features drifted
    bool output_drift = false;        ///< output_psi above its threshold
    bool enough_data = false;         ///< at least DriftThresholds::min_window samples seen
    /// Any verdict raised: input, output or a scalar.
    bool any() const noexcept {
        bool s = false;
        for (const auto& x : scalars) s = s || x.drifted;
        return input_drift || output_drift || s;
    }
};

/// Live counterpart of a ReferenceSample: bins every observed sample, keeps the last
/// `window` scalar summaries, and compares on demand. observe() is thread-safe.
class DriftMonitor {
public:
    /// Compares live samples with `reference`; the scalars over the last `window` samples.
    /// Throws config_error for a zero window.
    DriftMonitor(ReferenceSample reference, DriftThresholds thresholds = {},
                 std::size_t window = 2000)
        : ref_(std::move(reference)), th_(thresholds), window_(window) {
        if (window_ == 0) throw config_error("DriftMonitor: window must be >= 1");
        reset();
    }

    const ReferenceSample& reference() const noexcept { return ref_; }  ///< as given
    const DriftThresholds& thresholds() const noexcept { return th_; } ///< as given

    /// `batch` inputs and their outputs (logits), back to back.
    void observe(std::span<const float> inputs, std::span<const float> outputs, std::size_t batch) {
        if (inputs.size() != batch * ref_.features || outputs.size() != batch * ref_.classes)
            throw shape_error("DriftMonitor::observe: expected " + std::to_string(batch) +
                              " samples of " + std::to_string(ref_.features) + " inputs and " +
                              std::to_string(ref_.classes) + " outputs");
        std::lock_guard lock(m_);
        for (std::size_t i = 0; i < batch; ++i) {
            const auto x = inputs.subspan(i * ref_.features, ref_.features);
            for (std::size_t f = 0; f < ref_.features; ++f)
                ++counts_[f][ReferenceSample::bin_of(ref_.edges[f], x[f])];
            const auto s = ReferenceSample::summarize(x, outputs.subspan(i * ref_.classes, ref_.classes));
            ++class_counts_[s.predicted];
            means_.push_back(s.mean);
            conf_.push_back(s.confidence);
            if (means_.size() > window_) {
                means_.pop_front();
                conf_.pop_front();
            }
            ++seen_;
        }
    }

    /// Compares everything observed since the last reset() with the reference.
    DriftReport report() const {
        std::lock_guard lock(m_);
        DriftReport r;
        r.window = seen_;
        r.enough_data = seen_ >= th_.min_window;
        if (seen_ == 0) return r;
        const double n = static_cast<double>(seen_);
        std::vector<double> actual;
        r.feature_psi.resize(ref_.features);
        for (std::size_t f = 0; f < ref_.features; ++f) {
            actual.assign(counts_[f].size(), 0.0);
            for (std::size_t b = 0; b < actual.size(); ++b) actual[b] = counts_[f][b] / n;
            const double p = psi(ref_.expected[f], actual);
            r.feature_psi[f] = p;
            r.max_feature_psi = std::max(r.max_feature_psi, p);
            r.mean_feature_psi += p / static_cast<double>(ref_.features);
            r.drifted_features += p > th_.feature_psi;
        }
        actual.assign(ref_.classes, 0.0);
        for (std::size_t c = 0; c < ref_.classes; ++c) actual[c] = class_counts_[c] / n;
        r.output_psi = psi(ref_.class_mix, actual);
        auto scalar = [&](const char* name, const std::vector<float>& ref,
                          const std::deque<float>& live) {
            std::vector<float> sorted(live.begin(), live.end());
            std::sort(sorted.begin(), sorted.end());
            ScalarDrift d{name, ks_two_sample(ref, sorted), false};
            d.drifted = r.enough_data && d.ks.p_value < th_.ks_p_value;
            r.scalars.push_back(d);
        };
        scalar("input_mean", ref_.input_mean, means_);
        scalar("confidence", ref_.confidence, conf_);
        r.input_drift = r.enough_data && static_cast<double>(r.drifted_features) >
                                             th_.feature_fraction * static_cast<double>(ref_.features);
        r.output_drift = r.enough_data && r.output_psi > th_.output_psi;
        return r;
    }

    /// Start a new comparison window (after a retrain, or periodically).
    void reset() {
        std::lock_guard lock(m_);
        counts_.assign(ref_.features, {});
        for (std::size_t f = 0; f < ref_.features; ++f) counts_[f].assign(ref_.edges[f].size() + 1, 0);
        class_counts_.assign(ref_.classes, 0);
        means_.clear();
        conf_.clear();
        seen_ = 0;
    }

    /// Prometheus text for the latest report (gauges).
    std::string prometheus(const std::string& model) const;

private:
    ReferenceSample ref_;
    DriftThresholds th_;
    std::size_t window_;
    mutable std::mutex m_;
    std::vector<std::vector<std::uint64_t>> counts_;
    std::vector<std::uint64_t> class_counts_;
    std::deque<float> means_, conf_;
    std::size_t seen_ = 0;
};

inline std::string DriftMonitor::prometheus(const std::string& model) const {
    const DriftReport r = report();
    PrometheusWriter w;
    w.family("edgestack_drift_window_samples", "gauge", "Live samples in the drift window.");
    w.sample("edgestack_drift_window_samples", {{"model", model}}, static_cast<double>(r.window));
    w.family("edgestack_drift_feature_psi", "gauge", "PSI over input features: max and mean.");
    w.sample("edgestack_drift_feature_psi", {{"model", model}, {"stat", "max"}}, r.max_feature_psi);
    w.sample("edgestack_drift_feature_psi", {{"model", model}, {"stat", "mean"}}, r.mean_feature_psi);
    w.family("edgestack_drift_features_drifted", "gauge", "Input features above the PSI threshold.");
    w.sample("edgestack_drift_features_drifted", {{"model", model}},
             static_cast<double>(r.drifted_features));
    w.family("edgestack_drift_output_psi", "gauge", "PSI of the predicted-class distribution.");
    w.sample("edgestack_drift_output_psi", {{"model", model}}, r.output_psi);
    w.family("edgestack_drift_ks_p_value", "gauge", "Kolmogorov-Smirnov p-value per scalar.");
    for (const auto& s : r.scalars)
        w.sample("edgestack_drift_ks_p_value", {{"model", model}, {"scalar", s.name}}, s.ks.p_value);
    w.family("edgestack_drift_detected", "gauge", "1 when any drift test fires.");
    w.sample("edgestack_drift_detected", {{"model", model}}, r.any() ? 1.0 : 0.0);
    return w.take();
}

} // namespace edgestack::monitor
