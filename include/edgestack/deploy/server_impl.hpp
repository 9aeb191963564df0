// The Boost.Beast implementation of deploy::Server. Include it in exactly one translation
// unit of a program (Beast is slow to compile, and Server's members are defined here
// non-inline, once); every other file includes server.hpp only.
// Stage 4 (deploy). Link edgestack::serve.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "edgestack/core/error.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/deploy/server.hpp"
#include "edgestack/monitor/dashboard.hpp"
#include "edgestack/monitor/dashboard_page.hpp"
#include "edgestack/monitor/latency.hpp"
#include "edgestack/monitor/prometheus.hpp"

namespace edgestack::deploy {

namespace detail::serve {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr const char* input_name = "input";
constexpr const char* output_name = "output";
constexpr std::size_t version_cache = 4;
constexpr std::size_t message_limit = 2048; // bytes of an error message sent back

/// Where a watched model comes from; shared, never changed after watch(), so requests can
/// load other versions from it without any lock.
struct WatchSource {
    Registry registry;
    std::string name;
    ModelFactory factory;
};

struct Watched {
    std::shared_ptr<const WatchSource> src;
    std::uint64_t failed_version = 0; // a version that failed: not retried until the pointer moves
};

struct ModelEntry {
    std::shared_ptr<const ServedModel> current;
    std::vector<std::shared_ptr<const ServedModel>> others; // other versions asked for by URL
    std::shared_ptr<const WatchSource> source;              // null: a fixed model
};

/// An error answer: status and the message that says what to fix.
struct HttpError {
    http::status status;
    std::string message;
    bool retry_after = false;
    bool model_error = true; // counted against the model (a load failure is a reload failure)
};

struct SessionBase {
    virtual ~SessionBase() = default;
    /// Ask the session to close on its own strand: at once when idle, after its reply when busy.
    virtual void post_shutdown() = 0;
};

/// Text from a client or a file made safe to send back and to log: valid UTF-8 stays, every
/// other byte (invalid UTF-8, control characters) becomes \xNN, and the text is cut at
/// `max` bytes on a character boundary. JSON serialization would throw on invalid UTF-8.
inline std::string printable(std::string_view s, std::size_t max = 256) {
    std::string out;
    out.reserve(std::min(s.size(), max) + 8);
    std::size_t i = 0;
    while (i < s.size()) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3
                                             : (c >> 3) == 0x1E ? 4 : 0;
        bool ok = len != 0 && i + len <= s.size();
        std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
        for (std::size_t k = 1; ok && k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            ok = (b & 0xC0) == 0x80;
            cp = (cp << 6) | (b & 0x3Fu);
        }
        if (ok)
            ok = len == 1   ? (c >= 0x20 && c != 0x7F)
                 : len == 2 ? cp >= 0x80
                 : len == 3 ? cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)
                            : cp >= 0x10000 && cp <= 0x10FFFF;
        if (!ok) {
            static constexpr char hex[] = "0123456789ABCDEF";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
            ++i;
            continue;
        }
        out.append(s.substr(i, len));
        i += len;
    }
    return out;
}

/// The deepest nesting of arrays and objects in `text`, counted without building anything
/// and returning as soon as it passes `limit`. nlohmann's DOM, dump() and the tensor walk
/// below all spend memory or stack per level, so depth is bounded before any of them runs.
/// Until the text stops being JSON this counts exactly what a parser would see.
inline std::size_t json_depth(std::string_view text, std::size_t limit) {
    std::size_t depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (const char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest && (deepest = depth) > limit) return deepest;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

inline std::string shape_text(const std::vector<std::size_t>& d) {
    std::string s;
    for (std::size_t i = 0; i < d.size(); ++i) {
        if (i != 0) s += 'x';
        s += std::to_string(d[i]); // not "x" + to_string(...): GCC 12 reports a false -Wrestrict there
    }
    return s;
}

inline json shape_json(const std::vector<std::size_t>& per_sample) {
    json s = json::array({-1});
    for (auto d : per_sample) s.push_back(d);
    return s;
}

/// A JSON value for a message: compact, invalid UTF-8 replaced, cut to a readable length.
inline std::string json_text(const json& j) {
    return printable(j.dump(-1, ' ', false, json::error_handler_t::replace), 128);
}

/// Split "/v2/models/x/infer?y" into {"v2","models","x","infer"}.
inline std::vector<std::string> split_target(std::string_view target) {
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i < target.size()) {
        while (i < target.size() && target[i] == '/') ++i;
        std::size_t j = i;
        while (j < target.size() && target[j] != '/') ++j;
        if (j > i) parts.emplace_back(target.substr(i, j - i));
        i = j;
    }
    return parts;
}

/// A KServe datatype the server converts to FP32, and the values it admits.
struct Datatype {
    std::string_view name;
    bool integer;
    std::int64_t min; // integers only
    std::uint64_t max;
};

inline const Datatype* find_datatype(std::string_view t) {
    static constexpr std::array<Datatype, 10> all{{
        {"FP32", false, 0, 0},
        {"FP64", false, 0, 0},
        {"INT8", true, INT8_MIN, INT8_MAX},
        {"INT16", true, INT16_MIN, INT16_MAX},
        {"INT32", true, INT32_MIN, INT32_MAX},
        {"INT64", true, INT64_MIN, INT64_MAX},
        {"UINT8", true, 0, UINT8_MAX},
        {"UINT16", true, 0, UINT16_MAX},
        {"UINT32", true, 0, UINT32_MAX},
        {"UINT64", true, 0, UINT64_MAX},
    }};
    for (const auto& d : all)
        if (d.name == t) return &d;
    return nullptr;
}

/// Append every number of a (possibly nested) JSON array to `out`, in row-major order,
/// checking each against the datatype; with `missing_ok`, a null is a missing value (NaN,
/// which the model's fitted cleaning fills). Recursion is bounded by the request's depth
/// limit.
inline void flatten_numbers(const json& j, std::vector<float>& out, std::size_t limit,
                            const Datatype& dt, const char* where, bool missing_ok = false) {
    if (j.is_array()) {
        for (const auto& e : j) {
            flatten_numbers(e, out, limit, dt, where, missing_ok);
            if (out.size() > limit) return;
        }
        return;
    }
    const auto at = [&] { return std::string(where) + "[" + std::to_string(out.size()) + "]"; };
    const auto bad = [](std::string msg) { return HttpError{http::status::bad_request, std::move(msg)}; };
    if (j.is_null() && missing_ok) {
        out.push_back(std::numeric_limits<float>::quiet_NaN());
        return;
    }
    if (!j.is_number())
        throw bad(at() + " is a " + j.type_name() + ", not a number" +
                  (j.is_null() ? " (this model fills no missing values)" : ""));
    if (dt.integer) {
        if (!j.is_number_integer())
            throw bad(at() + " is " + json_text(j) + "; datatype " + std::string(dt.name) +
                      " takes integers only");
        const bool in_range = j.is_number_unsigned()
                                  ? j.get<std::uint64_t>() <= dt.max
                                  : j.get<std::int64_t>() >= dt.min &&
                                        (j.get<std::int64_t>() < 0 ||
                                         static_cast<std::uint64_t>(j.get<std::int64_t>()) <= dt.max);
        if (!in_range)
            throw bad(at() + " is " + json_text(j) + ", outside the range of " +
                      std::string(dt.name) + " (" + std::to_string(dt.min) + ".." +
                      std::to_string(dt.max) + ")");
        out.push_back(j.get<float>());
        return;
    }
    const double v = j.get<double>();
    if (!std::isfinite(v) || std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max()))
        throw bad(at() + " is " + json_text(j) +
                  ", outside the range of FP32 (the engine computes in FP32; magnitudes up to "
                  "3.4028235e+38)");
    out.push_back(static_cast<float>(v));
}

} // namespace detail::serve

struct Server::Impl {
    using Session = detail::serve::SessionBase;
    using Error = detail::serve::HttpError;
    using json = detail::serve::json;
    using Request = detail::serve::Request;
    using Response = detail::serve::Response;
    using Watched = detail::serve::Watched;
    using WatchSource = detail::serve::WatchSource;
    using status = detail::serve::http::status;
    using Observer = std::function<void(const InferenceRecord&)>;
    using MetricsExtra = std::function<std::string()>;
    using Sources = DashboardSources;

    explicit Impl(ServerOptions o)
        : opt(std::move(o)), accept_strand(ioc.get_executor()), acceptor(accept_strand),
          accept_timer(accept_strand) {
        if (opt.threads == 0) throw config_error("ServerOptions: threads must be >= 1");
        if (opt.max_batch == 0) throw config_error("ServerOptions: max_batch must be >= 1");
        if (opt.body_limit < 64) throw config_error("ServerOptions: body_limit must be >= 64 bytes");
        if (opt.header_limit < 256)
            throw config_error("ServerOptions: header_limit must be >= 256 bytes");
        if (opt.json_depth_limit < 4)
            throw config_error("ServerOptions: json_depth_limit must be >= 4 (a tensor needs 4)");
        if (opt.max_connections == 0)
            throw config_error("ServerOptions: max_connections must be >= 1");
        if (opt.idle_timeout.count() <= 0)
            throw config_error("ServerOptions: idle_timeout must be positive");
        if (opt.dashboard && opt.dashboard_interval.count() <= 0)
            throw config_error("ServerOptions: dashboard_interval must be positive");
        if (opt.dashboard && (opt.dashboard_points == 0 || opt.dashboard_points > 100000))
            throw config_error("ServerOptions: dashboard_points must be 1..100000");
        series = std::make_unique<monitor::DashboardSeries>(std::max<std::size_t>(opt.dashboard_points, 1));
        if (opt.tls) {
            namespace ssl = detail::serve::ssl;
            ssl_ctx.emplace(ssl::context::tls_server);
            ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                 ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                 ssl::context::no_tlsv1_1);
            // TLS 1.2: forward-secret AEAD suites only (no static RSA key exchange, no CBC).
            // TLS 1.3 suites all are.
            if (SSL_CTX_set_cipher_list(ssl_ctx->native_handle(),
                                        "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL") != 1)
                throw config_error("TLS: OpenSSL refused the cipher list");
            SSL_CTX_set_options(ssl_ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
            boost::system::error_code ec;
            ssl_ctx->use_certificate_chain_file(opt.tls->certificate_chain.string(), ec);
            if (ec)
                throw config_error(opt.tls->certificate_chain.string() +
                                   ": cannot use as TLS certificate chain (PEM): " + ec.message());
            ssl_ctx->use_private_key_file(opt.tls->private_key.string(), ssl::context::pem, ec);
            if (ec)
                throw config_error(opt.tls->private_key.string() +
                                   ": cannot use as TLS private key (PEM): " + ec.message());
        }
    }

    // --- models ---------------------------------------------------------------------------

    monitor::ModelStats& stats_for(const std::string& name) {
        std::lock_guard lock(stats_m);
        auto& p = stats[name];
        if (!p) p = std::make_unique<monitor::ModelStats>();
        return *p;
    }

    static void check_made(const std::shared_ptr<const ServedModel>& m, const std::string& name,
                           std::uint64_t v) {
        if (!m) throw config_error("the model factory returned nothing");
        if (m->name() != name || m->version() != v)
            throw config_error("the model factory returned " + m->name() + " v" +
                               std::to_string(m->version()) + " for " + name + " v" +
                               std::to_string(v));
    }

    void note_load_error(const std::string& name, std::string text) {
        reload_failures.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(errors_m);
        load_errors[name] = detail::serve::printable(text, 1024);
    }

    std::shared_ptr<const ServedModel> cached(const std::string& name, std::uint64_t v) {
        std::shared_lock lock(models_m);
        const auto it = models.find(name);
        if (it == models.end()) return nullptr;
        if (it->second.current && it->second.current->version() == v) return it->second.current;
        for (const auto& m : it->second.others)
            if (m->version() == v) return m;
        return nullptr;
    }

    static std::string quoted_model(const std::string& name) {
        return "model '" + detail::serve::printable(name) + "'";
    }

    /// The entry of a served model; the caller holds models_m. 404 when it is not served.
    const detail::serve::ModelEntry& served_entry(const std::string& name,
                                                  const std::string& quoted) const {
        const auto it = models.find(name);
        if (it == models.end()) throw Error{status::not_found, quoted + " is not served here"};
        return it->second;
    }

    std::shared_ptr<const ServedModel> find(const std::string& name,
                                            std::optional<std::uint64_t> version) {
        const std::string quoted = quoted_model(name);
        std::shared_ptr<const WatchSource> src;
        {
            std::shared_lock lock(models_m);
            const auto& e = served_entry(name, quoted);
            if (!version) {
                if (!e.current)
                    throw Error{status::service_unavailable, quoted + " has no version loaded yet",
                                true};
                return e.current;
            }
            src = e.source;
        }
        if (auto m = cached(name, *version)) return m;
        const std::string what = quoted + " has no version " + std::to_string(*version);
        if (!src) throw Error{status::not_found, what};
        // Loaded and verified outside every lock that requests need, one at a time: a client
        // cycling through old versions keeps one worker busy, not all of them.
        std::unique_lock loading(demand_m, std::try_to_lock);
        if (!loading.owns_lock())
            throw Error{status::service_unavailable,
                        quoted + " version " + std::to_string(*version) +
                            " is not loaded and another version is loading now; retry shortly",
                        true};
        if (auto m = cached(name, *version)) return m;
        if (!src->registry.has(name, *version)) throw Error{status::not_found, what};
        std::shared_ptr<const ServedModel> m;
        try {
            m = src->factory(src->registry.load(name, *version));
            check_made(m, name, *version);
        } catch (const std::exception& ex) {
            const std::string text = quoted + " version " + std::to_string(*version) +
                                     " failed to load: " + ex.what();
            note_load_error(name, text);
            throw Error{status::internal_server_error, text, false, false};
        }
        std::unique_lock lock(models_m);
        auto& others = models[name].others;
        if (others.size() >= detail::serve::version_cache) others.erase(others.begin());
        others.push_back(m);
        return m;
    }

    // Runs under reload_m, which only the reload thread, reload(), watch() and stop() take.
    bool load_watched(Watched& w, const char* action = "reload") {
        const WatchSource& src = *w.src;
        std::optional<std::uint64_t> v;
        try {
            v = src.registry.serving(src.name);
        } catch (const std::exception& ex) {
            note_load_error(src.name, src.name + ": serving pointer: " + ex.what());
            return false;
        }
        if (!v) return false;
        {
            std::shared_lock lock(models_m);
            const auto it = models.find(src.name);
            if (it != models.end() && it->second.current && it->second.current->version() == *v)
                return false;
        }
        if (w.failed_version == *v) return false;
        try {
            auto m = src.factory(src.registry.load(src.name, *v));
            check_made(m, src.name, *v);
            std::uint64_t before = 0;
            {
                std::unique_lock lock(models_m);
                auto& cur = models[src.name].current;
                if (cur) before = cur->version();
                cur = std::move(m);
            }
            record_event(src.name, before ? action : "load", before, *v);
            {
                std::lock_guard lock(errors_m);
                load_errors.erase(src.name);
            }
            w.failed_version = 0;
            ++reloads;
            return true;
        } catch (const std::exception& ex) {
            w.failed_version = *v;
            note_load_error(src.name, src.name + " v" + std::to_string(*v) + ": " + ex.what());
            return false;
        }
    }

    bool reload(const char* action = "reload") {
        std::lock_guard lock(reload_m);
        return reload_locked(action);
    }

    bool reload_locked(const char* action) {
        bool changed = false;
        for (auto& w : watched) changed = load_watched(w, action) || changed;
        return changed;
    }

    void start_reloader() {
        std::lock_guard lock(stop_m);
        if (stopping || !started || reloader.joinable() || opt.reload_interval.count() <= 0)
            return;
        reloader = periodic(opt.reload_interval, false, reload_failures, [this] { reload(); });
    }

    /// A thread that runs `work` every `interval` (first at once, or after one interval)
    /// until stop(); what `work` throws is counted in `failures` and never ends the thread.
    template <class Work>
    std::thread periodic(std::chrono::milliseconds interval, bool first_at_once,
                         std::atomic<std::uint64_t>& failures, Work work) {
        return std::thread([this, interval, first_at_once, &failures, work] {
            std::unique_lock lock(stop_m);
            if (!first_at_once) stop_cv.wait_for(lock, interval);
            while (!stopping) {
                lock.unlock();
                try {
                    work();
                } catch (...) {
                    failures.fetch_add(1, std::memory_order_relaxed);
                }
                lock.lock();
                stop_cv.wait_for(lock, interval);
            }
        });
    }

    bool ready() {
        if (stopping) return false;
        std::shared_lock lock(models_m);
        if (models.empty()) return false;
        for (const auto& [_, e] : models)
            if (!e.current) return false;
        return true;
    }

    // --- requests -------------------------------------------------------------------------

    /// Never throws but for lack of memory to build even the fallback answer.
    Response answer(const Request& req) {
        std::string model_name;
        try {
            const auto target = req.target();
            const auto parts =
                detail::serve::split_target(std::string_view(target.data(), target.size()));
            Response r = route(req, parts, model_name);
            count(r.result_int(), model_name);
            return r;
        } catch (const Error& e) {
            return error_answer(req.version(), e, model_name);
        } catch (const std::bad_alloc&) {
            return error_answer(req.version(), Error{status::service_unavailable,
                                                     "out of memory answering this request", true},
                                model_name);
        } catch (const std::exception& e) {
            return error_answer(req.version(), Error{status::internal_server_error, e.what()},
                                model_name);
        } catch (...) {
            return error_answer(req.version(),
                                Error{status::internal_server_error, "unknown failure"}, model_name);
        }
    }

    Response error_answer(unsigned version, const Error& e, const std::string& model_name) {
        Response r;
        try {
            r = error_response(version, e.status, e.message);
        } catch (...) {
            r = Response{status::internal_server_error, version};
            r.body() = "{\"error\":\"the error answer could not be built\"}";
            r.prepare_payload();
        }
        if (e.status == status::unauthorized)
            r.set(detail::serve::http::field::www_authenticate, "Bearer");
        if (e.retry_after) r.set(detail::serve::http::field::retry_after, "1");
        count(r.result_int(), e.model_error ? model_name : std::string());
        return r;
    }

    /// The answer to a request the parser refused: what limit or rule it broke.
    Response parse_failure(detail::serve::beast::error_code ec) {
        namespace http = detail::serve::http;
        Error e{status::bad_request, "malformed HTTP request: " + ec.message()};
        if (ec == http::error::body_limit)
            e = Error{status::payload_too_large,
                      "request body too large; the body limit is " +
                          std::to_string(opt.body_limit) + " bytes (ServerOptions::body_limit)"};
        else if (ec == http::error::header_limit)
            e = Error{status::request_header_fields_too_large,
                      "request line and header fields too large; the header limit is " +
                          std::to_string(opt.header_limit) +
                          " bytes (ServerOptions::header_limit)"};
        Response r = error_answer(11, e, {});
        r.keep_alive(false);
        return r;
    }

    Response over_capacity() {
        Response r = error_answer(
            11,
            Error{status::service_unavailable,
                  "server busy: " + std::to_string(opt.max_connections) +
                      " connections are open, the most it keeps (ServerOptions::max_connections); "
                      "retry later",
                  true},
            {});
        r.keep_alive(false);
        return r;
    }

    void configure(detail::serve::http::request_parser<detail::serve::http::string_body>& p) const {
        p.body_limit(opt.body_limit);
        p.header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(opt.header_limit, std::numeric_limits<std::uint32_t>::max())));
    }

    /// Parse raw bytes as one request and answer it, as a connection would.
    std::string handle_raw(std::string_view bytes) {
        namespace http = detail::serve::http;
        namespace net = detail::serve::net;
        http::request_parser<http::string_body> parser;
        configure(parser);
        parser.eager(true);
        detail::serve::beast::error_code ec;
        net::const_buffer buf(bytes.data(), bytes.size());
        for (;;) {
            const std::size_t n = parser.put(buf, ec);
            buf += n;
            if (ec == http::error::need_more) {
                ec = {};
                if (n == 0 || buf.size() == 0) {
                    if (!parser.is_done()) parser.put_eof(ec);
                    break;
                }
                continue;
            }
            if (ec || parser.is_done()) break;
            if (n == 0) {
                parser.put_eof(ec);
                break;
            }
        }
        Response res = ec ? parse_failure(ec) : answer(parser.get());
        if (!ec) res.keep_alive(parser.get().keep_alive());
        std::ostringstream out;
        out << res;
        return out.str();
    }

    void count(unsigned status_code, const std::string& model_name) {
        const std::size_t cls = std::min<std::size_t>(status_code / 100, 5);
        http_by_class[cls].fetch_add(1, std::memory_order_relaxed);
        if (status_code < by_status.size())
            by_status[status_code].fetch_add(1, std::memory_order_relaxed);
        if (model_name.empty() || status_code < 400) return;
        bool known;
        {
            std::shared_lock lock(models_m);
            known = models.count(model_name) != 0;
        }
        if (!known) return; // do not let clients create stats entries for made-up names
        auto& s = stats_for(model_name);
        (status_code >= 500 ? s.server_errors : s.client_errors).fetch_add(1);
    }

    static Response json_response(unsigned version, status st, const json& body) {
        Response r{st, version};
        r.set(detail::serve::http::field::server, "edgestack");
        r.set(detail::serve::http::field::content_type, "application/json");
        // Replace, never throw: a message may quote bytes that are not UTF-8.
        r.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
        r.prepare_payload();
        return r;
    }
    static Response json_response(const Request& req, status st, const json& body) {
        return json_response(req.version(), st, body);
    }

    static Response error_response(unsigned version, status st, const std::string& message) {
        return json_response(version, st,
                             json{{"error", detail::serve::printable(
                                                message, detail::serve::message_limit)}});
    }

    void check_auth(const Request& req) {
        if (opt.bearer_token.empty()) return;
        check_token(req, opt.bearer_token);
    }

    /// The admin routes change what serves: they always need a token, and refuse when the
    /// server has none configured.
    void check_admin(const Request& req) {
        const std::string& token = opt.admin_token.empty() ? opt.bearer_token : opt.admin_token;
        if (token.empty())
            throw Error{status::forbidden,
                        "admin routes are off: the server has no admin token "
                        "(ServerOptions::admin_token or bearer_token)",
                        false, false};
        check_token(req, token);
    }

    static void check_token(const Request& req, const std::string& token) {
        const auto h = req[detail::serve::http::field::authorization];
        std::string_view got(h.data(), h.size());
        // The scheme is case-insensitive (RFC 9110 11.1), followed by one or more spaces.
        constexpr std::string_view scheme = "bearer";
        bool ok = got.size() > scheme.size() && (got[scheme.size()] == ' ');
        for (std::size_t i = 0; ok && i < scheme.size(); ++i)
            ok = std::tolower(static_cast<unsigned char>(got[i])) == scheme[i];
        if (ok) {
            got.remove_prefix(scheme.size());
            while (!got.empty() && got.front() == ' ') got.remove_prefix(1);
            ok = got.size() == token.size() &&
                 CRYPTO_memcmp(got.data(), token.data(), token.size()) == 0;
        }
        if (!ok)
            throw Error{status::unauthorized,
                        h.empty() ? "missing 'Authorization: Bearer <token>' header"
                                  : "wrong bearer token"};
    }

    static std::string request_line(const Request& req) {
        const auto t = req.target();
        return detail::serve::printable(std::string_view(req.method_string().data(),
                                                         req.method_string().size()),
                                        32) +
               " " + detail::serve::printable(std::string_view(t.data(), t.size()), 256);
    }

    static void require_method(const Request& req, detail::serve::http::verb v) {
        if (req.method() != v)
            throw Error{status::method_not_allowed,
                        request_line(req) + ": use " +
                            std::string(detail::serve::http::to_string(v))};
    }

    static std::uint64_t parse_version(const std::string& s) {
        std::uint64_t v = 0;
        if (!deploy::detail::parse_version(s, v))
            throw Error{status::bad_request,
                        "version '" + detail::serve::printable(s, 64) + "' is not a positive integer"};
        return v;
    }

    Response route(const Request& req, const std::vector<std::string>& p, std::string& model) {
        namespace http = detail::serve::http;
        using http::verb;
        const auto n = p.size();
        if (n == 3 && p[0] == "v2" && p[1] == "health" && (p[2] == "live" || p[2] == "ready")) {
            require_method(req, verb::get);
            if (p[2] == "live") return json_response(req, status::ok, json{{"live", true}});
            const bool r = ready();
            return json_response(req, r ? status::ok : status::service_unavailable,
                                 json{{"ready", r}});
        }
        if (opt.dashboard && n == 1 && p[0] == "dashboard") {
            require_method(req, verb::get);
            return dashboard_page(req);
        }
        // Before check_auth: the admin token may differ from the bearer token.
        if (n >= 4 && p[0] == "v2" && p[1] == "models" &&
            ((n == 4 && p[3] == "rollback") || (n == 6 && p[3] == "versions" && p[5] == "promote"))) {
            model = p[2];
            require_method(req, verb::post);
            check_admin(req);
            return change_serving(req, p[2], n == 6 ? std::optional(parse_version(p[4])) : std::nullopt);
        }
        check_auth(req);
        if (opt.dashboard && n == 2 && p[0] == "dashboard" && p[1] == "data") {
            require_method(req, verb::get);
            return json_response(req, status::ok, dashboard_data());
        }
        if (n == 1 && p[0] == "metrics") {
            require_method(req, verb::get);
            Response r{status::ok, req.version()};
            r.set(http::field::server, "edgestack");
            r.set(http::field::content_type, "text/plain; version=0.0.4");
            r.body() = metrics_text();
            r.prepare_payload();
            return r;
        }
        if (n == 1 && p[0] == "v2") {
            require_method(req, verb::get);
            return json_response(req, status::ok,
                                 json{{"name", "edgestack"}, {"version", "0.1.0"},
                                      {"extensions", json::array()}});
        }
        if (n >= 3 && p[0] == "v2" && p[1] == "models") {
            model = p[2];
            std::optional<std::uint64_t> version;
            std::size_t k = 3;
            if (n >= 5 && p[3] == "versions") {
                version = parse_version(p[4]);
                k = 5;
            }
            if (n == k) {
                require_method(req, verb::get);
                return metadata(req, *find(model, version));
            }
            if (n == k + 1 && p[k] == "ready") {
                require_method(req, verb::get);
                const auto m = find(model, version);
                return json_response(req, status::ok,
                                     json{{"name", m->name()},
                                          {"version", std::to_string(m->version())},
                                          {"ready", !stopping.load()}});
            }
            if (n == k + 1 && p[k] == "infer") {
                require_method(req, verb::post);
                return infer(req, find(model, version));
            }
        }
        throw Error{status::not_found, "no route for " + request_line(req)};
    }

    Response metadata(const Request& req, const ServedModel& m) {
        json versions = json::array();
        {
            std::shared_lock lock(models_m);
            const auto it = models.find(m.name());
            if (it != models.end() && it->second.current)
                versions.push_back(std::to_string(it->second.current->version()));
        }
        return json_response(
            req, status::ok,
            json{{"name", m.name()},
                 {"versions", versions},
                 {"platform", m.platform()},
                 {"inputs", json::array({json{{"name", detail::serve::input_name},
                                             {"datatype", "FP32"},
                                             {"shape", detail::serve::shape_json(m.input_shape())}}})},
                 {"outputs",
                  json::array({json{{"name", detail::serve::output_name},
                                    {"datatype", "FP32"},
                                    {"shape", detail::serve::shape_json(m.output_shape())}}})}});
    }

    Response infer(const Request& req, const std::shared_ptr<const ServedModel>& mp) {
        using detail::serve::json_text;
        const ServedModel& m = *mp;
        const std::string quoted = quoted_model(m.name());
        const auto bad = [](std::string msg) { return Error{status::bad_request, std::move(msg)}; };
        const std::string& text = req.body();
        if (const auto d = detail::serve::json_depth(text, opt.json_depth_limit);
            d > opt.json_depth_limit)
            throw bad("request body nests arrays and objects more than " +
                      std::to_string(opt.json_depth_limit) +
                      " levels deep (ServerOptions::json_depth_limit)");
        json body;
        try {
            body = json::parse(text);
        } catch (const json::parse_error& e) {
            throw bad("request body is not valid JSON: byte " + std::to_string(e.byte) + ": " +
                      e.what());
        } catch (const json::out_of_range& e) {
            throw bad(std::string("request body holds a number out of range: ") + e.what());
        } catch (const json::exception& e) {
            throw bad(std::string("request body is not valid JSON: ") + e.what());
        }
        if (!body.is_object()) throw bad("request body must be a JSON object with 'inputs'");
        if (!body.contains("inputs") || !body["inputs"].is_array())
            throw bad("field 'inputs' is missing or not an array");
        const auto& inputs = body["inputs"];
        if (inputs.size() != 1)
            throw bad("field 'inputs' has " + std::to_string(inputs.size()) + " tensors; " +
                      quoted + " takes exactly one, named '" + detail::serve::input_name + "'");
        const auto& t = inputs[0];
        if (!t.is_object()) throw bad("inputs[0] must be an object");
        for (const char* key : {"name", "shape", "datatype", "data"})
            if (!t.contains(key)) throw bad(std::string("inputs[0].") + key + " is missing");
        if (!t["name"].is_string() || t["name"].get<std::string>() != detail::serve::input_name)
            throw bad("inputs[0].name is " + json_text(t["name"]) + "; " + quoted +
                      " has one input, named '" + detail::serve::input_name + "'");
        if (!t["datatype"].is_string()) throw bad("inputs[0].datatype must be a string");
        const auto datatype = t["datatype"].get<std::string>();
        const detail::serve::Datatype* dt = detail::serve::find_datatype(datatype);
        if (!dt)
            throw bad("inputs[0].datatype '" + detail::serve::printable(datatype, 64) +
                      "' is not supported; use FP32 (or FP64, INT8..INT64, UINT8..UINT64)");
        const auto& shape = t["shape"];
        if (!shape.is_array() || shape.size() < 2)
            throw bad("inputs[0].shape must be an array [batch, ...sample dims]");
        std::vector<std::size_t> dims;
        for (std::size_t i = 0; i < shape.size(); ++i) {
            if (!shape[i].is_number_integer() || shape[i].get<std::int64_t>() < 1)
                throw bad("inputs[0].shape[" + std::to_string(i) + "] is " + json_text(shape[i]) +
                          "; every dimension must be an integer >= 1");
            dims.push_back(shape[i].get<std::size_t>());
        }
        // Checked: a product that wraps 2^64 must not pass for the model's size.
        std::size_t per_sample = 1;
        bool overflow = false;
        for (std::size_t i = 1; i < dims.size() && !overflow; ++i)
            overflow = __builtin_mul_overflow(per_sample, dims[i], &per_sample);
        if (overflow || per_sample != m.input_size())
            throw bad("inputs[0].shape " + json_text(shape) + " gives " +
                      (overflow ? std::string("more than 2^64") : std::to_string(per_sample)) +
                      " values per sample; " + quoted + " takes " +
                      detail::serve::shape_text(m.input_shape()) + " = " +
                      std::to_string(m.input_size()));
        const std::size_t batch = dims[0];
        const std::size_t max_batch = std::min(opt.max_batch, m.max_batch());
        if (batch > max_batch)
            throw bad("inputs[0].shape[0] (batch) is " + std::to_string(batch) +
                      "; at most " + std::to_string(max_batch) + " samples per request");
        if (body.contains("outputs")) {
            const auto& outs = body["outputs"];
            if (!outs.is_array()) throw bad("field 'outputs' must be an array");
            for (std::size_t i = 0; i < outs.size(); ++i)
                if (!outs[i].is_object() || !outs[i].contains("name") ||
                    outs[i]["name"] != detail::serve::output_name)
                    throw bad("outputs[" + std::to_string(i) + "] asks for " + json_text(outs[i]) +
                              "; " + quoted + " has one output, named '" +
                              detail::serve::output_name + "'");
        }
        std::string id;
        if (body.contains("id")) {
            if (!body["id"].is_string()) throw bad("field 'id' must be a string");
            id = body["id"].get<std::string>();
        }
        const std::size_t expected = batch * per_sample;
        thread_local std::vector<float> x, y;
        x.clear();
        x.reserve(expected);
        if (!t["data"].is_array()) throw bad("inputs[0].data must be an array of numbers");
        detail::serve::flatten_numbers(t["data"], x, expected, *dt, "inputs[0].data", m.fills_missing());
        if (x.size() != expected)
            throw bad("inputs[0].data has " + (x.size() > expected ? "more than " : std::string()) +
                      std::to_string(x.size()) + " values; shape " + json_text(shape) + " needs " +
                      std::to_string(expected));
        y.assign(batch * m.output_size(), 0.0f);

        auto& st = stats_for(m.name());
        const auto t0 = std::chrono::steady_clock::now();
        const bool ok = m.infer(x, y);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!ok)
            throw Error{status::internal_server_error,
                        quoted + " v" + std::to_string(m.version()) +
                            " refused the batch (engine run failed)"};
        st.latency.record(seconds);
        st.throughput.add();
        st.requests.fetch_add(1, std::memory_order_relaxed);
        st.samples.fetch_add(batch, std::memory_order_relaxed);
        if (const auto obs = observer.load(); obs && *obs) {
            // Monitoring must never fail a request that the engine answered.
            try {
                (*obs)(InferenceRecord{m, batch, x, y, seconds, id});
            } catch (...) {
                observer_failures.fetch_add(1, std::memory_order_relaxed);
            }
        }

        json out_shape = json::array({batch});
        for (auto d : m.output_shape()) out_shape.push_back(d);
        json res{{"model_name", m.name()},
                 {"model_version", std::to_string(m.version())},
                 {"outputs", json::array({json{{"name", detail::serve::output_name},
                                               {"datatype", "FP32"},
                                               {"shape", out_shape},
                                               {"data", y}}})}};
        if (!id.empty()) res["id"] = id;
        return json_response(req, status::ok, res);
    }

    std::string metrics_text() {
        monitor::PrometheusWriter w;
        w.family("edgestack_http_responses_total", "counter", "HTTP responses by status class.");
        static constexpr std::array<const char*, 6> cls{"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
        for (std::size_t i = 1; i < cls.size(); ++i)
            w.sample("edgestack_http_responses_total", {{"class", cls[i]}},
                     static_cast<double>(http_by_class[i].load()));
        w.family("edgestack_reloads_total", "counter", "Models switched to a newly promoted version.");
        w.sample("edgestack_reloads_total", {}, static_cast<double>(reloads.load()));
        w.family("edgestack_reload_failures_total", "counter",
                 "Versions that failed to load or verify (promoted, or asked for by URL).");
        w.sample("edgestack_reload_failures_total", {}, static_cast<double>(reload_failures.load()));
        {
            std::vector<std::pair<std::string, std::string>> errs;
            {
                std::lock_guard lock(errors_m);
                errs.assign(load_errors.begin(), load_errors.end());
            }
            w.family("edgestack_reload_error", "gauge",
                     "1 per model whose last load failed (serving version or one asked for by "
                     "URL); the label says why.");
            for (const auto& [name, text] : errs)
                w.sample("edgestack_reload_error", {{"model", name}, {"error", text}}, 1.0);
        }
        w.family("edgestack_connections_open", "gauge", "Connections open now.");
        w.sample("edgestack_connections_open", {}, static_cast<double>(connections.load()));
        w.family("edgestack_connections_refused_total", "counter",
                 "Connections answered 503 because max_connections were open.");
        w.sample("edgestack_connections_refused_total", {},
                 static_cast<double>(connections_refused.load()));
        w.family("edgestack_accept_errors_total", "counter",
                 "Failed accepts (out of file descriptors, ...); each backs off before the next.");
        w.sample("edgestack_accept_errors_total", {}, static_cast<double>(accept_errors.load()));
        w.family("edgestack_observer_failures_total", "counter",
                 "Inferences whose monitoring observer threw (the answer was still sent).");
        w.sample("edgestack_observer_failures_total", {}, static_cast<double>(observer_failures.load()));
        w.family("edgestack_dashboard_failures_total", "counter",
                 "Dashboard sources or history store calls that threw (the point was kept).");
        w.sample("edgestack_dashboard_failures_total", {},
                 static_cast<double>(dashboard_failures.load()));

        std::vector<std::pair<std::string, std::uint64_t>> serving;
        {
            std::shared_lock lock(models_m);
            for (const auto& [name, e] : models)
                serving.emplace_back(name, e.current ? e.current->version() : 0);
        }
        w.family("edgestack_model_serving_version", "gauge", "Version now serving (0: none).");
        for (const auto& [name, v] : serving)
            w.sample("edgestack_model_serving_version", {{"model", name}}, static_cast<double>(v));
        std::vector<std::pair<std::string, monitor::ModelStats*>> all;
        {
            std::lock_guard lock(stats_m);
            for (auto& [name, s] : stats) all.emplace_back(name, s.get());
        }
        w.family("edgestack_model_requests_total", "counter", "Successful inference requests.");
        for (auto& [name, s] : all)
            w.sample("edgestack_model_requests_total", {{"model", name}},
                     static_cast<double>(s->requests.load()));
        w.family("edgestack_model_samples_total", "counter", "Samples inferred.");
        for (auto& [name, s] : all)
            w.sample("edgestack_model_samples_total", {{"model", name}},
                     static_cast<double>(s->samples.load()));
        w.family("edgestack_model_errors_total", "counter",
                 "Failed requests to a served model: client (4xx) or server (5xx).");
        for (auto& [name, s] : all) {
            w.sample("edgestack_model_errors_total", {{"model", name}, {"kind", "client"}},
                     static_cast<double>(s->client_errors.load()));
            w.sample("edgestack_model_errors_total", {{"model", name}, {"kind", "server"}},
                     static_cast<double>(s->server_errors.load()));
        }
        w.family("edgestack_model_throughput_rps", "gauge",
                 "Successful requests per second over the last 10 s.");
        for (auto& [name, s] : all)
            w.sample("edgestack_model_throughput_rps", {{"model", name}}, s->throughput.per_second());
        w.family("edgestack_model_latency_quantile_seconds", "gauge",
                 "Engine time per request: p50, p95, p99 since start.");
        for (auto& [name, s] : all)
            for (const auto& [q, qs] : {std::pair{0.5, "0.5"}, {0.95, "0.95"}, {0.99, "0.99"}})
                w.sample("edgestack_model_latency_quantile_seconds",
                         {{"model", name}, {"quantile", qs}}, s->latency.quantile(q));
        w.family("edgestack_model_latency_seconds", "histogram", "Engine time per request.");
        for (auto& [name, s] : all) w.histogram("edgestack_model_latency_seconds", {{"model", name}}, s->latency);
        std::string text = w.take();
        if (const auto extra = metrics_extra.load(); extra && *extra) {
            try {
                text += (*extra)();
            } catch (...) {
                observer_failures.fetch_add(1, std::memory_order_relaxed);
            }
        }
        return text;
    }

    // --- dashboard and admin routes --------------------------------------------------------

    static std::int64_t now_ms() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    std::shared_ptr<const Sources> dashboard_sources() const { return sources.load(); }

    void save_history(const char* kind, const json& j) {
        const auto src = dashboard_sources();
        if (!src || !src->save) return;
        try {
            src->save(kind, j.dump(-1, ' ', false, json::error_handler_t::replace));
        } catch (...) {
            dashboard_failures.fetch_add(1, std::memory_order_relaxed);
        }
    }

    void record_event(const std::string& model, const char* action, std::uint64_t from,
                      std::uint64_t to) {
        try {
            monitor::DashboardEvent e{now_ms(), model, action, from, to};
            save_history("event", monitor::to_json(e));
            series->add(std::move(e));
        } catch (...) {
            dashboard_failures.fetch_add(1, std::memory_order_relaxed);
        }
    }

    /// One dashboard point: what happened since the previous one. Only the sampling thread
    /// (or a test through it) calls this.
    void sample_dashboard() {
        monitor::LatencyCounts lat{};
        std::uint64_t requests = 0;
        {
            std::lock_guard lock(stats_m);
            for (const auto& [_, st] : stats) {
                const auto c = monitor::counts_of(st->latency);
                for (std::size_t i = 0; i < lat.size(); ++i) lat[i] += c[i];
                requests += st->requests.load(std::memory_order_relaxed);
            }
        }
        std::array<std::uint64_t, 600> codes{};
        for (std::size_t i = 400; i < codes.size(); ++i)
            codes[i] = by_status[i].load(std::memory_order_relaxed);
        const auto now = std::chrono::steady_clock::now();
        monitor::DashboardPoint pt;
        pt.time_ms = now_ms();
        {
            const double dt = std::max(1e-3, std::chrono::duration<double>(now - last_sample).count());
            pt.p50 = monitor::window_quantile(lat, last_latency, 0.50);
            pt.p90 = monitor::window_quantile(lat, last_latency, 0.90);
            pt.p99 = monitor::window_quantile(lat, last_latency, 0.99);
            pt.requests_per_second = static_cast<double>(requests - std::min(requests, last_requests)) / dt;
            for (std::size_t i = 400; i < codes.size(); ++i)
                if (codes[i] > last_codes[i]) pt.errors[static_cast<unsigned>(i)] = codes[i] - last_codes[i];
        }
        last_sample = now;
        last_latency = lat;
        last_requests = requests;
        last_codes = codes;
        if (const auto src = dashboard_sources()) {
            try {
                if (src->feature_psi) pt.feature_psi = src->feature_psi();
                std::erase_if(pt.feature_psi, [](double v) { return !std::isfinite(v); });
                if (pt.feature_psi.size() > 64) pt.feature_psi.resize(64); // a chart, not a dump
            } catch (...) {
                pt.feature_psi.clear();
                dashboard_failures.fetch_add(1, std::memory_order_relaxed);
            }
            try {
                if (src->accuracy) pt.accuracy = src->accuracy();
                if (pt.accuracy && !std::isfinite(*pt.accuracy)) pt.accuracy.reset();
            } catch (...) {
                dashboard_failures.fetch_add(1, std::memory_order_relaxed);
            }
        }
        save_history("dashboard", monitor::to_json(pt));
        series->add(std::move(pt));
    }

    void start_sampler() {
        if (!opt.dashboard) return;
        sampler = periodic(opt.dashboard_interval, true, dashboard_failures,
                           [this] { sample_dashboard(); });
    }

    Response dashboard_page(const Request& req) {
        namespace http = detail::serve::http;
        Response r{status::ok, req.version()};
        r.set(http::field::server, "edgestack");
        r.set(http::field::content_type, "text/html; charset=utf-8");
        // Nothing but this document and its own data may load: no CDN, no other origin.
        r.set("Content-Security-Policy",
              "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
              "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'");
        r.set("X-Content-Type-Options", "nosniff");
        r.set(http::field::cache_control, "no-cache");
        r.body() = monitor::dashboard_page();
        r.prepare_payload();
        return r;
    }

    json dashboard_data() {
        constexpr std::size_t versions_shown = 20;
        const auto src = dashboard_sources();
        json d = series->to_json();
        d["time"] = now_ms();
        d["interval_ms"] = opt.dashboard_interval.count();
        d["psi_threshold"] = src ? src->psi_threshold : 0.25;
        d["accuracy_source"] = src && src->accuracy ? json(src->accuracy_source) : json(nullptr);
        d["persisted"] = src && src->save;
        d["charts"] = monitor::dashboard_has_charts;
        std::vector<std::tuple<std::string, std::uint64_t, std::shared_ptr<const WatchSource>>> all;
        {
            std::shared_lock lock(models_m);
            for (const auto& [name, e] : models)
                all.emplace_back(name, e.current ? e.current->version() : 0, e.source);
        }
        json ms = json::array();
        for (const auto& [name, serving, ws] : all) {
            json m{{"name", name}, {"serving", serving}, {"watched", ws != nullptr},
                   {"versions", json::array()}, {"previous", json::array()}};
            if (ws) {
                try {
                    auto vs = ws->registry.versions(name);
                    if (vs.size() > versions_shown)
                        vs.erase(vs.begin(), vs.end() - static_cast<std::ptrdiff_t>(versions_shown));
                    for (const auto v : vs) {
                        json vj{{"version", v}};
                        try {
                            vj["created"] = ws->registry.manifest(name, v).created;
                        } catch (const std::exception& ex) {
                            vj["error"] = detail::serve::printable(ex.what(), 200);
                        }
                        m["versions"].push_back(std::move(vj));
                    }
                    if (const auto ptr = ws->registry.pointer(name)) {
                        auto h = ptr->history;
                        if (h.size() > versions_shown)
                            h.erase(h.begin(), h.end() - static_cast<std::ptrdiff_t>(versions_shown));
                        m["previous"] = h;
                    }
                } catch (const std::exception& ex) {
                    m["error"] = detail::serve::printable(ex.what(), 300);
                }
            }
            ms.push_back(std::move(m));
        }
        d["models"] = std::move(ms);
        return d;
    }

    /// POST .../versions/{v}/promote (version set) or .../rollback: move the registry's
    /// serving pointer, then switch to it here at once.
    Response change_serving(const Request& req, const std::string& name,
                            std::optional<std::uint64_t> version) {
        const std::string quoted = quoted_model(name);
        std::shared_ptr<const WatchSource> src;
        {
            std::shared_lock lock(models_m);
            src = served_entry(name, quoted).source;
        }
        if (!src)
            throw Error{status::conflict,
                        quoted + " is a fixed model, not watched from a registry: nothing to " +
                            (version ? "promote" : "roll back")};
        const char* action = version ? "promote" : "rollback";
        std::uint64_t target = 0;
        // Held from the pointer write to the switch, so the polling reloader cannot see the
        // new pointer first and record the change as a plain reload.
        std::lock_guard reloading(reload_m);
        try {
            Registry registry = src->registry;
            if (version) {
                if (!registry.has(name, *version))
                    throw Error{status::not_found, quoted + " has no version " + std::to_string(*version)};
                registry.promote(name, *version);
                target = *version;
            } else {
                target = registry.rollback(name);
            }
        } catch (const Error&) {
            throw;
        } catch (const std::exception& ex) {
            throw Error{status::conflict, quoted + ": " + action + " refused: " + ex.what()};
        }
        reload_locked(action);
        const auto now = [&]() -> std::uint64_t {
            std::shared_lock lock(models_m);
            const auto it = models.find(name);
            return it != models.end() && it->second.current ? it->second.current->version() : 0;
        }();
        if (now != target) {
            std::string why;
            {
                std::lock_guard lock(errors_m);
                if (const auto it = load_errors.find(name); it != load_errors.end()) why = it->second;
            }
            throw Error{status::internal_server_error,
                        quoted + ": the registry now points at v" + std::to_string(target) +
                            " but it did not load here" + (why.empty() ? "" : ": " + why) +
                            "; still serving v" + std::to_string(now)};
        }
        return json_response(req, status::ok, json{{"name", name}, {"serving", target},
                                                   {"action", action}});
    }

    // --- connections ----------------------------------------------------------------------

    void track(const std::shared_ptr<Session>& s) {
        std::lock_guard lock(sessions_m);
        if (sessions.size() > 256)
            std::erase_if(sessions, [](const auto& w) { return w.expired(); });
        sessions.push_back(s);
    }

    void accept();
    void run_worker() {
        // A handler that throws must not take the worker (and the process) down with it.
        for (;;) {
            try {
                ioc.run();
                return;
            } catch (...) {
                handler_failures.fetch_add(1, std::memory_order_relaxed);
            }
        }
    }

    ServerOptions opt;
    detail::serve::net::io_context ioc{static_cast<int>(opt.threads)};
    std::optional<detail::serve::ssl::context> ssl_ctx;
    detail::serve::net::strand<detail::serve::net::io_context::executor_type> accept_strand;
    detail::serve::tcp::acceptor acceptor;
    detail::serve::net::steady_timer accept_timer;
    std::vector<std::thread> threads;
    std::thread reloader;
    std::thread sampler;

    std::shared_mutex models_m;
    std::map<std::string, detail::serve::ModelEntry> models;
    std::mutex reload_m;            // the watched list and its reload state
    std::vector<Watched> watched;
    std::mutex demand_m;            // one on-demand version load at a time
    mutable std::mutex errors_m;    // load_errors
    std::map<std::string, std::string> load_errors;
    std::mutex stats_m;
    std::map<std::string, std::unique_ptr<monitor::ModelStats>> stats;

    std::array<std::atomic<std::uint64_t>, 6> http_by_class{};
    std::atomic<std::uint64_t> reloads{0}, reload_failures{0}, observer_failures{0};
    std::atomic<std::uint64_t> accept_errors{0}, connections_refused{0}, handler_failures{0};
    std::atomic<std::size_t> connections{0};
    std::atomic<std::shared_ptr<const Observer>> observer;
    std::atomic<std::shared_ptr<const MetricsExtra>> metrics_extra;
    std::array<std::atomic<std::uint64_t>, 600> by_status{}; // answers per status code
    std::atomic<std::uint64_t> dashboard_failures{0};
    std::atomic<std::shared_ptr<const Sources>> sources;
    std::unique_ptr<monitor::DashboardSeries> series;
    // The sampling thread's own state: the counters at the previous point. They start from
    // zero at construction, so the first point counts every request before it, even when
    // the sampling thread starts late.
    std::chrono::steady_clock::time_point last_sample = std::chrono::steady_clock::now();
    monitor::LatencyCounts last_latency{};
    std::uint64_t last_requests = 0;
    std::array<std::uint64_t, 600> last_codes{};

    std::atomic<bool> stopping{false};
    std::atomic<bool> started{false};
    std::atomic<int> in_flight{0};
    std::mutex sessions_m;
    std::vector<std::weak_ptr<Session>> sessions;
    std::mutex stop_m;
    std::condition_variable stop_cv;
    bool stopped = false;
    std::uint16_t bound_port = 0;
};

namespace detail::serve {

template <class Stream>
class HttpSession final : public SessionBase,
                          public std::enable_shared_from_this<HttpSession<Stream>> {
public:
    static constexpr bool tls = !std::is_same_v<Stream, beast::tcp_stream>;

    /// `refuse`: the server is at max_connections; answer 503 at once and close.
    template <class... Args>
    HttpSession(Server::Impl& srv, bool refuse, Args&&... args)
        : srv_(srv), refuse_(refuse), stream_(std::forward<Args>(args)...) {
        if (!refuse_) srv_.connections.fetch_add(1);
    }
    ~HttpSession() override { release(); }

    void run() {
        net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
            if constexpr (tls) {
                beast::get_lowest_layer(self->stream_).expires_after(self->srv_.opt.idle_timeout);
                self->stream_.async_handshake(
                    ssl::stream_base::server,
                    [self](beast::error_code ec) {
                        if (ec) return self->close_now();
                        self->begin();
                    });
            } else {
                self->begin();
            }
        });
    }

    void post_shutdown() override {
        net::post(stream_.get_executor(), [self = this->shared_from_this()] {
            if (self->busy_) self->close_after_ = true;
            else self->close_now();
        });
    }

private:
    void begin() {
        if (!refuse_) return read();
        busy_ = true;
        ++srv_.in_flight;
        try {
            res_ = srv_.over_capacity();
        } catch (...) {
            --srv_.in_flight;
            return close_now();
        }
        write(true);
    }

    void read() {
        if (srv_.stopping) return close();
        parser_.emplace();
        srv_.configure(*parser_);
        beast::get_lowest_layer(stream_).expires_after(srv_.opt.idle_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                             self->on_read(ec);
                         });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
            ec == beast::error::timeout || ec == net::error::eof ||
            ec == net::error::connection_reset)
            return close();
        busy_ = true;
        ++srv_.in_flight;
        bool keep = false;
        try {
            if (ec) {
                // The request could not be parsed: say why, then close (the stream is out of step).
                res_ = srv_.parse_failure(ec);
            } else {
                const Request& req = parser_->get();
                res_ = srv_.answer(req);
                keep = req.keep_alive() && !srv_.stopping && !close_after_;
            }
            res_.keep_alive(keep);
        } catch (...) {
            // Out of memory even for the fallback answer: drop this connection, keep the rest.
            busy_ = false;
            --srv_.in_flight;
            return close_now();
        }
        write(!keep);
    }

    void write(bool close_after) {
        beast::get_lowest_layer(stream_).expires_after(srv_.opt.idle_timeout);
        http::async_write(stream_, res_,
                          [self = this->shared_from_this(), close_after](beast::error_code ec,
                                                                           std::size_t) {
                              self->busy_ = false;
                              --self->srv_.in_flight;
                              if (ec || close_after || self->close_after_) return self->close();
                              self->read();
                          });
    }

    // A closing connection (draining, shutting TLS down) no longer counts against the cap.
    void release() {
        if (!refuse_ && !released_) srv_.connections.fetch_sub(1);
        released_ = true;
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        release();
        parser_.reset();
        res_ = {};
        if constexpr (tls) {
            beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
            stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
                beast::error_code ignored;
                beast::get_lowest_layer(self->stream_).socket().close(ignored);
            });
        } else {
            // Half-close, then discard what the client still sends for a moment: closing with
            // unread bytes would reset the connection and could destroy the answer in flight.
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            stream_.expires_after(std::chrono::seconds(1));
            drain();
        }
    }

    void drain() {
        stream_.async_read_some(net::buffer(drain_buf_),
                                [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                                    if (!ec) return self->drain();
                                    beast::error_code ignored;
                                    beast::get_lowest_layer(self->stream_).socket().close(ignored);
                                });
    }

    void close_now() {
        closed_ = true;
        release();
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).socket().close(ignored);
    }

    Server::Impl& srv_;
    bool refuse_;
    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Response res_;
    std::array<char, 512> drain_buf_{};
    bool busy_ = false;
    bool close_after_ = false;
    bool closed_ = false;
    bool released_ = false;
};

} // namespace detail::serve

void Server::Impl::accept() {
    namespace s = detail::serve;
    acceptor.async_accept(s::net::make_strand(ioc), [this](s::beast::error_code ec,
                                                           s::tcp::socket socket) {
        if (stopping || !acceptor.is_open()) return;
        if (ec) {
            accept_errors.fetch_add(1, std::memory_order_relaxed);
            if (ec == s::net::error::connection_aborted) return accept();
            // Out of descriptors (EMFILE, ENFILE) or memory: the pending connection stays
            // queued and accepting again at once would fail again at once, spinning a core.
            accept_timer.expires_after(std::chrono::milliseconds(100));
            accept_timer.async_wait([this](s::beast::error_code) {
                if (!stopping && acceptor.is_open()) accept();
            });
            return;
        }
        try {
            socket.set_option(s::tcp::no_delay(true), ec);
            const bool refuse = connections.load() >= opt.max_connections;
            if (refuse) connections_refused.fetch_add(1, std::memory_order_relaxed);
            if (ssl_ctx) {
                auto sess = std::make_shared<s::HttpSession<s::beast::ssl_stream<s::beast::tcp_stream>>>(
                    *this, refuse, std::move(socket), *ssl_ctx);
                if (!refuse) track(sess);
                sess->run();
            } else {
                auto sess = std::make_shared<s::HttpSession<s::beast::tcp_stream>>(
                    *this, refuse, std::move(socket));
                if (!refuse) track(sess);
                sess->run();
            }
        } catch (...) {
            accept_errors.fetch_add(1, std::memory_order_relaxed);
        }
        accept();
    });
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() { stop(); }

void Server::add_model(std::shared_ptr<const ServedModel> model) {
    if (!model) throw config_error("Server::add_model: null model");
    std::unique_lock lock(impl_->models_m);
    auto& e = impl_->models[model->name()];
    e.current = std::move(model);
    e.others.clear();
    e.source = nullptr;
}

void Server::watch(const Registry& registry, std::string name, ModelFactory factory) {
    if (!factory) throw config_error("Server::watch: no model factory for '" + name + "'");
    (void)registry.versions(name); // checks the name
    auto src = std::make_shared<const Impl::WatchSource>(
        Impl::WatchSource{registry, name, std::move(factory)});
    {
        std::lock_guard lock(impl_->reload_m);
        {
            std::unique_lock mlock(impl_->models_m);
            impl_->models[name].source = src;
        }
        impl_->watched.push_back(Impl::Watched{src, 0});
        impl_->load_watched(impl_->watched.back());
    }
    impl_->start_reloader(); // a watch after start() is polled too
}

void Server::start() {
    namespace s = detail::serve;
    if (impl_->started.exchange(true)) throw config_error("Server::start: already started");
    s::beast::error_code ec;
    const auto addr = s::net::ip::make_address(impl_->opt.address, ec);
    if (ec) throw config_error("ServerOptions: address '" + impl_->opt.address + "': " + ec.message());
    const s::tcp::endpoint ep(addr, impl_->opt.port);
    auto& a = impl_->acceptor;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(s::net::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(s::net::socket_base::max_listen_connections, ec);
    if (ec)
        throw config_error("Server: cannot listen on " + impl_->opt.address + ":" +
                           std::to_string(impl_->opt.port) + ": " + ec.message());
    impl_->bound_port = a.local_endpoint().port();
    s::net::dispatch(impl_->accept_strand, [this] { impl_->accept(); });
    for (std::size_t i = 0; i < impl_->opt.threads; ++i)
        impl_->threads.emplace_back([this] { impl_->run_worker(); });
    bool any_watched;
    {
        std::lock_guard lock(impl_->reload_m);
        any_watched = !impl_->watched.empty();
    }
    if (any_watched) impl_->start_reloader();
    impl_->start_sampler();
}

std::uint16_t Server::port() const { return impl_->bound_port; }

bool Server::reload() { return impl_->reload(); }

std::string Server::handle(std::string_view request) { return impl_->handle_raw(request); }

void Server::stop() {
    namespace s = detail::serve;
    auto& I = *impl_;
    {
        std::lock_guard lock(I.stop_m);
        if (I.stopped) return;
        I.stopping = true;
    }
    I.stop_cv.notify_all();
    if (I.reloader.joinable()) I.reloader.join();
    if (I.sampler.joinable()) I.sampler.join();
    if (I.started) {
        s::net::post(I.accept_strand, [&I] {
            s::beast::error_code ignored;
            I.acceptor.close(ignored);
            I.accept_timer.cancel();
        });
        std::vector<std::weak_ptr<Impl::Session>> live;
        {
            std::lock_guard lock(I.sessions_m);
            live.swap(I.sessions);
        }
        for (auto& w : live)
            if (auto sp = w.lock()) sp->post_shutdown();
        const auto deadline = std::chrono::steady_clock::now() + I.opt.drain_timeout;
        const auto all_closed = [&] {
            return std::all_of(live.begin(), live.end(), [](const auto& w) { return w.expired(); });
        };
        while ((I.in_flight > 0 || !all_closed()) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        I.ioc.stop();
        for (auto& t : I.threads)
            if (t.joinable()) t.join();
    }
    {
        std::lock_guard lock(I.stop_m);
        I.stopped = true;
    }
    I.stop_cv.notify_all();
}

void Server::wait() {
    std::unique_lock lock(impl_->stop_m);
    impl_->stop_cv.wait(lock, [this] { return impl_->stopping.load(); });
}

std::optional<std::uint64_t> Server::serving_version(const std::string& name) const {
    std::shared_lock lock(impl_->models_m);
    const auto it = impl_->models.find(name);
    if (it == impl_->models.end() || !it->second.current) return std::nullopt;
    return it->second.current->version();
}

monitor::ModelStats& Server::stats(const std::string& name) { return impl_->stats_for(name); }

void Server::set_observer(std::function<void(const InferenceRecord&)> observer) {
    impl_->observer.store(std::make_shared<const Impl::Observer>(std::move(observer)));
}

void Server::set_metrics_extra(std::function<std::string()> extra) {
    impl_->metrics_extra.store(std::make_shared<const Impl::MetricsExtra>(std::move(extra)));
}

void Server::set_dashboard_sources(DashboardSources s) {
    auto p = std::make_shared<const DashboardSources>(std::move(s));
    if (p->load) {
        try {
            impl_->series->restore(monitor::DashboardHistory{nullptr, p->load});
        } catch (...) {
            impl_->dashboard_failures.fetch_add(1, std::memory_order_relaxed);
        }
    }
    impl_->sources.store(std::move(p));
}

std::vector<std::string> Server::reload_errors() const {
    std::lock_guard lock(impl_->errors_m);
    std::vector<std::string> out;
    for (const auto& [_, text] : impl_->load_errors) out.push_back(text);
    return out;
}

} // namespace edgestack::deploy
