// Evaluation of a classifier: loss, accuracy and the confusion matrix over a whole Loader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/train/loss.hpp"

namespace edgestack::train {

struct Evaluation {
    std::size_t count = 0;
    double loss = 0.0;
    double accuracy = 0.0;
    std::size_t classes = 0;
    std::vector<std::size_t> confusion; // [true][predicted], classes x classes

    std::size_t confusion_at(std::size_t truth, std::size_t predicted) const {
        return confusion.at(truth * classes + predicted);
    }
};

/// Run `model` in eval mode over every sample of `loader`, `batch_size` at a time.
template <Model M, Loader L>
Evaluation evaluate(M& model, const L& loader, std::size_t batch_size = 256) {
    constexpr std::size_t classes = M::output_shape::size;
    constexpr std::size_t features = M::input_shape::size;
    Evaluation ev;
    ev.classes = classes;
    ev.confusion.assign(classes * classes, 0);
    data::Batch batch;
    std::vector<float> dlogits;
    Rng rng(0);
    double loss_sum = 0.0;
    std::size_t correct = 0;
    for (std::size_t start = 0; start < loader.size(); start += batch_size) {
        const std::size_t n = std::min(batch_size, loader.size() - start);
        batch.resize(n, features);
        for (std::size_t i = 0; i < n; ++i) batch.y[i] = loader.read(start + i, batch.sample(i));
        const float* logits = model.forward(batch.x.data(), n, nn::Mode::eval, rng);
        dlogits.resize(n * classes);
        loss_sum += static_cast<double>(SoftmaxCrossEntropy{}(logits, batch.y.data(), n, classes,
                                                              dlogits.data())) * n;
        for (std::size_t b = 0; b < n; ++b) {
            const float* z = logits + b * classes;
            std::size_t best = 0;
            for (std::size_t k = 1; k < classes; ++k)
                if (z[k] > z[best]) best = k;
            const auto truth = static_cast<std::size_t>(batch.y[b]);
            correct += best == truth;
            ++ev.confusion[truth * classes + best];
        }
    }
    ev.count = loader.size();
    ev.loss = ev.count ? loss_sum / static_cast<double>(ev.count) : 0.0;
    ev.accuracy = ev.count ? static_cast<double>(correct) / static_cast<double>(ev.count) : 0.0;
    return ev;
}

} // namespace edgestack::train
