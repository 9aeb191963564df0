// Shared by the data-parallel tests: a small MLP, synthetic separable data, and the
// single-process reference (train::fit over data::Batcher) that every result is held to.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include "edgestack/core/rng.hpp"
#include "edgestack/data/batcher.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/train/fit.hpp"
#include "edgestack/train/loss.hpp"
#include "edgestack/train/sgd.hpp"

namespace dist_test {

namespace nn = edgestack::nn;
using Mlp = nn::Sequential<nn::Input<8>, nn::Dense<16>, nn::ReLU, nn::Dense<12>, nn::ReLU,
                           nn::Dense<3>>;

/// `n` samples of 8 features in 3 classes, the class shifting the mean of some features.
inline edgestack::data::InMemoryLoader make_data(std::size_t n, std::uint64_t seed = 7) {
    edgestack::Rng r(seed);
    std::vector<float> x(n * 8);
    std::vector<std::int32_t> y(n);
    for (std::size_t i = 0; i < n; ++i) {
        y[i] = static_cast<std::int32_t>(r.below(3));
        for (std::size_t k = 0; k < 8; ++k)
            x[i * 8 + k] = r.normal() + (k % 3 == static_cast<std::size_t>(y[i]) ? 1.5f : 0.0f);
    }
    return {std::move(x), std::move(y), 8, 3};
}

inline Mlp make_model(std::uint64_t seed) {
    Mlp m;
    edgestack::Rng r(seed);
    m.init(r);
    return m;
}

/// What one process does with the whole batch: the result data parallelism must match.
inline std::vector<float> reference_weights(const edgestack::data::InMemoryLoader& data,
                                            std::uint64_t init_seed, std::uint64_t seed,
                                            std::size_t batch, std::size_t epochs, float lr,
                                            float momentum = 0.0f) {
    using namespace edgestack;
    Mlp m = make_model(init_seed);
    train::Sgd sgd(lr, momentum);
    const data::NoAugment none;
    const Rng rng(seed);
    data::Batcher<data::InMemoryLoader, data::NoAugment> batcher(
        data, none, layout_of<Mlp::input_shape>(), {batch, true, false},
        rng.split(static_cast<std::uint64_t>(Stream::shuffle)));
    train::fit(
        m, batcher, sgd, train::SoftmaxCrossEntropy{}, epochs,
        rng.split(static_cast<std::uint64_t>(Stream::train)),
        [](Mlp&) { return std::pair{0.0, 0.0}; }, [](Mlp&) {});
    const auto p = m.parameters();
    return {p.begin(), p.end()};
}

inline float max_abs_diff(std::span<const float> a, std::span<const float> b) {
    float d = a.size() == b.size() ? 0.0f : INFINITY;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        d = std::max(d, std::fabs(a[i] - b[i]));
    return d;
}

/// A scratch folder removed when the object dies.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name) {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               ("edgestack-dist-" + name + "-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

} // namespace dist_test
