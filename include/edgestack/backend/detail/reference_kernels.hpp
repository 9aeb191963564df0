// Plain-loop kernels of the Reference backend: the oracle every other backend is tested
// against. Names follow <dtype>_<op>[_<act>]_<variant>.
#pragma once

#include <algorithm>
#include <cstddef>

#include "edgestack/compile/graph.hpp"

namespace edgestack::backend::detail {

inline float apply_activation(float v, compile::Activation a) noexcept {
    switch (a) {
    case compile::Activation::relu: return v > 0.0f ? v : 0.0f;
    case compile::Activation::relu6: return std::clamp(v, 0.0f, 6.0f);
    case compile::Activation::none: break;
    }
    return v;
}

/// y[b][o] = act(sum_i x[b][i] * w[o][i] + bias[o])
inline void f32_dense_ref(const float* x, const float* w, const float* bias, float* y,
                          std::size_t batch, std::size_t in, std::size_t out,
                          compile::Activation act) noexcept {
    for (std::size_t b = 0; b < batch; ++b) {
        const float* xb = x + b * in;
        for (std::size_t o = 0; o < out; ++o) {
            const float* wo = w + o * in;
            float acc = bias[o];
            for (std::size_t i = 0; i < in; ++i) acc += xb[i] * wo[i];
            y[b * out + o] = apply_activation(acc, act);
        }
    }
}

inline void f32_relu_ref(const float* x, float* y, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

inline void f32_copy_ref(const float* x, float* y, std::size_t n) noexcept {
    std::copy_n(x, n, y);
}

} // namespace edgestack::backend::detail
