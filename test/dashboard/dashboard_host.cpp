// The server the dashboard's browser test drives: a registry with two versions of a small
// 4-feature classifier, a drift monitor against a standard-normal reference, and a telemetry
// store holding samples, simulated delayed labels and the dashboard's history.
// Usage: dashboard_host <scratch folder> <bearer token> <admin token>
// Prints "listening <port>" once ready; serves on 127.0.0.1 until its stdin closes.
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/deploy/server_impl.hpp"
#include "edgestack/monitor/drift.hpp"
#include "edgestack/monitor/telemetry.hpp"

using namespace edgestack;

namespace {

constexpr std::size_t features = 4;

// A 4 -> 4 dense layer computing scale * x: the predicted class is the largest feature.
compile::Graph scale_graph(float scale) {
    auto g = compile::Graph::with_input({features});
    compile::Node n;
    n.op = compile::Op::dense;
    n.name = "dense_0";
    n.weights.assign(features * features, 0.0f);
    for (std::size_t i = 0; i < features; ++i) n.weights[i * (features + 1)] = scale;
    n.bias.assign(features, 0.0f);
    g.append(n, {0}, {features});
    return g;
}

std::vector<std::byte> bytes_of(const std::string& s) {
    const auto b = std::as_bytes(std::span(s.data(), s.size()));
    return {b.begin(), b.end()};
}

std::int32_t argmax(std::span<const float> v) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[best]) best = i;
    return static_cast<std::int32_t>(best);
}

monitor::ReferenceSample reference() {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    constexpr std::size_t n = 2000;
    std::vector<float> x(n * features), y(n * features);
    for (auto& v : x) v = normal(rng);
    y = x; // the model's logits are the inputs, scaled
    return monitor::ReferenceSample::build(x, y, n);
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: dashboard_host <scratch folder> <bearer token> <admin token>\n";
        return 2;
    }
    try {
        const std::filesystem::path dir = argv[1];
        deploy::Registry registry(dir / "registry");
        if (registry.versions("classifier").empty()) {
            registry.add("classifier", bytes_of("1.0"), {});
            registry.add("classifier", bytes_of("2.0"), {});
            registry.promote("classifier", 1);
        }
        monitor::TelemetryStore store(dir / "telemetry.db", {.synchronous_full = false});
        monitor::DriftThresholds th;
        th.min_window = 200; // PSI over 10 bins of fewer samples is mostly noise
        monitor::DriftMonitor drift(reference(), th, 500);

        deploy::ServerOptions o;
        o.address = "127.0.0.1";
        o.port = 0;
        o.bearer_token = argv[2];
        o.admin_token = argv[3];
        o.reload_interval = std::chrono::milliseconds(500);
        deploy::Server server(o);

        deploy::DashboardSources src;
        src.feature_psi = [&] {
            // PSI of a handful of samples is noise: nothing until the monitor's minimum window.
            auto r = drift.report();
            return r.enough_data ? r.feature_psi : std::vector<double>{};
        };
        src.psi_threshold = th.feature_psi;
        src.accuracy = [&] { return store.labelled_accuracy(200); };
        src.accuracy_source = "telemetry store, last 200 labels";
        src.save = [&](const std::string& k, const std::string& p) { store.append_history(k, p); };
        src.load = [&](const std::string& k, std::size_t n) { return store.history(k, n); };
        server.set_dashboard_sources(src);

        std::atomic<std::uint64_t> seq{0};
        server.set_observer([&](const deploy::InferenceRecord& r) {
            drift.observe(r.input, r.output, r.batch);
            const std::size_t in = r.model.input_size(), out = r.model.output_size();
            for (std::size_t i = 0; i < r.batch; ++i) {
                const auto x = r.input.subspan(i * in, in);
                const auto predicted = argmax(r.output.subspan(i * out, out));
                const std::uint64_t k = seq.fetch_add(1);
                const std::string id = "s" + std::to_string(k);
                store.add_sample(id, x, predicted);
                // The label "arrives later": here at once, and wrong for one sample in five.
                const std::int32_t truth = argmax(x);
                store.attach_label(id, k % 5 == 0 ? (truth + 1) % static_cast<std::int32_t>(features)
                                                  : truth);
            }
        });
        server.watch(registry, "classifier", [](const deploy::LoadedModel& lm) {
            const std::string s(reinterpret_cast<const char*>(lm.bytes.data()), lm.bytes.size());
            return deploy::make_served_model(lm.manifest.name, lm.manifest.version,
                                             backend::Reference{}.compile(scale_graph(std::stof(s))),
                                             {features}, {features}, 16, "reference fp32");
        });
        server.start();
        std::cout << "listening " << server.port() << std::endl;
        std::string line;
        while (std::getline(std::cin, line)) {
        }
        server.stop();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "dashboard_host: " << e.what() << "\n";
        return 1;
    }
}
