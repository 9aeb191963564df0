// Quickstart: declare a pipeline as one type, train it on Fashion-MNIST, evaluate it, deploy
// it to an engine and time that engine. The README shows the heart of this file.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/edgestack.hpp"
#include "edgestack/train/callbacks.hpp"
#include "edgestack/train/optimizer.hpp"

using namespace edgestack;

using Mlp = nn::Sequential<nn::Input<28, 28, 1>, nn::Flatten, nn::Dense<128>, nn::ReLU,
                           nn::Dense<10>>;
using Quickstart =
    Pipeline<data::IdxLoader, data::NoAugment, Mlp, quant::NoQuant, backend::Reference>;

int main(int argc, char** argv) {
    const auto dir = argc > 1 ? argv[1] : EDGESTACK_FASHION_MNIST_DIR;
    const auto train_set = data::load_fashion_mnist(data::Split::train, dir);
    const auto test_set = data::load_fashion_mnist(data::Split::test, dir);
    std::printf("%s\n", Mlp::summary().c_str());

    Quickstart pipeline(/*seed=*/42);
    train::Adam adam(1e-3f);
    train::ProgressBar progress;
    pipeline.fit(train_set, adam, {.epochs = 2, .batch_size = 64}, progress);
    const auto ev = pipeline.evaluate(test_set);
    std::printf("test accuracy: %.2f%% on %zu images\n", 100.0 * ev.accuracy, ev.count);

    auto engine = pipeline.deploy();
    auto arena = engine.make_arena(1);
    std::vector<float> image(Mlp::input_shape::size), logits(10);
    std::vector<double> micros;
    for (std::size_t i = 0; i < 1000; ++i) {
        test_set.read(i, image);
        const auto t0 = std::chrono::steady_clock::now();
        engine.run(image, logits, arena);
        micros.push_back(std::chrono::duration<double, std::micro>(
                             std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(micros.begin(), micros.begin() + 500, micros.end());
    std::printf("engine (%s backend): median batch-1 latency %.1f us\n",
                backend::Reference::name, micros[500]);
    return 0;
}
