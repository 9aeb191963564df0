// A table of numeric features with one label per row: what CSV/TSV files become, what the
// cleaning policies fit and change, and (through TableLoader) what a Pipeline reads - one
// row per sample, or sliding windows of rows for time series.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/label_map.hpp"

namespace edgestack::data {

/// Tabular data as read from a CSV: float features (NaN = missing), one label per row, and
/// the names behind columns, labels and category codes.
struct Table {
    std::vector<std::string> columns; ///< feature column names, in order
    std::vector<float> values;        ///< rows x columns, row-major; NaN marks a missing value
    std::vector<std::int32_t> labels; ///< one per row (-1: missing), or empty when unlabelled
    LabelMap classes;                 ///< label names, when the labels were names
    std::vector<LabelMap> categories; ///< per column: the codes of a categorical column
    std::vector<std::size_t> lines;   ///< per row: the source line, for messages (may be empty)

    /// Feature columns.
    std::size_t cols() const noexcept { return columns.size(); }
    /// Rows (samples).
    std::size_t rows() const noexcept { return columns.empty() ? 0 : values.size() / columns.size(); }
    /// Value at row `r`, column `c`.
    float& at(std::size_t r, std::size_t c) noexcept { return values[r * cols() + c]; }
    /// Value at row `r`, column `c`, read-only.
    float at(std::size_t r, std::size_t c) const noexcept { return values[r * cols() + c]; }
    /// Row `r` as a view of `values`.
    std::span<float> row(std::size_t r) noexcept { return {values.data() + r * cols(), cols()}; }
    /// Row `r`, read-only.
    std::span<const float> row(std::size_t r) const noexcept {
        return {values.data() + r * cols(), cols()};
    }
    /// Whether rows carry labels.
    bool labelled() const noexcept { return !labels.empty(); }

    /// Index of the column named `name`; throws config_error when there is none.
    std::size_t column(const std::string& name) const {
        for (std::size_t c = 0; c < columns.size(); ++c)
            if (columns[c] == name) return c;
        throw config_error("Table: no column named '" + name + "'");
    }

    /// Keeps the rows whose flag is set, in order (values, labels and lines together).
    void keep_rows(const std::vector<char>& keep) {
        const std::size_t C = cols();
        std::size_t out = 0;
        for (std::size_t r = 0; r < keep.size(); ++r) {
            if (!keep[r]) continue;
            if (out != r) {
                std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(r * C), C,
                            values.begin() + static_cast<std::ptrdiff_t>(out * C));
                if (!labels.empty()) labels[out] = labels[r];
                if (!lines.empty()) lines[out] = lines[r];
            }
            ++out;
        }
        values.resize(out * C);
        if (!labels.empty()) labels.resize(out);
        if (!lines.empty()) lines.resize(out);
    }

    /// "line 12" when the source line is known, else "row 11".
    std::string where(std::size_t r) const {
        return r < lines.size() ? "line " + std::to_string(lines[r]) : "row " + std::to_string(r);
    }
};

/// How a TableLoader cuts rows into samples.
struct WindowOptions {
    std::size_t window = 1; ///< rows per sample: 1 for tabular data, T for time-series windows
    std::size_t stride = 1; ///< rows between the starts of consecutive windows
};

/// A Loader over a Table. With window > 1 a sample is `window` consecutive rows (layout
/// 1 x window x columns, time along the width) labelled by its last row; windows share rows,
/// nothing is copied.
class TableLoader {
public:
    TableLoader() = default;
    /// Throws config_error for a zero window or stride, shape_error for a table without feature
    /// columns, format_error for a label outside [0, num_classes). `num_classes` 0: taken from
    /// the table's class names or its largest label.
    explicit TableLoader(Table t, WindowOptions w = {}, std::size_t num_classes = 0)
        : t_(std::move(t)), w_(w) {
        if (w_.window == 0 || w_.stride == 0)
            throw config_error("TableLoader: window and stride must be at least 1");
        if (t_.cols() == 0) throw shape_error("TableLoader: the table has no feature columns");
        if (!t_.labelled()) t_.labels.assign(t_.rows(), 0);
        std::int32_t top = -1;
        for (auto y : t_.labels) top = std::max(top, y);
        classes_ = num_classes ? num_classes
                               : std::max<std::size_t>({t_.classes.size(), std::size_t(top + 1), 1});
        for (std::size_t r = 0; r < t_.labels.size(); ++r)
            if (t_.labels[r] < 0 || static_cast<std::size_t>(t_.labels[r]) >= classes_)
                throw format_error("TableLoader: " + t_.where(r) + ": label " +
                                   std::to_string(t_.labels[r]) + " is outside [0, " +
                                   std::to_string(classes_) + ") - clean with DropBadLabels");
        n_ = t_.rows() < w_.window ? 0 : (t_.rows() - w_.window) / w_.stride + 1;
    }

    /// Samples (windows) in the table.
    std::size_t size() const noexcept { return n_; }
    /// Floats per sample: window x columns.
    std::size_t sample_size() const noexcept { return w_.window * t_.cols(); }
    /// Labels lie in [0, num_classes()).
    std::size_t num_classes() const noexcept { return classes_; }
    /// 1 x columns x 1 for single rows, 1 x window x columns for windows.
    SampleLayout layout() const noexcept {
        return w_.window == 1 ? SampleLayout{1, t_.cols(), 1} : SampleLayout{1, w_.window, t_.cols()};
    }
    /// Copies sample `i` into `out` (sample_size() floats); returns its label (its last row's).
    std::int32_t read(std::size_t i, std::span<float> out) const {
        const std::size_t first = i * w_.stride, n = sample_size();
        std::copy_n(t_.values.begin() + static_cast<std::ptrdiff_t>(first * t_.cols()), n, out.begin());
        return t_.labels[first + w_.window - 1];
    }
    /// Label of sample `i` (its last row's).
    std::int32_t label(std::size_t i) const noexcept {
        return t_.labels[i * w_.stride + w_.window - 1];
    }
    /// The table it reads from.
    const Table& table() const noexcept { return t_; }

private:
    Table t_;
    WindowOptions w_;
    std::size_t classes_ = 0;
    std::size_t n_ = 0;
};

} // namespace edgestack::data
