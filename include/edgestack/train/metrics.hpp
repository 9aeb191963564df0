// Metrics of the evaluation stage, apart from any model: a classification report built
// from scores and labels (accuracy, top-k, confusion matrix, per-class precision, recall
// and F1, printable as a table) and regression errors (MAE, RMSE, R²).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::train {

/// Precision, recall and F1 of one class.
struct ClassMetrics {
    std::size_t support = 0; ///< samples whose true class this is
    double precision = 0.0;  ///< of the samples predicted as this class, the share right
    double recall = 0.0;     ///< of the samples of this class, the share found
    double f1 = 0.0;         ///< harmonic mean of the two
};

/// Accumulates a classification report batch by batch.
struct Evaluation {
    std::size_t count = 0;              ///< samples seen
    double loss = 0.0;                  ///< mean loss (0 when no loss was given)
    double accuracy = 0.0;              ///< share of top-1 predictions right
    std::size_t top_k = 0;              ///< k of top_k_accuracy (0: not computed)
    double top_k_accuracy = 0.0;        ///< the true class among the k highest scores
    std::size_t classes = 0;            ///< size of the confusion matrix's sides
    std::vector<std::size_t> confusion; ///< [true][predicted], classes x classes

    /// Samples of class `truth` predicted as `predicted`; throws std::out_of_range outside.
    std::size_t confusion_at(std::size_t truth, std::size_t predicted) const {
        return confusion.at(truth * classes + predicted);
    }

    /// Precision, recall and F1 of class `c` (0 where undefined: no predictions/samples).
    ClassMetrics class_metrics(std::size_t c) const {
        if (c >= classes)
            throw config_error("Evaluation: class " + std::to_string(c) + " is outside [0, " +
                               std::to_string(classes) + ")");
        std::size_t predicted = 0, actual = 0;
        for (std::size_t k = 0; k < classes; ++k) {
            predicted += confusion[k * classes + c];
            actual += confusion[c * classes + k];
        }
        const double tp = static_cast<double>(confusion[c * classes + c]);
        ClassMetrics m;
        m.support = actual;
        m.precision = predicted ? tp / static_cast<double>(predicted) : 0.0;
        m.recall = actual ? tp / static_cast<double>(actual) : 0.0;
        m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall)
                                          : 0.0;
        return m;
    }

    /// Unweighted mean of the per-class F1 scores over classes that have samples.
    double macro_f1() const {
        double sum = 0.0;
        std::size_t n = 0;
        for (std::size_t c = 0; c < classes; ++c)
            if (const auto m = class_metrics(c); m.support > 0) {
                sum += m.f1;
                ++n;
            }
        return n ? sum / static_cast<double>(n) : 0.0;
    }

    /// One row per class (precision, recall, F1, support) and the totals, as text.
    /// `names` labels the rows (class numbers when empty).
    std::string table(std::span<const std::string_view> names = {}) const {
        std::size_t w = 5;
        for (std::size_t c = 0; c < classes; ++c)
            w = std::max(w, c < names.size() ? names[c].size() : std::to_string(c).size());
        const int iw = static_cast<int>(w);
        std::string out;
        char line[256];
        std::snprintf(line, sizeof line, "%-*s %9s %9s %9s %9s\n", iw, "class", "precision",
                      "recall", "f1", "support");
        out += line;
        out += std::string(w + 40, '-') + "\n";
        for (std::size_t c = 0; c < classes; ++c) {
            const auto m = class_metrics(c);
            const std::string name =
                c < names.size() ? std::string(names[c]) : std::to_string(c);
            std::snprintf(line, sizeof line, "%-*s %9.4f %9.4f %9.4f %9zu\n", iw, name.c_str(),
                          m.precision, m.recall, m.f1, m.support);
            out += line;
        }
        out += std::string(w + 40, '-') + "\n";
        std::snprintf(line, sizeof line, "%-*s %9s %9s %9.4f %9zu\n", iw, "macro", "", "",
                      macro_f1(), count);
        out += line;
        std::snprintf(line, sizeof line, "accuracy %.4f", accuracy);
        out += line;
        if (top_k > 0) {
            std::snprintf(line, sizeof line, "  top-%zu %.4f", top_k, top_k_accuracy);
            out += line;
        }
        std::snprintf(line, sizeof line, "  loss %.4f  (%zu samples)\n", loss, count);
        out += line;
        return out;
    }
};

/// Builds an Evaluation from batches of scores (logits or probabilities) and labels.
class ClassificationMetrics {
public:
    /// Top-k accuracy with k = min(top_k, classes); throws config_error for 0 classes.
    explicit ClassificationMetrics(std::size_t classes, std::size_t top_k = 5)
        : top_k_(std::min(top_k, classes)) {
        if (classes == 0) throw config_error("ClassificationMetrics: classes must be >= 1");
        ev_.classes = classes;
        ev_.top_k = top_k_;
        ev_.confusion.assign(classes * classes, 0);
    }

    /// Add `batch` samples: scores [batch][classes], one label each, and (optionally) the
    /// batch's mean loss.
    void add(const float* scores, const std::int32_t* labels, std::size_t batch,
             double mean_loss = 0.0) {
        const std::size_t classes = ev_.classes;
        for (std::size_t b = 0; b < batch; ++b) {
            if (labels[b] < 0 || static_cast<std::size_t>(labels[b]) >= classes)
                throw format_error("ClassificationMetrics: label " + std::to_string(labels[b]) +
                                   " of sample " + std::to_string(ev_.count + b) +
                                   " is outside [0, " + std::to_string(classes) + ")");
            const float* z = scores + b * classes;
            const auto truth = static_cast<std::size_t>(labels[b]);
            std::size_t best = 0, above = 0;
            for (std::size_t k = 0; k < classes; ++k) {
                if (z[k] > z[best]) best = k;
                // Ties count against the true class, so top-k never flatters.
                if (k != truth && z[k] >= z[truth]) ++above;
            }
            correct_ += best == truth;
            top_k_hits_ += above < top_k_;
            ++ev_.confusion[truth * classes + best];
        }
        loss_sum_ += mean_loss * static_cast<double>(batch);
        ev_.count += batch;
    }

    /// The report over every batch added.
    Evaluation result() const {
        Evaluation e = ev_;
        const auto n = static_cast<double>(e.count);
        e.accuracy = e.count ? static_cast<double>(correct_) / n : 0.0;
        e.top_k_accuracy = e.count ? static_cast<double>(top_k_hits_) / n : 0.0;
        e.loss = e.count ? loss_sum_ / n : 0.0;
        return e;
    }

private:
    Evaluation ev_;
    std::size_t top_k_;
    std::size_t correct_ = 0, top_k_hits_ = 0;
    double loss_sum_ = 0.0;
};

/// Errors of a regression model (or an autoencoder's reconstruction).
struct RegressionReport {
    std::size_t count = 0;  ///< values compared (samples x outputs)
    double mae = 0.0;       ///< mean absolute error
    double rmse = 0.0;      ///< root mean squared error
    double max_error = 0.0; ///< largest absolute error
    /// Coefficient of determination, 1 - SS_res / SS_tot, per output and averaged over the
    /// outputs (scikit-learn's r2_score, multioutput='uniform_average'); an output whose
    /// targets are all equal counts 1 when predicted exactly, else 0.
    double r2 = 0.0;
    double loss = 0.0; ///< mean loss, when the evaluation was given one (else 0)

    /// The figures as a two-column text table.
    std::string table() const {
        char line[256];
        std::snprintf(line, sizeof line,
                      "%-10s %12s\n%-10s %12.6f\n%-10s %12.6f\n%-10s %12.6f\n%-10s %12.6f\n"
                      "%-10s %12zu\n",
                      "metric", "value", "MAE", mae, "RMSE", rmse, "R2", r2, "max error",
                      max_error, "values", count);
        return line;
    }
};

/// Builds a RegressionReport batch by batch: predictions and targets, `outputs` per sample.
class RegressionMetrics {
public:
    /// Throws config_error for 0 outputs.
    explicit RegressionMetrics(std::size_t outputs = 1) : cols_(outputs) {
        if (outputs == 0) throw config_error("RegressionMetrics: outputs must be >= 1");
        mean_.assign(outputs, 0.0);
        m2_.assign(outputs, 0.0);
        ss_res_.assign(outputs, 0.0);
    }

    /// Add `predictions` and `targets` (the same size, whole samples of outputs() values)
    /// and, optionally, the batch's mean loss. Throws shape_error when the sizes disagree.
    void add(std::span<const float> predictions, std::span<const float> targets,
             double mean_loss = 0.0) {
        if (predictions.size() != targets.size() || targets.size() % cols_ != 0)
            throw shape_error("RegressionMetrics: " + std::to_string(predictions.size()) +
                              " predictions for " + std::to_string(targets.size()) +
                              " targets, in samples of " + std::to_string(cols_));
        const std::size_t rows = targets.size() / cols_;
        for (std::size_t r = 0; r < rows; ++r) {
            ++samples_;
            for (std::size_t k = 0; k < cols_; ++k) {
                const double y = targets[r * cols_ + k];
                const double d = double(predictions[r * cols_ + k]) - y;
                abs_sum_ += std::abs(d);
                ss_res_[k] += d * d;
                max_ = std::max(max_, std::abs(d));
                // Welford: the targets' variance without cancellation.
                const double delta = y - mean_[k];
                mean_[k] += delta / static_cast<double>(samples_);
                m2_[k] += delta * (y - mean_[k]);
            }
        }
        loss_sum_ += mean_loss * static_cast<double>(rows);
    }

    std::size_t outputs() const noexcept { return cols_; } ///< values per sample

    /// The report over everything added.
    RegressionReport result() const {
        RegressionReport r;
        r.count = samples_ * cols_;
        r.max_error = max_;
        if (samples_ == 0) return r;
        double sq = 0.0, r2 = 0.0;
        for (std::size_t k = 0; k < cols_; ++k) {
            sq += ss_res_[k];
            r2 += m2_[k] > 0.0 ? 1.0 - ss_res_[k] / m2_[k] : (ss_res_[k] == 0.0 ? 1.0 : 0.0);
        }
        const auto n = static_cast<double>(r.count);
        r.mae = abs_sum_ / n;
        r.rmse = std::sqrt(sq / n);
        r.r2 = r2 / static_cast<double>(cols_);
        r.loss = loss_sum_ / static_cast<double>(samples_);
        return r;
    }

private:
    std::size_t cols_;
    std::size_t samples_ = 0;
    double abs_sum_ = 0.0, max_ = 0.0, loss_sum_ = 0.0;
    std::vector<double> mean_, m2_, ss_res_;
};

/// MAE, RMSE, R² and the largest error of `predictions` against `targets`, `outputs`
/// values per sample (R² is per output, averaged).
inline RegressionReport regression_metrics(std::span<const float> predictions,
                                           std::span<const float> targets,
                                           std::size_t outputs = 1) {
    if (predictions.size() != targets.size())
        throw shape_error("regression_metrics: " + std::to_string(predictions.size()) +
                          " predictions for " + std::to_string(targets.size()) + " targets");
    RegressionMetrics m(outputs);
    m.add(predictions, targets);
    return m.result();
}

} // namespace edgestack::train
