// Training history as a file: a fit callback that appends one line per epoch (JSON Lines or
// CSV) as training goes, so a crashed or running job can be plotted, and a reader for both
// formats (and for Keras' CSVLogger files) that `edgestack plot` draws from.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/core/file_io.hpp"
#include "edgestack/train/fit.hpp"

namespace edgestack::train {

/// JSON Lines: one object per epoch, `null` where a figure is missing (no validation data,
/// an optimizer without a rate). CSV: a header line, then one row per epoch, empty cells
/// where a figure is missing.
enum class HistoryFormat { json_lines, csv };

/// The format a file name asks for: `.jsonl`, `.ndjson` or `.json` is JSON Lines, `.csv`
/// is CSV; any other name is a config_error.
inline HistoryFormat history_format_for(const std::filesystem::path& p) {
    const std::string ext = p.extension().string();
    if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return HistoryFormat::json_lines;
    if (ext == ".csv") return HistoryFormat::csv;
    throw config_error("history file " + p.string() +
                       ": name it .jsonl (JSON Lines) or .csv, or pass the format");
}

namespace detail {

// The columns, in file order; the reader also accepts Keras' names (lr, acc, val_acc).
inline constexpr const char* history_columns[] = {
    "epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy",
    "learning_rate", "samples", "seconds", "mae", "val_mae"};

inline void append_number(std::string& out, double v, bool json, bool from_float = false) {
    if (!std::isfinite(v)) {
        if (json) out += "null";
        return;
    }
    char buf[32];
    // A rate is a float: its shortest float text (0.001, not 0.0010000000474974513).
    const auto r = from_float ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                              : std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

inline std::string history_line(const EpochStats& s, HistoryFormat f) {
    const bool json = f == HistoryFormat::json_lines;
    const double values[] = {static_cast<double>(s.epoch), static_cast<double>(s.epochs),
                             s.loss, s.accuracy, s.val_loss, s.val_accuracy,
                             s.learning_rate, static_cast<double>(s.samples), s.seconds,
                             s.mae, s.val_mae};
    std::string out = json ? "{" : "";
    for (std::size_t i = 0; i < std::size(values); ++i) {
        if (i) out += ',';
        if (json) {
            out += '"';
            out += history_columns[i];
            out += "\":";
        }
        append_number(out, values[i], json, i == 6);
    }
    out += json ? "}\n" : "\n";
    return out;
}

inline std::string history_header() {
    std::string out;
    for (const char* c : history_columns) {
        if (!out.empty()) out += ',';
        out += c;
    }
    return out + "\n";
}

class HistoryParser {
public:
    HistoryParser(std::string_view text, std::string name) : text_(text), name_(std::move(name)) {}

    std::vector<EpochStats> parse() {
        std::vector<EpochStats> out;
        std::size_t line_no = 0;
        std::vector<std::string> header;
        bool json = false, decided = false;
        std::size_t pos = 0;
        while (pos < text_.size()) {
            std::size_t end = text_.find('\n', pos);
            if (end == std::string_view::npos) end = text_.size();
            std::string_view line = text_.substr(pos, end - pos);
            pos = end + 1;
            ++line_no;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (trim(line).empty()) continue;
            if (!decided) {
                json = trim(line).front() == '{';
                decided = true;
                if (!json) {
                    header = split_header(line, line_no);
                    continue;
                }
            }
            out.push_back(json ? parse_object(line, line_no) : parse_row(line, header, line_no));
        }
        if (out.empty()) fail(line_no, "holds no epochs");
        return out;
    }

private:
    std::string_view text_;
    std::string name_;

    [[noreturn]] void fail(std::size_t line, const std::string& what) const {
        throw format_error("history " + name_ + ", line " + std::to_string(line) + ": " + what);
    }
    static std::string_view trim(std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        return s;
    }
    // A shown piece of a bad token: printable ASCII only, at most 32 characters.
    static std::string shown(std::string_view s) {
        std::string out;
        for (char c : s.substr(0, 32)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
        if (s.size() > 32) out += "...";
        return out;
    }

    // Which EpochStats field a column fills; -1 for a column the reader ignores.
    static int field_of(std::string_view name) {
        for (int i = 0; i < static_cast<int>(std::size(history_columns)); ++i)
            if (name == history_columns[i]) return i;
        if (name == "lr") return 6;
        if (name == "acc") return 3;
        if (name == "val_acc") return 5;
        return -1;
    }

    // A number, or NaN for null/empty/nan; Python's json writes NaN and Infinity.
    double number(std::string_view tok, std::size_t line, std::string_view column) const {
        tok = trim(tok);
        if (tok.empty() || tok == "null" || tok == "NaN" || tok == "nan")
            return std::numeric_limits<double>::quiet_NaN();
        if (tok == "Infinity" || tok == "inf") return std::numeric_limits<double>::infinity();
        if (tok == "-Infinity" || tok == "-inf") return -std::numeric_limits<double>::infinity();
        const char first = tok.front();
        if (!(first == '-' || first == '+' || (first >= '0' && first <= '9') || first == '.'))
            fail(line, std::string(column) + " is not a number: '" + shown(tok) + "'");
        if (first == '+') tok.remove_prefix(1);
        double v = 0.0;
        const auto r = std::from_chars(tok.data(), tok.data() + tok.size(), v);
        if (r.ec == std::errc::result_out_of_range)
            fail(line, std::string(column) + " is out of range: '" + shown(tok) + "'");
        if (r.ec != std::errc{} || r.ptr != tok.data() + tok.size())
            fail(line, std::string(column) + " is not a number: '" + shown(tok) + "'");
        return v;
    }

    void set(EpochStats& s, int field, double v, std::size_t line, std::string_view column) const {
        const auto count = [&](const char* what) -> std::size_t {
            if (std::isnan(v)) return 0;
            if (!(v >= 0.0 && v <= 1e12) || v != std::floor(v))
                fail(line, std::string(what) + " must be a whole number >= 0, got " +
                               shown(std::to_string(v)));
            return static_cast<std::size_t>(v);
        };
        switch (field) {
        case 0: s.epoch = count("epoch"); break;
        case 1: s.epochs = count("epochs"); break;
        case 2: s.loss = v; break;
        case 3: s.accuracy = v; break;
        case 4: s.val_loss = v; break;
        case 5: s.val_accuracy = v; break;
        case 6: s.learning_rate = v; break;
        case 7: s.samples = count("samples"); break;
        case 8: s.seconds = std::isnan(v) ? 0.0 : v; break;
        case 9: s.mae = v; break;
        case 10: s.val_mae = v; break;
        default: (void)column; break;
        }
    }

    std::vector<std::string> split_header(std::string_view line, std::size_t line_no) const {
        std::vector<std::string> cols;
        bool epoch = false, loss = false;
        for (std::string_view rest = line;;) {
            const std::size_t comma = rest.find(',');
            std::string_view c = trim(rest.substr(0, comma));
            if (c.size() >= 2 && c.front() == '"' && c.back() == '"') c = c.substr(1, c.size() - 2);
            epoch |= c == "epoch";
            loss |= c == "loss";
            cols.emplace_back(c);
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
        if (!epoch || !loss)
            fail(line_no, "the CSV header needs the columns epoch and loss, found '" +
                              shown(line) + "'");
        return cols;
    }

    EpochStats parse_row(std::string_view line, const std::vector<std::string>& header,
                         std::size_t line_no) const {
        EpochStats s;
        s.loss = s.accuracy = std::numeric_limits<double>::quiet_NaN();
        std::size_t i = 0;
        for (std::string_view rest = line;; ++i) {
            const std::size_t comma = rest.find(',');
            if (i >= header.size())
                fail(line_no, "more cells than the header's " + std::to_string(header.size()) +
                                  " columns");
            const int field = field_of(header[i]);
            if (field >= 0)
                set(s, field, number(rest.substr(0, comma), line_no, header[i]), line_no, header[i]);
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
        if (i + 1 != header.size())
            fail(line_no, std::to_string(i + 1) + " cells, the header has " +
                              std::to_string(header.size()) + " columns");
        return s;
    }

    // One flat JSON object per line: string keys, values that are numbers, null, booleans or
    // strings (only numbers and null are kept). Nothing nests, so nothing recurses.
    EpochStats parse_object(std::string_view line, std::size_t line_no) const {
        EpochStats s;
        s.loss = s.accuracy = std::numeric_limits<double>::quiet_NaN();
        bool has_epoch = false, has_loss = false;
        std::size_t i = 0;
        const auto ws = [&] {
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        };
        const auto expect = [&](char c) {
            ws();
            if (i >= line.size() || line[i] != c)
                fail(line_no, std::string("expected '") + c + "' at column " + std::to_string(i + 1));
            ++i;
        };
        const auto string = [&]() -> std::string_view {
            expect('"');
            const std::size_t start = i;
            while (i < line.size() && line[i] != '"') {
                if (line[i] == '\\') ++i;
                ++i;
            }
            if (i >= line.size()) fail(line_no, "unterminated string");
            return line.substr(start, i++ - start);
        };
        expect('{');
        ws();
        if (i < line.size() && line[i] == '}') {
            ++i;
        } else {
            for (;;) {
                const std::string_view key = string();
                expect(':');
                ws();
                if (i >= line.size()) fail(line_no, "a value is missing after '" + shown(key) + "'");
                const int field = field_of(key);
                if (line[i] == '"') {
                    string();
                    if (field >= 0) fail(line_no, shown(key) + " must be a number, not a string");
                } else if (line[i] == '{' || line[i] == '[') {
                    fail(line_no, shown(key) + " must be a number, not an object or array");
                } else {
                    const std::size_t start = i;
                    while (i < line.size() && line[i] != ',' && line[i] != '}') ++i;
                    const std::string_view tok = trim(line.substr(start, i - start));
                    if (tok == "true" || tok == "false") {
                        if (field >= 0) fail(line_no, shown(key) + " must be a number, not a boolean");
                    } else if (field >= 0) {
                        set(s, field, number(tok, line_no, key), line_no, key);
                        has_epoch |= field == 0;
                        has_loss |= field == 2;
                    } else {
                        number(tok, line_no, key); // still a value JSON allows
                    }
                }
                ws();
                if (i < line.size() && line[i] == ',') {
                    ++i;
                    continue;
                }
                expect('}');
                break;
            }
        }
        ws();
        if (i != line.size()) fail(line_no, "text after the object's closing brace");
        if (!has_epoch || !has_loss) fail(line_no, "an epoch needs \"epoch\" and \"loss\"");
        return s;
    }
};

} // namespace detail

/// A fit callback writing one line per epoch as it ends, flushed at once, so the file
/// holds every finished epoch even if the process dies. The file is created (replacing an
/// old one) when training begins; with `append` a resumed run adds to it instead (a CSV
/// header is written only into an empty file). An empty path writes nothing, so a
/// `--history` option can be off by default. Errors are file_errors naming the path.
class HistoryWriter {
public:
    /// The format from the file name (history_format_for); JSON lines for an empty path.
    explicit HistoryWriter(std::filesystem::path path, bool append = false)
        : HistoryWriter(path, path.empty() ? HistoryFormat::json_lines : history_format_for(path),
                        append) {}
    /// In the format given.
    HistoryWriter(std::filesystem::path path, HistoryFormat format, bool append = false)
        : path_(std::move(path)), format_(format), append_(append) {}
    HistoryWriter(const HistoryWriter&) = delete;
    HistoryWriter& operator=(const HistoryWriter&) = delete;
    ~HistoryWriter() { close(); }

    /// Creates (or, with `append`, opens) the file; throws file_error when it cannot.
    void on_train_begin() {
        close();
        if (path_.empty()) return;
        std::error_code ec;
        const bool empty = !append_ || !std::filesystem::exists(path_, ec) ||
                           std::filesystem::file_size(path_, ec) == 0 || ec;
        file_ = std::fopen(path_.c_str(), append_ ? "ab" : "wb");
        if (!file_) throw file_error(path_.string() + ": cannot write training history: " +
                                     edgestack::detail::errno_text());
        if (format_ == HistoryFormat::csv && empty) write(detail::history_header());
    }
    /// Writes and flushes the epoch's line.
    void on_epoch_end(const EpochStats& s) {
        if (path_.empty()) return;
        if (!file_) on_train_begin();
        write(detail::history_line(s, format_));
    }
    void on_train_end(const FitReport&) { close(); } ///< closes the file

    const std::filesystem::path& path() const noexcept { return path_; } ///< where it writes
    HistoryFormat format() const noexcept { return format_; }            ///< how

private:
    std::filesystem::path path_;
    HistoryFormat format_;
    bool append_;
    std::FILE* file_ = nullptr;

    void write(const std::string& text) {
        if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0)
            throw file_error(path_.string() + ": cannot write training history: " +
                             edgestack::detail::errno_text());
    }
    void close() noexcept {
        if (file_) std::fclose(file_);
        file_ = nullptr;
    }
};

/// Writes a finished run's epochs (FitReport::history) in one go.
inline void write_history(const std::filesystem::path& path, std::span<const EpochStats> epochs,
                          HistoryFormat format) {
    std::string text = format == HistoryFormat::csv ? detail::history_header() : std::string{};
    for (const auto& s : epochs) text += detail::history_line(s, format);
    write_file_atomically(path, text);
}
/// write_history() in the format of the file name (history_format_for).
inline void write_history(const std::filesystem::path& path, std::span<const EpochStats> epochs) {
    write_history(path, epochs, history_format_for(path));
}

/// Reads a history from text: JSON Lines (one flat object per line, as HistoryWriter or
/// Python's json module writes them) or CSV with a header (HistoryWriter's, or Keras'
/// CSVLogger's). Each epoch needs `epoch` and `loss`; unknown keys are ignored. Errors are
/// format_errors naming `name` and the line.
inline std::vector<EpochStats> parse_history(std::string_view text, const std::string& name) {
    return detail::HistoryParser(text, name).parse();
}

/// Reads a history file (at most `limit` bytes, 64 MiB by default: about half a million
/// epochs).
inline std::vector<EpochStats> read_history(const std::filesystem::path& path,
                                            std::uint64_t limit = std::uint64_t{64} << 20) {
    const auto bytes = read_regular_file<char>(path, limit);
    return parse_history(std::string_view(bytes.data(), bytes.size()), path.string());
}

} // namespace edgestack::train
