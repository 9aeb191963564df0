// An anomaly detector on real data nobody here made: scikit-learn's digits (1797 handwritten
// digits as 8x8 images of 0..16; the UCI "Optical Recognition of Handwritten Digits" test
// set), as Debian's python3-sklearn ships it. A dense autoencoder learns to reproduce the
// digits of every class but one; each image's reconstruction error is its anomaly score.
// The threshold is the 99th percentile of the scores of the normal training images. On
// held-out images - every fifth normal one, and every image of the class never seen - the
// program reports the threshold's hits and ROC-AUC, for the fp32 engine and for the int8
// engine made by post-training quantization.
//
//   digits_anomaly [--data DIR] [--anomaly 7] [--epochs 60] [--seed 1]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/data/csv.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/data/targets.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/quant/ptq.hpp"
#include "edgestack/train/anomaly.hpp"
#include "edgestack/train/optimizer.hpp"

namespace es = edgestack;
namespace data = es::data;
namespace nn = es::nn;

constexpr std::size_t pixels = 64;
using AutoEncoder = nn::Sequential<nn::Input<pixels>, nn::Dense<32>, nn::ReLU, nn::Dense<12>,
                                   nn::ReLU, nn::Dense<32>, nn::ReLU, nn::Dense<pixels>>;
using Normal = data::InputsOnly<data::InMemoryLoader>;
template <class Quantizer>
using Digits = es::Pipeline<Normal, data::NoAugment, AutoEncoder, Quantizer, es::backend::Simd>;

namespace {

struct Options {
    std::string dir = "/usr/lib/python3/dist-packages/sklearn/datasets/data";
    int anomaly = 7;
    std::size_t epochs = 60;
    std::uint64_t seed = 1;
};

Options parse(int argc, char** argv) {
    Options o;
    CLI::App app{"digits_anomaly: an autoencoder that finds the digit class it never saw"};
    app.name("digits_anomaly");
    app.add_option("--data", o.dir, "Folder holding digits.csv.gz (Debian python3-sklearn)")
        ->capture_default_str();
    app.add_option("--anomaly", o.anomaly, "The class left out of training")
        ->capture_default_str()->check(CLI::Range(0, 9));
    app.add_option("--epochs", o.epochs, "Training epochs")->capture_default_str()
        ->check(CLI::Range(1, 100000));
    app.add_option("--seed", o.seed, "Seed of the initial weights and the shuffle")
        ->capture_default_str();
    es::tools::parse_or_exit(app, argc, argv);
    return o;
}

/// Reconstruction error of every sample of `x` through `engine`.
template <class Engine>
std::vector<float> scores(const Engine& engine, const std::vector<float>& x) {
    auto arena = engine.make_arena(1);
    std::vector<float> out(x.size());
    for (std::size_t s = 0; s < x.size() / pixels; ++s)
        engine.run(std::span<const float>(x.data() + s * pixels, pixels),
                   std::span<float>(out.data() + s * pixels, pixels), arena);
    return es::train::reconstruction_errors(x, out, pixels);
}

/// Threshold, share flagged and ROC-AUC of one engine.
template <class Engine>
void report(const char* what, const Engine& engine, const std::vector<float>& train_x,
            const std::vector<float>& test_x, const std::vector<std::int32_t>& is_anomaly) {
    const auto normal = scores(engine, train_x);
    const auto threshold = es::train::AnomalyThreshold::calibrate(normal, 0.99);
    const auto s = scores(engine, test_x);
    std::vector<float> s_normal, s_anomaly;
    for (std::size_t i = 0; i < s.size(); ++i) (is_anomaly[i] ? s_anomaly : s_normal).push_back(s[i]);
    std::printf("%-5s threshold %.4f: flags %.1f%% of held-out normal digits, %.1f%% of the "
                "unseen class; ROC-AUC %.4f\n",
                what, threshold.threshold, 100.0 * threshold.flagged(s_normal),
                100.0 * threshold.flagged(s_anomaly), es::train::roc_auc(s, is_anomaly));
}

} // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    data::CsvOptions csv;
    csv.header = false;
    csv.label_column = "c64";
    const data::Table t = data::read_csv(std::filesystem::path(o.dir) / "digits.csv.gz", csv);
    if (t.cols() != pixels)
        throw es::format_error(o.dir + "/digits.csv.gz: " + std::to_string(t.cols()) +
                               " pixel columns, expected 64");

    // Pixels 0..16 scaled to [0, 1]. Training: four of every five normal images; held out:
    // the fifth, and every image of the anomaly class.
    std::vector<float> train_x, test_x;
    std::vector<std::int32_t> train_y, is_anomaly;
    std::size_t normal_seen = 0;
    for (std::size_t r = 0; r < t.rows(); ++r) {
        const bool anomaly = t.labels[r] == o.anomaly;
        const bool held_out = anomaly || normal_seen++ % 5 == 0;
        auto& x = held_out ? test_x : train_x;
        for (const float v : t.row(r)) x.push_back(v / 16.0f);
        if (held_out)
            is_anomaly.push_back(anomaly ? 1 : 0);
        else
            train_y.push_back(t.labels[r]);
    }
    std::printf("digits: %zu images; training on %zu of the other 9 classes, %zu held out (%zu of class "
                "%d)\n",
                t.rows(), train_y.size(), is_anomaly.size(),
                static_cast<std::size_t>(std::count(is_anomaly.begin(), is_anomaly.end(), 1)),
                o.anomaly);

    const data::InMemoryLoader labelled(train_x, train_y, pixels, 10);
    const Normal normal(labelled); // no targets: the autoencoder reproduces its input
    Digits<es::quant::NoQuant> fp32(o.seed);
    es::train::Adam adam(2e-3f);
    const auto fit = fp32.fit(normal, adam, {.epochs = o.epochs, .batch_size = 32});
    std::printf("trained %zu epochs: reconstruction MSE %.4f, MAE %.4f\n", fit.history.size(),
                fit.history.back().loss, fit.history.back().mae);
    report("fp32", fp32.deploy(), train_x, test_x, is_anomaly);

    Digits<es::quant::Ptq<es::quant::MinMax>> int8(o.seed);
    int8.model() = fp32.model();
    int8.calibrate(normal, 20, 64);
    report("int8", int8.deploy(), train_x, test_x, is_anomaly);
    return 0;
} catch (const es::error& e) {
    std::fprintf(stderr, "digits_anomaly: %s\n", e.what());
    return 1;
}
