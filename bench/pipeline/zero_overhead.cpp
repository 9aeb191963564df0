// Zero overhead, shown: inference through the pipeline's model against the same layers
// called by hand on the same parameters and buffers. The ratio of the two is what the
// composition (Pipeline, Sequential, hooks test, shape bookkeeping) costs at run time.
//
//   bench_zero_overhead --benchmark_repetitions=10 --benchmark_enable_random_interleaving=true
//                       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <array>
#include <vector>

#include "edgestack/edgestack.hpp"

using namespace edgestack;

namespace {

using Net = nn::Sequential<nn::Input<784>, nn::Dense<128>, nn::ReLU, nn::Dense<64>, nn::ReLU,
                           nn::Dense<10>>;
using Pipe =
    Pipeline<data::InMemoryLoader, data::NoAugment, Net, quant::NoQuant, backend::Reference>;

constexpr std::size_t kInputs = 32; // rotated so no input stays hot in cache by accident

std::vector<float> random_inputs(std::size_t batch) {
    Rng rng(3);
    std::vector<float> x(kInputs * batch * 784);
    for (auto& v : x) v = rng.uniform();
    return x;
}

void BM_pipeline_model(benchmark::State& state) {
    const auto batch = static_cast<std::size_t>(state.range(0));
    Pipe pipe(1);
    const auto x = random_inputs(batch);
    std::vector<float> out(batch * 10);
    std::size_t i = 0;
    for (auto _ : state) {
        pipe.model().predict(x.data() + (i++ % kInputs) * batch * 784, out.data(), batch);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

// The baseline: each bound layer's forward, in order, on buffers owned here.
void BM_layers_by_hand(benchmark::State& state) {
    const auto batch = static_cast<std::size_t>(state.range(0));
    Pipe pipe(1); // only for the same initial parameters
    const Net& net = pipe.model();
    Net::layer_type<0> d1;
    Net::layer_type<1> r1;
    Net::layer_type<2> d2;
    Net::layer_type<3> r2;
    Net::layer_type<4> d3;
    const auto p0 = net.layer_params<0>(), p2 = net.layer_params<2>(), p4 = net.layer_params<4>();
    const auto x = random_inputs(batch);
    std::vector<float> h1(batch * 128), a1(batch * 128), h2(batch * 64), a2(batch * 64),
        out(batch * 10);
    Rng rng(0);
    std::size_t i = 0;
    for (auto _ : state) {
        const float* in = x.data() + (i++ % kInputs) * batch * 784;
        d1.forward(in, h1.data(), batch, p0, nn::Mode::eval, rng);
        r1.forward(h1.data(), a1.data(), batch, {}, nn::Mode::eval, rng);
        d2.forward(a1.data(), h2.data(), batch, p2, nn::Mode::eval, rng);
        r2.forward(h2.data(), a2.data(), batch, {}, nn::Mode::eval, rng);
        d3.forward(a2.data(), out.data(), batch, p4, nn::Mode::eval, rng);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

// For reference: the deployed engine of the same pipeline (a different code path: the
// backend's own kernels), with a caller-owned arena.
void BM_deployed_engine(benchmark::State& state) {
    const auto batch = static_cast<std::size_t>(state.range(0));
    Pipe pipe(1);
    const auto engine = pipe.deploy();
    auto arena = engine.make_arena(batch);
    const auto x = random_inputs(batch);
    std::vector<float> out(batch * 10);
    std::size_t i = 0;
    for (auto _ : state) {
        const bool ok = engine.run(
            std::span<const float>(x.data() + (i++ % kInputs) * batch * 784, batch * 784), out,
            arena);
        benchmark::DoNotOptimize(ok);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

} // namespace

BENCHMARK(BM_pipeline_model)->Arg(1)->Arg(64);
BENCHMARK(BM_layers_by_hand)->Arg(1)->Arg(64);
BENCHMARK(BM_deployed_engine)->Arg(1)->Arg(64);

BENCHMARK_MAIN();
