// edgestack-serve: serve the promoted versions of registry models over HTTP (KServe v2),
// with Prometheus /metrics, hot reload on promotion, and drift gauges when a version carries
// a drift reference (reference.json).
//
//   edgestack-serve --registry DIR --model NAME [--model NAME ...]
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
    std::fprintf(stderr, "edgestack-serve: %s\n(see the comment at the top of "
                         "examples/serve/main.cpp for the options)\n", why.c_str());
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    o.server.port = 8000;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--require-signature") {
            o.require_signature = true;
            continue;
        }
        if (i + 1 >= argc) usage("option " + k + " needs a value");
        const std::string v = argv[++i];
        const auto num = [&] {
            char* end = nullptr;
            const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
            if (end == v.c_str() || *end != '\0') usage(k + " needs a number, got '" + v + "'");
            return n;
        };
        if (k == "--registry") o.registry = v;
        else if (k == "--model") o.models.push_back(v);
        else if (k == "--address") o.server.address = v;
        else if (k == "--port") o.server.port = static_cast<std::uint16_t>(num());
        else if (k == "--threads") o.server.threads = num();
        else if (k == "--max-batch") o.server.max_batch = num();
        else if (k == "--body-limit") o.server.body_limit = num();
        else if (k == "--reload-ms") o.server.reload_interval = std::chrono::milliseconds(num());
        else if (k == "--backend") o.backend = v;
        else if (k == "--token-file") o.token_file = v;
        else if (k == "--tls-cert") o.tls_cert = v;
        else if (k == "--tls-key") o.tls_key = v;
        else if (k == "--key-file") o.key_file = v;
        else usage("unknown option " + k);
    }
    if (o.registry.empty() || o.models.empty()) usage("--registry and at least one --model are needed");
    if (o.tls_cert.empty() != o.tls_key.empty()) usage("--tls-cert and --tls-key go together");
    if (o.backend != "simd" && o.backend != "reference") usage("--backend is simd or reference");
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
                ? es::deploy::model_file_factory(es::backend::Simd{}, so.max_batch, "edgestack simd")
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
