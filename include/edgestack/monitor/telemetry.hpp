// The on-device telemetry store: metrics snapshots, drift summaries and sampled inputs with
// their delayed labels, kept in SQLite (WAL) while no sink is reachable and flushed in order
// when one is. Every append is one committed transaction, so a restart or kill -9 loses
// nothing that append() returned for. Stage 6 (monitor); also feeds the retraining trigger.
// Link edgestack::sqlite.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "edgestack/core/error.hpp"

namespace edgestack::monitor {

/// Bounds and durability of a TelemetryStore.
struct TelemetryOptions {
    std::size_t max_records = 100000; ///< outbound queue; the oldest are dropped (and counted)
    std::size_t max_samples = 20000;  ///< sampled inputs kept for retraining
    /// FULL syncs the WAL on every commit: survives power loss, not only a killed process.
    bool synchronous_full = true;
    // Last: the members above are set by position ({records, samples, full}) in callers.
    /// Rows of chart history (dashboard points and events) kept, over all kinds; the oldest
    /// are dropped. Unlike the outbox, history stays after a flush.
    std::size_t max_history = 20000;
};

/// One outbound record, as a sink receives it.
struct TelemetryRecord {
    std::int64_t seq = 0;     ///< strictly increasing, never reused: the sink's dedup key
    std::int64_t time_ms = 0; ///< Unix time
    std::string kind;         ///< "metrics", "drift", "label", ...
    std::string payload;      ///< usually JSON
};

/// A sampled input kept for retraining, with its label once one arrives.
struct StoredSample {
    std::string id;                    ///< the request id the label refers to
    std::int64_t time_ms = 0;          ///< Unix time
    std::vector<float> features;       ///< the input as served
    std::int32_t prediction = -1;      ///< what the model answered
    std::optional<std::int32_t> label; ///< the true class, when known
};

/// Where flushed records go (an HTTP collector, a file on removable storage, ...).
/// send() returns true once the records are safely received; false when unreachable.
template <class S>
concept TelemetrySink = requires(S& s, std::span<const TelemetryRecord> batch) {
    { s.send(batch) } -> std::convertible_to<bool>;
};

/// The store itself: one SQLite file, safe to use from several threads.
class TelemetryStore {
public:
    /// Opens or creates the store at `path`. Throws config_error for a zero bound, file_error
    /// when the file cannot be opened.
    explicit TelemetryStore(const std::filesystem::path& path, TelemetryOptions options = {})
        : path_(path.string()), opt_(options) {
        if (opt_.max_records == 0 || opt_.max_samples == 0 || opt_.max_history == 0)
            throw config_error(
                "TelemetryOptions: max_records, max_samples and max_history must be >= 1");
        if (sqlite3_open_v2(path_.c_str(), &db_,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            nullptr) != SQLITE_OK) {
            const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
            sqlite3_close(db_);
            db_ = nullptr;
            throw file_error(path_ + ": cannot open telemetry store: " + why);
        }
        sqlite3_busy_timeout(db_, 5000);
        exec("PRAGMA journal_mode=WAL");
        exec(opt_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        exec("CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
             "time_ms INTEGER NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS samples (id TEXT PRIMARY KEY, time_ms INTEGER NOT NULL, "
             "features BLOB NOT NULL, prediction INTEGER NOT NULL, label INTEGER)");
        exec("CREATE INDEX IF NOT EXISTS samples_time ON samples(time_ms)");
        exec("CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY AUTOINCREMENT, "
             "time_ms INTEGER NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL)");
        exec("CREATE INDEX IF NOT EXISTS history_kind ON history(kind, id)");
        exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
        exec("INSERT OR IGNORE INTO meta VALUES ('dropped', 0), ('schema', 1)");
    }
    TelemetryStore(const TelemetryStore&) = delete;
    TelemetryStore& operator=(const TelemetryStore&) = delete;
    ~TelemetryStore() { sqlite3_close(db_); }

    /// Queue one record; returns its sequence number once it is committed.
    std::int64_t append(const std::string& kind, const std::string& payload) {
        std::lock_guard lock(m_);
        Tx tx(*this);
        Stmt ins(*this, "INSERT INTO outbox (time_ms, kind, payload) VALUES (?, ?, ?)");
        ins.bind(1, now_ms());
        ins.bind(2, kind);
        ins.bind_blob(3, payload.data(), payload.size());
        ins.done();
        const std::int64_t seq = sqlite3_last_insert_rowid(db_);
        trim_outbox();
        tx.commit();
        return seq;
    }

    /// Keep one served input (for retraining and accuracy), replacing one with the same id.
    void add_sample(const std::string& id, std::span<const float> features, std::int32_t prediction) {
        std::lock_guard lock(m_);
        Tx tx(*this);
        Stmt ins(*this, "INSERT OR REPLACE INTO samples (id, time_ms, features, prediction, label) "
                        "VALUES (?, ?, ?, ?, NULL)");
        ins.bind(1, id);
        ins.bind(2, now_ms());
        ins.bind_blob(3, features.data(), features.size_bytes());
        ins.bind(4, prediction);
        ins.done();
        Stmt count(*this, "SELECT COUNT(*) FROM samples");
        count.row();
        const auto n = static_cast<std::size_t>(count.i64(0));
        if (n > opt_.max_samples) {
            Stmt del(*this, "DELETE FROM samples WHERE id IN (SELECT id FROM samples "
                            "ORDER BY time_ms, rowid LIMIT ?)");
            del.bind(1, static_cast<std::int64_t>(n - opt_.max_samples));
            del.done();
        }
        tx.commit();
    }

    /// Attach the label that arrived for sample `id`; false when no such sample is kept.
    /// The label also goes to the outbox, so the sink learns it too.
    bool attach_label(const std::string& id, std::int32_t label) {
        std::lock_guard lock(m_);
        Tx tx(*this);
        Stmt up(*this, "UPDATE samples SET label = ? WHERE id = ?");
        up.bind(1, label);
        up.bind(2, id);
        up.done();
        if (sqlite3_changes(db_) == 0) return false;
        const std::string payload =
            "{\"id\":\"" + escape(id) + "\",\"label\":" + std::to_string(label) + "}";
        Stmt ins(*this, "INSERT INTO outbox (time_ms, kind, payload) VALUES (?, 'label', ?)");
        ins.bind(1, now_ms());
        ins.bind_blob(2, payload.data(), payload.size());
        ins.done();
        trim_outbox();
        tx.commit();
        return true;
    }

    /// Kept samples, oldest first; only labelled ones when `labelled_only`.
    std::vector<StoredSample> samples(bool labelled_only = true, std::size_t limit = SIZE_MAX) const {
        std::lock_guard lock(m_);
        Stmt q(*this, labelled_only
                          ? "SELECT id, time_ms, features, prediction, label FROM samples WHERE "
                            "label IS NOT NULL ORDER BY time_ms, rowid LIMIT ?"
                          : "SELECT id, time_ms, features, prediction, label FROM samples "
                            "ORDER BY time_ms, rowid LIMIT ?");
        q.bind(1, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
        std::vector<StoredSample> out;
        while (q.row()) {
            StoredSample s;
            s.id = q.text(0);
            s.time_ms = q.i64(1);
            const auto* blob = static_cast<const float*>(sqlite3_column_blob(q.get(), 2));
            const auto bytes = static_cast<std::size_t>(sqlite3_column_bytes(q.get(), 2));
            if (bytes % sizeof(float) != 0)
                throw format_error(path_ + ": sample '" + s.id + "' has " + std::to_string(bytes) +
                                   " feature bytes, not a whole number of floats");
            s.features.resize(bytes / sizeof(float));
            if (bytes) std::memcpy(s.features.data(), blob, bytes);
            s.prediction = static_cast<std::int32_t>(q.i64(3));
            if (sqlite3_column_type(q.get(), 4) != SQLITE_NULL)
                s.label = static_cast<std::int32_t>(q.i64(4));
            out.push_back(std::move(s));
        }
        return out;
    }

    /// Keep one point of chart history under `kind` ("dashboard", "event", ...), so charts
    /// drawn after a restart still show what came before.
    void append_history(const std::string& kind, const std::string& payload) {
        std::lock_guard lock(m_);
        Tx tx(*this);
        Stmt ins(*this, "INSERT INTO history (time_ms, kind, payload) VALUES (?, ?, ?)");
        ins.bind(1, now_ms());
        ins.bind(2, kind);
        ins.bind_blob(3, payload.data(), payload.size());
        ins.done();
        Stmt count(*this, "SELECT COUNT(*) FROM history");
        count.row();
        const auto n = static_cast<std::size_t>(count.i64(0));
        if (n > opt_.max_history) {
            Stmt del(*this, "DELETE FROM history WHERE id IN (SELECT id FROM history "
                            "ORDER BY id LIMIT ?)");
            del.bind(1, static_cast<std::int64_t>(n - opt_.max_history));
            del.done();
        }
        tx.commit();
    }

    /// The newest `limit` history payloads of `kind`, oldest first.
    std::vector<std::string> history(const std::string& kind, std::size_t limit) const {
        std::lock_guard lock(m_);
        Stmt q(*this, "SELECT payload FROM (SELECT id, payload FROM history WHERE kind = ? "
                      "ORDER BY id DESC LIMIT ?) ORDER BY id");
        q.bind(1, kind);
        q.bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
        std::vector<std::string> out;
        while (q.row()) out.push_back(q.blob(0));
        return out;
    }

    /// Accuracy of the newest `last` labelled samples (prediction == label); nothing while
    /// no kept sample has a label.
    std::optional<double> labelled_accuracy(std::size_t last = 1000) const {
        std::lock_guard lock(m_);
        Stmt q(*this, "SELECT COUNT(*), SUM(prediction = label) FROM (SELECT prediction, label "
                      "FROM samples WHERE label IS NOT NULL ORDER BY time_ms DESC, rowid DESC "
                      "LIMIT ?)");
        q.bind(1, static_cast<std::int64_t>(std::min<std::size_t>(last, INT64_MAX)));
        q.row();
        const std::int64_t n = q.i64(0);
        if (n == 0) return std::nullopt;
        return static_cast<double>(q.i64(1)) / static_cast<double>(n);
    }

    /// Records waiting for the sink, oldest first.
    std::vector<TelemetryRecord> peek(std::size_t limit) const {
        std::lock_guard lock(m_);
        return peek_locked(limit);
    }

    /// Records not yet flushed to a sink.
    std::size_t pending() const {
        std::lock_guard lock(m_);
        Stmt q(*this, "SELECT COUNT(*) FROM outbox");
        q.row();
        return static_cast<std::size_t>(q.i64(0));
    }

    /// Records dropped because the queue was full (oldest first), since the store was made.
    std::uint64_t dropped() const {
        std::lock_guard lock(m_);
        Stmt q(*this, "SELECT value FROM meta WHERE key = 'dropped'");
        q.row();
        return static_cast<std::uint64_t>(q.i64(0));
    }

    /// Send queued records to `sink` in order, `batch` at a time, deleting each batch once
    /// the sink has accepted it; stops at the first refusal. Returns how many were sent.
    /// Delivery is at-least-once: a crash between send and delete resends that batch, with
    /// the same sequence numbers.
    template <TelemetrySink S>
    std::size_t flush(S& sink, std::size_t batch = 256) {
        if (batch == 0) throw config_error("TelemetryStore::flush: batch must be >= 1");
        std::lock_guard flush_lock(flush_m_);
        std::size_t sent = 0;
        for (;;) {
            std::vector<TelemetryRecord> recs;
            {
                std::lock_guard lock(m_);
                recs = peek_locked(batch);
            }
            if (recs.empty()) return sent;
            if (!sink.send(std::span<const TelemetryRecord>(recs))) return sent;
            std::lock_guard lock(m_);
            Stmt del(*this, "DELETE FROM outbox WHERE seq <= ?");
            del.bind(1, recs.back().seq);
            del.done();
            sent += recs.size();
        }
    }

    /// The SQLite file.
    const std::string& path() const noexcept { return path_; }

private:
    class Stmt {
    public:
        Stmt(const TelemetryStore& s, const char* sql) : s_(s) {
            if (sqlite3_prepare_v2(s.db_, sql, -1, &st_, nullptr) != SQLITE_OK)
                s.fail(std::string("prepare '") + sql + "'");
        }
        ~Stmt() { sqlite3_finalize(st_); }
        Stmt(const Stmt&) = delete;
        Stmt& operator=(const Stmt&) = delete;
        void bind(int i, std::int64_t v) { check(sqlite3_bind_int64(st_, i, v)); }
        void bind(int i, std::int32_t v) { check(sqlite3_bind_int64(st_, i, v)); }
        void bind(int i, const std::string& v) {
            check(sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        }
        void bind_blob(int i, const void* p, std::size_t n) {
            check(sqlite3_bind_blob64(st_, i, n ? p : "", n, SQLITE_TRANSIENT));
        }
        bool row() {
            const int rc = sqlite3_step(st_);
            if (rc == SQLITE_ROW) return true;
            if (rc != SQLITE_DONE) s_.fail("step");
            return false;
        }
        void done() {
            if (sqlite3_step(st_) != SQLITE_DONE) s_.fail("step");
        }
        std::int64_t i64(int c) const { return sqlite3_column_int64(st_, c); }
        std::string text(int c) const {
            const auto* p = sqlite3_column_text(st_, c);
            return p ? std::string(reinterpret_cast<const char*>(p),
                                   static_cast<std::size_t>(sqlite3_column_bytes(st_, c)))
                     : std::string();
        }
        std::string blob(int c) const {
            const auto* p = static_cast<const char*>(sqlite3_column_blob(st_, c));
            return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, c)))
                     : std::string();
        }
        sqlite3_stmt* get() const noexcept { return st_; }

    private:
        void check(int rc) {
            if (rc != SQLITE_OK) s_.fail("bind");
        }
        const TelemetryStore& s_;
        sqlite3_stmt* st_ = nullptr;
    };

    // Rolls back unless committed: a throw in the middle leaves the store as it was.
    class Tx {
    public:
        explicit Tx(TelemetryStore& s) : s_(s) { s_.exec("BEGIN IMMEDIATE"); }
        void commit() {
            s_.exec("COMMIT");
            done_ = true;
        }
        ~Tx() {
            if (!done_) sqlite3_exec(s_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }

    private:
        TelemetryStore& s_;
        bool done_ = false;
    };

    [[noreturn]] void fail(const std::string& what) const {
        throw file_error(path_ + ": SQLite " + what + " failed: " + sqlite3_errmsg(db_));
    }

    void exec(const char* sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            const std::string why = err ? err : sqlite3_errmsg(db_);
            sqlite3_free(err);
            throw file_error(path_ + ": SQLite '" + sql + "' failed: " + why);
        }
    }

    void trim_outbox() {
        Stmt count(*this, "SELECT COUNT(*) FROM outbox");
        count.row();
        const auto n = static_cast<std::size_t>(count.i64(0));
        if (n <= opt_.max_records) return;
        const auto excess = static_cast<std::int64_t>(n - opt_.max_records);
        Stmt del(*this, "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)");
        del.bind(1, excess);
        del.done();
        Stmt up(*this, "UPDATE meta SET value = value + ? WHERE key = 'dropped'");
        up.bind(1, excess);
        up.done();
    }

    std::vector<TelemetryRecord> peek_locked(std::size_t limit) const {
        Stmt q(*this, "SELECT seq, time_ms, kind, payload FROM outbox ORDER BY seq LIMIT ?");
        q.bind(1, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
        std::vector<TelemetryRecord> out;
        while (q.row()) out.push_back({q.i64(0), q.i64(1), q.text(2), q.blob(3)});
        return out;
    }

    static std::int64_t now_ms() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    static std::string escape(const std::string& s) {
        std::string o;
        for (char c : s) {
            if (c == '"' || c == '\\') o += '\\';
            if (static_cast<unsigned char>(c) < 0x20) continue;
            o += c;
        }
        return o;
    }

    std::string path_;
    TelemetryOptions opt_;
    sqlite3* db_ = nullptr;
    mutable std::mutex m_;
    std::mutex flush_m_;
};

} // namespace edgestack::monitor
