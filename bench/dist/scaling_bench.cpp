// Data-parallel training speed: samples/s of DataParallel<Mpi> on the reference
// Fashion-MNIST CNN and on a dense MLP, at whatever rank count mpirun starts, with the
// gradient allreduce overlapped with backward (several bucket sizes) or after it; beside
// it, the same per-rank work with no communication (the baseline) and a bare allreduce of
// each model's gradient block (what the network must carry per step).
//
//   mpirun -np 1 bench_dist_scaling ; mpirun -np 2 bench_dist_scaling
//
// Every rank runs the same fixed iteration counts (collectives must match); rank 0 reports.
// items_per_second is global samples/s (all ranks together); bytes_per_second is the
// gradient block reduced per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/dist/data_parallel.hpp"
#include "edgestack/dist/local.hpp"
#include "edgestack/dist/mpi.hpp"
#include "edgestack/nn/nn.hpp"
#include "edgestack/train/loss.hpp"
#include "edgestack/train/sgd.hpp"

namespace {

using namespace edgestack;
using namespace edgestack::nn;

using ReferenceCnn = Sequential<Input<28, 28, 1>, Conv2D<32, 3>, ReLU, MaxPool2D<2>, Conv2D<64, 3>,
                                ReLU, MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dense<10>>;
using WideMlp = Sequential<Input<28, 28, 1>, Flatten, Dense<1024>, ReLU, Dense<1024>, ReLU,
                           Dense<10>>;

constexpr std::size_t kSteps = 12;   // global steps per benchmark iteration (one epoch)
// Fixed counts, the same on every rank (they must agree on how often to meet); one of each
// in a smoke run (EDGESTACK_BENCH_SMOKE set, as bench/run.py --smoke does).
const bool kSmoke = std::getenv("EDGESTACK_BENCH_SMOKE") != nullptr;
const int kIterations = kSmoke ? 1 : 3;
const int kRepetitions = kSmoke ? 1 : 3;

dist::Mpi& world() {
    static dist::Mpi comm;
    return comm;
}

// Random images (never zeros) for `n` samples, random labels.
data::InMemoryLoader random_images(std::size_t n, std::uint64_t seed) {
    Rng r(seed);
    std::vector<float> x(n * 784);
    std::vector<std::int32_t> y(n);
    for (float& v : x) v = r.uniform();
    for (auto& v : y) v = static_cast<std::int32_t>(r.below(10));
    return {std::move(x), std::move(y), 784, 10};
}

// range(0): per-rank batch; range(1): bucket KiB, 0 = one allreduce after backward.
template <class Net>
void BM_DataParallel(benchmark::State& state) {
    auto& comm = world();
    const auto batch = static_cast<std::size_t>(state.range(0));
    const auto ranks = static_cast<std::size_t>(comm.size());
    const auto data = random_images(kSteps * batch * ranks, 5);
    dist::DataParallelOptions o;
    o.batch_size = batch;
    o.overlap = state.range(1) > 0;
    o.bucket_bytes = static_cast<std::size_t>(std::max<std::int64_t>(1, state.range(1))) * 1024;
    dist::DataParallel<dist::Mpi> dp(comm, o);
    Net m;
    Rng init(1);
    m.init(init);
    train::Sgd sgd(0.01f);
    const data::NoAugment none;
    for (auto _ : state)
        dp.fit(m, data, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
    state.counters["ranks"] = static_cast<double>(ranks);
    state.counters["grad_MB"] = Net::param_count * 4.0 / 1e6;
}

// Baseline: this rank's share of the same work (kSteps steps of `batch`) with no
// communication at all; at -np 2 both ranks run it at once, sharing the machine.
template <class Net>
void BM_NoCommunication(benchmark::State& state) {
    auto& comm = world();
    const auto batch = static_cast<std::size_t>(state.range(0));
    const auto data = random_images(kSteps * batch, 5 + static_cast<std::uint64_t>(comm.rank()));
    dist::Local local;
    dist::DataParallelOptions o;
    o.batch_size = batch;
    o.overlap = false;
    dist::DataParallel<dist::Local> dp(local, o);
    Net m;
    Rng init(1);
    m.init(init);
    train::Sgd sgd(0.01f);
    const data::NoAugment none;
    for (auto _ : state) {
        dp.fit(m, data, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2));
        comm.wait_all(); // nothing pending: keeps ranks' loops independent
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
    state.counters["ranks"] = static_cast<double>(comm.size());
}

// One blocking allreduce of a model's whole gradient block.
template <class Net>
void BM_Allreduce(benchmark::State& state) {
    auto& comm = world();
    std::vector<float> g(Net::param_count);
    Rng r(3);
    for (float& v : g) v = r.uniform(-1, 1);
    for (auto _ : state) {
        comm.allreduce_sum(std::span<float>(g));
        for (float& v : g) v *= 0.5f; // keeps values finite without a second pass
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(g.size() * 4));
    state.counters["ranks"] = static_cast<double>(comm.size());
}

void fixed(benchmark::internal::Benchmark* b) {
    b->Iterations(kIterations)->Repetitions(kRepetitions)->UseRealTime()->Unit(
        benchmark::kMillisecond);
}

BENCHMARK_TEMPLATE(BM_NoCommunication, ReferenceCnn)->Apply(fixed)->Arg(32);
BENCHMARK_TEMPLATE(BM_DataParallel, ReferenceCnn)
    ->Apply(fixed)
    ->ArgNames({"batch", "bucketKiB"})
    ->Args({32, 0})
    ->Args({32, 256})
    ->Args({32, 1024})
    ->Args({32, 4096});
BENCHMARK_TEMPLATE(BM_Allreduce, ReferenceCnn)->Iterations(kSmoke ? 2 : 200)->Repetitions(kRepetitions)
    ->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_NoCommunication, WideMlp)->Apply(fixed)->Arg(32);
BENCHMARK_TEMPLATE(BM_DataParallel, WideMlp)
    ->Apply(fixed)
    ->ArgNames({"batch", "bucketKiB"})
    ->Args({32, 0})
    ->Args({32, 1024})
    ->Args({32, 4096});
BENCHMARK_TEMPLATE(BM_Allreduce, WideMlp)->Iterations(kSmoke ? 2 : 100)->Repetitions(kRepetitions)
    ->UseRealTime()->Unit(benchmark::kMicrosecond);

// Rank 0 alone prints; the others run the same benchmarks silently.
class Silent : public benchmark::BenchmarkReporter {
public:
    bool ReportContext(const Context&) override { return true; }
    void ReportRuns(const std::vector<Run>&) override {}
};

} // namespace

int main(int argc, char** argv) {
    dist::MpiSession session(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (world().rank() == 0) {
        benchmark::RunSpecifiedBenchmarks();
    } else {
        Silent silent;
        benchmark::RunSpecifiedBenchmarks(&silent);
    }
    benchmark::Shutdown();
    return 0;
}
