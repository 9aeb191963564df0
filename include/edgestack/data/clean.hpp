// Cleaning policies for tabular and time-series Tables: imputation, outlier clipping or
// dropping, duplicates, bad labels, NaN/Inf, and scaling. A Cleaner<P1, P2, ...> is fitted on
// the training split only and then applied unchanged to validation, test and serving inputs;
// its fitted state saves to a small versioned file with a checksum. Every application
// returns a CleaningReport that counts what changed.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/core/file_io.hpp"
#include "edgestack/data/table.hpp"
#include "edgestack/io/scaling.hpp"

namespace edgestack::data {

/// What a cleaning pass changed.
struct CleaningReport {
    std::size_t rows_in = 0;            ///< rows before the pass
    std::size_t rows_out = 0;           ///< rows after it
    std::size_t imputed = 0;            ///< missing or non-finite values filled
    std::size_t clipped = 0;            ///< values moved into their outlier bounds
    std::size_t scaled = 0;             ///< values rescaled
    std::size_t dropped_outliers = 0;   ///< rows dropped as outliers
    std::size_t dropped_duplicates = 0; ///< rows equal to an earlier row
    std::size_t dropped_bad_labels = 0; ///< rows whose label is missing or out of range
    std::size_t dropped_non_finite = 0; ///< rows holding NaN or Inf

    /// rows_in - rows_out.
    std::size_t rows_dropped() const noexcept { return rows_in - rows_out; }
    /// One line, e.g. "rows 1000 -> 987 (dropped: 0 outliers, 9 duplicates, ...".
    std::string to_string() const {
        return "rows " + std::to_string(rows_in) + " -> " + std::to_string(rows_out) +
               " (dropped: " + std::to_string(dropped_outliers) + " outliers, " +
               std::to_string(dropped_duplicates) + " duplicates, " +
               std::to_string(dropped_bad_labels) + " bad labels, " +
               std::to_string(dropped_non_finite) + " non-finite); values: " +
               std::to_string(imputed) + " imputed, " + std::to_string(clipped) + " clipped, " +
               std::to_string(scaled) + " scaled";
    }
};

namespace detail {

// `s` holds `per_column` values for each of `cols` columns; anything else was fitted on (or
// loaded for) a table of another width, and indexing it by column would read past its end.
inline void require_fitted(const std::vector<double>& s, std::size_t cols, std::string_view who,
                           std::size_t per_column = 1) {
    if (s.empty())
        throw config_error(std::string(who) + ": apply before fit - fit on the training split first");
    if (s.size() != per_column * cols)
        throw shape_error(std::string(who) + ": fitted on " + std::to_string(s.size() / per_column) +
                          " columns, given " + std::to_string(cols));
}

// A loaded state must hold `want` values (the file said `cols` columns).
inline void check_state_size(std::string_view who, std::size_t have, std::size_t want) {
    if (have != want)
        throw format_error(std::string(who) + ": state holds " + std::to_string(have) +
                           " values, " + std::to_string(want) + " expected for the column count");
}

// Outlier bounds loaded from a file: lo <= hi per column (std::clamp requires it).
inline void check_bounds(std::string_view who, const std::vector<double>& b) {
    for (std::size_t i = 0; i + 1 < b.size(); i += 2)
        if (b[i] > b[i + 1])
            throw format_error(std::string(who) + ": column " + std::to_string(i / 2) +
                               " has lower bound " + std::to_string(b[i]) + " above upper bound " +
                               std::to_string(b[i + 1]));
}

// Finite values of column c.
inline std::vector<float> finite_column(const Table& t, std::size_t c) {
    std::vector<float> v;
    v.reserve(t.rows());
    for (std::size_t r = 0; r < t.rows(); ++r)
        if (std::isfinite(t.at(r, c))) v.push_back(t.at(r, c));
    return v;
}

inline double quantile(std::vector<float> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// Per column: mean and (population) standard deviation of the finite values.
inline std::vector<double> mean_std(const Table& t) {
    std::vector<double> s(2 * t.cols(), 0.0);
    for (std::size_t c = 0; c < t.cols(); ++c) {
        double sum = 0, sq = 0;
        std::size_t n = 0;
        for (std::size_t r = 0; r < t.rows(); ++r)
            if (const float v = t.at(r, c); std::isfinite(v)) sum += v, sq += double(v) * v, ++n;
        const double m = n ? sum / double(n) : 0.0;
        s[2 * c] = m;
        s[2 * c + 1] = n ? std::sqrt(std::max(0.0, sq / double(n) - m * m)) : 0.0;
    }
    return s;
}

inline void check_width(const Table& t, std::size_t fitted_cols, std::string_view who) {
    if (t.cols() != fitted_cols)
        throw shape_error(std::string(who) + ": fitted on " + std::to_string(fitted_cols) +
                          " columns, the table has " + std::to_string(t.cols()));
}

// Fills every non-finite value of column c with fill[c].
inline void fill_columns(std::span<float> row, const std::vector<double>& fill, std::size_t& count) {
    for (std::size_t c = 0; c < row.size(); ++c)
        if (!std::isfinite(row[c])) row[c] = static_cast<float>(fill[c]), ++count;
}

} // namespace detail

// ---- imputation ----------------------------------------------------------------------------
// Each fills missing (NaN) and infinite values with a per-column value fitted on training data.

/// Fills missing and infinite values with the column's training mean.
struct ImputeMean {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "impute_mean";
    std::vector<double> fill{}; ///< fitted mean per column
    /// Fits the column means on the training table.
    void fit(const Table& t) {
        const auto ms = detail::mean_std(t);
        fill.assign(t.cols(), 0.0);
        for (std::size_t c = 0; c < t.cols(); ++c) fill[c] = ms[2 * c];
    }
    /// Fills the non-finite values of one row in place.
    void transform(std::span<float> row, CleaningReport& r) const {
        detail::require_fitted(fill, row.size(), "ImputeMean");
        detail::fill_columns(row, fill, r.imputed);
    }
    /// In a deployment file (Cleaner::input_scaling): the fill of missing inputs.
    static constexpr int deploy_stage = 0;
    /// Writes that part into `s`.
    void deploy_to(io::Scaling& s, std::size_t) const { s.input_fill = fill; }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const { return fill; }
    /// Restores a saved state (check_state says whether it fits).
    void set_state(std::vector<double> s) { fill = std::move(s); }
    /// Throws format_error when a loaded state does not fit `cols` columns.
    void check_state(std::size_t cols) const { detail::check_state_size(tag, fill.size(), cols); }
};

/// Fills missing and infinite values with the column's training median.
struct ImputeMedian {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "impute_median";
    std::vector<double> fill{}; ///< fitted median per column
    /// Fits the column medians on the training table.
    void fit(const Table& t) {
        fill.assign(t.cols(), 0.0);
        for (std::size_t c = 0; c < t.cols(); ++c) fill[c] = detail::quantile(detail::finite_column(t, c), 0.5);
    }
    /// Fills the non-finite values of one row in place.
    void transform(std::span<float> row, CleaningReport& r) const {
        detail::require_fitted(fill, row.size(), "ImputeMedian");
        detail::fill_columns(row, fill, r.imputed);
    }
    /// In a deployment file (Cleaner::input_scaling): the fill of missing inputs.
    static constexpr int deploy_stage = 0;
    /// Writes that part into `s`.
    void deploy_to(io::Scaling& s, std::size_t) const { s.input_fill = fill; }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const { return fill; }
    /// Restores a saved state (check_state says whether it fits).
    void set_state(std::vector<double> s) { fill = std::move(s); }
    /// Throws format_error when a loaded state does not fit `cols` columns.
    void check_state(std::size_t cols) const { detail::check_state_size(tag, fill.size(), cols); }
};

/// Fills missing and infinite values with a fixed `value`.
struct ImputeConstant {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "impute_constant";
    float value = 0.0f; ///< what replaces a missing value
    /// Nothing to fit.
    void fit(const Table&) {}
    /// Replaces the non-finite values of one row with `value`.
    void transform(std::span<float> row, CleaningReport& r) const {
        for (auto& v : row)
            if (!std::isfinite(v)) v = value, ++r.imputed;
    }
    /// In a deployment file (Cleaner::input_scaling): the fill of missing inputs.
    static constexpr int deploy_stage = 0;
    /// Writes that part into `s`.
    void deploy_to(io::Scaling& s, std::size_t cols) const { s.input_fill.assign(cols, value); }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const { return {value}; }
    /// Restores a saved state; throws format_error unless it is one valid value.
    void set_state(std::vector<double> s) {
        if (s.size() != 1) throw format_error("ImputeConstant: state must hold one value");
        value = static_cast<float>(s[0]);
    }
};

/// Time series: a missing value takes the previous row's value in its column; leading gaps
/// (and single rows at serving time) take the training mean.
struct ForwardFill {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "forward_fill";
    std::vector<double> fill{}; ///< fitted mean per column
    /// Fits the column means (for leading gaps) on the training table.
    void fit(const Table& t) {
        ImputeMean m;
        m.fit(t);
        fill = std::move(m.fill);
    }
    /// Fills each gap of `t` from the row above (the first row from the means).
    void apply(Table& t, CleaningReport& r) const {
        detail::require_fitted(fill, t.cols(), "ForwardFill");
        detail::check_width(t, fill.size(), "ForwardFill");
        for (std::size_t row = 0; row < t.rows(); ++row)
            for (std::size_t c = 0; c < t.cols(); ++c)
                if (float& v = t.at(row, c); !std::isfinite(v)) {
                    v = row == 0 ? static_cast<float>(fill[c]) : t.at(row - 1, c);
                    ++r.imputed;
                }
    }
    /// One row alone has no previous row: fills its gaps with the training means.
    void transform(std::span<float> row, CleaningReport& r) const {
        detail::require_fitted(fill, row.size(), "ForwardFill");
        detail::fill_columns(row, fill, r.imputed);
    }
    /// In a deployment file (Cleaner::input_scaling): the fill of missing inputs (one
    /// request has no previous row: the training means, as transform() fills).
    static constexpr int deploy_stage = 0;
    /// Writes that part into `s`.
    void deploy_to(io::Scaling& s, std::size_t) const { s.input_fill = fill; }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const { return fill; }
    /// Restores a saved state (check_state says whether it fits).
    void set_state(std::vector<double> s) { fill = std::move(s); }
    /// Throws format_error when a loaded state does not fit `cols` columns.
    void check_state(std::size_t cols) const { detail::check_state_size(tag, fill.size(), cols); }
};

// ---- outliers ------------------------------------------------------------------------------

/// Clips each value to mean +- k standard deviations of its column.
struct ZScoreClip {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "zscore_clip";
    float k = 3.0f;               ///< standard deviations allowed
    std::vector<double> bounds{}; ///< lo, hi per column
    /// Fits the bounds mean +- k std on the training table.
    void fit(const Table& t) {
        const auto ms = detail::mean_std(t);
        bounds.assign(2 * t.cols(), 0.0);
        for (std::size_t c = 0; c < t.cols(); ++c)
            bounds[2 * c] = ms[2 * c] - k * ms[2 * c + 1], bounds[2 * c + 1] = ms[2 * c] + k * ms[2 * c + 1];
    }
    /// Clips one row in place.
    void transform(std::span<float> row, CleaningReport& r) const {
        detail::require_fitted(bounds, row.size(), "ZScoreClip", 2);
        for (std::size_t c = 0; c < row.size(); ++c) {
            const auto lo = static_cast<float>(bounds[2 * c]), hi = static_cast<float>(bounds[2 * c + 1]);
            if (std::isfinite(row[c]) && (row[c] < lo || row[c] > hi))
                row[c] = std::clamp(row[c], lo, hi), ++r.clipped;
        }
    }
    /// In a deployment file (Cleaner::input_scaling): the clip bounds.
    static constexpr int deploy_stage = 1;
    /// Writes that part into `s`.
    void deploy_to(io::Scaling& s, std::size_t cols) const {
        s.input_lo.resize(cols);
        s.input_hi.resize(cols);
        for (std::size_t c = 0; c < cols; ++c) s.input_lo[c] = bounds[2 * c], s.input_hi[c] = bounds[2 * c + 1];
    }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const {
        std::vector<double> s{k};
        s.insert(s.end(), bounds.begin(), bounds.end());
        return s;
    }
    /// Restores a saved state (check_state says whether it fits).
    void set_state(std::vector<double> s) {
        if (s.empty()) throw format_error("ZScoreClip: empty state");
        k = static_cast<float>(s[0]);
        bounds.assign(s.begin() + 1, s.end());
    }
    /// Throws format_error when a loaded state does not fit `cols` columns.
    void check_state(std::size_t cols) const {
        detail::check_state_size(tag, bounds.size(), 2 * cols);
        detail::check_bounds(tag, bounds);
    }
};

/// Clips each value to [Q1 - k IQR, Q3 + k IQR] of its column (Tukey's fences).
struct IqrClip {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "iqr_clip";
    float k = 1.5f;               ///< IQRs allowed beyond the quartiles
    std::vector<double> bounds{}; ///< lo, hi per column
    /// Fits the bounds Q1 - k IQR, Q3 + k IQR on the training table.
    void fit(const Table& t) {
        bounds.assign(2 * t.cols(), 0.0);
        for (std::size_t c = 0; c < t.cols(); ++c) {
            const auto v = detail::finite_column(t, c);
            const double q1 = detail::quantile(v, 0.25), q3 = detail::quantile(v, 0.75);
            bounds[2 * c] = q1 - k * (q3 - q1), bounds[2 * c + 1] = q3 + k * (q3 - q1);
        }
    }
    /// Clips one row in place.
    void transform(std::span<float> row, CleaningReport& r) const {
        ZScoreClip z;
        z.bounds = bounds;
        detail::require_fitted(bounds, row.size(), "IqrClip", 2);
        z.transform(row, r);
    }
    /// In a deployment file (Cleaner::input_scaling): the clip bounds.
    static constexpr int deploy_stage = 1;
    /// Writes that part into `s`.
    void deploy_to(io::Scaling& s, std::size_t cols) const {
        s.input_lo.resize(cols);
        s.input_hi.resize(cols);
        for (std::size_t c = 0; c < cols; ++c) s.input_lo[c] = bounds[2 * c], s.input_hi[c] = bounds[2 * c + 1];
    }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const {
        std::vector<double> s{k};
        s.insert(s.end(), bounds.begin(), bounds.end());
        return s;
    }
    /// Restores a saved state (check_state says whether it fits).
    void set_state(std::vector<double> s) {
        if (s.empty()) throw format_error("IqrClip: empty state");
        k = static_cast<float>(s[0]);
        bounds.assign(s.begin() + 1, s.end());
    }
    /// Throws format_error when a loaded state does not fit `cols` columns.
    void check_state(std::size_t cols) const {
        detail::check_state_size(tag, bounds.size(), 2 * cols);
        detail::check_bounds(tag, bounds);
    }
};

/// Drops rows with any value more than k standard deviations from its column's mean.
struct DropOutliers {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "drop_outliers";
    float k = 3.0f;           ///< standard deviations allowed
    std::vector<double> ms{}; ///< mean, std per column
    /// Fits each column's mean and std on the training table.
    void fit(const Table& t) { ms = detail::mean_std(t); }
    /// Drops the rows of `t` with a value more than k std from its column's mean.
    void apply(Table& t, CleaningReport& r) const {
        detail::require_fitted(ms, t.cols(), "DropOutliers", 2);
        detail::check_width(t, ms.size() / 2, "DropOutliers");
        std::vector<char> keep(t.rows(), 1);
        for (std::size_t row = 0; row < t.rows(); ++row)
            for (std::size_t c = 0; c < t.cols(); ++c) {
                const double sd = ms[2 * c + 1], v = t.at(row, c);
                if (sd > 0 && std::isfinite(v) && std::abs(v - ms[2 * c]) > k * sd) {
                    keep[row] = 0;
                    ++r.dropped_outliers;
                    break;
                }
            }
        t.keep_rows(keep);
    }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const {
        std::vector<double> s{k};
        s.insert(s.end(), ms.begin(), ms.end());
        return s;
    }
    /// Restores a saved state (check_state says whether it fits).
    void set_state(std::vector<double> s) {
        if (s.empty()) throw format_error("DropOutliers: empty state");
        k = static_cast<float>(s[0]);
        ms.assign(s.begin() + 1, s.end());
    }
    /// Throws format_error when a loaded state does not fit `cols` columns.
    void check_state(std::size_t cols) const { detail::check_state_size(tag, ms.size(), 2 * cols); }
};

// ---- inconsistencies -----------------------------------------------------------------------

/// Drops rows whose features and label equal those of an earlier row.
struct DropDuplicates {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "drop_duplicates";
    /// Nothing to fit.
    void fit(const Table&) {}
    /// Drops the rows of `t` equal to an earlier row.
    void apply(Table& t, CleaningReport& r) const {
        const std::size_t C = t.cols();
        auto key_hash = [&](std::size_t row) {
            std::uint64_t h = 1469598103934665603ULL;
            auto mix = [&](const void* p, std::size_t n) {
                for (std::size_t i = 0; i < n; ++i)
                    h = (h ^ static_cast<const unsigned char*>(p)[i]) * 1099511628211ULL;
            };
            mix(&t.values[row * C], C * sizeof(float));
            if (t.labelled()) mix(&t.labels[row], sizeof(std::int32_t));
            return h;
        };
        auto same = [&](std::size_t a, std::size_t b) {
            if (t.labelled() && t.labels[a] != t.labels[b]) return false;
            return std::memcmp(&t.values[a * C], &t.values[b * C], C * sizeof(float)) == 0;
        };
        std::unordered_multimap<std::uint64_t, std::size_t> seen;
        std::vector<char> keep(t.rows(), 1);
        for (std::size_t row = 0; row < t.rows(); ++row) {
            const auto h = key_hash(row);
            const auto [b, e] = seen.equal_range(h);
            bool dup = false;
            for (auto it = b; it != e && !dup; ++it) dup = same(it->second, row);
            if (dup) keep[row] = 0, ++r.dropped_duplicates;
            else seen.emplace(h, row);
        }
        t.keep_rows(keep);
    }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const { return {}; }
    /// Nothing to restore.
    void set_state(std::vector<double>) {}
};

/// Drops rows whose label is missing (-1) or not below the class count (given, or fitted as
/// the training table's).
struct DropBadLabels {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "drop_bad_labels";
    std::size_t num_classes = 0; ///< labels must lie in [0, num_classes); 0: fitted
    /// Fits the class count, unless one was given on the training table.
    void fit(const Table& t) {
        if (num_classes != 0) return;
        num_classes = t.classes.size();
        if (num_classes == 0)
            for (auto y : t.labels) num_classes = std::max<std::size_t>(num_classes, y + 1);
    }
    /// Drops the rows of `t` with a missing or out-of-range label.
    void apply(Table& t, CleaningReport& r) const {
        if (!t.labelled()) return;
        std::vector<char> keep(t.rows(), 1);
        for (std::size_t row = 0; row < t.rows(); ++row)
            if (t.labels[row] < 0 || static_cast<std::size_t>(t.labels[row]) >= num_classes)
                keep[row] = 0, ++r.dropped_bad_labels;
        t.keep_rows(keep);
    }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const { return {static_cast<double>(num_classes)}; }
    /// Restores a saved state; throws format_error unless it is one valid value.
    void set_state(std::vector<double> s) {
        if (s.size() != 1) throw format_error("DropBadLabels: state must hold one value");
        // Converting a NaN or out-of-range double to an integer is undefined: check first.
        if (!(s[0] >= 0 && s[0] <= 2147483647.0) || s[0] != std::floor(s[0]))
            throw format_error("DropBadLabels: class count " + std::to_string(s[0]) +
                               " is not a whole number in 0..2^31-1");
        num_classes = static_cast<std::size_t>(s[0]);
    }
};

/// Drops rows holding NaN or +-Inf (use an Impute policy instead to keep them).
struct DropNonFinite {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "drop_non_finite";
    /// Nothing to fit.
    void fit(const Table&) {}
    /// Drops the rows of `t` holding NaN or +-Inf.
    void apply(Table& t, CleaningReport& r) const {
        std::vector<char> keep(t.rows(), 1);
        for (std::size_t row = 0; row < t.rows(); ++row)
            for (float v : t.row(row))
                if (!std::isfinite(v)) {
                    keep[row] = 0, ++r.dropped_non_finite;
                    break;
                }
        t.keep_rows(keep);
    }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const { return {}; }
    /// Nothing to restore.
    void set_state(std::vector<double>) {}
};

// ---- scaling -------------------------------------------------------------------------------

/// Maps each column's training [min, max] onto [lo, hi] (constant columns go to lo).
struct MinMaxScale {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "min_max_scale";
    float lo = 0.0f;             ///< where each column's training minimum goes
    float hi = 1.0f;             ///< where its maximum goes
    std::vector<double> range{}; ///< min, max per column
    /// Fits each column's min and max on the training table.
    void fit(const Table& t) {
        range.assign(2 * t.cols(), 0.0);
        for (std::size_t c = 0; c < t.cols(); ++c) {
            const auto v = detail::finite_column(t, c);
            if (v.empty()) continue;
            const auto [a, b] = std::minmax_element(v.begin(), v.end());
            range[2 * c] = *a, range[2 * c + 1] = *b;
        }
    }
    /// Scales one row in place.
    void transform(std::span<float> row, CleaningReport& r) const {
        detail::require_fitted(range, row.size(), "MinMaxScale", 2);
        for (std::size_t c = 0; c < row.size(); ++c) {
            const double a = range[2 * c], w = range[2 * c + 1] - a;
            row[c] = w > 0 ? static_cast<float>(lo + (row[c] - a) / w * (hi - lo)) : lo;
            ++r.scaled;
        }
    }
    /// In a deployment file (Cleaner::input_scaling): the same map as (x - mean) / sd, with
    /// mean = min - lo * sd and sd = (max - min) / (hi - lo); a constant column (max = min),
    /// which transform() sends to lo, gets an sd so large that every input lands on lo.
    static constexpr int deploy_stage = 2;
    /// Writes that part into `s`.
    void deploy_to(io::Scaling& s, std::size_t cols) const {
        s.input_mean.resize(cols);
        s.input_sd.resize(cols);
        for (std::size_t c = 0; c < cols; ++c) {
            const double a = range[2 * c], w = range[2 * c + 1] - a;
            const double sd = w > 0 && hi != lo ? w / (static_cast<double>(hi) - lo) : 1e30;
            s.input_sd[c] = sd;
            s.input_mean[c] = (w > 0 ? a : 0.0) - static_cast<double>(lo) * sd;
        }
    }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const {
        std::vector<double> s{lo, hi};
        s.insert(s.end(), range.begin(), range.end());
        return s;
    }
    /// Restores a saved state (check_state says whether it fits).
    void set_state(std::vector<double> s) {
        if (s.size() < 2) throw format_error("MinMaxScale: state too short");
        lo = static_cast<float>(s[0]), hi = static_cast<float>(s[1]);
        range.assign(s.begin() + 2, s.end());
    }
    /// Throws format_error when a loaded state does not fit `cols` columns.
    void check_state(std::size_t cols) const { detail::check_state_size(tag, range.size(), 2 * cols); }
};

/// (x - mean) / std per column, both fitted on training data (std 0 is taken as 1).
struct Standardize {
    /// Names the policy in a saved cleaning state.
    static constexpr std::string_view tag = "standardize";
    std::vector<double> ms{}; ///< mean, std per column
    /// Fits each column's mean and std on the training table.
    void fit(const Table& t) { ms = detail::mean_std(t); }
    /// Standardizes one row in place.
    void transform(std::span<float> row, CleaningReport& r) const {
        detail::require_fitted(ms, row.size(), "Standardize", 2);
        for (std::size_t c = 0; c < row.size(); ++c) {
            const double sd = ms[2 * c + 1] > 0 ? ms[2 * c + 1] : 1.0;
            row[c] = static_cast<float>((row[c] - ms[2 * c]) / sd);
            ++r.scaled;
        }
    }
    /// In a deployment file (Cleaner::input_scaling): the standardization.
    static constexpr int deploy_stage = 2;
    /// Writes that part into `s`.
    void deploy_to(io::Scaling& s, std::size_t cols) const {
        s.input_mean.resize(cols);
        s.input_sd.resize(cols);
        for (std::size_t c = 0; c < cols; ++c)
            s.input_mean[c] = ms[2 * c], s.input_sd[c] = ms[2 * c + 1] > 0 ? ms[2 * c + 1] : 1.0;
    }
    /// The fitted state, as Cleaner::save writes it.
    std::vector<double> state() const { return ms; }
    /// Restores a saved state (check_state says whether it fits).
    void set_state(std::vector<double> s) { ms = std::move(s); }
    /// Throws format_error when a loaded state does not fit `cols` columns.
    void check_state(std::size_t cols) const { detail::check_state_size(tag, ms.size(), 2 * cols); }
};

/// A cleaning policy: fitted on a Table, then applied to whole Tables (apply) or, when it
/// works value by value, to single rows (transform); its state is a list of numbers. A
/// policy may also have `void check_state(std::size_t cols) const`, which throws a
/// format_error when a state loaded from a file does not fit that many columns.
template <class P>
concept CleaningPolicy = std::default_initializable<P> && requires(P& p, const P& cp, const Table& t,
                                                                  std::vector<double> s) {
    { P::tag } -> std::convertible_to<std::string_view>;
    p.fit(t);
    { cp.state() } -> std::same_as<std::vector<double>>;
    p.set_state(s);
} && (requires(const P& p, Table& t, CleaningReport& r) { p.apply(t, r); } ||
      requires(const P& p, std::span<float> row, CleaningReport& r) { p.transform(row, r); });

namespace detail {

inline std::uint32_t crc32(const unsigned char* p, std::size_t n) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

template <class P>
void apply_policy(const P& p, Table& t, CleaningReport& r) {
    if constexpr (requires { p.apply(t, r); })
        p.apply(t, r);
    else
        for (std::size_t row = 0; row < t.rows(); ++row) p.transform(t.row(row), r);
}

} // namespace detail

/// Cleaning policies applied in order. fit() fits each on the training table as cleaned by
/// the ones before it (and cleans that table); apply() then cleans any other table the same
/// way; transform() cleans one serving input (row-dropping policies do not act on it).
template <CleaningPolicy... Ps>
class Cleaner {
public:
    /// The file format version this build writes; it reads every version up to it.
    static constexpr std::uint32_t format_version = 1;

    Cleaner() = default;
    /// Policies given values (e.g. `ZScoreClip{2.5f}`), in list order.
    explicit Cleaner(Ps... ps) : ps_(std::move(ps)...) {}

    /// Fits every policy on `train`, in order, cleaning it as it goes; the report says what
    /// changed.
    CleaningReport fit(Table& train) {
        CleaningReport r;
        r.rows_in = train.rows();
        std::apply([&](Ps&... p) { ((p.fit(train), detail::apply_policy(p, train, r)), ...); }, ps_);
        r.rows_out = train.rows();
        cols_ = train.cols();
        fitted_ = true;
        return r;
    }

    /// Cleans `t` with the fitted policies. Throws config_error before fit(), shape_error
    /// when `t` has another width.
    CleaningReport apply(Table& t) const {
        check(t.cols());
        CleaningReport r;
        r.rows_in = t.rows();
        std::apply([&](const Ps&... p) { (detail::apply_policy(p, t, r), ...); }, ps_);
        r.rows_out = t.rows();
        return r;
    }

    /// Cleans one row of features in place (a serving input).
    CleaningReport transform(std::span<float> row) const {
        check(row.size());
        CleaningReport r;
        r.rows_in = r.rows_out = 1;
        std::apply([&](const Ps&... p) {
            ((void)[&] {
                if constexpr (requires { p.transform(row, r); }) p.transform(row, r);
            }(), ...);
        }, ps_);
        return r;
    }

    /// The fitted per-row cleaning as the deployment file carries it (io::Scaling's input
    /// side, saved with io::SaveOptions::scaling and applied by the server before the
    /// engine): fill, then clip, then scale. Policies that drop training rows have no part
    /// in it. Throws config_error before fit(), or when the policies are in an order the
    /// deployment file cannot apply (it fills before it clips before it scales).
    io::Scaling input_scaling() const {
        check(cols_);
        io::Scaling s;
        int stage = -1;
        const char* last = "";
        std::apply([&](const Ps&... p) {
            ((void)[&] {
                if constexpr (requires { p.deploy_to(s, cols_); }) {
                    if (p.deploy_stage <= stage)
                        throw config_error("Cleaner::input_scaling: " + std::string(p.tag) + " after " + last +
                                           ": a deployment file fills, then clips, then scales, once each");
                    stage = p.deploy_stage;
                    last = p.tag.data();
                    p.deploy_to(s, cols_);
                } else if constexpr (requires(std::span<float> row, CleaningReport& r) { p.transform(row, r); }) {
                    throw config_error("Cleaner::input_scaling: " + std::string(p.tag) +
                                       " changes rows in a way the deployment file does not carry");
                }
            }(), ...);
        }, ps_);
        return s;
    }

    /// Whether fit() or load() has run.
    bool fitted() const noexcept { return fitted_; }
    /// The I-th policy, e.g. to read its fitted state.
    template <std::size_t I>
    auto& get() noexcept { return std::get<I>(ps_); }
    /// The I-th policy, read-only.
    template <std::size_t I>
    const auto& get() const noexcept { return std::get<I>(ps_); }

    /// The fitted state as bytes: "ESCLEAN\0", u32 version, u32 column count, u32 policy
    /// count, per policy (u16 tag length, tag, u32 value count, f64 values), u32 CRC-32 of
    /// everything before it. Little-endian.
    std::vector<unsigned char> serialize() const {
        check(cols_);
        std::vector<unsigned char> b(magic.begin(), magic.end());
        auto put = [&](const void* p, std::size_t n) {
            b.insert(b.end(), static_cast<const unsigned char*>(p), static_cast<const unsigned char*>(p) + n);
        };
        auto put32 = [&](std::uint32_t v) { put(&v, 4); };
        put32(format_version);
        put32(static_cast<std::uint32_t>(cols_));
        put32(static_cast<std::uint32_t>(sizeof...(Ps)));
        std::apply([&](const Ps&... p) {
            ((void)[&] {
                const auto tag = Ps::tag;
                const auto len = static_cast<std::uint16_t>(tag.size());
                put(&len, 2);
                put(tag.data(), tag.size());
                const auto s = p.state();
                put32(static_cast<std::uint32_t>(s.size()));
                put(s.data(), s.size() * sizeof(double));
            }(), ...);
        }, ps_);
        put32(detail::crc32(b.data(), b.size()));
        return b;
    }

    /// Restores a fitted state; `name` is used in messages (the file it came from).
    void deserialize(std::span<const unsigned char> b, const std::string& name = "cleaning state") {
        auto where = [&](std::size_t at) { return name + ": byte " + std::to_string(at) + ": "; };
        std::size_t pos = 0;
        auto need = [&](std::size_t n, const char* what) {
            if (b.size() < pos + n)
                throw format_error(where(pos) + "the data ends at byte " + std::to_string(b.size()) +
                                   " but " + what + " needs " + std::to_string(n) + " bytes");
        };
        auto get32 = [&](const char* what) {
            need(4, what);
            std::uint32_t v;
            std::memcpy(&v, b.data() + pos, 4);
            pos += 4;
            return v;
        };
        need(magic.size(), "the magic string");
        if (!std::equal(magic.begin(), magic.end(), b.begin()))
            throw format_error(where(0) + "not a cleaning-state file (bad magic)");
        pos = magic.size();
        const std::size_t vpos = pos;
        const auto version = get32("the version");
        if (version == 0 || version > format_version)
            throw format_error(where(vpos) + "cleaning-state version " + std::to_string(version) +
                               " is not supported (this build reads 1 to " +
                               std::to_string(format_version) + ")");
        if (b.size() < pos + 4) need(4, "the checksum");
        std::uint32_t stored;
        std::memcpy(&stored, b.data() + b.size() - 4, 4);
        const std::uint32_t actual = detail::crc32(b.data(), b.size() - 4);
        if (stored != actual)
            throw integrity_error(where(b.size() - 4) + "checksum mismatch (stored " +
                                  std::to_string(stored) + ", computed " + std::to_string(actual) +
                                  "): the file is damaged");
        const auto body = b.first(b.size() - 4);
        auto bounded = [&](std::size_t n, const char* what) {
            if (body.size() < pos + n)
                throw format_error(where(pos) + what + " runs past the end of the data");
        };
        const auto cols = get32("the column count");
        const std::size_t cpos = pos;
        const auto count = get32("the policy count");
        if (count != sizeof...(Ps))
            throw format_error(where(cpos) + "the file holds " + std::to_string(count) +
                               " policies, this Cleaner has " + std::to_string(sizeof...(Ps)));
        std::size_t index = 0;
        // Into a copy: a file refused half-way leaves this Cleaner as it was.
        std::tuple<Ps...> ps = ps_;
        std::apply([&](Ps&... p) {
            ((void)[&] {
                const std::size_t tpos = pos;
                bounded(2, "a policy tag length");
                std::uint16_t len;
                std::memcpy(&len, b.data() + pos, 2);
                pos += 2;
                bounded(len, "a policy tag");
                const std::string tag(reinterpret_cast<const char*>(b.data() + pos), len);
                pos += len;
                if (tag != Ps::tag)
                    throw format_error(where(tpos) + "policy " + std::to_string(index) + " is '" + tag +
                                       "', this Cleaner expects '" + std::string(Ps::tag) + "'");
                bounded(4, "a value count");
                const auto n = get32("a value count");
                bounded(std::size_t{n} * sizeof(double), "the values of a policy");
                std::vector<double> s(n);
                // An empty state has no buffer: memcpy's null pointer would be undefined.
                if (n != 0) std::memcpy(s.data(), b.data() + pos, n * sizeof(double));
                pos += n * sizeof(double);
                try {
                    p.set_state(std::move(s));
                    if constexpr (requires { p.check_state(std::size_t{cols}); })
                        p.check_state(cols);
                } catch (const format_error& e) {
                    throw format_error(where(tpos) + "policy " + std::to_string(index) + ": " +
                                       e.what());
                }
                ++index;
            }(), ...);
        }, ps);
        if (pos != body.size())
            throw format_error(where(pos) + "unexpected bytes after the last policy");
        ps_ = std::move(ps);
        cols_ = cols;
        fitted_ = true;
    }

    /// Replaces `path` atomically and durably (core/file_io.hpp): a crash while saving
    /// leaves the previous state file whole.
    void save(const std::filesystem::path& path) const {
        const auto b = serialize();
        write_file_atomically(path, std::as_bytes(std::span(b)));
    }

    /// Reads a state file (a regular file only: a directory, FIFO or device is refused).
    void load(const std::filesystem::path& path) {
        const auto b = read_regular_file(path);
        deserialize(b, path.string());
    }

private:
    static constexpr std::array<unsigned char, 8> magic{'E', 'S', 'C', 'L', 'E', 'A', 'N', 0};

    void check(std::size_t cols) const {
        if (!fitted_) throw config_error("Cleaner: not fitted - call fit() on the training split first");
        if (cols != cols_)
            throw shape_error("Cleaner: fitted on " + std::to_string(cols_) + " columns, given " +
                              std::to_string(cols));
    }

    std::tuple<Ps...> ps_;
    std::size_t cols_ = 0;
    bool fitted_ = false;
};

} // namespace edgestack::data
