// Augmented Fashion-MNIST samples per second: the Batcher (parallel assembly and background
// prefetch) on 1 and 2 threads, beside a plain single-threaded read-and-augment loop.
// items_per_second is wall-clock throughput; per_cpu_s is samples per CPU-second summed over
// every thread of the process, which a busy machine distorts far less.
#include <benchmark/benchmark.h>

#include <ctime>
#include <numeric>
#include <vector>

#include "edgestack/core/parallel.hpp"
#include "edgestack/data/augment.hpp"
#include "edgestack/data/batcher.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/image_augment.hpp"
#include "edgestack/data/no_augment.hpp"

using namespace edgestack;
using namespace edgestack::data;

namespace {

// CPU time of the whole process (every thread): what a batch costs, whoever computes it.
double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

void report(benchmark::State& state, std::size_t samples, double cpu0) {
    state.SetItemsProcessed(static_cast<std::int64_t>(samples));
    state.counters["per_cpu_s"] =
        benchmark::Counter(static_cast<double>(samples) / (process_cpu_seconds() - cpu0));
}

const IdxLoader& train() {
    static const IdxLoader l = load_fashion_mnist(Split::train, EDGESTACK_FASHION_MNIST_DIR);
    return l;
}

// A typical recipe for Fashion-MNIST, and a heavier one with rotation and noise.
using Light = Augment<Shift<2>, FlipX, RandomErasing>;
using Heavy = Augment<Shift<2>, FlipX, Rotate<10>, GaussianNoise, RandomErasing, BrightnessContrast>;

template <class A>
void BM_batcher(benchmark::State& state) {
    const auto& l = train();
    ThreadLimit limit(static_cast<std::size_t>(state.range(0)));
    const A aug;
    Batcher<IdxLoader, A> b(l, aug, l.layout(), {64, true, false, state.range(1) != 0}, Rng(1));
    Batch batch;
    std::size_t epoch = 0, samples = 0;
    const double cpu0 = process_cpu_seconds();
    for (auto _ : state) {
        if (!b.next(batch)) {
            b.start_epoch(++epoch);
            b.next(batch);
        }
        benchmark::DoNotOptimize(batch.x.data());
        samples += batch.size();
    }
    report(state, samples, cpu0);
}

// Baseline: one thread, no Batcher - shuffle, read, augment, one sample after another.
template <class A>
void BM_plain_loop(benchmark::State& state) {
    const auto& l = train();
    const A aug;
    const SampleLayout d = l.layout();
    std::vector<std::size_t> order(l.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    Rng shuffle(1);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
    std::vector<float> x(64 * l.sample_size());
    std::vector<std::int32_t> y(64);
    const Rng root(2);
    std::size_t pos = 0, samples = 0;
    const double cpu0 = process_cpu_seconds();
    for (auto _ : state) {
        for (std::size_t k = 0; k < 64; ++k, pos = (pos + 1) % order.size()) {
            std::span<float> s(x.data() + k * l.sample_size(), l.sample_size());
            y[k] = l.read(order[pos], s);
            if constexpr (!requires { A::is_identity; }) {
                Rng r = root.split(order[pos]);
                aug(s, d, r);
            }
        }
        benchmark::DoNotOptimize(x.data());
        samples += 64;
    }
    report(state, samples, cpu0);
}

} // namespace

// Args: threads, prefetch. Wall-clock time throughout: that is what training waits for.
#define EDGESTACK_DATA_BENCH(A)                                                                 \
    BENCHMARK(BM_plain_loop<A>)->Unit(benchmark::kMicrosecond)->UseRealTime();                  \
    BENCHMARK(BM_batcher<A>)                                                                    \
        ->ArgNames({"threads", "prefetch"})                                                     \
        ->Args({1, 0})                                                                          \
        ->Args({2, 0})                                                                          \
        ->Args({2, 1})                                                                          \
        ->Unit(benchmark::kMicrosecond)                                                         \
        ->UseRealTime()

EDGESTACK_DATA_BENCH(NoAugment);
EDGESTACK_DATA_BENCH(Light);
EDGESTACK_DATA_BENCH(Heavy);

BENCHMARK_MAIN();
