// Batch-1 latency of the keyword-spotting recurrent networks (49 MFCC frames x 10 -> GRU 64
// or LSTM 64 -> dense 12 -> softmax) on backend::Simd, fp32 against int8 (the int8 form of
// compile/ops/recurrent_int8.hpp), one thread; the fp32 engine is the baseline, run
// alternately with the int8 one in BM_Alternating (the ratio to quote). The recurrent layer
// alone is measured too, so that the dense tail does not hide it.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "edgestack/backend/simd.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/nn/nn.hpp"
#include "edgestack/quant/graph_ptq.hpp"

using namespace edgestack;

namespace {

std::vector<float> inputs(std::size_t n, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<float> x(n);
    for (auto& v : x) v = rng.uniform(-1.5f, 1.5f);
    return x;
}

template <class Net>
compile::Graph network(bool int8) {
    Net net;
    Rng rng(3);
    net.init(rng);
    // Non-zero biases, as a trained network has.
    auto p = net.parameters();
    const auto r = inputs(p.size(), 4);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = r[i] * 0.2f;
    compile::Graph g = net.lower();
    if (int8) g = quant::quantize_graph(g, inputs(64 * g.input_size(), 5));
    return g;
}

using KwsGru = nn::Sequential<nn::Input<49, 10>, nn::GRU<64>, nn::Dense<12>, nn::Softmax>;
using KwsLstm = nn::Sequential<nn::Input<49, 10>, nn::LSTM<64>, nn::Dense<12>, nn::Softmax>;
using GruOnly = nn::Sequential<nn::Input<49, 10>, nn::GRU<64>>;
using LstmOnly = nn::Sequential<nn::Input<49, 10>, nn::LSTM<64>>;

template <class Net>
void BM_Simd(benchmark::State& st) {
    const bool int8 = st.range(0) != 0;
    const auto e = backend::SimdEngine(network<Net>(int8));
    const auto x = inputs(8 * e.input_size(), 77);
    std::vector<float> y(e.output_size());
    auto arena = e.make_arena(1);
    std::size_t k = 0;
    for (auto _ : st) {
        const std::span<const float> in(x.data() + (k++ % 8) * e.input_size(), e.input_size());
        benchmark::DoNotOptimize(e.run(in, y, arena));
    }
    st.SetItemsProcessed(static_cast<long>(st.iterations()));
    st.SetLabel(std::string(int8 ? "int8 " : "fp32 ") + std::string(isa_name(selected_isa())));
}

/// fp32 and int8 alternating within one loop (A B A B), so load from other processes hits
/// both alike: the counters are the two medians (wall clock) and int8 / fp32.
template <class Net>
void BM_Alternating(benchmark::State& st) {
    const auto f = backend::SimdEngine(network<Net>(false));
    const auto q = backend::SimdEngine(network<Net>(true));
    const auto x = inputs(8 * f.input_size(), 77);
    std::vector<float> y(f.output_size());
    auto af = f.make_arena(1), aq = q.make_arena(1);
    std::vector<double> tf, tq;
    std::size_t k = 0;
    using clock = std::chrono::steady_clock;
    for (auto _ : st) {
        const std::span<const float> in(x.data() + (k++ % 8) * f.input_size(), f.input_size());
        const auto t0 = clock::now();
        f.run(in, y, af);
        const auto t1 = clock::now();
        q.run(in, y, aq);
        const auto t2 = clock::now();
        benchmark::DoNotOptimize(y.data());
        tf.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        tq.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    }
    auto median = [](std::vector<double>& v) {
        std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
        return v[v.size() / 2];
    };
    const double mf = median(tf), mq = median(tq);
    st.counters["fp32_us"] = mf;
    st.counters["int8_us"] = mq;
    st.counters["int8_over_fp32"] = mq / mf;
    st.SetLabel(std::string(isa_name(selected_isa())));
}

BENCHMARK_TEMPLATE(BM_Alternating, KwsGru)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_Alternating, KwsLstm)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_Alternating, GruOnly)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_Alternating, LstmOnly)->Unit(benchmark::kMicrosecond);

// Arg: 0 fp32, 1 int8.
BENCHMARK_TEMPLATE(BM_Simd, KwsGru)->Arg(0)->Arg(1);
BENCHMARK_TEMPLATE(BM_Simd, KwsLstm)->Arg(0)->Arg(1);
BENCHMARK_TEMPLATE(BM_Simd, GruOnly)->Arg(0)->Arg(1);
BENCHMARK_TEMPLATE(BM_Simd, LstmOnly)->Arg(0)->Arg(1);

} // namespace

BENCHMARK_MAIN();
