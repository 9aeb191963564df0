// Timing a compiled engine, shared by the edgestack command and edgestack_bench: latency
// percentiles over many runs at a batch size, a layer-by-layer profile (through the
// engine's traced run), the kernel each step runs, and the process's peak memory.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"

namespace edgestack::tools {

/// Sorted latencies of single runs, in microseconds.
struct Latency {
    std::vector<double> us;

    /// The p-quantile (0 <= p <= 1), nearest rank.
    double percentile(double p) const {
        if (us.empty()) return 0.0;
        const auto k = static_cast<std::size_t>(p * static_cast<double>(us.size()));
        return us[std::min(us.size() - 1, k)];
    }
    double min() const { return us.empty() ? 0.0 : us.front(); }
};

/// `samples` inputs of the engine's shape, uniform in [0, 1): timings should not depend on
/// the values, and a fixed seed keeps runs comparable.
template <class Engine>
std::vector<float> timing_inputs(const Engine& e, std::size_t samples, std::uint64_t seed = 11) {
    return backend::nets::random_inputs(e.graph(), samples, seed);
}

/// Run `warmup` untimed then `runs` timed inferences of `batch` samples each, cycling over 8
/// different input batches.
template <class Engine>
Latency time_runs(const Engine& e, std::size_t batch, std::size_t runs, std::size_t warmup) {
    if (batch == 0 || runs == 0) throw config_error("timing: batch and runs must be at least 1");
    const auto x = timing_inputs(e, 8 * batch);
    std::vector<float> y(batch * e.output_size());
    auto arena = e.make_arena(batch);
    const std::size_t n = batch * e.input_size();
    std::size_t k = 0;
    auto once = [&] { return e.run(std::span<const float>(x.data() + (k++ % 8) * n, n), y, arena); };
    for (std::size_t i = 0; i < warmup; ++i)
        if (!once()) throw config_error("timing: the engine rejected a batch of " + std::to_string(batch));
    Latency l;
    l.us.resize(runs);
    for (auto& t : l.us) {
        const auto t0 = std::chrono::steady_clock::now();
        if (!once()) throw config_error("timing: the engine rejected a batch of " + std::to_string(batch));
        t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
    std::sort(l.us.begin(), l.us.end());
    return l;
}

/// The kernel a step runs, in the kernel naming grammar: <dtype>-<op>[-<act>]-<backend>.
/// `backend_name` is the engine's kernel set; an XNNPACK step without an XNNPACK operator
/// runs on the Simd kernels.
inline std::string kernel_name(const backend::detail::Step& s, std::string_view backend_name) {
    std::string k = s.int8 ? "qs8-" : "f32-";
    k += compile::op_name(s.op);
    if (s.act == compile::Activation::relu) k += "-relu";
    if (s.act == compile::Activation::relu6) k += "-relu6";
    std::string impl(backend_name);
    if (impl == "xnnpack" && s.xnn() == nullptr) impl = "simd";
    if (s.alias) return k + " (in place, no work)";
    if (impl == "simd" && !s.kernel.empty()) return s.kernel; // named by the kernel set itself
    if (s.pack().winograd) impl += "-winograd";
    return k + "-" + impl;
}

/// One step of the profile: its median time per run and its share of the whole.
struct LayerTime {
    std::string name, op, kernel;
    bool int8 = false;
    double median_us = 0.0, share = 0.0;
};

/// Time every step of `runs` traced runs of `batch` samples (after `warmup`). The tap that
/// marks each step's end costs one clock read, so the layers add up to about one run.
template <class Engine>
std::vector<LayerTime> profile_layers(const Engine& e, std::size_t batch, std::size_t runs,
                                      std::size_t warmup) {
    const auto& steps = e.program().steps;
    const auto x = timing_inputs(e, batch);
    std::vector<float> y(batch * e.output_size());
    auto arena = e.make_arena(batch);
    std::vector<std::vector<double>> per_step(steps.size());
    using clock = std::chrono::steady_clock;
    for (std::size_t r = 0; r < warmup + runs; ++r) {
        auto last = clock::now();
        const bool ok = e.run_traced(x, y, arena, [&](std::size_t i, const backend::detail::Step&, const std::byte*) {
            const auto now = clock::now();
            if (r >= warmup && i < per_step.size())
                per_step[i].push_back(std::chrono::duration<double, std::micro>(now - last).count());
            last = now;
        });
        if (!ok) throw config_error("profile: the engine rejected a batch of " + std::to_string(batch));
    }
    std::vector<LayerTime> out(steps.size());
    double total = 0.0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        auto& t = per_step[i];
        std::sort(t.begin(), t.end());
        out[i].name = steps[i].name;
        out[i].op = std::string(compile::op_name(steps[i].op));
        out[i].kernel = kernel_name(steps[i], Engine::kernels_type::name);
        out[i].int8 = steps[i].int8;
        out[i].median_us = t.empty() ? 0.0 : t[t.size() / 2];
        total += out[i].median_us;
    }
    for (auto& l : out) l.share = total > 0.0 ? l.median_us / total : 0.0;
    return out;
}

/// The process's peak resident memory (Linux /proc), 0 where unknown.
inline std::size_t peak_rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
    return 0;
}

} // namespace edgestack::tools
