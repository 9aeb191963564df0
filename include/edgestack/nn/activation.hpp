// Point-wise activations. Each is a spec and its own bound layer (shape in = shape out);
// the math of one activation lives in a small functor with `f(x)` and `df(x, y)`.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>

#include "edgestack/compile/graph.hpp"
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
    static std::string name() { return F::name; }

    void init(std::span<float>, Rng&) const {}
    void forward(const float* in, float* out, std::size_t batch, std::span<const float>, Mode,
                 Rng&) {
        const std::size_t n = batch * In::size;
        for (std::size_t i = 0; i < n; ++i) out[i] = F::f(in[i]);
    }
    void backward(const float* in, const float* out, const float* dout, float* din,
                  std::size_t batch, std::span<const float>, std::span<float>) {
        if (din == nullptr) return;
        const std::size_t n = batch * In::size;
        for (std::size_t i = 0; i < n; ++i) din[i] = dout[i] * F::df(in[i], out[i]);
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
    static constexpr const char* name = "ReLU";
    static constexpr compile::Op op = compile::Op::relu;
    static constexpr float alpha = 0.0f;
    static float f(float x) noexcept { return x > 0.0f ? x : 0.0f; }
    static float df(float x, float) noexcept { return x > 0.0f ? 1.0f : 0.0f; }
};

} // namespace detail

struct ReLU {
    template <ShapeType In>
    using bind = detail::Pointwise<detail::ReluFn, In>;
};

} // namespace edgestack::nn
