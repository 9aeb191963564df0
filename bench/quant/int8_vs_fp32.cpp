// int8 against fp32 on the same backend, batch 1, for the reference Fashion-MNIST CNN: the
// fp32 engine is the baseline of each int8 one. The model is PTQ-calibrated on 8 batches
// of Fashion-MNIST; weights are an untrained seeded init (speed does not depend on them).
//
//   bench_quant --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <span>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/ptq.hpp"

namespace es = edgestack;
namespace nn = es::nn;

namespace {

using Net = nn::Sequential<nn::Input<28, 28, 1>,
                           nn::Conv2D<32, 3>, nn::ReLU, nn::MaxPool<2>,
                           nn::Conv2D<64, 3>, nn::ReLU, nn::MaxPool<2>,
                           nn::Flatten, nn::Dense<128>, nn::ReLU, nn::Dense<10>>;

struct Models {
    es::compile::Graph fp32, int8;
    std::vector<float> inputs; // 16 test images, rotated so no run sees the same one twice
};

const Models& models() {
    static const Models m = [] {
        Models r;
        const auto train = es::data::load_fashion_mnist(es::data::Split::train,
                                                        EDGESTACK_FASHION_MNIST_DIR, 512);
        const auto test = es::data::load_fashion_mnist(es::data::Split::test,
                                                       EDGESTACK_FASHION_MNIST_DIR, 16);
        es::Pipeline<es::data::IdxLoader, es::data::NoAugment, Net,
                     es::quant::Ptq<es::quant::MinMax>, es::backend::Reference>
            p(42);
        p.calibrate(train, 8, 64);
        r.fp32 = p.model().lower();
        r.int8 = r.fp32;
        p.quantizer().lower(r.int8);
        r.inputs.resize(16 * 784);
        for (std::size_t i = 0; i < 16; ++i)
            test.read(i, std::span<float>(r.inputs.data() + i * 784, 784));
        return r;
    }();
    return m;
}

template <class Backend>
void run_batch1(benchmark::State& state, const es::compile::Graph& g) {
    const auto engine = Backend{}.compile(g);
    auto arena = engine.make_arena(1);
    const auto& x = models().inputs;
    std::vector<float> y(10);
    std::size_t i = 0;
    for (auto _ : state) {
        engine.run(std::span<const float>(x.data() + (i++ % 16) * 784, 784), y, arena);
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["model_bytes"] = static_cast<double>(es::quant::parameter_bytes(g));
}

void BM_fp32_simd(benchmark::State& s) { run_batch1<es::backend::Simd>(s, models().fp32); }
void BM_int8_simd(benchmark::State& s) { run_batch1<es::backend::Simd>(s, models().int8); }
void BM_fp32_reference(benchmark::State& s) { run_batch1<es::backend::Reference>(s, models().fp32); }
void BM_int8_reference(benchmark::State& s) { run_batch1<es::backend::Reference>(s, models().int8); }

/// fp32 and int8 alternating within one loop (A B A B), so load from other processes hits
/// both alike: the counters are the two medians and their ratio.
template <class Backend>
void alternating(benchmark::State& state) {
    const auto f = Backend{}.compile(models().fp32);
    const auto q = Backend{}.compile(models().int8);
    auto af = f.make_arena(1), aq = q.make_arena(1);
    const auto& x = models().inputs;
    std::vector<float> y(10);
    std::vector<double> tf, tq;
    std::size_t i = 0;
    using clock = std::chrono::steady_clock;
    for (auto _ : state) {
        const auto in = std::span<const float>(x.data() + (i++ % 16) * 784, 784);
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
        std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
        return v[v.size() / 2];
    };
    const double mf = median(tf), mq = median(tq);
    state.counters["fp32_us"] = mf;
    state.counters["int8_us"] = mq;
    state.counters["speedup"] = mf / mq;
    state.counters["bytes_ratio"] = static_cast<double>(es::quant::parameter_bytes(models().fp32)) /
                                    static_cast<double>(es::quant::parameter_bytes(models().int8));
}
void BM_alternating_simd(benchmark::State& s) { alternating<es::backend::Simd>(s); }
void BM_alternating_reference(benchmark::State& s) { alternating<es::backend::Reference>(s); }

} // namespace

BENCHMARK(BM_fp32_simd)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_int8_simd)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_alternating_simd)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_fp32_reference)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_int8_reference)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_alternating_reference)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
