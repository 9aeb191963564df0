// Shared pieces of the training tests: a small classifier, clustered data, and helpers for
// checking error messages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "edgestack/edgestack.hpp"
#include "edgestack/train/train.hpp"

namespace train_test {

using namespace edgestack;

using Net = nn::Sequential<nn::Input<8>, nn::Dense<16>, nn::ReLU, nn::Dense<4>>;
using Pipe =
    Pipeline<data::InMemoryLoader, data::NoAugment, Net, quant::NoQuant, backend::Reference>;

/// Four Gaussian clusters in 8 dimensions, one per class.
inline data::InMemoryLoader clusters(std::size_t n, std::uint64_t seed, float spread = 0.8f) {
    Rng rng(seed);
    Rng centres_rng(1234);
    std::vector<float> centres(4 * 8);
    for (auto& c : centres) c = centres_rng.uniform(-2.0f, 2.0f);
    std::vector<float> x;
    std::vector<std::int32_t> y;
    for (std::size_t i = 0; i < n; ++i) {
        const auto label = static_cast<std::int32_t>(rng.below(4));
        for (std::size_t d = 0; d < 8; ++d)
            x.push_back(centres[static_cast<std::size_t>(label) * 8 + d] + rng.normal(0, spread));
        y.push_back(label);
    }
    return data::InMemoryLoader(std::move(x), std::move(y), 8, 4);
}

template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const error& e) {
        return e.what();
    }
    return "no exception";
}

/// A fresh path in the temporary folder, removed when the object dies.
struct TempPath {
    std::filesystem::path path;
    explicit TempPath(const std::string& name)
        : path(std::filesystem::temp_directory_path() /
               (name + "." + std::to_string(::getpid()))) {
        std::filesystem::remove(path);
    }
    ~TempPath() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
};

} // namespace train_test
