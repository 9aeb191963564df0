// Train a GRU to tell four kinds of noisy waveform apart (sine, square, sawtooth, triangle)
// from 40 samples of one channel, each with a random frequency, phase and amplitude, and
// report its accuracy on held-out sequences. The data are made by the program itself.
//
//   sequence_classifier [--epochs N] [--threads N] [--seed N]
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numbers>
#include <string>
#include <string_view>
#include <vector>

#include "common/cli.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/edgestack.hpp"
#include "edgestack/nn/recurrent.hpp"
#include "edgestack/train/train.hpp"

using namespace edgestack;

constexpr std::size_t steps = 40; // time steps per sequence, one value each

using Net = nn::Sequential<nn::Input<steps, 1>, nn::GRU<32>, nn::Dense<4>>;
using Waves = Pipeline<data::InMemoryLoader, data::NoAugment, Net, quant::NoQuant,
                       backend::Reference>;

namespace {

constexpr std::string_view names[] = {"sine", "square", "sawtooth", "triangle"};

/// `n` sequences, classes balanced at random; everything random comes from `seed`.
data::InMemoryLoader make_waves(std::size_t n, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<float> x;
    std::vector<std::int32_t> y;
    x.reserve(n * steps);
    for (std::size_t i = 0; i < n; ++i) {
        const auto label = static_cast<std::int32_t>(rng.below(4));
        const float cycles = rng.uniform(1.5f, 4.0f); // over the window
        const float phase = rng.uniform(0.0f, 1.0f);
        const float amplitude = rng.uniform(0.5f, 1.5f);
        for (std::size_t t = 0; t < steps; ++t) {
            const float u = phase + cycles * static_cast<float>(t) / steps; // in periods
            const float f = u - std::floor(u);                              // in [0, 1)
            float v = 0.0f;
            switch (label) {
            case 0: v = std::sin(2.0f * std::numbers::pi_v<float> * u); break;
            case 1: v = f < 0.5f ? 1.0f : -1.0f; break;
            case 2: v = 2.0f * f - 1.0f; break;
            default: v = f < 0.5f ? 4.0f * f - 1.0f : 3.0f - 4.0f * f; break;
            }
            x.push_back(amplitude * v + rng.normal(0.0f, 0.25f));
        }
        y.push_back(label);
    }
    return data::InMemoryLoader(std::move(x), std::move(y), steps, 4);
}

} // namespace

int main(int argc, char** argv) try {
    std::size_t epochs = 12, threads = 2;
    std::uint64_t seed = 3;
    std::string history_file = "history.jsonl";
    CLI::App app{"sequence_classifier: a GRU tells four kinds of noisy waveform apart"};
    app.name("sequence_classifier");
    app.add_option("--epochs", epochs, "Epochs")->capture_default_str();
    app.add_option("--threads", threads, "Threads")->capture_default_str();
    app.add_option("--seed", seed, "Seed")->capture_default_str();
    app.add_option("--history", history_file, "Per-epoch history, .jsonl or .csv (empty: none)")
        ->capture_default_str();
    tools::parse_or_exit(app, argc, argv);
    train::HistoryWriter history(history_file);
    ThreadLimit limit(threads);
    const auto train_set = make_waves(6000, seed), test_set = make_waves(1500, seed + 1);
    std::printf("%s\n", Net::summary().c_str());

    Waves p(seed);
    // Recurrent nets can see gradient spikes through time: clip them, and decay the rate.
    const std::size_t steps_per_epoch = (train_set.size() + 63) / 64;
    auto adam = train::with_schedule(train::Adam(3e-3f),
                                     train::Cosine{epochs * steps_per_epoch, 0.05f});
    adam.set_clip_norm(1.0f);
    train::ProgressBar progress;
    train::EarlyStopping stop(train::Monitor::val_loss, 3, 0.0, true);
    p.fit(train_set, test_set, adam, {.epochs = epochs, .batch_size = 64}, progress, stop,
          history);

    const auto ev = p.evaluate(test_set);
    std::printf("\n%s\n", ev.table(names).c_str());
    std::printf("GRU test accuracy: %.2f%% on %zu held-out sequences\n", 100.0 * ev.accuracy,
                ev.count);
    return 0;
} catch (const edgestack::error& e) {
    std::fprintf(stderr, "sequence_classifier: %s\n", e.what());
    return 1;
}
