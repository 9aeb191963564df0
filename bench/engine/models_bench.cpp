// Whole-model batch-1 latency of the reference networks on every backend, fp32 and int8,
// with XNNPACK called directly (through our adapter, no engine around it) as the baseline.
#include <benchmark/benchmark.h>

#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif

using namespace edgestack;

namespace {

compile::Graph network(int which, bool int8) {
    auto g = which == 0 ? backend::nets::cnn() : backend::nets::ds_cnn();
    if (int8) backend::nets::quantize_minmax(g, backend::nets::random_inputs(g, 16, 5));
    return g;
}

template <class Engine>
void run_model(benchmark::State& st, const Engine& e) {
    const std::size_t batch = static_cast<std::size_t>(st.range(2));
    // Several different inputs, rotated, so no run sees the cache state of the same input.
    const auto x = backend::nets::random_inputs(e.graph(), 8 * batch, 77);
    std::vector<float> y(batch * e.output_size());
    auto arena = e.make_arena(batch);
    std::size_t k = 0;
    for (auto _ : st) {
        const std::span<const float> in(x.data() + (k++ % 8) * batch * e.input_size(), batch * e.input_size());
        benchmark::DoNotOptimize(e.run(in, y, arena));
    }
    st.SetItemsProcessed(static_cast<long>(st.iterations() * batch));
    st.counters["GOP/s"] = benchmark::Counter(2.0 * double(e.program().macs) * double(batch),
                                              benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
    st.SetLabel(std::string(st.range(0) == 0 ? "cnn" : "ds_cnn") + (st.range(1) ? " int8 " : " fp32 ") +
                std::string(isa_name(e.isa())));
}

void BM_Reference(benchmark::State& st) {
    run_model(st, backend::ReferenceEngine(network(int(st.range(0)), st.range(1) != 0)));
}
void BM_Simd(benchmark::State& st) {
    run_model(st, backend::SimdEngine(network(int(st.range(0)), st.range(1) != 0)));
}
#if defined(EDGESTACK_HAS_XNNPACK)
void BM_Xnnpack(benchmark::State& st) {
    run_model(st, backend::Xnnpack{1}.compile(network(int(st.range(0)), st.range(1) != 0)));
}
#endif

// Args: network (0 cnn, 1 ds_cnn), int8, batch.
#define MODEL_ARGS ->Args({0, 0, 1})->Args({0, 1, 1})->Args({1, 0, 1})->Args({1, 1, 1})->Args({0, 0, 16})->Args({0, 1, 16})
BENCHMARK(BM_Reference)->Args({0, 0, 1})->Args({0, 1, 1})->Args({1, 0, 1})->Args({1, 1, 1});
BENCHMARK(BM_Simd) MODEL_ARGS;
#if defined(EDGESTACK_HAS_XNNPACK)
BENCHMARK(BM_Xnnpack) MODEL_ARGS;
#endif

} // namespace

BENCHMARK_MAIN();
