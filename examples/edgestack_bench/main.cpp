// edgestack_bench: latency and memory of a deployed engine, in the spirit of TFLite's
// benchmark_model. Takes a built-in reference network or a saved model file, a backend,
// threads and batch; prints median / p90 / p99 latency, throughput, peak memory, and the
// device report of every profile.
//
//   edgestack_bench --model cnn|ds_cnn|<file> [--backend reference|simd|xnnpack|parallel|opencl]
//                   [--int8] [--threads N] [--batch N] [--runs N] [--warmup N] [--devices]
// Timing and the kernel names come from examples/common/engine_timing.hpp, which the
// edgestack command shares.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/engine_timing.hpp"
#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/device/report.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#if defined(EDGESTACK_HAS_OPENCL)
#include <map>

#include "edgestack/backend/opencl.hpp"
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

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr, "edgestack_bench: %s\n", why.c_str());
    std::exit(2);
}

// --help prints every option and exits 0; a bad command line exits 2.
Options parse(int argc, char** argv) {
    Options o;
    CLI::App app{"edgestack_bench: latency and memory of a deployed engine"};
    app.name("edgestack_bench");
    app.add_option("--model", o.model, "cnn, ds_cnn or a model file")->capture_default_str();
    app.add_option("--backend", o.backend, "reference, simd, xnnpack, parallel or opencl "
                   "(device: EDGESTACK_OPENCL_DEVICE)")->capture_default_str();
    app.add_flag("--int8", o.int8, "Quantize an fp32 model first (min/max on random inputs)");
    app.add_flag("--devices", o.devices, "Print the device report of every profile");
    const auto positive = CLI::Range(std::size_t{1}, std::size_t{1} << 30);
    app.add_option("--threads", o.threads, "Threads")->capture_default_str()->check(positive);
    app.add_option("--batch", o.batch, "Samples per run")->capture_default_str()->check(positive);
    app.add_option("--runs", o.runs, "Timed runs")->capture_default_str()->check(positive);
    app.add_option("--warmup", o.warmup, "Untimed runs first")->capture_default_str()->check(positive);
    tools::parse_or_exit(app, argc, argv);
    return o;
}

compile::Graph load(const Options& o) {
    if (o.model == "cnn") return backend::nets::cnn();
    if (o.model == "ds_cnn") return backend::nets::ds_cnn();
#if defined(EDGESTACK_BENCH_MODEL_FILES)
    return io::load_model(o.model).to_graph();
#else
    usage("'" + o.model + "' is not a built-in network, and this build cannot read model files");
#endif
}

template <class Engine>
int bench(const Engine& e, const Options& o) {
    const auto l = tools::time_runs(e, o.batch, o.runs, o.warmup);
    const double median = l.percentile(0.5);
    std::printf("model      %s (%s), backend %s, threads %zu, batch %zu, %zu runs after %zu warm-up\n",
                o.model.c_str(), e.int8() ? "int8" : "fp32", o.backend.c_str(), o.threads, o.batch, o.runs, o.warmup);
    std::printf("latency    median %.1f us   p90 %.1f us   p99 %.1f us   min %.1f us\n", median, l.percentile(0.9), l.percentile(0.99), l.min());
    std::printf("throughput %.0f samples/s (at the median)\n", double(o.batch) * 1e6 / median);
    std::printf("memory     arena %zu B, weights %zu B, process peak RSS %zu KiB\n", e.arena_bytes(o.batch),
                e.program().weight_bytes, tools::peak_rss_kib());
    std::string kernels;
    for (const auto& s : e.program().steps)
        if (!s.kernel.empty() && kernels.find(s.kernel) == std::string::npos)
            kernels += (kernels.empty() ? "" : ", ") + s.kernel;
    const char* cap = std::getenv("EDGESTACK_ISA");
    std::printf("kernels    %s (CPU: %s; EDGESTACK_ISA: %s)\n", kernels.empty() ? "-" : kernels.c_str(),
                std::string(isa_name(detected_isa())).c_str(), cap ? cap : "unset");
    if (o.devices) {
        std::printf("\ndevice estimates (one sample; model in device/report.hpp):\n");
        for (const auto* p : {&device::CortexM7::profile, &device::CortexA53::profile, &device::RaspberryPi4::profile,
                              &device::X86Avx2Host::profile})
            std::printf("%s", device::report(e, *p).to_string().c_str());
    }
    return 0;
}

#if defined(EDGESTACK_HAS_OPENCL)
// The OpenCL engine: latency as for the others, then where the time goes per kernel
// (transfer, launch, compute; medians of per-run sums over profiled runs).
int bench_opencl(const compile::Graph& g, const Options& o) {
    const auto e = backend::OpenCl{}.compile(g);
    const auto l = tools::time_runs(e, o.batch, o.runs, o.warmup);
    const double median = l.percentile(0.5);
    const auto [on_device, on_cpu] = e.split();
    std::printf("model      %s (%s), backend opencl on %s, batch %zu, %zu runs after %zu warm-up\n",
                o.model.c_str(), e.int8() ? "int8" : "fp32", e.device_name().c_str(), o.batch, o.runs, o.warmup);
    std::printf("latency    median %.1f us   p90 %.1f us   p99 %.1f us   min %.1f us\n", median, l.percentile(0.9),
                l.percentile(0.99), l.min());
    std::printf("throughput %.0f samples/s (at the median)\n", double(o.batch) * 1e6 / median);
    std::printf("placement  %zu nodes on the device, %zu on the CPU\n", on_device, on_cpu);
    const auto x = tools::timing_inputs(e, o.batch);
    std::vector<float> y(o.batch * e.output_size());
    auto arena = e.make_arena(o.batch);
    const std::size_t n = std::max<std::size_t>(5, std::min<std::size_t>(o.runs, 50));
    std::map<std::string, std::vector<std::array<double, 3>>> per; // kernel: runs of (transfer, launch, compute)
    std::vector<double> totals;
    for (std::size_t r = 0; r < n; ++r) {
        backend::OpenClProfile p;
        if (!e.run_profiled(x, y, arena, p)) throw config_error("opencl: a profiled run failed");
        std::map<std::string, std::array<double, 3>> run;
        for (const auto& en : p.entries) {
            auto& t = run[en.kernel.empty() ? en.what : en.kernel];
            t[0] += en.transfer_us;
            t[1] += en.launch_us;
            t[2] += en.compute_us;
        }
        for (const auto& [k, t] : run) per[k].push_back(t);
        totals.push_back(p.total_us);
    }
    auto med = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    std::printf("profile    %zu profiled runs, median wall %.1f us; per kernel (sum over its steps, median us):\n", n,
                med(totals));
    std::printf("  %-34s %10s %10s %10s\n", "kernel", "transfer", "launch", "compute");
    for (const auto& [k, runs] : per) {
        std::array<std::vector<double>, 3> cols;
        for (const auto& t : runs)
            for (int c = 0; c < 3; ++c) cols[static_cast<std::size_t>(c)].push_back(t[static_cast<std::size_t>(c)]);
        std::printf("  %-34s %10.1f %10.1f %10.1f\n", k.c_str(), med(cols[0]), med(cols[1]), med(cols[2]));
    }
    return 0;
}
#endif

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
#if defined(EDGESTACK_HAS_OPENCL)
    if (o.backend == "opencl") return bench_opencl(g, o);
#endif
    usage("unknown or unavailable backend '" + o.backend + "'");
} catch (const edgestack::error& e) {
    std::fprintf(stderr, "edgestack_bench: %s\n", e.what());
    return 1;
}
