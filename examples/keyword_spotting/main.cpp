// Keyword spotting on speech nobody here recorded: Debian's espeak-ng speaks ten keywords
// (yes, no, up, down, left, right, on, off, stop, go) in its English accents and voice
// variants, each time at a random speed and pitch; every clip is trimmed, placed at a random
// offset in one second and mixed with white noise at a random signal-to-noise ratio (every
// draw from a seeded stream, so a run is reproducible). Some voice variants are held out: the
// accuracy is measured on voices the network never heard.
//
// The audio front end (data/audio.hpp) turns each second into 49 frames of 10 MFCCs (39 ms
// windows every 20 ms, 40 HTK mels up to 4 kHz), a DS-CNN (depthwise-separable convolutions)
// or, with --model gru, a GRU of 64 units learns them, post-training quantization makes it
// int8, and the Simd engine runs both. The
// int8 model is saved with its feature scaling in one model file, which is then loaded and
// served (as edgestack-serve does) on the held-out clips. Then as on a device: the held-out
// seconds streamed back to back through the front end in 20 ms chunks, the int8 engine run on
// the latest 49 frames. Latency: the front end per second of sound and per 20 ms hop, and each
// engine at batch 1, on this CPU.
//
//   keyword_spotting [--smoke] [--model ds-cnn|gru] [--epochs 24] [--seed 1] [--jobs 2]
//                    [--speech DIR] [-o kws-int8.edgemdl]
#include <sys/wait.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/core/cpu.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/data/audio.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/data/wav.hpp"
#include "edgestack/deploy/served_model.hpp"
#include "edgestack/io/model_file.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/nn/recurrent.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/quant/ptq.hpp"
#include "edgestack/train/optimizer.hpp"

namespace es = edgestack;
namespace data = es::data;
namespace nn = es::nn;
using nn::Kernel, nn::Pad, nn::Stride;

constexpr std::size_t frames = 49, coefficients = 10, classes = 10;
constexpr std::array<const char*, classes> keywords{"yes", "no",  "up",   "down", "left",
                                                    "right", "on", "off", "stop", "go"};

// DS-CNN (Zhang et al., "Hello Edge: Keyword Spotting on Microcontrollers", 2017): a 10x4
// stride-2 stem over time x coefficients, then depthwise-separable blocks, global average.
using DsCnn = nn::Sequential<
    nn::Input<frames, coefficients, 1>, nn::Conv2D<48, Kernel<10, 4>, Stride<2, 2>, Pad<5, 1>>,
    nn::ReLU,
    nn::DepthwiseConv2D<3, 1, Pad<1>>, nn::ReLU, nn::Conv2D<48, 1>, nn::ReLU,
    nn::DepthwiseConv2D<3, 1, Pad<1>>, nn::ReLU, nn::Conv2D<48, 1>, nn::ReLU,
    nn::DepthwiseConv2D<3, 1, Pad<1>>, nn::ReLU, nn::Conv2D<48, 1>, nn::ReLU,
    nn::GlobalAvgPool, nn::Dense<classes>>;
// A recurrent alternative: the 49 frames in time order through a GRU, its last state classified.
using GruNet = nn::Sequential<nn::Input<frames, coefficients>, nn::GRU<64>, nn::Dense<classes>>;
template <class Net, class Quantizer>
using Kws = es::Pipeline<data::InMemoryLoader, data::NoAugment, Net, Quantizer, es::backend::Simd>;

namespace {

struct Options {
    bool smoke = false;
    std::size_t epochs = 24;
    std::uint64_t seed = 1;
    std::size_t jobs = 2;
    std::string out = "kws-int8.edgemdl";
    std::string espeak = "espeak-ng";
    std::string model = "ds-cnn";
    std::string speech; // keep (and reuse) the spoken clips here
};

Options parse(int argc, char** argv) {
    Options o;
    CLI::App app{"keyword_spotting: ten keywords spoken by espeak-ng, MFCCs, a DS-CNN, int8"};
    app.name("keyword_spotting");
    app.add_flag("--smoke", o.smoke, "A small data set and few epochs: checks the path, not the accuracy");
    app.add_option("--epochs", o.epochs, "Training epochs (--smoke: at most 12)")
        ->capture_default_str()->check(CLI::Range(1, 10000));
    app.add_option("--seed", o.seed, "Seed of the speech variations, noise and training")
        ->capture_default_str();
    app.add_option("--jobs", o.jobs, "espeak-ng processes at once")
        ->capture_default_str()->check(CLI::Range(1, 64));
    app.add_option("-o,--output", o.out, "Where to write the int8 model file with its scaling")
        ->capture_default_str();
    app.add_option("--espeak", o.espeak, "The espeak-ng program (Debian espeak-ng)")
        ->capture_default_str();
    app.add_option("--model", o.model, "The network: ds-cnn or gru")
        ->capture_default_str()->check(CLI::IsMember({"ds-cnn", "gru"}));
    app.add_option("--speech", o.speech,
                   "Keep the spoken clips in this folder (one subfolder per seed) and reuse those already there");
    es::tools::parse_or_exit(app, argc, argv);
    if (o.smoke) o.epochs = std::min<std::size_t>(o.epochs, 12);
    return o;
}

// espeak-ng's English accents, and voice variants (its voices/!v folder); every fourth variant
// is held out.
constexpr std::array<const char*, 7> accents{"en-us", "en", "en-gb-scotland", "en-gb-x-rp",
                                             "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"};
constexpr std::array<const char*, 24> variants{
    "m1", "m2", "m3", "f1", "m4", "m5", "f2", "f3", "m6", "m7", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "Andy", "Annie", "adam", "boris",
    "david", "linda", "max", "paul"};
bool held_out(std::size_t variant) { return variant % 4 == 3; }

struct Utterance {
    std::string voice;
    std::size_t word = 0;
    bool test = false;
    int speed = 0, pitch = 0;
    std::filesystem::path wav;
};

/// Runs `args` (a program and its arguments) as child processes, `jobs` at once.
void run_all(const std::vector<std::vector<std::string>>& commands, std::size_t jobs) {
    std::size_t next = 0, running = 0;
    auto start = [&](const std::vector<std::string>& args) {
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        pid_t pid = 0;
        const int rc = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
        if (rc != 0)
            throw es::config_error(args[0] + " could not be started (" + std::strerror(rc) +
                                   "): apt-get install espeak-ng, or give --espeak");
        ++running;
    };
    while (next < commands.size() || running > 0) {
        while (running < jobs && next < commands.size()) start(commands[next++]);
        int status = 0;
        if (::waitpid(-1, &status, 0) < 0) throw es::error("waitpid failed");
        --running;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw es::error("espeak-ng failed (status " + std::to_string(status) + ")");
    }
}

/// One second of `clip` (trimmed of silence, at a random offset, random gain, white noise at a
/// random SNR) into `second`.
void place(const std::vector<float>& clip, std::size_t length, es::Rng& rng,
           std::vector<float>& second) {
    float peak = 0.0f;
    for (const float v : clip) peak = std::max(peak, std::abs(v));
    std::size_t first = 0, last = clip.size();
    if (peak > 0.0f) {
        while (first < clip.size() && std::abs(clip[first]) < 0.02f * peak) ++first;
        while (last > first && std::abs(clip[last - 1]) < 0.02f * peak) --last;
    }
    std::size_t n = last - first;
    if (n > length) { // keep the middle
        first += (n - length) / 2;
        n = length;
    }
    std::fill(second.begin(), second.end(), 0.0f);
    const std::size_t offset = rng.below(length - n + 1);
    const float gain = peak > 0.0f ? rng.uniform(0.3f, 0.9f) / peak : 0.0f;
    double energy = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        second[offset + i] = gain * clip[first + i];
        energy += static_cast<double>(second[offset + i]) * second[offset + i];
    }
    const double rms = std::sqrt(energy / static_cast<double>(std::max<std::size_t>(n, 1)));
    const double snr_db = rng.uniform(5.0f, 30.0f);
    const auto noise = static_cast<float>(rms / std::pow(10.0, snr_db / 20.0));
    for (auto& v : second) v += rng.normal(0.0f, noise);
}

template <class Engine>
double accuracy(const Engine& engine, const std::vector<float>& x,
                const std::vector<std::int32_t>& y) {
    auto arena = engine.make_arena(1);
    std::array<float, classes> z{};
    std::size_t correct = 0;
    const std::size_t isz = frames * coefficients;
    for (std::size_t i = 0; i < y.size(); ++i) {
        engine.run(std::span<const float>(x.data() + i * isz, isz), std::span<float>(z), arena);
        correct += static_cast<std::int32_t>(std::max_element(z.begin(), z.end()) - z.begin()) == y[i];
    }
    return 100.0 * static_cast<double>(correct) / static_cast<double>(y.size());
}

/// Median of `n` timed calls of `f`, in microseconds, after a warm-up.
template <class F>
double median_us(std::size_t n, F&& f) {
    for (std::size_t i = 0; i < n / 10 + 1; ++i) f(i);
    std::vector<double> t(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f(i);
        t[i] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
    std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(n / 2), t.end());
    return t[n / 2];
}

std::string cpu_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown CPU";
}

/// The held-out and training data, standardized, and the scaling.
struct Data {
    std::vector<float> x_train;
    std::vector<std::int32_t> y_train;
    std::vector<float> x_test;
    std::vector<std::int32_t> y_test;
    std::vector<float> test_seconds;
    std::array<double, coefficients> mean, sd;
};

/// Trains `Net` on `d`, quantizes, saves, serves, streams and times it.
template <class Net>
int evaluate(const Options& o, const Data& d, data::AudioFrontEnd& front) {
    const auto& [x_train, y_train, x_test, y_test, test_seconds, mean, sd] = d;
    const auto& fo = front.options();
    const std::size_t isz = frames * coefficients, second_len = fo.sample_rate;
    std::vector<float> feat(isz);
    std::printf("model: %s\n", o.model.c_str());
    // 3. Train fp32.
    const data::InMemoryLoader train(x_train, y_train, isz, classes);
    Kws<Net, es::quant::NoQuant> fp32(o.seed);
    {
        es::train::Adam adam(2e-3f);
        const auto fit = fp32.fit(train, adam, {.epochs = o.epochs, .batch_size = 32});
        std::printf("trained %zu epochs: loss %.4f, training accuracy %.2f%%\n", fit.history.size(),
                    fit.history.back().loss, 100.0 * fit.history.back().accuracy);
    }
    const auto e32 = fp32.deploy();
    const double acc32 = accuracy(e32, x_test, y_test);

    // 4. int8 by post-training quantization, ranges from the training clips.
    Kws<Net, es::quant::Ptq<es::quant::MinMax>> int8(o.seed);
    int8.model() = fp32.model();
    int8.calibrate(train, 50, 32);
    const auto e8 = int8.deploy();
    const double acc8 = accuracy(e8, x_test, y_test);
    std::printf("fp32 accuracy %.2f%% on %zu held-out clips\n", acc32, y_test.size());
    std::printf("int8 accuracy %.2f%% on %zu held-out clips\n", acc8, y_test.size());

    // 5. Deployed: the int8 graph with the MFCC scaling, in one file, loaded and served.
    es::io::SaveOptions save;
    for (std::size_t i = 0; i < isz; ++i) {
        save.scaling.input_mean.push_back(mean[i % coefficients]);
        save.scaling.input_sd.push_back(sd[i % coefficients]);
    }
    es::compile::Graph g8 = int8.model().lower();
    int8.quantizer().lower(g8);
    es::io::save_model(o.out, g8, save);
    const auto file = es::io::load_model(o.out);
    const auto served = es::deploy::with_scaling(
        es::deploy::make_served_model("keywords", 1, es::backend::Simd{}.compile(file.to_graph()),
                                      std::vector<std::size_t>(Net::input_shape::dims.begin(), Net::input_shape::dims.end()), {classes}, 1),
        file.scaling());
    // The served model takes the front end's raw MFCCs of each held-out second.
    std::size_t served_correct = 0;
    std::array<float, classes> z{};
    for (std::size_t i = 0; i < y_test.size(); ++i) {
        front.run(std::span<const float>(test_seconds.data() + i * second_len, second_len), feat);
        if (!served->infer(feat, z)) throw es::error("the served model refused clip " + std::to_string(i));
        served_correct += static_cast<std::int32_t>(std::max_element(z.begin(), z.end()) - z.begin()) == y_test[i];
    }
    std::printf("file accuracy %.2f%% (%s, the int8 model served on raw MFCCs)\n",
                100.0 * static_cast<double>(served_correct) / static_cast<double>(y_test.size()),
                o.out.c_str());

    // 6. Streaming, as on a device: the held-out seconds back to back, pushed in 20 ms chunks
    //    as a microphone delivers them; the front end hands over each frame as it completes,
    //    the latest 49 are kept in a ring, and at the end of each second the int8 engine
    //    classifies them. Nothing here allocates: the front end and the arena are sized.
    {
        std::vector<float> ring(isz), input(isz);
        std::size_t next = 0, seen = 0, correct = 0;
        auto on_frame = [&](std::span<const float> f) {
            std::copy(f.begin(), f.end(), ring.begin() + static_cast<std::ptrdiff_t>(next * coefficients));
            next = (next + 1) % frames;
            ++seen;
        };
        auto arena = e8.make_arena(1);
        const std::size_t chunk = fo.hop_length;
        for (std::size_t i = 0; i < y_test.size(); ++i) {
            const float* s = test_seconds.data() + i * second_len;
            for (std::size_t at = 0; at < second_len; at += chunk)
                front.push(std::span<const float>(s + at, std::min(chunk, second_len - at)), on_frame);
            if (seen < frames) continue;
            for (std::size_t k = 0; k < frames; ++k) // oldest first, standardized
                for (std::size_t c = 0; c < coefficients; ++c)
                    input[k * coefficients + c] = static_cast<float>(
                        (ring[((next + k) % frames) * coefficients + c] - mean[c]) / sd[c]);
            e8.run(input, std::span<float>(z), arena);
            correct += static_cast<std::int32_t>(std::max_element(z.begin(), z.end()) - z.begin()) == y_test[i];
        }
        front.reset();
        std::printf("stream accuracy %.2f%% (the held-out seconds back to back in 20 ms chunks, "
                    "int8 engine at the end of each second)\n",
                    100.0 * static_cast<double>(correct) / static_cast<double>(y_test.size()));
    }

    // 7. Latency at batch 1, one thread: front end and both engines, in this run.
    es::ThreadLimit one_thread(1);
    const std::size_t reps = o.smoke ? 200 : 2000;
    auto a32 = e32.make_arena(1);
    auto a8 = e8.make_arena(1);
    const std::size_t pool = std::min<std::size_t>(y_test.size(), 16);
    const double lat_front = median_us(o.smoke ? 20 : 200, [&](std::size_t i) {
        front.run(std::span<const float>(test_seconds.data() + (i % pool) * second_len, second_len), feat);
    });
    float sink = 0.0f;
    const double lat_hop = median_us(reps, [&](std::size_t i) {
        const float* s = test_seconds.data() + (i % pool) * second_len;
        front.push(std::span<const float>(s + (i % 40) * 441, 441),
                   [&](std::span<const float> f) { sink += f[0]; });
    });
    front.reset();
    const double lat32 = median_us(reps, [&](std::size_t i) {
        e32.run(std::span<const float>(x_test.data() + (i % pool) * isz, isz), std::span<float>(z), a32);
    });
    const double lat8 = median_us(reps, [&](std::size_t i) {
        e8.run(std::span<const float>(x_test.data() + (i % pool) * isz, isz), std::span<float>(z), a8);
    });
    std::printf("latency (median, batch 1, one thread, %s, Simd kernels for %s):\n",
                cpu_name().c_str(), std::string(es::isa_name(es::detected_isa())).c_str());
    std::printf("  front end %.1f us per second of sound; %.2f us per 20 ms hop streamed\n",
                lat_front, lat_hop + 0.0f * sink);
    std::printf("  engine fp32 %.1f us, int8 %.1f us (int8 / fp32 %.2fx)\n", lat32, lat8, lat8 / lat32);
    return 0;
}

} // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    namespace fs = std::filesystem;
    const fs::path dir = o.speech.empty() ? fs::temp_directory_path() / ("edgestack-kws-" + std::to_string(::getpid()))
                                          : fs::path(o.speech) / ("seed-" + std::to_string(o.seed));
    fs::create_directories(dir);
    struct Cleanup {
        fs::path p;
        ~Cleanup() {
            std::error_code ec;
            if (!p.empty()) fs::remove_all(p, ec);
        }
    } cleanup{o.speech.empty() ? dir : fs::path()};

    // 1. Speech: every keyword in every voice, once with random speed and pitch.
    const std::size_t n_accents = o.smoke ? 4 : accents.size();
    const std::size_t n_variants = o.smoke ? 8 : variants.size();
    es::Rng rng(o.seed);
    std::vector<Utterance> utterances;
    std::vector<std::vector<std::string>> commands;
    for (std::size_t a = 0; a < n_accents; ++a)
        for (std::size_t v = 0; v < n_variants; ++v)
            for (std::size_t w = 0; w < classes; ++w) {
                Utterance u;
                u.voice = std::string(accents[a]) + "+" + variants[v];
                u.word = w;
                u.test = held_out(v);
                u.speed = 110 + static_cast<int>(rng.below(111)); // words per minute
                u.pitch = 15 + static_cast<int>(rng.below(71));   // 0..99
                u.wav = dir / (std::to_string(utterances.size()) + ".wav");
                if (!o.speech.empty() && fs::exists(u.wav)) {
                    utterances.push_back(std::move(u));
                    continue;
                }
                commands.push_back({o.espeak, "-v", u.voice, "-s", std::to_string(u.speed), "-p",
                                    std::to_string(u.pitch), "-w", u.wav.string(), keywords[w]});
                utterances.push_back(std::move(u));
            }
    auto t0 = std::chrono::steady_clock::now();
    run_all(commands, o.jobs);
    const double speak_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // 2. Features: one second of each clip (two noisy copies of each training clip) to MFCCs.
    data::AudioOptions fo;
    fo.sample_rate = 22050; // espeak-ng's rate
    fo.n_fft = 864;         // 39 ms: n_fft / 2 = 432 = 2^4 3^3, the fast (and allocation-free) sizes
    fo.hop_length = 441;    // 20 ms
    fo.center = false;
    fo.n_mels = 40;
    fo.f_min = 20.0;
    fo.f_max = 4000.0;
    fo.n_mfcc = coefficients;
    data::AudioFrontEnd front(fo);
    const std::size_t second_len = fo.sample_rate;
    if (front.frames_for(second_len) != frames) throw es::error("front end gives the wrong frame count");
    const std::size_t isz = frames * coefficients;
    std::vector<float> x_train, x_test, second(second_len), feat(isz);
    std::vector<std::int32_t> y_train, y_test;
    std::vector<float> test_seconds; // raw sound of the held-out clips, for the served model
    t0 = std::chrono::steady_clock::now();
    for (const auto& u : utterances) {
        const data::Audio audio = data::read_wav(u.wav);
        if (audio.sample_rate != fo.sample_rate)
            throw es::format_error(u.wav.string() + ": espeak-ng spoke at " +
                                   std::to_string(audio.sample_rate) + " Hz, expected 22050");
        for (int copy = 0; copy < (u.test ? 1 : 2); ++copy) {
            place(audio.samples, second_len, rng, second);
            front.run(second, feat);
            auto& xs = u.test ? x_test : x_train;
            xs.insert(xs.end(), feat.begin(), feat.end());
            (u.test ? y_test : y_train).push_back(static_cast<std::int32_t>(u.word));
            if (u.test) test_seconds.insert(test_seconds.end(), second.begin(), second.end());
        }
    }
    const double features_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("speech: %zu clips from espeak-ng (%zu accents x %zu voice variants x %zu words) in "
                "%.1f s; MFCCs in %.1f s\n",
                utterances.size(), n_accents, n_variants, classes, speak_s, features_s);
    std::printf("data: %zu training seconds, %zu held out (voice variants never trained on)\n",
                y_train.size(), y_test.size());

    // Each coefficient standardized with statistics of the training clips only.
    std::array<double, coefficients> mean{}, sd{};
    const double count = static_cast<double>(y_train.size() * frames);
    for (std::size_t i = 0; i < x_train.size(); ++i) mean[i % coefficients] += x_train[i] / count;
    for (std::size_t i = 0; i < x_train.size(); ++i) {
        const double d = x_train[i] - mean[i % coefficients];
        sd[i % coefficients] += d * d / count;
    }
    for (auto& s : sd) s = std::max(std::sqrt(s), 1e-6);
    for (auto* xs : {&x_train, &x_test})
        for (std::size_t i = 0; i < xs->size(); ++i)
            (*xs)[i] = static_cast<float>(((*xs)[i] - mean[i % coefficients]) / sd[i % coefficients]);

    const Data d{std::move(x_train), std::move(y_train), std::move(x_test), std::move(y_test), std::move(test_seconds), mean, sd};
    return o.model == "gru" ? evaluate<GruNet>(o, d, front) : evaluate<DsCnn>(o, d, front);
} catch (const es::error& e) {
    std::fprintf(stderr, "keyword_spotting: %s\n", e.what());
    return 1;
}
