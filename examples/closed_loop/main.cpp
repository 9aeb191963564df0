// The whole edge-AI loop on Fashion-MNIST in one program: train -> quantize (int8) ->
// register -> serve -> monitor -> drift (the images get brighter) -> retrain on the labelled
// telemetry -> promote only if better on a holdout -> serve the new version.
//
//   closed_loop [--workdir closed-loop-run] [--train 12000] [--epochs 3]
//               [--shift 0.35] [--data /usr/share/datasets/fashion-mnist]
//
// The registry lands in <workdir>/registry: run edgestack-serve on it alongside to watch the
// server pick up the promoted version (see docs/monitor.md). With --serve PORT the traffic
// goes through an inference server in this process, whose /dashboard draws the run live:
// latency, drift crossing its threshold, accuracy, the promotion; --linger S keeps it up
// for S seconds after the loop (to look at it, or to take the picture in docs/monitor.md).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/cli.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/deploy/model_files.hpp"
#include "edgestack/deploy/registry.hpp"
#if defined(EDGESTACK_HAS_SERVE)
#include "edgestack/deploy/server_impl.hpp"
#endif
#include "edgestack/monitor/accuracy.hpp"
#include "edgestack/monitor/drift.hpp"
#include "edgestack/monitor/retrain.hpp"
#include "edgestack/monitor/telemetry.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/quant.hpp"
#include "edgestack/train/history.hpp"
#include "edgestack/train/optimizer.hpp"

namespace es = edgestack;
namespace nn = es::nn;
namespace fs = std::filesystem;

using Net = nn::Sequential<nn::Input<28, 28, 1>, nn::Flatten, nn::Dense<128>, nn::ReLU,
                           nn::Dense<10>>;
using Loop = es::Pipeline<es::data::InMemoryLoader, es::data::NoAugment, Net,
                          es::quant::Ptq<es::quant::MinMax>, es::backend::Simd>;

namespace {

const std::vector<std::string> labels = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                         "sandal",  "shirt",   "sneaker",  "bag",   "ankle boot"};
constexpr std::size_t pixels = 784;
constexpr const char* model_name = "fashion";

struct Options {
    fs::path workdir = "closed-loop-run";
    std::size_t train = 12000, epochs = 3;
    float shift = 0.35f;
    std::string data = EDGESTACK_FASHION_MNIST_DIR;
    std::optional<std::uint16_t> serve_port; // serve the traffic over HTTP, with a dashboard
    double linger = 0.0;                     // seconds to keep serving after the loop
    double rate = 0.0;                       // requests per second at most (0: no limit)
};

Options parse(int argc, char** argv) {
    Options o;
    std::string workdir = o.workdir.string();
    CLI::App app{"closed_loop: train, publish, serve, detect drift, retrain, promote"};
    app.name("closed_loop");
    app.add_option("--workdir", workdir, "Folder for the registry and the run's files")->capture_default_str();
    app.add_option("--train", o.train, "Training samples")->capture_default_str();
    app.add_option("--epochs", o.epochs, "Epochs")->capture_default_str();
    app.add_option("--shift", o.shift, "Brightness shift of the drifted traffic")->capture_default_str();
    app.add_option("--data", o.data, "Fashion-MNIST folder")->capture_default_str();
#if defined(EDGESTACK_HAS_SERVE)
    app.add_option("--serve", o.serve_port,
                   "Send the traffic through an inference server on this port (0: any free one), "
                   "with its /dashboard");
    app.add_option("--linger", o.linger, "With --serve: seconds to keep serving after the loop")
        ->check(CLI::Range(0.0, 86400.0));
    app.add_option("--rate", o.rate, "With --serve: requests (of 50 images) per second at most, "
                                     "so the dashboard's charts have time to draw (0: no limit)")
        ->check(CLI::Range(0.0, 1e6));
#endif
    es::tools::parse_or_exit(app, argc, argv);
    o.workdir = workdir;
    return o;
}

/// Brighter images: every pixel up by `shift`, clipped at white (0 = no change).
es::data::InMemoryLoader slice(const es::data::IdxLoader& src, std::size_t begin, std::size_t n,
                               float shift) {
    std::vector<float> x(n * pixels);
    std::vector<std::int32_t> y(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::span<float> s(x.data() + i * pixels, pixels);
        y[i] = src.read(begin + i, s);
        for (auto& v : s) v = std::min(1.0f, v + shift);
    }
    return {std::move(x), std::move(y), pixels, 10};
}

es::data::InMemoryLoader concat(const es::data::InMemoryLoader& a, const es::data::InMemoryLoader& b) {
    std::vector<float> x((a.size() + b.size()) * pixels);
    std::vector<std::int32_t> y(a.size() + b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
        y[i] = a.read(i, std::span<float>(x.data() + i * pixels, pixels));
    for (std::size_t i = 0; i < b.size(); ++i)
        y[a.size() + i] = b.read(i, std::span<float>(x.data() + (a.size() + i) * pixels, pixels));
    return {std::move(x), std::move(y), pixels, 10};
}

es::compile::Graph int8_graph(const Loop& p) {
    es::compile::Graph g = p.model().lower();
    const_cast<Loop&>(p).quantizer().lower(g);
    return g;
}

/// Per-class metrics of a served model on labelled data, and its accuracy.
double served_accuracy(const es::deploy::ServedModel& m, const es::data::InMemoryLoader& d,
                       std::vector<std::size_t>* confusion = nullptr) {
    std::vector<float> x(pixels), y(10);
    std::size_t correct = 0;
    if (confusion) confusion->assign(100, 0);
    for (std::size_t i = 0; i < d.size(); ++i) {
        const auto truth = static_cast<std::size_t>(d.read(i, x));
        m.infer(x, y);
        const auto pred = static_cast<std::size_t>(std::max_element(y.begin(), y.end()) - y.begin());
        correct += pred == truth;
        if (confusion) ++(*confusion)[truth * 10 + pred];
    }
    return static_cast<double>(correct) / static_cast<double>(d.size());
}

/// The drift reference of a trained pipeline: inputs of `d` and the int8 engine's outputs.
std::vector<std::byte> reference_json(const Loop& p, const es::data::InMemoryLoader& d, std::size_t n) {
    n = std::min(n, d.size());
    const auto engine = p.deploy();
    auto arena = engine.make_arena(n);
    std::vector<float> x(n * pixels), y(n * 10);
    for (std::size_t i = 0; i < n; ++i) d.read(i, std::span<float>(x.data() + i * pixels, pixels));
    engine.run(x, y, arena);
    const std::string text = es::monitor::ReferenceSample::build(x, y, n).to_json();
    const auto b = std::as_bytes(std::span(text.data(), text.size()));
    return {b.begin(), b.end()};
}

es::deploy::ModelInfo describe(const std::string& data_note, double holdout_accuracy,
                               const std::vector<std::size_t>& confusion) {
    auto info = es::deploy::model_file_info();
    info.metrics["holdout_accuracy"] = holdout_accuracy;
    info.card.intended_use = "Classifying 28x28 grey product photos into 10 Fashion-MNIST "
                             "classes, on a device, one image per request.";
    info.card.data = data_note;
    if (!confusion.empty()) info.card.per_class = es::deploy::class_metrics(confusion, 10, labels);
    info.card.quantization = "int8, integer-only: per-channel weights, per-tensor activations "
                             "(min/max post-training calibration, 32 batches of 64).";
    info.card.known_limits = {"A two-layer perceptron: shirts, pullovers and coats are confused.",
                              "Expects images scaled to [0, 1] with a dark background."};
    return info;
}

// The telemetry sink: a JSON-lines file on storage that comes and goes.
struct JsonLinesSink {
    fs::path file;
    bool send(std::span<const es::monitor::TelemetryRecord> batch) {
        std::ofstream out(file, std::ios::app);
        if (!out) return false;
        for (const auto& r : batch)
            out << "{\"seq\":" << r.seq << ",\"time_ms\":" << r.time_ms << ",\"kind\":\"" << r.kind
                << "\",\"payload\":" << (r.payload.empty() ? "null" : r.payload) << "}\n";
        return static_cast<bool>(out.flush());
    }
};

/// What watches the served traffic: drift against the serving version's reference, accuracy
/// once labels arrive, and a sample of inputs in the telemetry store. observe() is called for
/// every answered batch, by the server's observer or directly.
struct Monitoring {
    std::atomic<es::monitor::DriftMonitor*> drift;
    es::monitor::DelayedAccuracy& accuracy;
    es::monitor::TelemetryStore& store;
    std::atomic<std::size_t> batches{0}, samples{0};

    /// Sample i of a batch whose request id is `batch_id` is `batch_id/i`.
    static std::string sample_id(const std::string& batch_id, std::size_t i) {
        return batch_id + "/" + std::to_string(i);
    }
    void observe(const std::string& batch_id, std::span<const float> x, std::span<const float> y,
                 std::size_t n) {
        drift.load()->observe(x, y, n);
        ++batches;
        samples += n;
        for (std::size_t i = 0; i < n; ++i) {
            const float* z = y.data() + i * 10;
            const auto pred = static_cast<std::int32_t>(std::max_element(z, z + 10) - z);
            accuracy.predicted(sample_id(batch_id, i), pred);
            store.add_sample(sample_id(batch_id, i), x.subspan(i * pixels, pixels), pred);
        }
    }
};

/// A KServe v2 request for `n` images, as a client sends it.
std::string infer_request(const std::string& id, std::span<const float> x, std::size_t n) {
    std::string body = "{\"id\":\"" + id + "\",\"inputs\":[{\"name\":\"input\",\"shape\":[" +
                       std::to_string(n) + ",28,28,1],\"datatype\":\"FP32\",\"data\":[";
    char buf[32];
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (i) body += ',';
        body.append(buf, std::to_chars(buf, buf + sizeof buf, x[i]).ptr);
    }
    body += "]}]}";
    return "POST /v2/models/" + std::string(model_name) + "/infer HTTP/1.1\r\nHost: localhost\r\n"
           "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
}

/// Serve `traffic` in batches of 50, as a device would: every request is monitored, sampled
/// into telemetry, and its labels arrive one batch later. With a server, each batch is an
/// HTTP request to it (its observer does the monitoring); without, `model` runs directly.
#if defined(EDGESTACK_HAS_SERVE)
using HttpServer = es::deploy::Server;
#else
struct HttpServer { // never made: this build has no server
    std::string handle(const std::string&) { return {}; }
};
#endif

void serve_traffic(const char* phase, const es::deploy::ServedModel& model, HttpServer* server,
                   const es::data::InMemoryLoader& traffic, Monitoring& mon, double rate = 0.0) {
    constexpr std::size_t batch = 50;
    auto next = std::chrono::steady_clock::now();
    std::vector<float> x(batch * pixels), y(batch * 10);
    std::vector<std::pair<std::string, std::int32_t>> late_labels;
    for (std::size_t start = 0; start < traffic.size(); start += batch) {
        const std::size_t n = std::min(batch, traffic.size() - start);
        const std::string id = std::string(phase) + "-" + std::to_string(start);
        std::vector<std::pair<std::string, std::int32_t>> truth;
        for (std::size_t i = 0; i < n; ++i) {
            const auto label = traffic.read(start + i, std::span<float>(x.data() + i * pixels, pixels));
            truth.emplace_back(Monitoring::sample_id(id, i), label);
        }
        const std::span<const float> in(x.data(), n * pixels);
        if (server) {
            if (rate > 0) {
                std::this_thread::sleep_until(next);
                next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(1.0 / rate));
            }
            const std::string answer = server->handle(infer_request(id, in, n));
            if (answer.rfind("HTTP/1.1 200", 0) != 0)
                throw es::error("the server refused a request: " + answer.substr(0, answer.find('\r')));
        } else {
            model.infer(in, std::span<float>(y.data(), n * 10));
            mon.observe(id, in, std::span<const float>(y.data(), n * 10), n);
        }
        for (const auto& [sid, label] : late_labels) {
            mon.accuracy.labelled(sid, label);
            mon.store.attach_label(sid, label);
        }
        late_labels = std::move(truth);
    }
    for (const auto& [sid, label] : late_labels) {
        mon.accuracy.labelled(sid, label);
        mon.store.attach_label(sid, label);
    }
}

void print_status(const char* phase, const es::monitor::DriftMonitor& drift,
                  const es::monitor::DelayedAccuracy& accuracy) {
    const auto r = drift.report();
    std::printf("  [%s] %zu samples: features drifted %zu/%zu (max PSI %.2f), output PSI %.3f, "
                "KS p(input mean) %.2g, delayed-label accuracy %.3f -> %s\n",
                phase, r.window, r.drifted_features, r.feature_psi.size(), r.max_feature_psi,
                r.output_psi, r.scalars.at(0).ks.p_value, accuracy.accuracy().value_or(0.0),
                r.any() ? "DRIFT" : "ok");
}

} // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    fs::remove_all(o.workdir);
    fs::create_directories(o.workdir);
    const auto train_idx = es::data::load_fashion_mnist(es::data::Split::train, o.data, o.train);
    const auto test_idx = es::data::load_fashion_mnist(es::data::Split::test, o.data, 6000);
    const auto train = slice(train_idx, 0, train_idx.size(), 0.0f);
    const auto holdout = slice(test_idx, 0, 1000, 0.0f);

    std::printf("1. train %zu images, %zu epochs, then quantize to int8\n", train.size(), o.epochs);
    Loop loop(0x5eed);
    es::train::Adam adam(1e-3f);
    es::train::HistoryWriter history(o.workdir / "history.jsonl"); // `edgestack plot` draws it
    loop.fit(train, adam, {o.epochs, 64, true, false}, history);
    loop.calibrate(train, 32, 64);

    std::printf("2. register and promote v1\n");
    es::deploy::Registry reg(o.workdir / "registry");
    const auto factory = es::deploy::model_file_factory(es::backend::Simd{}, 64, "edgestack simd");
    std::vector<std::size_t> confusion;
    {
        // Score the int8 engine exactly as it will be served.
        const auto bytes = es::deploy::model_file_bytes(int8_graph(loop));
        es::deploy::LoadedModel probe{{}, bytes, o.workdir, false};
        probe.manifest.name = model_name;
        probe.manifest.version = 1;
        probe.manifest.model_file = "model.edgemdl";
        const double acc = served_accuracy(*factory(probe), holdout, &confusion);
        auto info = describe("Fashion-MNIST train split, first " + std::to_string(train.size()) +
                                 " images; holdout: first 1000 of the test split.",
                             acc, confusion);
        info.extra_files.push_back({"reference.json", reference_json(loop, train, 2000)});
        reg.promote(model_name, reg.add(model_name, bytes, info));
        std::printf("   v1 holdout accuracy %.4f (int8); files in %s\n", acc,
                    (o.workdir / "registry" / model_name / "1").string().c_str());
    }

    std::printf("3. serve normal traffic, then traffic that got brighter by %.2f\n", o.shift);
    auto served = factory(reg.load_serving(model_name));
    auto reference_of = [&](std::uint64_t v) {
        const auto b = reg.read_extra(model_name, v, "reference.json");
        return es::monitor::ReferenceSample::from_json(
            std::string(reinterpret_cast<const char*>(b.data()), b.size()), "reference.json");
    };
    es::monitor::DriftMonitor drift(reference_of(served->version()));
    std::optional<es::monitor::DriftMonitor> drift2; // the promoted version's, later
    es::monitor::DelayedAccuracy accuracy(500);
    es::monitor::TelemetryStore store(o.workdir / "telemetry.db", {100000, 20000, false});
    Monitoring mon{&drift, accuracy, store, {}, {}};
    std::unique_ptr<HttpServer> server; // after what it reads, so it stops first
#if defined(EDGESTACK_HAS_SERVE)
    if (o.serve_port) {
        es::deploy::ServerOptions so;
        so.port = *o.serve_port;
        so.reload_interval = std::chrono::milliseconds(200);
        so.dashboard_interval = std::chrono::milliseconds(250);
        server = std::make_unique<HttpServer>(so);
        es::deploy::DashboardSources src;
        src.feature_psi = [&mon] {
            const auto r = mon.drift.load()->report();
            return r.enough_data ? r.feature_psi : std::vector<double>{};
        };
        src.psi_threshold = drift.thresholds().feature_psi;
        src.accuracy = [&accuracy] { return accuracy.accuracy(); };
        src.accuracy_source = "delayed labels, last 500";
        src.save = [&store](const std::string& k, const std::string& p) { store.append_history(k, p); };
        src.load = [&store](const std::string& k, std::size_t n) { return store.history(k, n); };
        server->set_dashboard_sources(src);
        server->set_observer([&mon](const es::deploy::InferenceRecord& r) {
            mon.observe(r.request_id, r.input, r.output, r.batch);
        });
        server->watch(reg, model_name, factory);
        server->start();
        std::printf("   serving on http://127.0.0.1:%u/v2/models/%s, dashboard at "
                    "http://127.0.0.1:%u/dashboard\n",
                    server->port(), model_name, server->port());
    }
#endif
    serve_traffic("normal", *served, server.get(), slice(test_idx, 1000, 1000, 0.0f), mon, o.rate);
    print_status("normal", drift, accuracy);
    drift.reset();
    accuracy.reset_window();
    serve_traffic("bright", *served, server.get(), slice(test_idx, 2000, 2000, o.shift), mon, o.rate);
    print_status("bright", drift, accuracy);
    const auto report = drift.report();
    store.append("drift", "{\"max_feature_psi\":" + std::to_string(report.max_feature_psi) +
                              ",\"output_psi\":" + std::to_string(report.output_psi) + "}");

    std::printf("4. the trigger\n");
    es::monitor::RetrainPolicy policy;
    policy.min_accuracy = 0.80;
    policy.min_labelled = 500;
    policy.min_gain = 0.01;
    std::vector<float> fx;
    std::vector<std::int32_t> fy;
    for (const auto& s : store.samples(true))
        if (s.id.rfind("bright-", 0) == 0) {
            fx.insert(fx.end(), s.features.begin(), s.features.end());
            fy.push_back(*s.label);
        }
    const auto decision = es::monitor::should_retrain(policy, report, accuracy.accuracy(), fy.size());
    std::printf("   %s: %s\n", decision.retrain ? "retrain" : "keep", decision.reason.c_str());
    if (!decision.retrain) return 0;

    std::printf("5. retrain from v1 on %zu labelled bright samples + %zu original ones\n", fy.size(),
                std::min<std::size_t>(train.size(), 4000));
    const es::data::InMemoryLoader field(std::move(fx), std::move(fy), pixels, 10);
    const auto new_data = concat(field, slice(train_idx, 0, std::min<std::size_t>(train.size(), 4000), 0.0f));
    const auto bright_holdout = slice(test_idx, 4000, 1000, o.shift);
    Loop candidate(0x5eed + 1);
    candidate.model() = loop.model();
    es::train::Adam adam2(5e-4f);
    const auto outcome = es::monitor::retrain_and_register(
        candidate, new_data, bright_holdout, adam2, {2, 64, true, false}, reg, model_name,
        [&](Loop& c, es::deploy::ModelInfo& info) {
            const auto bytes = es::deploy::model_file_bytes(int8_graph(c));
            info.extra_files.push_back({"reference.json", reference_json(c, new_data, 2000)});
            return bytes;
        },
        [&](const es::deploy::LoadedModel& lm, const es::data::InMemoryLoader& h) {
            return served_accuracy(*factory(lm), h);
        },
        policy, describe("Retrained from v1 on labelled field samples (brighter images) and "
                         "Fashion-MNIST train images.", 0.0, {}));
    std::printf("   %s\n", outcome.reason.c_str());

    std::printf("6. serve the version now promoted (the server's hot reload does the same)\n");
    served = factory(reg.load_serving(model_name));
    drift2.emplace(reference_of(served->version()));
    mon.drift = &*drift2;
    accuracy.reset_window();
#if defined(EDGESTACK_HAS_SERVE)
    if (server) server->reload(); // at once, rather than at its next poll
#endif
    serve_traffic("after", *served, server.get(), slice(test_idx, 5000, 1000, o.shift), mon, o.rate);
    print_status("after", *drift2, accuracy);

    JsonLinesSink sink{o.workdir / "telemetry.jsonl"};
    std::printf("7. telemetry: %zu records flushed in order to %s (%llu dropped)\n",
                store.flush(sink), sink.file.string().c_str(),
                static_cast<unsigned long long>(store.dropped()));
    std::printf("   serving: %s v%llu\n", model_name,
                static_cast<unsigned long long>(*reg.serving(model_name)));
#if defined(EDGESTACK_HAS_SERVE)
    if (server)
        std::printf("   the server answered %zu requests (%zu images)\n", mon.batches.load(),
                    mon.samples.load());
    if (server && o.linger > 0) {
        std::printf("8. serving for %.0f s more: http://127.0.0.1:%u/dashboard\n", o.linger, server->port());
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::duration<double>(o.linger));
    }
    if (server) server->stop();
#endif
    return 0;
} catch (const edgestack::error& e) {
    std::fprintf(stderr, "closed_loop: %s\n", e.what());
    return 1;
}
