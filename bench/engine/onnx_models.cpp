// The ONNX side of bench/compare/isa_compare.py: models exported by PyTorch, imported with
// io::import_onnx_graph, timed on the Simd and Xnnpack backends at batch 1, one thread, in
// fp32 and after post-training quantization (quant::GraphPtq, min-max, 48 random samples,
// the same seed every time), at the instruction-set level EDGESTACK_ISA caps. Before any
// timing every side is checked against the Reference backend (a failure exits 1, naming
// it). Not a Google Benchmark program: the script alternates it with ONNX Runtime.
//
//   bench_engine_onnx --levels                 the levels this CPU runs, one per line
//   bench_engine_onnx --qdq IN.onnx OUT.onnx   writes the quantized graph as QDQ ONNX and
//                                              prints its input dims (ours, NHWC)
//   bench_engine_onnx --measure IN.onnx [--runs N]
//                                              prints "<side>\t<median µs>" per side
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/backend/xnnpack.hpp"
#include "edgestack/core/cpu.hpp"
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/io/onnx_graph_import.hpp"
#include "edgestack/quant/graph_ptq.hpp"

using namespace edgestack;

namespace {

[[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "bench_engine_onnx: %s\n", why.c_str());
    std::exit(1);
}

std::vector<float> uniform(std::size_t n, std::uint64_t seed) {
    std::vector<float> v(n);
    std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (auto& x : v) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x = static_cast<float>(static_cast<double>(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return v;
}

compile::Graph quantized(const compile::Graph& g) {
    quant::GraphPtq<> ptq(g);
    ptq.observe(uniform(48 * g.input_size(), 5), 16);
    return ptq.lower();
}

double median_us(const std::function<void(std::size_t)>& f, std::size_t runs) {
    std::vector<double> t(runs);
    for (std::size_t i = 0; i < 10; ++i) f(i); // warm-up
    for (std::size_t i = 0; i < runs; ++i) {
        const auto a = std::chrono::steady_clock::now();
        f(i);
        t[i] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count();
    }
    std::nth_element(t.begin(), t.begin() + static_cast<long>(runs / 2), t.end());
    return t[runs / 2];
}

template <class Engine>
std::vector<float> run(const Engine& e, const std::vector<float>& x, std::size_t n) {
    std::vector<float> y(n * e.output_size());
    auto arena = e.make_arena(n);
    if (!e.run(x, y, arena)) fail("a run failed");
    return y;
}

/// Times one graph (fp32 or int8) on Simd and Xnnpack after checking both against Reference.
void measure(const compile::Graph& g, const char* dtype, std::size_t runs) {
    constexpr std::size_t N = 8;
    const auto x = uniform(N * g.input_size(), 29);
    const auto want = run(backend::ReferenceEngine(g), x, N);
    const backend::SimdEngine simd(g);
    const auto xnn = backend::Xnnpack{1}.compile(g);
    // int8: Xnnpack rounds ties to even where Reference rounds them away from zero.
    const double tol = g.value_quant.empty() ? 1e-4 : 1.001 * g.value_quant.at(std::size_t(g.output)).scale.at(0);
    auto check = [&](const char* side, const std::vector<float>& got) {
        for (std::size_t i = 0; i < got.size(); ++i) {
            const double bound = g.value_quant.empty() ? tol * std::max(1.0, double(std::abs(want[i]))) : tol;
            if (std::abs(double(got[i]) - double(want[i])) > bound)
                fail(std::string(side) + " " + dtype + ": output " + std::to_string(i) + " is " + std::to_string(got[i]) +
                     ", reference " + std::to_string(want[i]));
        }
    };
    check("simd", run(simd, x, N));
    check("xnnpack", run(xnn, x, N));
    auto a1 = simd.make_arena(1), a2 = xnn.make_arena(1);
    std::vector<float> y(g.output_size());
    auto in = [&](std::size_t i) { return std::span<const float>(x.data() + (i % N) * g.input_size(), g.input_size()); };
    const double s = median_us([&](std::size_t i) { simd.run(in(i), y, a1); }, runs);
    const double t = median_us([&](std::size_t i) { xnn.run(in(i), y, a2); }, runs);
    std::printf("simd %s\t%.2f\nxnnpack %s\t%.2f\n", dtype, s, dtype, t);
    std::printf("# simd %s level %s\n", dtype, std::string(isa_name(simd.isa())).c_str());
}

} // namespace

int main(int argc, char** argv) {
    const std::string mode = argc >= 2 ? argv[1] : "";
    try {
        if (mode == "--levels") {
            for (Isa i : all_isas)
                if (isa_of_this_arch(i) && isa_supported(i)) std::printf("%s\n", std::string(isa_name(i)).c_str());
            return 0;
        }
        if (mode == "--qdq" && argc == 4) {
            const auto q = quantized(io::import_onnx_graph(argv[2]));
            io::export_onnx(argv[3], q);
            std::string dims;
            for (std::size_t d : q.input_shape()) dims += "," + std::to_string(d);
            std::printf("1%s\n", dims.c_str());
            return 0;
        }
        if (mode == "--measure" && argc >= 3) {
            std::size_t runs = 400;
            if (argc == 5 && std::string(argv[3]) == "--runs") runs = std::stoul(argv[4]);
            const auto g = io::import_onnx_graph(argv[2]);
            measure(g, "fp32", runs);
            measure(quantized(g), "int8", runs);
            return 0;
        }
    } catch (const std::exception& e) {
        fail(e.what());
    }
    std::fprintf(stderr, "usage: bench_engine_onnx --levels | --qdq IN.onnx OUT.onnx | --measure IN.onnx [--runs N]\n");
    return 2;
}
