// Shared by the model tests: a small MLP trained briefly on a Fashion-MNIST slice, and the
// check that two sets of outputs agree within one quantization step.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/input.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/train/sgd.hpp"

namespace quant_test {

namespace nn = edgestack::nn;
using Mlp = nn::Sequential<nn::Input<28, 28, 1>, nn::Flatten, nn::Dense<48>, nn::ReLU,
                           nn::Dense<10>>;

inline const edgestack::data::IdxLoader& train_slice() {
    static const auto l = edgestack::data::load_fashion_mnist(
        edgestack::data::Split::train, EDGESTACK_FASHION_MNIST_DIR, 3000);
    return l;
}
inline const edgestack::data::IdxLoader& test_slice() {
    static const auto l = edgestack::data::load_fashion_mnist(
        edgestack::data::Split::test, EDGESTACK_FASHION_MNIST_DIR, 500);
    return l;
}

/// An MLP trained for 2 epochs on the train slice (the same every time: seeded).
inline const Mlp& trained_mlp() {
    static const Mlp m = [] {
        edgestack::Pipeline<edgestack::data::IdxLoader, edgestack::data::NoAugment, Mlp,
                            edgestack::quant::NoQuant, edgestack::backend::Reference>
            p(7);
        edgestack::train::Sgd sgd(0.05f, 0.9f);
        p.fit(train_slice(), sgd, {2, 64, true, false});
        return p.model();
    }();
    return m;
}

/// Samples [0, n) of a loader as one batch.
template <class L>
std::vector<float> features(const L& l, std::size_t n, std::vector<std::int32_t>* labels = nullptr) {
    std::vector<float> x(n * l.sample_size());
    if (labels) labels->resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto y = l.read(i, std::span<float>(x.data() + i * l.sample_size(), l.sample_size()));
        if (labels) (*labels)[i] = y;
    }
    return x;
}

inline double accuracy(const float* logits, const std::vector<std::int32_t>& y, std::size_t k) {
    std::size_t ok = 0;
    for (std::size_t b = 0; b < y.size(); ++b) {
        const float* z = logits + b * k;
        ok += static_cast<std::int32_t>(std::max_element(z, z + k) - z) == y[b];
    }
    return static_cast<double>(ok) / static_cast<double>(y.size());
}

/// Largest |a - b| in units of `step`.
inline double worst_steps(const float* a, const float* b, std::size_t n, float step) {
    double w = 0.0;
    for (std::size_t i = 0; i < n; ++i) w = std::max(w, std::fabs(double(a[i]) - b[i]) / step);
    return w;
}

} // namespace quant_test
