// Training speed of the model stage: one training step (forward, loss gradient, backward,
// Adam update) of the reference Fashion-MNIST CNN at batch 64 on 1 and 2 threads, and each
// convolution's forward and backward alone, beside two baselines: a plain-loop direct
// convolution and the bare Eigen GEMM that Conv2D's forward wraps.
//
//   bench_nn_train --benchmark_counters_tabular=true
//
// items_per_second is samples/s; GFLOP/s counts 2 flops per multiply-accumulate
// (backward: 2x the forward MACs, or 1x for the first layer, which needs no input gradient).
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "edgestack/core/parallel.hpp"
#include "edgestack/nn/nn.hpp"

namespace {

using namespace edgestack;
using namespace edgestack::nn;

using ReferenceCnn = Sequential<Input<28, 28, 1>, Conv2D<32, 3>, ReLU, MaxPool2D<2>, Conv2D<64, 3>,
                                ReLU, MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dense<10>>;
constexpr std::size_t kBatch = 64;

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo = -1, float hi = 1) {
    Rng r(seed);
    std::vector<float> v(n);
    for (float& x : v) x = r.uniform(lo, hi);
    return v;
}

void BM_CnnTrainStep(benchmark::State& state) {
    ThreadLimit limit(static_cast<std::size_t>(state.range(0)));
    ReferenceCnn m;
    Rng rng(1);
    m.init(rng);
    // Four different batches, rotated, so that no step sees the data of the one before.
    std::vector<std::vector<float>> xs;
    for (int i = 0; i < 4; ++i) xs.push_back(random_floats(kBatch * 784, 10 + i, 0, 1));
    std::vector<int> labels(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) labels[i] = int(rng.below(10));
    std::vector<float> d(kBatch * 10), mom(ReferenceCnn::param_count), vel(ReferenceCnn::param_count);
    float b1t = 1, b2t = 1;
    std::size_t k = 0;
    for (auto _ : state) {
        const float* z = m.forward(xs[k++ % 4].data(), kBatch, Mode::train, rng);
        for (std::size_t b = 0; b < kBatch; ++b) {
            float mx = z[b * 10], s = 0;
            for (int c = 1; c < 10; ++c) mx = std::max(mx, z[b * 10 + c]);
            for (int c = 0; c < 10; ++c) s += (d[b * 10 + c] = std::exp(z[b * 10 + c] - mx));
            for (int c = 0; c < 10; ++c)
                d[b * 10 + c] = (d[b * 10 + c] / s - (c == labels[b])) / float(kBatch);
        }
        m.backward(d.data());
        // Adam, lr 1e-3: the update the reference recipe uses.
        auto p = m.parameters();
        auto g = m.gradients();
        b1t *= 0.9f, b2t *= 0.999f;
        for (std::size_t i = 0; i < p.size(); ++i) {
            mom[i] = 0.9f * mom[i] + 0.1f * g[i];
            vel[i] = 0.999f * vel[i] + 0.001f * g[i] * g[i];
            p[i] -= 1e-3f * (mom[i] / (1 - b1t)) / (std::sqrt(vel[i] / (1 - b2t)) + 1e-8f);
        }
        benchmark::DoNotOptimize(p.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
    state.counters["GFLOP/s"] = benchmark::Counter(
        double(state.iterations()) * kBatch * 2.0 *
            (3.0 * ReferenceCnn::macs - double(ReferenceCnn::layer_type<0>::macs)) * 1e-9,
        benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CnnTrainStep)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond)
    ->UseRealTime();

template <class L, bool Backward>
void conv_layer(benchmark::State& state) {
    ThreadLimit limit(static_cast<std::size_t>(state.range(0)));
    using In = typename L::input_shape;
    using Out = typename L::output_shape;
    L layer;
    std::vector<float> p(L::param_count), g(L::param_count);
    Rng rng(2);
    layer.init(p, rng);
    const auto x = random_floats(kBatch * In::size, 3);
    const auto dy = random_floats(kBatch * Out::size, 4);
    std::vector<float> y(kBatch * Out::size), dx(kBatch * In::size);
    const bool first = In::dims[2] == 1; // the first layer computes no input gradient
    layer.forward(x.data(), y.data(), kBatch, p, Mode::train, rng);
    for (auto _ : state) {
        if constexpr (Backward)
            layer.backward(x.data(), y.data(), dy.data(), first ? nullptr : dx.data(), kBatch, p, g);
        else
            layer.forward(x.data(), y.data(), kBatch, p, Mode::train, rng);
        benchmark::ClobberMemory();
    }
    const double macs = double(L::macs) * (Backward ? (first ? 1.0 : 2.0) : 1.0);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
    state.counters["GFLOP/s"] = benchmark::Counter(double(state.iterations()) * kBatch * 2.0 *
                                                       macs * 1e-9,
                                                   benchmark::Counter::kIsRate);
}

using Conv1 = Conv2D<32, 3>::bind<Shape<28, 28, 1>>;
using Conv2 = Conv2D<64, 3>::bind<Shape<14, 14, 32>>;

void BM_Conv1Forward(benchmark::State& s) { conv_layer<Conv1, false>(s); }
void BM_Conv1Backward(benchmark::State& s) { conv_layer<Conv1, true>(s); }
void BM_Conv2Forward(benchmark::State& s) { conv_layer<Conv2, false>(s); }
void BM_Conv2Backward(benchmark::State& s) { conv_layer<Conv2, true>(s); }
BENCHMARK(BM_Conv1Forward)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_Conv1Backward)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_Conv2Forward)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_Conv2Backward)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();

/// Baseline: the 32 -> 64 3x3 same convolution as a plain direct loop (one thread), the
/// weights pre-transposed to [kh][kw][in][out] so the inner loop runs over output channels.
void BM_Conv2ForwardDirectLoop(benchmark::State& state) {
    constexpr int H = 14, W = 14, C = 32, F = 64;
    const auto x = random_floats(kBatch * H * W * C, 3);
    const auto w = random_floats(9 * C * F, 5);
    std::vector<float> y(kBatch * H * W * F);
    for (auto _ : state) {
        for (std::size_t b = 0; b < kBatch; ++b)
            for (int oy = 0; oy < H; ++oy)
                for (int ox = 0; ox < W; ++ox) {
                    float* yo = y.data() + ((b * H + oy) * W + ox) * F;
                    for (int f = 0; f < F; ++f) yo[f] = 0;
                    for (int ky = 0; ky < 3; ++ky) {
                        const int iy = oy + ky - 1;
                        if (iy < 0 || iy >= H) continue;
                        for (int kx = 0; kx < 3; ++kx) {
                            const int ix = ox + kx - 1;
                            if (ix < 0 || ix >= W) continue;
                            const float* xi = x.data() + ((b * H + iy) * W + ix) * C;
                            const float* wk = w.data() + (ky * 3 + kx) * C * F;
                            for (int c = 0; c < C; ++c)
                                for (int f = 0; f < F; ++f) yo[f] += xi[c] * wk[c * F + f];
                        }
                    }
                }
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
    state.counters["GFLOP/s"] = benchmark::Counter(double(state.iterations()) * kBatch * 2.0 *
                                                       double(Conv2::macs) * 1e-9,
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Conv2ForwardDirectLoop)->UseRealTime();

/// Baseline: the bare Eigen GEMM inside Conv2 forward (im2col matrix built once, outside the
/// loop), one thread: what im2col and chunking cost on top of it.
void BM_Conv2ForwardGemmOnly(benchmark::State& state) {
    constexpr Eigen::Index rows = kBatch * 196, k = 288, f = 64;
    const auto col = random_floats(std::size_t(rows * k), 3);
    const auto w = random_floats(std::size_t(f * k), 5);
    std::vector<float> y(std::size_t(rows * f));
    nn::detail::ConstMapMatrix cm(col.data(), rows, k), wm(w.data(), f, k);
    nn::detail::MapMatrix ym(y.data(), rows, f);
    for (auto _ : state) {
        ym.noalias() = cm * wm.transpose();
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
    state.counters["GFLOP/s"] = benchmark::Counter(double(state.iterations()) * kBatch * 2.0 *
                                                       double(Conv2::macs) * 1e-9,
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Conv2ForwardGemmOnly)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
