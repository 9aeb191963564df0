// CSV and TSV files for tabular and time-series sensor data: a header row (or none, columns
// then named c0, c1, ...), quoted fields, missing fields (NaN until cleaned), typed columns,
// and the label column chosen by name. Raw or gzip-compressed (.gz, with edgestack::gzip
// linked). The text is streamed, never held whole; errors name the file and the line.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/data/detail/byte_reader.hpp"
#include "edgestack/data/label_map.hpp"
#include "edgestack/data/table.hpp"

namespace edgestack::data {

/// How read_csv reads a column (CsvOptions::types).
enum class ColumnType {
    automatic, ///< number if the column's first present value is one, else category
    number,    ///< a number; text in it is an error naming the line
    category,  ///< text values, coded 0, 1, ... in order of first appearance
    ignore,    ///< not read into the table (timestamps, ids)
};

/// How read_csv reads a file: the delimiter, the header, the label column, column types, and
/// what counts as missing.
struct CsvOptions {
    char delimiter = 0;       ///< 0: tab for .tsv and .tab files (also .tsv.gz), comma otherwise
    bool header = true;       ///< without a header, columns are named c0, c1, ...
    std::string label_column; ///< empty: unlabelled (every label 0)
    std::map<std::string, ColumnType> types; ///< by column name; others are automatic
    std::vector<std::string> missing{"", "NA", "N/A", "na", "null", "NULL", "?"}; ///< field texts (trimmed) that mean "missing": NaN in a feature, label -1
    LabelMap label_map;       ///< fixed label names (e.g. from the training file); empty: the
                              ///< sorted names found, or the integers themselves
};

namespace detail {

// Streams records (lists of fields) out of delimited text, RFC 4180 quoting. The bytes come
// through ByteReader, so a .gz file is read the way IDX and NPY files are.
class CsvReader {
public:
    CsvReader(const std::filesystem::path& p, char delim) : path_(p), delim_(delim), in_(p) {}

    // Next record into `f`; false at the end. `line()` is then the line it started on.
    bool next(std::vector<std::string>& f) {
        f.clear();
        int c = in_.get();
        while (c == '\r' || c == '\n') { // skip blank lines
            if (c == '\n') ++next_line_;
            c = in_.get();
        }
        if (c == EOF) return false;
        line_ = next_line_;
        std::string field;
        for (;;) {
            if (c == '"' && field.empty()) {
                const std::size_t open_line = next_line_;
                for (;;) {
                    c = in_.get();
                    if (c == EOF)
                        throw format_error(where(open_line) + "quoted field never closed");
                    if (c == '\n') ++next_line_;
                    if (c == '"') {
                        if (in_.peek() == '"') {
                            in_.get();
                            field += '"';
                            continue;
                        }
                        break;
                    }
                    field += static_cast<char>(c);
                }
                c = in_.get();
                if (c != delim_ && c != '\n' && c != '\r' && c != EOF)
                    throw format_error(where(next_line_) + "text after the closing quote of field " +
                                       std::to_string(f.size() + 1));
            }
            if (c == delim_) {
                f.push_back(std::move(field));
                field.clear();
                c = in_.get();
                continue;
            }
            if (c == '\r' || c == '\n' || c == EOF) {
                f.push_back(std::move(field));
                if (c == '\r' && in_.peek() == '\n') c = in_.get();
                if (c == '\n' || c == '\r') ++next_line_;
                return true;
            }
            field += static_cast<char>(c);
            c = in_.get();
        }
    }

    std::size_t line() const noexcept { return line_; }
    std::string where(std::size_t line) const {
        return path_.string() + ":" + std::to_string(line) + ": ";
    }

private:
    // The istream-like pair the record parser uses, over a refilled buffer.
    struct Buffered {
        explicit Buffered(const std::filesystem::path& p) : bytes(p), buf(1 << 16) {}
        int get() { return pos == end && !fill() ? EOF : static_cast<unsigned char>(buf[pos++]); }
        int peek() { return pos == end && !fill() ? EOF : static_cast<unsigned char>(buf[pos]); }
        bool fill() {
            end = bytes.read_some(buf.data(), buf.size());
            pos = 0;
            return end != 0;
        }
        ByteReader bytes;
        std::vector<char> buf;
        std::size_t pos = 0, end = 0;
    };

    std::filesystem::path path_;
    char delim_;
    Buffered in_;
    std::size_t line_ = 1, next_line_ = 1;
};

// "'a', 'b', 'c'": the columns a file has, for errors about one it does not.
inline std::string column_list(const std::vector<std::string>& names) {
    constexpr std::size_t shown = 32;
    std::string s;
    for (std::size_t i = 0; i < names.size() && i < shown; ++i)
        s += (i == 0 ? "'" : ", '") + names[i] + "'";
    if (names.size() > shown) s += " and " + std::to_string(names.size() - shown) + " more";
    return s;
}

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

inline bool parse_float(std::string_view s, float& v) {
    s = trim(s);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    if (s.empty()) return false;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc::result_out_of_range) {
        double d = 0; // denormals and overflow: go through double
        const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
        if (r.ptr != s.data() + s.size()) return false;
        v = static_cast<float>(d);
        return true;
    }
    return ec == std::errc{} && end == s.data() + s.size();
}

inline bool parse_int(std::string_view s, std::int64_t& v) {
    s = trim(s);
    if (s.empty()) return false;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && end == s.data() + s.size();
}

} // namespace detail

/// Read a delimited text file into a Table (features as floats, one label per row).
inline Table read_csv(const std::filesystem::path& path, const CsvOptions& opt = {}) {
    char delim = opt.delimiter;
    if (delim == 0) {
        const auto ext = detail::has_gz_suffix(path) ? path.stem().extension() : path.extension();
        delim = (ext == ".tsv" || ext == ".tab") ? '\t' : ',';
    }
    detail::CsvReader in(path, delim);
    std::vector<std::string> f, names;
    if (!in.next(f)) throw format_error(path.string() + ":1: the file is empty");
    std::size_t header_line = 0;
    bool have_first = false;
    if (opt.header) {
        names = f;
        for (auto& n : names) n = std::string(detail::trim(n));
        header_line = in.line();
        std::set<std::string> seen;
        for (const auto& n : names)
            if (!seen.insert(n).second)
                throw format_error(in.where(header_line) + "column '" + n + "' appears twice in the header");
    } else {
        for (std::size_t i = 0; i < f.size(); ++i) names.push_back("c" + std::to_string(i));
        have_first = true;
    }
    const std::size_t ncols = names.size();
    for (const auto& [name, type] : opt.types)
        if (std::find(names.begin(), names.end(), name) == names.end())
            throw config_error(path.string() + ": CsvOptions::types names column '" + name +
                               "', which the file does not have (its columns: " +
                               detail::column_list(names) + ")");
    std::ptrdiff_t label_col = -1;
    if (!opt.label_column.empty()) {
        const auto it = std::find(names.begin(), names.end(), opt.label_column);
        if (it == names.end())
            throw config_error(in.where(std::max<std::size_t>(header_line, 1)) + "no column named '" +
                               opt.label_column + "' for the labels (the columns are " +
                               detail::column_list(names) + ")");
        label_col = it - names.begin();
    }
    std::vector<ColumnType> type(ncols, ColumnType::automatic);
    for (std::size_t c = 0; c < ncols; ++c)
        if (auto it = opt.types.find(names[c]); it != opt.types.end()) type[c] = it->second;
    Table t;
    std::vector<std::size_t> src; // table column -> file column
    for (std::size_t c = 0; c < ncols; ++c)
        if (static_cast<std::ptrdiff_t>(c) != label_col && type[c] != ColumnType::ignore) {
            t.columns.push_back(names[c]);
            src.push_back(c);
        }
    t.categories.resize(t.columns.size());
    auto is_missing = [&](std::string_view s) {
        s = detail::trim(s);
        return std::find(opt.missing.begin(), opt.missing.end(), s) != opt.missing.end();
    };
    std::vector<std::string> raw_labels;
    std::vector<std::size_t> label_lines;
    constexpr float nan = std::numeric_limits<float>::quiet_NaN();
    while (have_first || in.next(f)) {
        have_first = false;
        const std::size_t line = in.line();
        if (f.size() != ncols)
            throw format_error(in.where(line) + "ragged row: " + std::to_string(f.size()) +
                               " fields, expected " + std::to_string(ncols) +
                               (opt.header ? " as in the header (line " + std::to_string(header_line) + ")"
                                           : std::string(" as in the first row")));
        for (std::size_t k = 0; k < src.size(); ++k) {
            const std::size_t c = src[k];
            const std::string& s = f[c];
            if (is_missing(s)) {
                t.values.push_back(nan);
                continue;
            }
            float v = 0;
            if (type[c] == ColumnType::automatic)
                type[c] = detail::parse_float(s, v) ? ColumnType::number : ColumnType::category;
            if (type[c] == ColumnType::number) {
                if (!detail::parse_float(s, v))
                    throw format_error(in.where(line) + "column '" + names[c] + "' (field " +
                                       std::to_string(c + 1) + "): '" + s + "' is not a number");
                t.values.push_back(v);
            } else {
                t.values.push_back(static_cast<float>(t.categories[k].add(std::string(detail::trim(s)))));
            }
        }
        if (label_col >= 0) {
            raw_labels.emplace_back(detail::trim(f[static_cast<std::size_t>(label_col)]));
            label_lines.push_back(line);
        }
        t.lines.push_back(line);
    }
    if (label_col < 0) return t;
    // Labels: fixed names if given; else integers if every present label is one; else the
    // sorted names found (sorted, so that two files with the same classes agree).
    t.labels.resize(raw_labels.size());
    const LabelMap* map = &opt.label_map;
    LabelMap found;
    bool integers = opt.label_map.empty();
    std::int64_t iv = 0;
    for (const auto& s : raw_labels)
        if (!is_missing(s) && !detail::parse_int(s, iv)) integers = false;
    if (opt.label_map.empty() && !integers) {
        std::set<std::string> names_found;
        for (const auto& s : raw_labels)
            if (!is_missing(s)) names_found.insert(s);
        found = LabelMap::from(names_found);
        map = &found;
    }
    for (std::size_t r = 0; r < raw_labels.size(); ++r) {
        const auto& s = raw_labels[r];
        if (is_missing(s)) {
            t.labels[r] = -1;
        } else if (integers) {
            detail::parse_int(s, iv);
            if (iv < 0 || iv > std::numeric_limits<std::int32_t>::max())
                throw format_error(in.where(label_lines[r]) + "label " + s + " in column '" +
                                   opt.label_column + "' is negative or too large");
            t.labels[r] = static_cast<std::int32_t>(iv);
        } else {
            if (!map->contains(s))
                throw format_error(in.where(label_lines[r]) + "label '" + s + "' in column '" +
                                   opt.label_column + "' is not one of the " +
                                   std::to_string(map->size()) + " known classes");
            t.labels[r] = map->index_of(s);
        }
    }
    if (!integers) t.classes = *map;
    return t;
}

/// read_csv, then a Loader over the result (rows or windows of rows as samples).
inline TableLoader load_csv(const std::filesystem::path& path, const CsvOptions& opt = {},
                            WindowOptions window = {}, std::size_t num_classes = 0) {
    return TableLoader(read_csv(path, opt), window, num_classes);
}

} // namespace edgestack::data
