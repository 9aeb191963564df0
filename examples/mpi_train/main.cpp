// Train the reference CNN on Fashion-MNIST on every rank mpirun (or srun) starts: each rank
// reads its shard of every batch, gradients are averaged over the ranks, rank 0 writes the
// checkpoint after every epoch, and a restart of the same command resumes from it.
//
//   mpirun -np 2 mpi_train                          2 ranks, global batch 64, 3 epochs
//   mpirun -np 4 mpi_train --checkpoint run.ckpt    resume from run.ckpt if it is there
//   srun -n 8 mpi_train --checkpoint run.ckpt       the same under Slurm
//
// Other options: --epochs N, --batch N (per rank; default 64 / ranks), --limit N (first N
// training and test samples), --seed N, --threads N (per rank, default 1), --data DIR
// (default: Debian's dataset-fashion-mnist folder).
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/cli.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/data/augment.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/dist/dist.hpp"
#include "edgestack/edgestack.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/train/train.hpp"

using namespace edgestack;

using Net = nn::Sequential<nn::Input<28, 28, 1>,
                           nn::Conv2D<32, 3>, nn::ReLU, nn::MaxPool2D<2>,
                           nn::Conv2D<64, 3>, nn::ReLU, nn::MaxPool2D<2>,
                           nn::Flatten, nn::Dense<128>, nn::ReLU, nn::Dense<10>>;
using Fashion = Pipeline<data::IdxLoader, data::Augment<>, Net, quant::NoQuant,
                         backend::Reference>;

namespace {

struct Options {
    std::size_t epochs = 3;
    std::size_t batch = 0; // per rank; 0: 64 / ranks
    std::size_t limit = 0;
    std::size_t threads = 1;
    std::uint64_t seed = 1;
    std::filesystem::path data = data::fashion_mnist_default_dir;
    std::filesystem::path checkpoint;
};

Options parse(int argc, char** argv) {
    Options o;
    std::string data_dir = o.data.string(), checkpoint;
    CLI::App app{"mpi_train: data-parallel training of the reference CNN over MPI ranks"};
    app.name("mpi_train");
    app.add_option("--epochs", o.epochs, "Epochs")->capture_default_str();
    app.add_option("--batch", o.batch, "Batch per rank (0: 64 / ranks)")->capture_default_str();
    app.add_option("--limit", o.limit, "First N training and test samples (0: all)")->capture_default_str();
    app.add_option("--threads", o.threads, "Threads per rank")->capture_default_str();
    app.add_option("--seed", o.seed, "Seed")->capture_default_str();
    app.add_option("--data", data_dir, "Fashion-MNIST folder")->capture_default_str();
    app.add_option("--checkpoint", checkpoint, "Save after every epoch, resume if present");
    tools::parse_or_exit(app, argc, argv);
    o.data = data_dir;
    o.checkpoint = checkpoint;
    return o;
}

// Rank 0 evaluates on the test set after every epoch; the other ranks only train.
struct Report {
    const data::IdxLoader* test;
    bool root;
    void on_epoch_end(const train::EpochStats& s, Net& model) {
        if (!root) return;
        const auto ev = train::evaluate(model, *test);
        std::printf("epoch %zu/%zu  loss %.4f  train acc %.2f%%  test acc %.2f%%  %.0f samples/s\n",
                    s.epoch + 1, s.epochs, s.loss, 100.0 * s.accuracy, 100.0 * ev.accuracy,
                    s.samples_per_second());
        std::fflush(stdout);
    }
};

} // namespace

int main(int argc, char** argv) {
    dist::MpiSession session(argc, argv);
    dist::Mpi comm;
    try {
        const Options o = parse(argc, argv);
        ThreadLimit threads(o.threads); // ranks are the parallelism; keep cores for them
        const auto train_set = data::load_fashion_mnist(data::Split::train, o.data, o.limit);
        const auto test_set = data::load_fashion_mnist(data::Split::test, o.data, o.limit);

        dist::DataParallelOptions dp_options;
        dp_options.epochs = o.epochs;
        dp_options.batch_size =
            o.batch ? o.batch : std::max<std::size_t>(1, 64 / static_cast<std::size_t>(comm.size()));
        dp_options.checkpoint_path = o.checkpoint;
        dist::DataParallel<dist::Mpi> dp(comm, dp_options);

        Fashion pipeline(o.seed);
        train::Adam adam(1e-3f);
        if (dp.is_root())
            std::printf("%d ranks x batch %zu = global batch %zu, %zu training samples\n",
                        comm.size(), dp_options.batch_size, dp_options.batch_size * comm.size(),
                        train_set.size());
        Report report{&test_set, dp.is_root()};
        const auto r = dp.fit(pipeline, train_set, adam, report);
        if (dp.is_root()) {
            if (dp.resume_info().resumed)
                std::printf("(resumed from %s at epoch %zu)\n", o.checkpoint.c_str(),
                            dp.resume_info().epoch);
            double seconds = 0.0;
            std::size_t samples = 0;
            for (const auto& e : r.history) {
                seconds += e.seconds;
                samples += e.samples;
            }
            std::printf("RESULT ranks=%d samples_per_s=%.1f test_accuracy=%.4f\n", comm.size(),
                        seconds > 0 ? samples / seconds : 0.0,
                        pipeline.evaluate(test_set).accuracy);
        }
        return 0;
    } catch (const std::exception& e) {
        // One rank failing alone would leave the others waiting: stop them all.
        if (comm.size() > 1) comm.abort(1, e.what());
        std::fprintf(stderr, "mpi_train: %s\n", e.what());
        return 1;
    }
}
