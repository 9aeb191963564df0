// Kernel microbenchmarks of backend::Simd (fp32 GEMM, conv, depthwise conv, int8 GEMM and
// conv), each next to the Reference loop doing the same work and to the machine's
// measured peak (an FMA / vpmaddwd loop with no memory traffic).
#include <benchmark/benchmark.h>

#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/backend/simd.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

using namespace edgestack;

namespace {

// One-layer graphs: the CNN's hot layers.
compile::Graph layer(int kind) {
    Rng rng(1);
    if (kind == 0) { // dense 3136 -> 128 (the CNN's first dense)
        auto g = compile::Graph::with_input({3136});
        backend::nets::dense(g, 0, 128, rng);
        return g;
    }
    if (kind == 1) { // conv 32 -> 64, 3x3 same, 14x14 (the CNN's hot spot)
        auto g = compile::Graph::with_input({14, 14, 32});
        backend::nets::conv2d(g, 0, 64, 3, rng);
        return g;
    }
    if (kind == 2) {
        auto g = compile::Graph::with_input({14, 14, 64}); // depthwise 3x3 on 14x14x64
        backend::nets::depthwise(g, 0, 3, rng);
        return g;
    }
    if (kind == 3) { // residual add on 24x24x32 (the input added to its own ReLU)
        auto g = compile::Graph::with_input({24, 24, 32});
        const int r = backend::nets::unary(g, 0, compile::Op::relu);
        compile::Node add;
        add.op = compile::Op::add;
        add.name = "add_0";
        g.append(std::move(add), {0, r}, {24, 24, 32});
        return g;
    }
    if (kind == 4) { // global average pool over 25x5x64 (keyword spotting's last map)
        auto g = compile::Graph::with_input({25, 5, 64});
        compile::Node gap;
        gap.op = compile::Op::global_avg_pool;
        gap.name = "global_avg_pool_0";
        g.append(std::move(gap), {0}, {64});
        return g;
    }
    if (kind == 5) {
        auto g = compile::Graph::with_input({24, 24, 32}); // 2x2 stride-2 average pool
        backend::nets::pool(g, 0, compile::Op::avg_pool2d, 2, 2);
        return g;
    }
    auto g = compile::Graph::with_input({48, 48, 8}); // depthwise 3x3 on 48x48x8 (MobileNet-style stem)
    backend::nets::depthwise(g, 0, 3, rng);
    return g;
}

const char* layer_name(int kind) {
    constexpr const char* names[] = {"gemm 1x3136x128", "conv 3x3 32->64 14x14", "dwconv 3x3 64ch 14x14",
                                     "relu + add 24x24x32", "global avg pool 25x5x64", "avg pool 2x2/2 24x24x32",
                                     "dwconv 3x3 8ch 48x48"};
    return names[kind];
}

template <class Engine>
void run_layer(benchmark::State& st, const Engine& e, int kind, bool int8) {
    const auto x = backend::nets::random_inputs(e.graph(), 4, 3);
    std::vector<float> y(e.output_size());
    auto arena = e.make_arena(1);
    std::size_t k = 0;
    for (auto _ : st) {
        const std::span<const float> in(x.data() + (k++ % 4) * e.input_size(), e.input_size());
        benchmark::DoNotOptimize(e.run(in, y, arena));
    }
    st.counters[int8 ? "GOP/s" : "GFLOP/s"] = benchmark::Counter(
        2.0 * double(e.program().macs), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
    st.SetLabel(std::string(int8 ? "int8 " : "f32 ") + layer_name(kind));
}

compile::Graph maybe_q(compile::Graph g, bool q) {
    if (q) backend::nets::quantize_minmax(g, backend::nets::random_inputs(g, 4, 9));
    return g;
}

void BM_SimdKernel(benchmark::State& st) {
    const int kind = int(st.range(0));
    const bool q = st.range(1) != 0;
    run_layer(st, backend::SimdEngine(maybe_q(layer(kind), q)), kind, q);
}
void BM_ReferenceLoop(benchmark::State& st) {
    const int kind = int(st.range(0));
    const bool q = st.range(1) != 0;
    run_layer(st, backend::ReferenceEngine(maybe_q(layer(kind), q)), kind, q);
}
// The 3x3 convolution on the direct kernel instead of Winograd F(2x2, 3x3).
void BM_SimdDirectConv(benchmark::State& st) {
    const bool q = st.range(0) != 0;
    run_layer(st, backend::SimdEngine(maybe_q(layer(1), q), [](backend::detail::Step& s) {
        backend::detail::SimdKernels::pack_direct(s);
    }), 1, q);
}
BENCHMARK(BM_SimdDirectConv)->Arg(0)->Arg(1);
// Args: layer kind (0-6, layer()), int8.
#define LAYER_ARGS ->ArgsProduct({{0, 1, 2, 3, 4, 5, 6}, {0, 1}})
BENCHMARK(BM_SimdKernel) LAYER_ARGS;
BENCHMARK(BM_ReferenceLoop) LAYER_ARGS;

#if defined(__AVX2__) && defined(__FMA__)
// Peak: 12 independent FMA chains (enough to cover latency x throughput on Zen 3).
void BM_PeakFp32(benchmark::State& st) {
    __m256 a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(float(i) * 1e-3f);
    const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
    for (auto _ : st) {
        for (int r = 0; r < 1000; ++r)
            for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
        for (int i = 0; i < 12; ++i) benchmark::DoNotOptimize(a[i]);
    }
    st.counters["GFLOP/s"] = benchmark::Counter(1000.0 * 12 * 16, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
    st.SetLabel("peak fp32 FMA, 1 thread");
}
BENCHMARK(BM_PeakFp32);

// Peak of the exact int8 path: vpmaddwd + vpaddd (16 multiply-adds per instruction pair).
void BM_PeakInt8Madd(benchmark::State& st) {
    __m256i a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_epi32(i);
    const __m256i w = _mm256_set1_epi16(3), x = _mm256_set1_epi16(5);
    for (auto _ : st) {
        for (int r = 0; r < 1000; ++r)
            for (int i = 0; i < 12; ++i) a[i] = _mm256_add_epi32(a[i], _mm256_madd_epi16(x, w));
        for (int i = 0; i < 12; ++i) benchmark::DoNotOptimize(a[i]);
    }
    st.counters["GOP/s"] = benchmark::Counter(1000.0 * 12 * 32, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
    st.SetLabel("peak int8 vpmaddwd+vpaddd, 1 thread");
}
BENCHMARK(BM_PeakInt8Madd);
#endif

} // namespace

BENCHMARK_MAIN();
