// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::train {

class Sgd {
public:
    explicit Sgd(float learning_rate = 0.01f, float momentum = 0.0f, float weight_decay = 0.0f,
                 bool nesterov = false)
        : lr_(learning_rate), momentum_(momentum), decay_(weight_decay), nesterov_(nesterov) {
        if (!(learning_rate > 0.0f)) throw config_error("Sgd: learning_rate must be > 0");
        if (momentum < 0.0f || momentum >= 1.0f)
            throw config_error("Sgd: momentum must be in [0, 1)");
    }

    void step(std::span<float> p, std::span<const float> g) {
        if (momentum_ > 0.0f && velocity_.size() != p.size()) velocity_.assign(p.size(), 0.0f);
        for (std::size_t i = 0; i < p.size(); ++i) {
            float d = g[i] + decay_ * p[i];
            if (momentum_ > 0.0f) {
                velocity_[i] = momentum_ * velocity_[i] + d;
                d = nesterov_ ? d + momentum_ * velocity_[i] : velocity_[i];
            }
            p[i] -= lr_ * d;
        }
    }

    float learning_rate() const noexcept { return lr_; }
    void set_learning_rate(float lr) noexcept { lr_ = lr; }
    std::span<const float> state() const noexcept { return velocity_; }

private:
    float lr_, momentum_, decay_;
    bool nesterov_;
    std::vector<float> velocity_;
};

} // namespace edgestack::train
