// The Boost.Beast implementation of deploy::Server. Include it in exactly one translation
// unit of a program (Beast is slow to compile, and Server's members are defined here
// non-inline, once); every other file includes server.hpp only.
// Stage 4 (deploy). Link edgestack::serve.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
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

struct Watched {
    Registry registry;
    std::string name;
    ModelFactory factory;
    std::uint64_t failed_version = 0; // a version that failed: not retried until the pointer moves
    std::string last_error;
};

struct ModelEntry {
    std::shared_ptr<const ServedModel> current;
    std::vector<std::shared_ptr<const ServedModel>> others; // other versions asked for by URL
    int watch_index = -1;
};

/// An error answer: status and the message that says what to fix.
struct HttpError {
    http::status status;
    std::string message;
};

struct SessionBase {
    virtual ~SessionBase() = default;
    /// Ask the session to close on its own strand: at once when idle, after its reply when busy.
    virtual void post_shutdown() = 0;
};

inline std::string shape_text(const std::vector<std::size_t>& d) {
    std::string s;
    for (std::size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + std::to_string(d[i]);
    return s;
}

inline json shape_json(const std::vector<std::size_t>& per_sample) {
    json s = json::array({-1});
    for (auto d : per_sample) s.push_back(d);
    return s;
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

/// Append every number of a (possibly nested) JSON array to `out`, in row-major order.
inline void flatten_numbers(const json& j, std::vector<float>& out, std::size_t limit,
                            const std::string& where) {
    if (j.is_array()) {
        for (const auto& e : j) {
            flatten_numbers(e, out, limit, where);
            if (out.size() > limit) return;
        }
        return;
    }
    if (!j.is_number())
        throw HttpError{http::status::bad_request,
                        where + "[" + std::to_string(out.size()) + "] is a " + j.type_name() +
                            ", not a number"};
    out.push_back(j.get<float>());
}

inline bool known_numeric_datatype(const std::string& t) {
    static constexpr std::array<std::string_view, 11> ok{"FP32",  "FP64",  "FP16",  "INT8",
                                                         "INT16", "INT32", "INT64", "UINT8",
                                                         "UINT16", "UINT32", "UINT64"};
    return std::find(ok.begin(), ok.end(), t) != ok.end() && t != "FP16";
}

} // namespace detail::serve

struct Server::Impl {
    using Session = detail::serve::SessionBase;
    using Error = detail::serve::HttpError;
    using json = detail::serve::json;
    using Request = detail::serve::Request;
    using Response = detail::serve::Response;
    using Watched = detail::serve::Watched;

    explicit Impl(ServerOptions o) : opt(std::move(o)), acceptor(ioc) {
        if (opt.threads == 0) throw config_error("ServerOptions: threads must be >= 1");
        if (opt.max_batch == 0) throw config_error("ServerOptions: max_batch must be >= 1");
        if (opt.body_limit < 64) throw config_error("ServerOptions: body_limit must be >= 64 bytes");
        if (opt.tls) {
            namespace ssl = detail::serve::ssl;
            ssl_ctx.emplace(ssl::context::tls_server);
            ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                 ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                 ssl::context::no_tlsv1_1);
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

    std::shared_ptr<const ServedModel> find(const std::string& name,
                                            std::optional<std::uint64_t> version) {
        int watch_index = -1;
        {
            std::shared_lock lock(models_m);
            const auto it = models.find(name);
            if (it == models.end())
                throw Error{detail::serve::http::status::not_found,
                            "model '" + name + "' is not served here"};
            const auto& e = it->second;
            if (!version) {
                if (!e.current)
                    throw Error{detail::serve::http::status::service_unavailable,
                                "model '" + name + "' has no version loaded yet"};
                return e.current;
            }
            if (e.current && e.current->version() == *version) return e.current;
            for (const auto& m : e.others)
                if (m->version() == *version) return m;
            watch_index = e.watch_index;
        }
        const std::string what = "model '" + name + "' has no version " + std::to_string(*version);
        if (watch_index < 0) throw Error{detail::serve::http::status::not_found, what};
        std::lock_guard reload_lock(reload_m);
        auto& w = watched[static_cast<std::size_t>(watch_index)];
        if (!w.registry.has(name, *version))
            throw Error{detail::serve::http::status::not_found, what};
        std::shared_ptr<const ServedModel> m;
        try {
            m = w.factory(w.registry.load(name, *version));
        } catch (const std::exception& ex) {
            throw Error{detail::serve::http::status::internal_server_error,
                        "model '" + name + "' version " + std::to_string(*version) +
                            " failed to load: " + ex.what()};
        }
        std::unique_lock lock(models_m);
        auto& others = models[name].others;
        if (others.size() >= detail::serve::version_cache) others.erase(others.begin());
        others.push_back(m);
        return m;
    }

    bool load_watched(Watched& w) {
        std::optional<std::uint64_t> v;
        try {
            v = w.registry.serving(w.name);
        } catch (const std::exception& ex) {
            w.last_error = ex.what();
            ++reload_failures;
            return false;
        }
        if (!v) return false;
        {
            std::shared_lock lock(models_m);
            const auto it = models.find(w.name);
            if (it != models.end() && it->second.current && it->second.current->version() == *v)
                return false;
        }
        if (w.failed_version == *v) return false;
        try {
            auto m = w.factory(w.registry.load(w.name, *v));
            if (!m) throw config_error("the model factory returned nothing");
            if (m->name() != w.name || m->version() != *v)
                throw config_error("the model factory returned " + m->name() + " v" +
                                   std::to_string(m->version()) + " for " + w.name + " v" +
                                   std::to_string(*v));
            std::unique_lock lock(models_m);
            models[w.name].current = std::move(m);
            w.last_error.clear();
            w.failed_version = 0;
            ++reloads;
            return true;
        } catch (const std::exception& ex) {
            w.failed_version = *v;
            w.last_error = w.name + " v" + std::to_string(*v) + ": " + ex.what();
            ++reload_failures;
            return false;
        }
    }

    bool reload() {
        std::lock_guard lock(reload_m);
        bool changed = false;
        for (auto& w : watched) changed = load_watched(w) || changed;
        return changed;
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

    Response answer(const Request& req) {
        namespace http = detail::serve::http;
        const auto target = req.target();
        const auto parts =
            detail::serve::split_target(std::string_view(target.data(), target.size()));
        std::string model_name;
        try {
            Response r = route(req, parts, model_name);
            count(r.result_int(), model_name);
            return r;
        } catch (const Error& e) {
            Response r = error_response(req, e.status, e.message);
            if (e.status == http::status::unauthorized)
                r.set(http::field::www_authenticate, "Bearer");
            count(r.result_int(), model_name);
            return r;
        } catch (const std::exception& e) {
            Response r = error_response(req, http::status::internal_server_error, e.what());
            count(r.result_int(), model_name);
            return r;
        }
    }

    void count(unsigned status, const std::string& model_name) {
        const std::size_t cls = std::min<std::size_t>(status / 100, 5);
        http_by_class[cls].fetch_add(1, std::memory_order_relaxed);
        if (model_name.empty() || status < 400) return;
        bool known;
        {
            std::shared_lock lock(models_m);
            known = models.count(model_name) != 0;
        }
        if (!known) return; // do not let clients create stats entries for made-up names
        auto& s = stats_for(model_name);
        (status >= 500 ? s.server_errors : s.client_errors).fetch_add(1);
    }

    static Response json_response(const Request& req, detail::serve::http::status st,
                                  const json& body) {
        Response r{st, req.version()};
        r.set(detail::serve::http::field::server, "edgestack");
        r.set(detail::serve::http::field::content_type, "application/json");
        r.body() = body.dump();
        r.prepare_payload();
        return r;
    }

    static Response error_response(const Request& req, detail::serve::http::status st,
                                   const std::string& message) {
        return json_response(req, st, json{{"error", message}});
    }

    void check_auth(const Request& req) {
        if (opt.bearer_token.empty()) return;
        const auto h = req[detail::serve::http::field::authorization];
        const std::string_view prefix = "Bearer ";
        const std::string_view got(h.data(), h.size());
        const bool ok = got.size() == prefix.size() + opt.bearer_token.size() &&
                        got.substr(0, prefix.size()) == prefix &&
                        CRYPTO_memcmp(got.data() + prefix.size(), opt.bearer_token.data(),
                                      opt.bearer_token.size()) == 0;
        if (!ok)
            throw Error{detail::serve::http::status::unauthorized,
                        h.empty() ? "missing 'Authorization: Bearer <token>' header"
                                  : "wrong bearer token"};
    }

    static void require_method(const Request& req, detail::serve::http::verb v) {
        if (req.method() != v)
            throw Error{detail::serve::http::status::method_not_allowed,
                        std::string(req.method_string()) + " " + std::string(req.target()) +
                            ": use " + std::string(detail::serve::http::to_string(v))};
    }

    static std::uint64_t parse_version(const std::string& s) {
        std::uint64_t v = 0;
        if (!deploy::detail::parse_version(s, v))
            throw Error{detail::serve::http::status::bad_request,
                        "version '" + s + "' is not a positive integer"};
        return v;
    }

    Response route(const Request& req, const std::vector<std::string>& p, std::string& model) {
        namespace http = detail::serve::http;
        using http::verb;
        const auto n = p.size();
        if (n == 3 && p[0] == "v2" && p[1] == "health" && (p[2] == "live" || p[2] == "ready")) {
            require_method(req, verb::get);
            if (p[2] == "live") return json_response(req, http::status::ok, json{{"live", true}});
            const bool r = ready();
            return json_response(req, r ? http::status::ok : http::status::service_unavailable,
                                 json{{"ready", r}});
        }
        check_auth(req);
        if (n == 1 && p[0] == "metrics") {
            require_method(req, verb::get);
            Response r{http::status::ok, req.version()};
            r.set(http::field::server, "edgestack");
            r.set(http::field::content_type, "text/plain; version=0.0.4");
            r.body() = metrics_text();
            r.prepare_payload();
            return r;
        }
        if (n == 1 && p[0] == "v2") {
            require_method(req, verb::get);
            return json_response(req, http::status::ok,
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
                return json_response(req, http::status::ok,
                                     json{{"name", m->name()},
                                          {"version", std::to_string(m->version())},
                                          {"ready", !stopping.load()}});
            }
            if (n == k + 1 && p[k] == "infer") {
                require_method(req, verb::post);
                return infer(req, find(model, version));
            }
        }
        throw Error{http::status::not_found, "no route for " + std::string(req.method_string()) +
                                                 " " + std::string(req.target())};
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
            req, detail::serve::http::status::ok,
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
        namespace http = detail::serve::http;
        const ServedModel& m = *mp;
        const auto bad = [](std::string msg) { return Error{http::status::bad_request, std::move(msg)}; };
        json body;
        try {
            body = json::parse(req.body());
        } catch (const json::parse_error& e) {
            throw bad("request body is not valid JSON: byte " + std::to_string(e.byte) + ": " +
                      e.what());
        }
        if (!body.is_object()) throw bad("request body must be a JSON object with 'inputs'");
        if (!body.contains("inputs") || !body["inputs"].is_array())
            throw bad("field 'inputs' is missing or not an array");
        const auto& inputs = body["inputs"];
        if (inputs.size() != 1)
            throw bad("field 'inputs' has " + std::to_string(inputs.size()) + " tensors; model '" +
                      m.name() + "' takes exactly one, named '" + detail::serve::input_name + "'");
        const auto& t = inputs[0];
        if (!t.is_object()) throw bad("inputs[0] must be an object");
        for (const char* key : {"name", "shape", "datatype", "data"})
            if (!t.contains(key)) throw bad(std::string("inputs[0].") + key + " is missing");
        if (!t["name"].is_string() || t["name"].get<std::string>() != detail::serve::input_name)
            throw bad("inputs[0].name is " + t["name"].dump() + "; model '" + m.name() +
                      "' has one input, named '" + detail::serve::input_name + "'");
        if (!t["datatype"].is_string()) throw bad("inputs[0].datatype must be a string");
        const auto datatype = t["datatype"].get<std::string>();
        if (!detail::serve::known_numeric_datatype(datatype))
            throw bad("inputs[0].datatype '" + datatype +
                      "' is not supported; use FP32 (or FP64, INT8..INT64, UINT8..UINT64)");
        const auto& shape = t["shape"];
        if (!shape.is_array() || shape.size() < 2)
            throw bad("inputs[0].shape must be an array [batch, ...sample dims]");
        std::vector<std::size_t> dims;
        for (std::size_t i = 0; i < shape.size(); ++i) {
            if (!shape[i].is_number_integer() || shape[i].get<std::int64_t>() < 1)
                throw bad("inputs[0].shape[" + std::to_string(i) + "] is " + shape[i].dump() +
                          "; every dimension must be an integer >= 1");
            dims.push_back(shape[i].get<std::size_t>());
        }
        std::size_t per_sample = 1;
        for (std::size_t i = 1; i < dims.size(); ++i) per_sample *= dims[i];
        if (per_sample != m.input_size())
            throw bad("inputs[0].shape " + shape.dump() + " gives " + std::to_string(per_sample) +
                      " values per sample; model '" + m.name() + "' takes " +
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
                    throw bad("outputs[" + std::to_string(i) + "] asks for " + outs[i].dump() +
                              "; model '" + m.name() + "' has one output, named '" +
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
        detail::serve::flatten_numbers(t["data"], x, expected, "inputs[0].data");
        if (x.size() != expected)
            throw bad("inputs[0].data has " + (x.size() > expected ? "more than " : std::string()) +
                      std::to_string(x.size()) + " values; shape " + shape.dump() + " needs " +
                      std::to_string(expected));
        y.assign(batch * m.output_size(), 0.0f);

        auto& st = stats_for(m.name());
        const auto t0 = std::chrono::steady_clock::now();
        const bool ok = m.infer(x, y);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!ok)
            throw Error{http::status::internal_server_error,
                        "model '" + m.name() + "' v" + std::to_string(m.version()) +
                            " refused the batch (engine run failed)"};
        st.latency.record(seconds);
        st.throughput.add();
        st.requests.fetch_add(1, std::memory_order_relaxed);
        st.samples.fetch_add(batch, std::memory_order_relaxed);
        if (observer) {
            // Monitoring must never fail a request that the engine answered.
            try {
                observer(InferenceRecord{m, batch, x, y, seconds, id});
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
        return json_response(req, http::status::ok, res);
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
                 "Promoted versions that failed to load or verify.");
        w.sample("edgestack_reload_failures_total", {}, static_cast<double>(reload_failures.load()));
        w.family("edgestack_observer_failures_total", "counter",
                 "Inferences whose monitoring observer threw (the answer was still sent).");
        w.sample("edgestack_observer_failures_total", {}, static_cast<double>(observer_failures.load()));

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
        if (metrics_extra) text += metrics_extra();
        return text;
    }

    // --- connections ----------------------------------------------------------------------

    void track(const std::shared_ptr<Session>& s) {
        std::lock_guard lock(sessions_m);
        if (sessions.size() > 256)
            std::erase_if(sessions, [](const auto& w) { return w.expired(); });
        sessions.push_back(s);
    }

    void accept();

    ServerOptions opt;
    detail::serve::net::io_context ioc{static_cast<int>(opt.threads)};
    std::optional<detail::serve::ssl::context> ssl_ctx;
    detail::serve::tcp::acceptor acceptor;
    std::vector<std::thread> threads;
    std::thread reloader;

    std::shared_mutex models_m;
    std::map<std::string, detail::serve::ModelEntry> models;
    std::mutex reload_m;
    std::vector<Watched> watched;
    std::mutex stats_m;
    std::map<std::string, std::unique_ptr<monitor::ModelStats>> stats;

    std::array<std::atomic<std::uint64_t>, 6> http_by_class{};
    std::atomic<std::uint64_t> reloads{0}, reload_failures{0}, observer_failures{0};
    std::function<void(const InferenceRecord&)> observer;
    std::function<std::string()> metrics_extra;

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

    template <class... Args>
    HttpSession(Server::Impl& srv, Args&&... args)
        : srv_(srv), stream_(std::forward<Args>(args)...) {}

    void run() {
        net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
            if constexpr (tls) {
                beast::get_lowest_layer(self->stream_).expires_after(self->srv_.opt.idle_timeout);
                self->stream_.async_handshake(
                    ssl::stream_base::server,
                    [self](beast::error_code ec) {
                        if (ec) return self->close_now();
                        self->read();
                    });
            } else {
                self->read();
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
    void read() {
        if (srv_.stopping) return close();
        parser_.emplace();
        parser_->body_limit(srv_.opt.body_limit);
        parser_->header_limit(16 * 1024);
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
        if (ec) {
            // The request could not be parsed: say why, then close (the stream is out of step).
            const bool too_big = ec == http::error::body_limit || ec == http::error::header_limit;
            Request dummy;
            dummy.version(11);
            res_ = Server::Impl::error_response(
                dummy, too_big ? http::status::payload_too_large : http::status::bad_request,
                too_big ? "request too large (" + ec.message() + "); the body limit is " +
                              std::to_string(srv_.opt.body_limit) + " bytes"
                        : "malformed HTTP request: " + ec.message());
            srv_.count(res_.result_int(), {});
            res_.keep_alive(false);
            return write(true);
        }
        const Request& req = parser_->get();
        res_ = srv_.answer(req);
        const bool keep = req.keep_alive() && !srv_.stopping && !close_after_;
        res_.keep_alive(keep);
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

    void close() {
        if (closed_) return;
        closed_ = true;
        if constexpr (tls) {
            beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
            stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
                beast::error_code ignored;
                beast::get_lowest_layer(self->stream_).socket().close(ignored);
            });
        } else {
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            stream_.socket().close(ignored);
        }
    }

    void close_now() {
        closed_ = true;
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).socket().close(ignored);
    }

    Server::Impl& srv_;
    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Response res_;
    bool busy_ = false;
    bool close_after_ = false;
    bool closed_ = false;
};

} // namespace detail::serve

void Server::Impl::accept() {
    namespace s = detail::serve;
    acceptor.async_accept(s::net::make_strand(ioc), [this](s::beast::error_code ec,
                                                           s::tcp::socket socket) {
        if (stopping || !acceptor.is_open()) return;
        if (!ec) {
            socket.set_option(s::tcp::no_delay(true), ec);
            if (ssl_ctx) {
                auto sess = std::make_shared<s::HttpSession<s::beast::ssl_stream<s::beast::tcp_stream>>>(
                    *this, std::move(socket), *ssl_ctx);
                track(sess);
                sess->run();
            } else {
                auto sess = std::make_shared<s::HttpSession<s::beast::tcp_stream>>(*this,
                                                                                   std::move(socket));
                track(sess);
                sess->run();
            }
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
    e.watch_index = -1;
}

void Server::watch(const Registry& registry, std::string name, ModelFactory factory) {
    if (!factory) throw config_error("Server::watch: no model factory for '" + name + "'");
    (void)registry.versions(name); // checks the name
    std::lock_guard lock(impl_->reload_m);
    {
        std::unique_lock mlock(impl_->models_m);
        impl_->models[name].watch_index = static_cast<int>(impl_->watched.size());
    }
    impl_->watched.push_back(Impl::Watched{registry, name, std::move(factory), 0, {}});
    impl_->load_watched(impl_->watched.back());
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
    impl_->accept();
    for (std::size_t i = 0; i < impl_->opt.threads; ++i)
        impl_->threads.emplace_back([this] { impl_->ioc.run(); });
    if (impl_->opt.reload_interval.count() > 0 && !impl_->watched.empty())
        impl_->reloader = std::thread([this] {
            std::unique_lock lock(impl_->stop_m);
            while (!impl_->stopping) {
                impl_->stop_cv.wait_for(lock, impl_->opt.reload_interval);
                if (impl_->stopping) break;
                lock.unlock();
                impl_->reload();
                lock.lock();
            }
        });
}

std::uint16_t Server::port() const { return impl_->bound_port; }

bool Server::reload() { return impl_->reload(); }

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
    if (I.started) {
        s::net::post(I.ioc, [&I] {
            s::beast::error_code ignored;
            I.acceptor.close(ignored);
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
    impl_->observer = std::move(observer);
}

void Server::set_metrics_extra(std::function<std::string()> extra) {
    impl_->metrics_extra = std::move(extra);
}

std::vector<std::string> Server::reload_errors() const {
    std::lock_guard lock(impl_->reload_m);
    std::vector<std::string> out;
    for (const auto& w : impl_->watched)
        if (!w.last_error.empty()) out.push_back(w.last_error);
    return out;
}

} // namespace edgestack::deploy
