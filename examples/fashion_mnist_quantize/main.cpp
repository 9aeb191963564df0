// Train the reference CNN on Fashion-MNIST in fp32, then quantize it to int8 two ways
// (post-training quantization, and 2 epochs of quantization-aware fine-tuning) and print
// accuracy, model bytes and batch-1 latency side by side. QAT is compared with the fp32
// model fine-tuned for the same 2 extra epochs without fake quantization ("fp32+2").
//
//   fashion_mnist_quantize [--epochs 3] [--qat-epochs 2] [--train 0] [--calib 32]
//                          [--data /usr/share/datasets/fashion-mnist]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/cli.hpp"
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
#include "edgestack/quant/quant.hpp"
#include "edgestack/train/optimizer.hpp"

namespace es = edgestack;
namespace nn = es::nn;

using Net = nn::Sequential<nn::Input<28, 28, 1>,
                           nn::Conv2D<32, 3>, nn::ReLU, nn::MaxPool<2>,
                           nn::Conv2D<64, 3>, nn::ReLU, nn::MaxPool<2>,
                           nn::Flatten, nn::Dense<128>, nn::ReLU, nn::Dense<10>>;

template <class Q>
using Fashion = es::Pipeline<es::data::IdxLoader, es::data::NoAugment, Net, Q, es::backend::Simd>;

namespace {

struct Options {
    std::size_t epochs = 3, qat_epochs = 2, train = 0, calib = 32;
    std::string data = EDGESTACK_FASHION_MNIST_DIR;
};

Options parse(int argc, char** argv) {
    Options o;
    CLI::App app{"fashion_mnist_quantize: train the CNN, then int8 by PTQ and by QAT"};
    app.name("fashion_mnist_quantize");
    app.add_option("--epochs", o.epochs, "fp32 training epochs")->capture_default_str();
    app.add_option("--qat-epochs", o.qat_epochs, "Quantization-aware fine-tuning epochs")->capture_default_str();
    app.add_option("--train", o.train, "Training samples (0: all)")->capture_default_str();
    app.add_option("--calib", o.calib, "Calibration batches for PTQ")->capture_default_str();
    app.add_option("--data", o.data, "Fashion-MNIST folder")->capture_default_str();
    es::tools::parse_or_exit(app, argc, argv);
    return o;
}

struct Result {
    double accuracy = 0.0;
    std::size_t bytes = 0;
    double latency_us = 0.0;
};

/// Accuracy of an engine over the whole loader, then its median batch-1 latency.
template <class Engine>
Result measure(const Engine& engine, const es::compile::Graph& lowered,
               const es::data::IdxLoader& test) {
    Result r;
    constexpr std::size_t batch = 250;
    const std::size_t isz = test.sample_size();
    std::vector<float> x(batch * isz), y(batch * 10);
    auto arena = engine.make_arena(batch);
    std::size_t correct = 0;
    for (std::size_t start = 0; start < test.size(); start += batch) {
        const std::size_t n = std::min(batch, test.size() - start);
        std::vector<std::int32_t> labels(n);
        for (std::size_t i = 0; i < n; ++i)
            labels[i] = test.read(start + i, std::span<float>(x.data() + i * isz, isz));
        engine.run(std::span<const float>(x.data(), n * isz), std::span<float>(y.data(), n * 10),
                   arena);
        for (std::size_t i = 0; i < n; ++i) {
            const float* z = y.data() + i * 10;
            correct += static_cast<std::int32_t>(std::max_element(z, z + 10) - z) == labels[i];
        }
    }
    r.accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(test.size());
    r.bytes = es::quant::parameter_bytes(lowered);
    // Batch-1 latency: 16 different images in rotation, median of 2000 runs.
    auto one = engine.make_arena(1);
    std::vector<double> t;
    for (std::size_t i = 0; i < 2200; ++i) {
        const auto in = std::span<const float>(x.data() + (i % 16) * isz, isz);
        const auto t0 = std::chrono::steady_clock::now();
        engine.run(in, std::span<float>(y.data(), 10), one);
        const auto t1 = std::chrono::steady_clock::now();
        if (i >= 200) t.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    r.latency_us = t[t.size() / 2];
    return r;
}

} // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    const auto train = es::data::load_fashion_mnist(es::data::Split::train, o.data, o.train);
    const auto test = es::data::load_fashion_mnist(es::data::Split::test, o.data);
    std::printf("%s\n", Net::summary().c_str());

    // 1. fp32: Adam 1e-3, batch 64.
    Fashion<es::quant::NoQuant> fp32;
    {
        es::train::Adam adam(1e-3f);
        fp32.fit(train, adam, {o.epochs, 64, true, false}, [] {
            struct Log {
                void on_epoch_end(const es::train::EpochStats& s) {
                    std::printf("fp32 epoch %zu: loss %.4f train acc %.4f (%.0f samples/s)\n",
                                s.epoch + 1, s.loss, s.accuracy, s.samples_per_second());
                }
            };
            return Log{};
        }());
    }
    const auto fp32_graph = fp32.model().lower();
    const Result r32 = measure(fp32.deploy(), fp32_graph, test);

    // 2. PTQ: the trained weights, ranges from `calib` batches of the training data.
    Fashion<es::quant::Ptq<es::quant::MinMax>> ptq;
    ptq.model() = fp32.model();
    ptq.calibrate(train, o.calib, 64);
    auto ptq_graph = ptq.model().lower();
    ptq.quantizer().lower(ptq_graph);
    const Result r_ptq = measure(ptq.deploy(), ptq_graph, test);

    // 3. QAT: fine-tune the fp32 model with fake quantization; ranges start from the same
    // calibration and freeze after the first fine-tuning epoch.
    const std::size_t steps_per_epoch = (train.size() + 63) / 64;
    Fashion<es::quant::Qat<>> qat(0x5eed, {}, es::quant::Qat<>({0.01f, steps_per_epoch}));
    qat.model() = fp32.model();
    qat.calibrate(train, o.calib, 64);
    {
        es::train::Adam adam(1e-4f);
        qat.fit(train, adam, {o.qat_epochs, 64, true, false});
    }
    auto qat_graph = qat.model().lower();
    qat.quantizer().lower(qat_graph);
    const Result r_qat = measure(qat.deploy(), qat_graph, test);

    // 4. The fair baseline for QAT: the same fp32 model fine-tuned for the same extra epochs
    // with the same optimizer, without fake quantization. QAT's gain over fp32 must not be
    // the gain of two more epochs.
    Fashion<es::quant::NoQuant> fp32_more;
    fp32_more.model() = fp32.model();
    {
        es::train::Adam adam(1e-4f);
        fp32_more.fit(train, adam, {o.qat_epochs, 64, true, false});
    }
    const Result r32_more = measure(fp32_more.deploy(), fp32_more.model().lower(), test);

    std::printf("\nFashion-MNIST test (%zu images), backend Simd, batch-1 latency median of 2000\n",
                test.size());
    std::printf("%-6s %10s %12s %14s\n", "model", "accuracy", "bytes", "latency (us)");
    const std::string more = "fp32+" + std::to_string(o.qat_epochs);
    for (const auto& [name, r] : {std::pair{std::string("fp32"), r32}, std::pair{std::string("PTQ"), r_ptq},
                                  std::pair{more, r32_more}, std::pair{std::string("QAT"), r_qat}})
        std::printf("%-7s %9.2f%% %12zu %14.1f\n", name.c_str(), r.accuracy, r.bytes, r.latency_us);
    std::printf("\nPTQ - fp32: %+.2f points; bytes fp32 / int8: %.2fx\n", r_ptq.accuracy - r32.accuracy,
                static_cast<double>(r32.bytes) / static_cast<double>(r_ptq.bytes));
    std::printf("QAT - %s (both %zu epochs): %+.2f points\n", more.c_str(), o.epochs + o.qat_epochs,
                r_qat.accuracy - r32_more.accuracy);
    return 0;
}
