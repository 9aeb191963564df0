// deploy::Server: an HTTP/1.1 inference server speaking the KServe v2 protocol (JSON tensors)
// with Prometheus /metrics, a live /dashboard page, hot reload from a Registry, admin routes
// to promote and roll back, bearer-token auth and TLS.
// Stage 4 (deploy). This header is light; the Boost.Beast implementation is in
// server_impl.hpp, which exactly one translation unit of a program includes. Link
// edgestack::serve.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edgestack/deploy/served_model.hpp"

namespace edgestack::monitor {
struct ModelStats;
}

namespace edgestack::deploy {

class Registry;
struct LoadedModel;

/// Certificate and key of an HTTPS server.
struct TlsOptions {
    std::filesystem::path certificate_chain; ///< PEM
    std::filesystem::path private_key;       ///< PEM
};

/// What a Server listens on, how much it accepts, and how it reloads and drains.
struct ServerOptions {
    /// Loopback by default: exposing a model to the network is a decision, not a default.
    std::string address = "127.0.0.1";
    std::uint16_t port = 8000; ///< 0: an ephemeral port, see Server::port()
    std::size_t threads = 2;   ///< worker threads; each runs requests to completion
    std::size_t body_limit = std::size_t{4} << 20; ///< bytes; larger bodies get 413
    std::size_t header_limit = 16 * 1024; ///< bytes of request line and headers; more get 431
    /// Nesting of arrays and objects in a request body; deeper bodies get 400 before any
    /// JSON is built (a tensor needs its rank plus 3).
    std::size_t json_depth_limit = 32;
    /// Open connections; one more is answered 503 with Retry-After and closed. Memory held
    /// by bodies is bounded by max_connections x body_limit.
    std::size_t max_connections = 128;
    std::size_t max_batch = 64; ///< samples per request
    /// When not empty, every route but /v2/health/* and the /dashboard page itself needs
    /// "Authorization: Bearer <token>".
    std::string bearer_token;
    /// Token of the admin routes (POST /v2/models/{m}/versions/{v}/promote and
    /// /v2/models/{m}/rollback); empty: bearer_token. With both empty the admin routes are
    /// off (403): changing what serves always takes a token.
    std::string admin_token;
    /// GET /dashboard (a self-contained page, no data in it) and GET /dashboard/data (its
    /// JSON, behind bearer_token like every other route). On by default: the page holds
    /// nothing until a client with the token asks for data.
    bool dashboard = true;
    /// How often a dashboard point is taken, and how many points (and events) are kept.
    std::chrono::milliseconds dashboard_interval{1000};
    std::size_t dashboard_points = 600; ///< dashboard points and events kept
    std::optional<TlsOptions> tls;      ///< set: serve HTTPS instead of HTTP
    /// How often watched registries are polled for a newly promoted version; zero: only
    /// when reload() is called.
    std::chrono::milliseconds reload_interval{1000};
    /// A connection idle, sending one request or reading one answer for longer is closed
    /// (slow clients included: the clock runs per request, not per byte).
    std::chrono::seconds idle_timeout{30};
    /// How long stop() waits for requests in flight before closing what is left.
    std::chrono::milliseconds drain_timeout{5000};
};

/// Turns a verified registry version into something the server can run.
using ModelFactory = std::function<std::shared_ptr<const ServedModel>(const LoadedModel&)>;

/// What the observer sees of each successful inference, synchronously on the worker thread
/// (keep it short: drift statistics, sampling into a telemetry store).
struct InferenceRecord {
    const ServedModel& model;      ///< the model version that ran
    std::size_t batch;             ///< samples in the request
    std::span<const float> input;  ///< the request's input values, batch x input_size()
    std::span<const float> output; ///< the outputs returned, batch x output_size()
    double seconds;                ///< engine time
    const std::string& request_id; ///< the request's "id", empty when it had none
};

/// What the dashboard draws beyond the server's own counters, and where it keeps history.
/// Every member may be empty. Each is called from the dashboard's sampling thread (and
/// load/save also from a request that changes the serving version); a throw is counted on
/// /metrics as edgestack_dashboard_failures_total and the point is kept without it.
struct DashboardSources {
    /// Drift per input feature (PSI), e.g. from monitor::DriftMonitor::report().feature_psi.
    std::function<std::vector<double>()> feature_psi;
    double psi_threshold = 0.25; ///< drawn on the chart; above it the page raises an alarm
    /// Delayed-label accuracy (0..1) now, when known, e.g. DelayedAccuracy::accuracy() or
    /// TelemetryStore::labelled_accuracy(); `accuracy_source` names it on the page.
    std::function<std::optional<double>()> accuracy;
    std::string accuracy_source; ///< where `accuracy` comes from, shown beside it
    /// History that outlives the process, e.g. TelemetryStore::append_history / history.
    /// On set_dashboard_sources() the newest points are loaded back.
    std::function<void(const std::string& kind, const std::string& payload)> save;
    /// Loads back the newest `limit` payloads of a kind saved by `save`.
    std::function<std::vector<std::string>(const std::string& kind, std::size_t limit)> load;
};

/// The KServe v2 inference server: serves registry models (or models added directly) over
/// HTTP or HTTPS with Prometheus /metrics, hot reload on promotion and a dashboard. The
/// Boost.Beast implementation is in deploy/server_impl.hpp: include it in exactly one .cpp.
class Server {
public:
    /// Nothing listens until start(); throws config_error for options that cannot work.
    explicit Server(ServerOptions options = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Serve a fixed model (no reload). A second model with the same name replaces it.
    void add_model(std::shared_ptr<const ServedModel> model);

    /// Serve the registry's serving version of `name`, and switch to a newly promoted one
    /// when it appears (requests in flight finish on the version they started with).
    /// Versions other than the serving one are loaded on demand for /versions/{v}/ routes.
    /// May be called before or after start().
    void watch(const Registry& registry, std::string name, ModelFactory factory);

    /// Bind, listen and start the worker threads; returns at once.
    void start();
    /// The bound port (useful with port 0).
    std::uint16_t port() const;
    /// Check every watched registry now; true when some model changed version. A version
    /// that fails to load or verify is skipped and the current one keeps serving.
    bool reload();
    /// Stop accepting, finish requests in flight (up to drain_timeout), join the workers.
    void stop();
    /// Block until stop() has been called (from another thread or a signal handler thread).
    void wait();

    /// The version now serving `name`, if any.
    std::optional<std::uint64_t> serving_version(const std::string& name) const;
    /// Counters and latency of one model (created on first use).
    monitor::ModelStats& stats(const std::string& name);
    /// Called after every successful inference. Safe to call at any time: requests running
    /// finish with the observer they started with.
    void set_observer(std::function<void(const InferenceRecord&)> observer);
    /// Appended to /metrics (Prometheus text): drift gauges, accuracy, store backlog. Safe
    /// to call at any time.
    void set_metrics_extra(std::function<std::string()> extra);
    /// Where the dashboard's drift, accuracy and history come from (see DashboardSources).
    /// Call before start() so the charts begin with the stored history.
    void set_dashboard_sources(DashboardSources sources);
    /// Last load failure per model (of the serving version or of one asked for by URL),
    /// empty when none; also on /metrics as edgestack_reload_error{model,error}.
    std::vector<std::string> reload_errors() const;
    /// Answer one raw HTTP/1.1 request (the bytes a client would send) without a socket,
    /// through the same parser, limits and routes as a connection; returns the raw response.
    /// Works before start(); for tests and fuzzing.
    std::string handle(std::string_view request);

    /// The implementation, defined in deploy/server_impl.hpp; not part of the API.
    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

} // namespace edgestack::deploy
