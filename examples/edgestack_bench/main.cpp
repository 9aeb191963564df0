// edgestack_bench: latency and memory of a deployed engine, in the spirit of TFLite's
// benchmark_model. Takes a built-in reference network or a saved model file, a backend,
// threads and batch; prints median / p90 / p99 latency, throughput, peak memory, and the
// device report of every profile.
//
//   edgestack_bench --model cnn|ds_cnn|<file> [--backend reference|simd|xnnpack|parallel]
//                   [--int8] [--threads N] [--batch N] [--runs N] [--warmup N] [--devices]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/device/report.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#if __has_include("edgestack/io/model_file.hpp")
#include "edgestack/io/model_file.hpp"
#define EDGESTACK_BENCH_MODEL_FILES 1
#endif

using namespace edgestack;

namespace {

struct Options {
    std::string model = "cnn", backend = "simd";
    bool int8 = false, devices = false;
    std::size_t threads = 1, batch = 1, runs = 500, warmup = 50;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "edgestack_bench: %s\nusage: edgestack_bench --model cnn|ds_cnn|<model file> "
                 "[--backend reference|simd|xnnpack|parallel] [--int8] [--threads N] [--batch N] "
                 "[--runs N] [--warmup N] [--devices]\n",
                 why);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        auto number = [&]() -> std::size_t {
            const std::string v = value();
            char* end = nullptr;
            const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || n == 0) usage((a + " needs a positive integer, got '" + v + "'").c_str());
            return static_cast<std::size_t>(n);
        };
        if (a == "--model") o.model = value();
        else if (a == "--backend") o.backend = value();
        else if (a == "--int8") o.int8 = true;
        else if (a == "--devices") o.devices = true;
        else if (a == "--threads") o.threads = number();
        else if (a == "--batch") o.batch = number();
        else if (a == "--runs") o.runs = number();
        else if (a == "--warmup") o.warmup = number();
        else usage(("unknown option '" + a + "'").c_str());
    }
    return o;
}

std::size_t peak_rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
    return 0;
}

compile::Graph load(const Options& o) {
    if (o.model == "cnn") return backend::nets::cnn();
    if (o.model == "ds_cnn") return backend::nets::ds_cnn();
#if defined(EDGESTACK_BENCH_MODEL_FILES)
    return io::load_model(o.model).to_graph();
#else
    usage(("'" + o.model + "' is not a built-in network, and this build cannot read model files").c_str());
#endif
}

template <class Engine>
int bench(const Engine& e, const Options& o) {
    const auto x = backend::nets::random_inputs(e.graph(), 8 * o.batch, 11);
    std::vector<float> y(o.batch * e.output_size());
    auto arena = e.make_arena(o.batch);
    std::size_t k = 0;
    auto once = [&] {
        const std::span<const float> in(x.data() + (k++ % 8) * o.batch * e.input_size(), o.batch * e.input_size());
        return e.run(in, y, arena);
    };
    for (std::size_t i = 0; i < o.warmup; ++i)
        if (!once()) usage("the engine rejected the input sizes");
    std::vector<double> us(o.runs);
    for (auto& t : us) {
        const auto t0 = std::chrono::steady_clock::now();
        once();
        t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) { return us[std::min(us.size() - 1, static_cast<std::size_t>(p * double(us.size())))]; };
    const double median = pct(0.5);
    std::printf("model      %s (%s), backend %s, threads %zu, batch %zu, %zu runs after %zu warm-up\n",
                o.model.c_str(), e.int8() ? "int8" : "fp32", o.backend.c_str(), o.threads, o.batch, o.runs, o.warmup);
    std::printf("latency    median %.1f us   p90 %.1f us   p99 %.1f us   min %.1f us\n", median, pct(0.9), pct(0.99), us.front());
    std::printf("throughput %.0f samples/s (at the median)\n", double(o.batch) * 1e6 / median);
    std::printf("memory     arena %zu B, weights %zu B, process peak RSS %zu KiB\n", e.arena_bytes(o.batch),
                e.program().weight_bytes, peak_rss_kib());
    if (o.devices) {
        std::printf("\ndevice estimates (one sample; model in device/report.hpp):\n");
        for (const auto* p : {&device::CortexM7::profile, &device::CortexA53::profile, &device::RaspberryPi4::profile,
                              &device::X86Avx2Host::profile})
            std::printf("%s", device::report(e, *p).to_string().c_str());
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    compile::Graph g = load(o);
    if (o.int8 && g.value_quant.empty())
        backend::nets::quantize_minmax(g, backend::nets::random_inputs(g, 32, 3));
    const ThreadLimit limit(o.threads);
    if (o.backend == "reference") return bench(backend::ReferenceEngine(g), o);
    if (o.backend == "simd") return bench(backend::SimdEngine(g), o);
    if (o.backend == "parallel") return bench(backend::Parallel<backend::Simd>{{}, o.threads}.compile(g), o);
#if defined(EDGESTACK_HAS_XNNPACK)
    if (o.backend == "xnnpack") return bench(backend::Xnnpack{o.threads}.compile(g), o);
#endif
    usage(("unknown or unavailable backend '" + o.backend + "'").c_str());
} catch (const edgestack::error& e) {
    std::fprintf(stderr, "edgestack_bench: %s\n", e.what());
    return 1;
}
