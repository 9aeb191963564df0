// Fashion-MNIST in one call: the train or test split as an IdxLoader (28x28x1, 10 classes),
// from Debian's dataset-fashion-mnist folder by default, raw or gzip-compressed files.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <string_view>

#include "edgestack/core/error.hpp"
#include "edgestack/data/idx.hpp"

namespace edgestack::data {

/// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr std::string_view fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";

/// The ten Fashion-MNIST classes, by label.
inline constexpr std::array<std::string_view, 10> fashion_mnist_classes{
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/// Which Fashion-MNIST file pair: 60,000 training or 10,000 test images.
enum class Split { train, test };

namespace detail {
// The plain file if it is there, else the .gz one.
inline std::filesystem::path find_idx(const std::filesystem::path& dir, std::string_view stem) {
    const auto raw = dir / std::string(stem);
    if (std::filesystem::exists(raw)) return raw;
    auto gz = raw;
    gz += ".gz";
    if (std::filesystem::exists(gz)) return gz;
    throw file_error(raw.string() + ": not found (nor " + gz.filename().string() +
                     ") - Fashion-MNIST is Debian's dataset-fashion-mnist package");
}
} // namespace detail

/// The train (60,000) or test (10,000) split of Fashion-MNIST in `dir`. `max_samples` > 0
/// loads only the first samples.
inline IdxLoader load_fashion_mnist(Split split,
                                    const std::filesystem::path& dir = fashion_mnist_default_dir,
                                    std::size_t max_samples = 0) {
    const bool train = split == Split::train;
    const auto images =
        detail::find_idx(dir, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte");
    const auto labels =
        detail::find_idx(dir, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte");
    return IdxLoader(images, labels, max_samples, 10);
}

} // namespace edgestack::data
