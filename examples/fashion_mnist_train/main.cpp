// Train the reference CNN on Fashion-MNIST and report its test accuracy.
//
//   fashion_mnist_train                 Adam 1e-3, batch 64, 3 epochs, no augmentation
//   fashion_mnist_train --long          + shifts and flips, warm-up + cosine, 15 epochs
//   fashion_mnist_train --checkpoint run.ckpt   save after every epoch, resume if present
//   fashion_mnist_train --history run.csv       the per-epoch history as CSV (default:
//                                               history.jsonl; `edgestack plot` draws it)
//
// Other options: --epochs N, --threads N, --limit N (first N training samples), --seed N,
// --data DIR (default: Debian's dataset-fashion-mnist folder), --quiet (no progress).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/cli.hpp"
// The headers of what it uses, not edgestack.hpp: the umbrella parses every kind of layer,
// about 40 MB more compiler memory for this file.
#include "edgestack/backend/reference.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/data/augment.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/image_augment.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/input.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/train/train.hpp"

using namespace edgestack;

// The whole model is a type: shapes are checked while this file compiles.
using Net = nn::Sequential<nn::Input<28, 28, 1>,
                           nn::Conv2D<32, 3>, nn::ReLU, nn::MaxPool2D<2>,
                           nn::Conv2D<64, 3>, nn::ReLU, nn::MaxPool2D<2>,
                           nn::Flatten, nn::Dense<128>, nn::ReLU, nn::Dense<10>>;

// The long recipe moves each image by up to 2 pixels and mirrors half of them (clothes look
// the same mirrored); the short one trains on the images as they are, the same policies with
// probability 0. One pipeline type and one optimizer type serve both recipes, chosen at run
// time: a type per recipe would compile the whole training path once per recipe.
using ShiftFlip = data::Augment<data::Shift<2>, data::FlipX>;
using Trainer = Pipeline<data::IdxLoader, ShiftFlip, Net, quant::NoQuant, backend::Reference>;
using ScheduledAdam = train::BasicOptimizer<train::AdamUpdate, train::L2Decay,
                                        train::WarmUp<train::Cosine>>;

namespace {

struct Options {
    std::size_t epochs = 0; // 0: the recipe's default
    std::size_t threads = 2;
    std::size_t limit = 0;
    std::uint64_t seed = 1;
    bool long_recipe = false;
    bool quiet = false;
    std::filesystem::path data = data::fashion_mnist_default_dir;
    std::filesystem::path checkpoint;
    std::filesystem::path history = "history.jsonl";
};

Options parse(int argc, char** argv) {
    Options o;
    std::string data_dir = o.data.string(), checkpoint, history = o.history.string();
    CLI::App app{"fashion_mnist_train: train the reference CNN on Fashion-MNIST"};
    app.name("fashion_mnist_train");
    app.add_option("--epochs", o.epochs, "Epochs (0: the recipe's default, 3 or 15 with --long)")->capture_default_str();
    app.add_option("--threads", o.threads, "Threads")->capture_default_str();
    app.add_option("--limit", o.limit, "First N training samples (0: all)")->capture_default_str();
    app.add_option("--seed", o.seed, "Seed")->capture_default_str();
    app.add_option("--data", data_dir, "Fashion-MNIST folder")->capture_default_str();
    app.add_option("--checkpoint", checkpoint, "Save after every epoch, resume if present");
    app.add_option("--history", history, "Per-epoch history, .jsonl or .csv (empty: none)")
        ->capture_default_str();
    app.add_flag("--long", o.long_recipe, "Shifts and flips, warm-up + cosine, 15 epochs");
    app.add_flag("--quiet", o.quiet, "No progress output");
    tools::parse_or_exit(app, argc, argv);
    o.data = data_dir;
    o.checkpoint = checkpoint;
    o.history = history;
    if (!o.history.empty()) train::history_format_for(o.history); // a bad name fails now
    return o;
}

/// Peak resident memory of this process in MiB (Linux), for the comparison script.
double peak_rss_mib() {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) return 0.0;
    char line[256];
    double kib = 0.0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
    std::fclose(f);
    return kib / 1024.0;
}

int run(const Options& o, Trainer& pipeline, ScheduledAdam& optimizer, std::size_t epochs,
        const data::IdxLoader& train_set, const data::IdxLoader& test_set) {
    train::FitOptions fit{.epochs = epochs, .batch_size = 64};
    if (!o.checkpoint.empty() && std::filesystem::exists(o.checkpoint)) {
        fit.initial_epoch = pipeline.resume(o.checkpoint, optimizer);
        std::printf("resumed from %s at epoch %zu\n", o.checkpoint.c_str(), fit.initial_epoch);
    }
    train::ProgressBar progress(stdout);
    struct Silent {} silent;
    // Appends when resuming, so the file covers the whole run.
    train::HistoryWriter history(o.history, fit.initial_epoch > 0);
    struct SaveEveryEpoch {
        const Options* o;
        Trainer* p;
        ScheduledAdam* opt;
        void on_epoch_end(const train::EpochStats& s) {
            if (!o->checkpoint.empty()) p->save_checkpoint(o->checkpoint, *opt, s.epoch + 1);
        }
    } save{&o, &pipeline, &optimizer};
    const auto report = o.quiet ? pipeline.fit(train_set, optimizer, fit, silent, save, history)
                                : pipeline.fit(train_set, test_set, optimizer, fit, progress, save, history);
    if (!o.history.empty()) std::printf("history written to %s\n", o.history.c_str());

    const auto ev = pipeline.evaluate(test_set);
    if (!o.quiet) std::printf("\n%s\n", ev.table(data::fashion_mnist_classes).c_str());
    double seconds = 0.0;
    std::size_t samples = 0;
    for (const auto& e : report.history) {
        seconds += e.seconds;
        samples += e.samples;
    }
    std::printf("test accuracy %.2f%% after %zu epochs\n", 100.0 * ev.accuracy, epochs);
    std::printf("RESULT name=edgestack samples_per_s=%.1f test_accuracy=%.4f train_seconds=%.2f "
                "peak_rss_mib=%.0f threads=%zu\n",
                seconds > 0 ? samples / seconds : 0.0, ev.accuracy, seconds, peak_rss_mib(),
                o.threads);
    return 0;
}

} // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    ThreadLimit threads(o.threads);
    const auto train_set = data::load_fashion_mnist(data::Split::train, o.data, o.limit);
    const auto test_set = data::load_fashion_mnist(data::Split::test, o.data);
    if (!o.quiet) std::printf("%s\n", Net::summary().c_str());

    const std::size_t epochs = o.epochs ? o.epochs : (o.long_recipe ? 15 : 3);
    const std::size_t steps_per_epoch = (train_set.size() + 63) / 64;
    Trainer p(o.seed, o.long_recipe ? ShiftFlip(data::Shift<2>{1.0f}, data::FlipX{0.5f})
                                    : ShiftFlip(data::Shift<2>{0.0f}, data::FlipX{0.0f}));
    // Short recipe: Adam 1e-3 at a constant rate (no warm-up, a cosine whose floor is 1: the
    // factor is exactly 1 at every step). Long recipe: Adam 2e-3, one epoch of linear warm-up,
    // then a cosine down to 2% of the base rate.
    ScheduledAdam adam = o.long_recipe
        ? train::with_schedule(train::Adam(2e-3f),
                               train::WarmUp<train::Cosine>{
                                   steps_per_epoch, {(epochs - 1) * steps_per_epoch, 0.02f}})
        : train::with_schedule(train::Adam(1e-3f), train::WarmUp<train::Cosine>{0, {1, 1.0f}});
    return run(o, p, adam, epochs, train_set, test_set);
} catch (const edgestack::error& e) {
    std::fprintf(stderr, "fashion_mnist_train: %s\n", e.what());
    return 1;
}
