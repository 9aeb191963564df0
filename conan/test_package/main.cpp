// Builds and runs a pipeline from an installed edgestack, with the tbb and xnnpack
// components linked: if this links and prints "ok", the package is usable.
#include <cstdio>
#include <vector>

#include <xnnpack.h>

#include <edgestack/core/parallel.hpp>
#include <edgestack/edgestack.hpp>

using namespace edgestack;

using Net = nn::Sequential<nn::Input<2>, nn::Dense<8>, nn::ReLU, nn::Dense<2>>;
using Pipe = Pipeline<data::InMemoryLoader, data::NoAugment, Net, quant::NoQuant,
                      backend::Reference>;

int main() {
    if (xnn_initialize(nullptr) != xnn_status_success) {
        std::puts("XNNPACK failed to initialise");
        return 1;
    }
    std::vector<float> x;
    std::vector<std::int32_t> y;
    Rng rng(1);
    for (int i = 0; i < 256; ++i) {
        const float a = rng.uniform(-1, 1), b = rng.uniform(-1, 1);
        x.insert(x.end(), {a, b});
        y.push_back(a + b > 0 ? 1 : 0);
    }
    const data::InMemoryLoader loader(x, y, 2, 2);
    Pipe pipe(7);
    train::Sgd sgd(0.1f, 0.9f);
    pipe.fit(loader, sgd, {.epochs = 10, .batch_size = 16});
    const double accuracy = pipe.evaluate(loader).accuracy;
    auto engine = pipe.deploy();
    std::vector<float> out(2);
    const bool ran = engine.run(std::span<const float>(x.data(), 2), out);
    std::printf("accuracy %.3f, engine ran: %s, threads: %zu\n", accuracy, ran ? "yes" : "no",
                max_threads());
    if (!ran || accuracy < 0.9) return 1;
    std::puts("ok");
    return 0;
}
