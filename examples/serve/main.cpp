// edgestack-serve: serve the promoted versions of registry models over HTTP (KServe v2),
// with Prometheus /metrics, hot reload on promotion, and drift gauges when a version carries
// a drift reference (reference.json).
//
//   edgestack-serve --registry DIR --model NAME [--model NAME ...]   (--help lists them all)
//                   [--address 127.0.0.1] [--port 8000] [--threads 2] [--max-batch 64]
//                   [--body-limit BYTES] [--reload-ms 1000] [--backend simd|reference]
//                   [--token-file FILE] [--tls-cert PEM --tls-key PEM]
//                   [--key-file FILE [--require-signature]]
// SIGINT or SIGTERM stops it gracefully: requests in flight finish first.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pthread.h>

#include <CLI/CLI.hpp>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/deploy/model_files.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/deploy/server_impl.hpp"
#include "edgestack/monitor/drift.hpp"

namespace es = edgestack;

namespace {

struct Options {
    std::string registry;
    std::vector<std::string> models;
    es::deploy::ServerOptions server;
    std::string backend = "simd";
    std::string token_file, tls_cert, tls_key, key_file;
    bool require_signature = false;
};

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr, "edgestack-serve: %s\n", why.c_str());
    std::exit(2);
}

// Parses the command line; --help prints every option and exits 0, a bad line exits 2.
Options parse(int argc, char** argv) {
    Options o;
    o.server.port = 8000;
    std::size_t reload_ms = static_cast<std::size_t>(o.server.reload_interval.count());
    CLI::App app{"edgestack-serve: serve the promoted versions of registry models over HTTP (KServe v2)"};
    app.name("edgestack-serve");
    app.add_option("--registry", o.registry, "Registry folder")->required();
    app.add_option("--model", o.models, "Model name to serve (repeat for several)")->required();
    app.add_option("--address", o.server.address, "Address to listen on")->capture_default_str();
    app.add_option("--port", o.server.port, "Port (0: any free port)")->capture_default_str();
    app.add_option("--threads", o.server.threads, "Worker threads")->capture_default_str();
    app.add_option("--max-batch", o.server.max_batch, "Largest batch one request may carry")->capture_default_str();
    app.add_option("--body-limit", o.server.body_limit, "Largest request body, bytes")->capture_default_str();
    app.add_option("--reload-ms", reload_ms, "How often to look for a newly promoted version")->capture_default_str();
    app.add_option("--backend", o.backend, "Engine backend")->capture_default_str()->check(CLI::IsMember({"simd", "reference"}));
    app.add_option("--token-file", o.token_file, "File holding the bearer token clients must send");
    auto* cert = app.add_option("--tls-cert", o.tls_cert, "PEM certificate: serve HTTPS");
    auto* key = app.add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert");
    cert->needs(key);
    key->needs(cert);
    app.add_option("--key-file", o.key_file, "HMAC key file: verify signed versions");
    app.add_flag("--require-signature", o.require_signature, "Serve only versions with a valid signature (needs --key-file)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::exit(app.exit(e) == 0 ? 0 : 2);
    }
    o.server.reload_interval = std::chrono::milliseconds(reload_ms);
    return o;
}

// Drift monitors per served version, built from the version's reference.json when it has one.
class DriftBoard {
public:
    explicit DriftBoard(const es::deploy::Registry& reg) : reg_(reg) {}

    void observe(const es::deploy::InferenceRecord& r) {
        auto m = monitor_for(r.model.name(), r.model.version());
        if (m) m->observe(r.input, r.output, r.batch);
    }

    std::string prometheus() {
        std::lock_guard lock(m_);
        std::string s;
        for (auto& [name, slot] : slots_)
            if (slot.monitor) s += slot.monitor->prometheus(name);
        return s;
    }

private:
    struct Slot {
        std::uint64_t version = 0;
        std::shared_ptr<es::monitor::DriftMonitor> monitor;
    };

    std::shared_ptr<es::monitor::DriftMonitor> monitor_for(const std::string& name, std::uint64_t v) {
        std::lock_guard lock(m_);
        auto& slot = slots_[name];
        if (slot.version != v) {
            slot.version = v;
            slot.monitor.reset();
            try {
                const auto m = reg_.manifest(name, v);
                if (m.files.count("reference.json")) {
                    const auto bytes = reg_.read_extra(name, v, "reference.json");
                    slot.monitor = std::make_shared<es::monitor::DriftMonitor>(
                        es::monitor::ReferenceSample::from_json(
                            std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                            name + "/" + std::to_string(v) + "/reference.json"));
                }
            } catch (const std::exception& e) {
                std::fprintf(stderr, "edgestack-serve: no drift monitoring for %s v%llu: %s\n",
                             name.c_str(), static_cast<unsigned long long>(v), e.what());
            }
        }
        return slot.monitor;
    }

    const es::deploy::Registry& reg_;
    std::mutex m_;
    std::map<std::string, Slot> slots_;
};

} // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    // Signals are taken by one thread with sigwait; every other thread has them blocked.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    try {
        es::deploy::ServerOptions so = o.server;
        if (!o.token_file.empty()) {
            so.bearer_token = es::deploy::detail::read_text(o.token_file);
            while (!so.bearer_token.empty() &&
                   (so.bearer_token.back() == '\n' || so.bearer_token.back() == '\r'))
                so.bearer_token.pop_back();
            if (so.bearer_token.empty()) usage(o.token_file + " holds an empty token");
        }
        if (!o.tls_cert.empty()) so.tls = es::deploy::TlsOptions{o.tls_cert, o.tls_key};
        const es::deploy::Registry reg(o.registry, {o.key_file, o.require_signature});
        es::deploy::Server server(so);
        const auto factory =
            o.backend == "simd"
                ? es::deploy::model_file_factory(es::backend::Simd{}, so.max_batch,
                                                 "edgestack simd " + std::string(es::isa_name(es::selected_isa())))
                : es::deploy::model_file_factory(es::backend::Reference{}, so.max_batch,
                                                 "edgestack reference");
        for (const auto& m : o.models) server.watch(reg, m, factory);
        for (const auto& e : server.reload_errors())
            std::fprintf(stderr, "edgestack-serve: not loaded: %s\n", e.c_str());
        DriftBoard drift(reg);
        server.set_observer([&](const es::deploy::InferenceRecord& r) { drift.observe(r); });
        server.set_metrics_extra([&] { return drift.prometheus(); });
        server.start();
        std::printf("edgestack-serve: listening on %s://%s:%u (", so.tls ? "https" : "http",
                    so.address.c_str(), server.port());
        for (const auto& m : o.models) {
            const auto v = server.serving_version(m);
            std::printf(" %s=%s", m.c_str(), v ? ("v" + std::to_string(*v)).c_str() : "none");
        }
        std::printf(" )\n");
        std::fflush(stdout);
        int sig = 0;
        sigwait(&set, &sig);
        std::printf("edgestack-serve: signal %d, draining\n", sig);
        server.stop();
        return 0;
    } catch (const es::error& e) {
        std::fprintf(stderr, "edgestack-serve: %s\n", e.what());
        return 1;
    }
}
