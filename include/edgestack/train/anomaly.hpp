// Anomaly detection with an autoencoder: each sample's reconstruction error is its score, a
// threshold is calibrated on normal data as a quantile of their scores, and ROC-AUC says how
// well the scores separate normal from anomalous samples whatever the threshold.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::train {

/// Mean squared difference between each sample of `inputs` and of `outputs` (samples of
/// `sample_size` values back to back): one reconstruction error per sample. Throws
/// shape_error when the two do not hold the same whole samples.
inline std::vector<float> reconstruction_errors(std::span<const float> inputs,
                                                std::span<const float> outputs,
                                                std::size_t sample_size) {
    if (sample_size == 0 || inputs.size() != outputs.size() || inputs.size() % sample_size != 0)
        throw shape_error("reconstruction_errors: " + std::to_string(inputs.size()) +
                          " inputs and " + std::to_string(outputs.size()) +
                          " outputs do not make the same whole samples of " +
                          std::to_string(sample_size));
    std::vector<float> e(inputs.size() / sample_size);
    for (std::size_t s = 0; s < e.size(); ++s) {
        double sum = 0.0;
        for (std::size_t k = 0; k < sample_size; ++k) {
            const double d = double(inputs[s * sample_size + k]) - outputs[s * sample_size + k];
            sum += d * d;
        }
        e[s] = static_cast<float>(sum / static_cast<double>(sample_size));
    }
    return e;
}

/// The `q` quantile of `values` (q in [0, 1]), interpolating linearly between the two
/// nearest ranks as NumPy's default does. Throws config_error for an empty input, q outside
/// [0, 1] or a NaN value.
inline double quantile(std::span<const float> values, double q) {
    if (values.empty()) throw config_error("quantile: no values");
    if (!(q >= 0.0 && q <= 1.0))
        throw config_error("quantile: q = " + std::to_string(q) + " is outside [0, 1]");
    std::vector<float> v(values.begin(), values.end());
    for (std::size_t i = 0; i < v.size(); ++i)
        if (std::isnan(v[i])) throw config_error("quantile: value " + std::to_string(i) + " is NaN");
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return double(v[lo]) + frac * (double(v[hi]) - double(v[lo]));
}

/// Area under the ROC curve of `scores` against `labels` (non-zero: positive, i.e.
/// anomalous): the probability that a random positive scores above a random negative, ties
/// counting one half (the Mann-Whitney statistic, with average ranks). Throws config_error
/// when the sizes differ, a score is NaN, or one of the two classes is absent.
inline double roc_auc(std::span<const float> scores, std::span<const std::int32_t> labels) {
    if (scores.size() != labels.size())
        throw config_error("roc_auc: " + std::to_string(scores.size()) + " scores for " +
                           std::to_string(labels.size()) + " labels");
    std::vector<std::size_t> order(scores.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = 0; i < scores.size(); ++i)
        if (std::isnan(scores[i])) throw config_error("roc_auc: score " + std::to_string(i) + " is NaN");
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
    double positive_rank_sum = 0.0;
    std::size_t positives = 0;
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
        const double rank = 0.5 * static_cast<double>(i + 1 + j); // mean of ranks i+1 .. j
        for (std::size_t k = i; k < j; ++k)
            if (labels[order[k]] != 0) {
                positive_rank_sum += rank;
                ++positives;
            }
        i = j;
    }
    const std::size_t negatives = scores.size() - positives;
    if (positives == 0 || negatives == 0)
        throw config_error("roc_auc: needs both normal (0) and anomalous (non-zero) labels, got " +
                           std::to_string(negatives) + " and " + std::to_string(positives));
    const auto p = static_cast<double>(positives), n = static_cast<double>(negatives);
    return (positive_rank_sum - p * (p + 1) / 2) / (p * n);
}

/// A score threshold calibrated on normal data: scores above it are anomalies.
struct AnomalyThreshold {
    double threshold = 0.0; ///< scores above this are anomalies
    double quantile = 0.0;  ///< of the normal scores it was calibrated on

    /// The `q` quantile of `normal_scores` (e.g. 0.99: about 1% of normal samples flagged).
    static AnomalyThreshold calibrate(std::span<const float> normal_scores, double q = 0.99) {
        return {train::quantile(normal_scores, q), q};
    }
    /// Whether `score` is above the threshold.
    bool is_anomaly(double score) const noexcept { return score > threshold; }
    /// Share of `scores` above the threshold.
    double flagged(std::span<const float> scores) const noexcept {
        if (scores.empty()) return 0.0;
        std::size_t k = 0;
        for (float s : scores) k += is_anomaly(s);
        return static_cast<double>(k) / static_cast<double>(scores.size());
    }
};

} // namespace edgestack::train
