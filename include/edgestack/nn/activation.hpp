// Activations: ReLU, ReLU6, LeakyReLU, Sigmoid, Tanh, HardSwish (point-wise; the math of
// each lives in a small functor with `f(x)` and `df(x, y)`) and Softmax over the last axis.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstddef>
#include <span>
#include <string>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"

namespace edgestack::nn {

namespace detail {

/// Binds a point-wise functor F (static f, df, op, name) to a shape.
template <class F, ShapeType In>
struct Pointwise {
    using input_shape = In;
    using output_shape = In;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t macs = 0;
    static constexpr std::size_t grain = 1 << 15; // elements per parallel chunk
    /// ReLU: Sequential lets a preceding Conv2D apply it (nn/detail/layer_traits.hpp).
    static constexpr bool is_relu = requires { F::is_relu; };
    static std::string name() { return F::name(); }

    void init(std::span<float>, Rng&) const {}
    void forward(const float* in, float* out, std::size_t batch, std::span<const float>, Mode,
                 Rng&) {
        parallel_chunks(0, batch * In::size, grain, [&](std::size_t b, std::size_t e) {
            // Restrict-qualified so the compiler vectorizes (and so compiles the branches of
            // f and df into selects rather than mispredicted jumps).
            const float* __restrict x = in;
            float* __restrict y = out;
            for (std::size_t i = b; i < e; ++i) y[i] = F::f(x[i]);
        });
    }
    void backward(const float* in, const float* out, const float* dout, float* din,
                  std::size_t batch, std::span<const float>, std::span<float>) {
        if (din == nullptr) return;
        parallel_chunks(0, batch * In::size, grain, [&](std::size_t b, std::size_t e) {
            const float* __restrict x = in;
            const float* __restrict y = out;
            const float* __restrict dy = dout;
            float* __restrict dx = din;
            if constexpr (requires { F::grad(0.0f, 0.0f, 0.0f); })
                for (std::size_t i = b; i < e; ++i) dx[i] = F::grad(x[i], y[i], dy[i]);
            else
                for (std::size_t i = b; i < e; ++i) dx[i] = dy[i] * F::df(x[i], y[i]);
        });
    }
    int lower(compile::Graph& g, int value, std::span<const float>) const {
        compile::Node node;
        node.op = F::op;
        node.name = g.fresh_name(node.op);
        node.alpha = F::alpha;
        return g.append(std::move(node), {value},
                        compile::Dims(In::dims.begin(), In::dims.end()));
    }
};

struct ReluFn {
    static std::string name() { return "ReLU"; }
    static constexpr bool is_relu = true;
    static constexpr compile::Op op = compile::Op::relu;
    static constexpr float alpha = 0.0f;
    static float f(float x) noexcept { return x > 0.0f ? x : 0.0f; }
    static float df(float x, float) noexcept { return x > 0.0f ? 1.0f : 0.0f; }
    // The backward as one select: GCC 12 leaves `dy * (x > 0 ? 1 : 0)` as a branch that
    // blocks vectorization (5x slower backward on the reference CNN).
    static float grad(float x, float, float dy) noexcept { return x > 0.0f ? dy : 0.0f; }
};

struct Relu6Fn {
    static std::string name() { return "ReLU6"; }
    static constexpr compile::Op op = compile::Op::relu6;
    static constexpr float alpha = 0.0f;
    static float f(float x) noexcept { return std::clamp(x, 0.0f, 6.0f); }
    static float df(float x, float) noexcept {
        return static_cast<float>(x > 0.0f) * static_cast<float>(x < 6.0f);
    }
};

template <float Slope>
struct LeakyReluFn {
    static std::string name() {
        char b[48];
        std::snprintf(b, sizeof b, "LeakyReLU<%g>", static_cast<double>(Slope));
        return b;
    }
    static constexpr compile::Op op = compile::Op::leaky_relu;
    static constexpr float alpha = Slope;
    static float f(float x) noexcept { return x > 0.0f ? x : Slope * x; }
    static float df(float x, float) noexcept {
        return Slope + (1.0f - Slope) * static_cast<float>(x > 0.0f);
    }
};

struct SigmoidFn {
    static std::string name() { return "Sigmoid"; }
    static constexpr compile::Op op = compile::Op::sigmoid;
    static constexpr float alpha = 0.0f;
    static float f(float x) noexcept { return 1.0f / (1.0f + std::exp(-x)); }
    static float df(float, float y) noexcept { return y * (1.0f - y); }
};

struct TanhFn {
    static std::string name() { return "Tanh"; }
    static constexpr compile::Op op = compile::Op::tanh;
    static constexpr float alpha = 0.0f;
    static float f(float x) noexcept { return std::tanh(x); }
    static float df(float, float y) noexcept { return 1.0f - y * y; }
};

/// x * relu6(x + 3) / 6 (MobileNetV3).
struct HardSwishFn {
    static std::string name() { return "HardSwish"; }
    static constexpr compile::Op op = compile::Op::hard_swish;
    static constexpr float alpha = 0.0f;
    static float f(float x) noexcept { return x * std::clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f; }
    static float df(float x, float) noexcept {
        if (x <= -3.0f) return 0.0f;
        if (x >= 3.0f) return 1.0f;
        return (2.0f * x + 3.0f) / 6.0f;
    }
};

} // namespace detail

struct ReLU {
    template <ShapeType In>
    using bind = detail::Pointwise<detail::ReluFn, In>;
};

/// min(max(x, 0), 6): the activation of quantization-friendly mobile networks.
struct ReLU6 {
    template <ShapeType In>
    using bind = detail::Pointwise<detail::Relu6Fn, In>;
};

/// x for x > 0, Slope * x otherwise: `LeakyReLU<>` (0.01) or `LeakyReLU<0.2f>`.
template <float Slope = 0.01f>
struct LeakyReLU {
    template <ShapeType In>
    using bind = detail::Pointwise<detail::LeakyReluFn<Slope>, In>;
};

struct Sigmoid {
    template <ShapeType In>
    using bind = detail::Pointwise<detail::SigmoidFn, In>;
};

struct Tanh {
    template <ShapeType In>
    using bind = detail::Pointwise<detail::TanhFn, In>;
};

struct HardSwish {
    template <ShapeType In>
    using bind = detail::Pointwise<detail::HardSwishFn, In>;
};

/// Softmax over the last axis (a probability per class, or per key in attention). Losses
/// that take logits are more stable: use this for a model whose output must be probabilities.
struct Softmax {
    template <ShapeType In>
    struct bind {
        static constexpr std::size_t C = In::dims[In::rank - 1];
        using input_shape = In;
        using output_shape = In;
        static constexpr std::size_t param_count = 0;
        static constexpr std::size_t macs = 0;
        static std::string name() { return "Softmax"; }

        void init(std::span<float>, Rng&) const {}
        void forward(const float* in, float* out, std::size_t batch, std::span<const float>, Mode,
                     Rng&) {
            const std::size_t rows = batch * In::size / C;
            for (std::size_t r = 0; r < rows; ++r) {
                const float* x = in + r * C;
                float* y = out + r * C;
                const float m = *std::max_element(x, x + C);
                float sum = 0.0f;
                for (std::size_t c = 0; c < C; ++c) sum += (y[c] = std::exp(x[c] - m));
                const float inv = 1.0f / sum;
                for (std::size_t c = 0; c < C; ++c) y[c] *= inv;
            }
        }
        void backward(const float*, const float* out, const float* dout, float* din,
                      std::size_t batch, std::span<const float>, std::span<float>) {
            if (din == nullptr) return;
            const std::size_t rows = batch * In::size / C;
            for (std::size_t r = 0; r < rows; ++r) {
                const float* y = out + r * C;
                const float* dy = dout + r * C;
                float dot = 0.0f;
                for (std::size_t c = 0; c < C; ++c) dot += dy[c] * y[c];
                for (std::size_t c = 0; c < C; ++c) din[r * C + c] = y[c] * (dy[c] - dot);
            }
        }
        int lower(compile::Graph& g, int value, std::span<const float>) const {
            compile::Node node;
            node.op = compile::Op::softmax;
            node.name = g.fresh_name(node.op);
            return g.append(std::move(node), {value},
                            compile::Dims(In::dims.begin(), In::dims.end()));
        }
    };
};

} // namespace edgestack::nn
