// Pooling over NHWC images: MaxPool2D, AvgPool2D (padding cells are not counted) and
// GlobalAvgPool (H x W x C -> C, or T x C -> C for sequences).
#pragma once

#include <array>
#include <cstddef>
#include <limits>
#include <span>
#include <string>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/detail/conv_geometry.hpp"

namespace edgestack::nn {

namespace detail {

template <bool Max, std::size_t Pool, std::size_t Stride, Padding Pad, ShapeType In>
struct Pool2D {
    static_assert(In::rank == 3, "MaxPool2D/AvgPool2D: input must be rank 3 (height x width x "
                                 "channels) - pool before Flatten, not after");
    using G = Window<In, Pool, Pool, Stride, Pad, 1>;
    static_assert(G::OH > 0 && G::OW > 0, "MaxPool2D/AvgPool2D: window is larger than the input "
                                          "- use a smaller pool or Padding::same");
    static constexpr std::size_t C = G::C;
    using input_shape = In;
    using output_shape = Shape<G::OH, G::OW, C>;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t macs = 0;
    static std::string name() {
        return std::string(Max ? "MaxPool2D<" : "AvgPool2D<") + std::to_string(Pool) +
               window_args(Stride, Pool, Pad, 1, Padding::valid) + ">";
    }

    void init(std::span<float>, Rng&) const {}

    void forward(const float* in, float* out, std::size_t batch, std::span<const float>, Mode,
                 Rng&) {
        parallel_for(0, batch, [&](std::size_t s) {
            const float* x = in + s * In::size;
            float* y = out + s * output_shape::size;
            for (std::size_t oy = 0; oy < G::OH; ++oy)
                for (std::size_t ox = 0; ox < G::OW; ++ox) {
                    float* yo = y + (oy * G::OW + ox) * C;
                    std::fill_n(yo, C, Max ? -std::numeric_limits<float>::infinity() : 0.0f);
                    std::size_t count = 0;
                    window(oy, ox, [&](std::size_t i) {
                        const float* xi = x + i * C;
                        ++count;
                        for (std::size_t c = 0; c < C; ++c) {
                            if constexpr (Max) yo[c] = xi[c] > yo[c] ? xi[c] : yo[c];
                            else yo[c] += xi[c];
                        }
                    });
                    if constexpr (!Max) {
                        const float inv = 1.0f / static_cast<float>(count);
                        for (std::size_t c = 0; c < C; ++c) yo[c] *= inv;
                    }
                }
        }, 8);
    }

    // Max: the gradient goes to the first input equal to the window's maximum (found again
    // from `in` and `out`, so the forward pass keeps nothing).
    void backward(const float* in, const float* out, const float* dout, float* din,
                  std::size_t batch, std::span<const float>, std::span<float>) {
        if (din == nullptr) return;
        parallel_for(0, batch, [&](std::size_t s) {
            const float* x = in + s * In::size;
            const float* y = out + s * output_shape::size;
            const float* dy = dout + s * output_shape::size;
            float* dx = din + s * In::size;
            std::fill_n(dx, In::size, 0.0f);
            for (std::size_t oy = 0; oy < G::OH; ++oy)
                for (std::size_t ox = 0; ox < G::OW; ++ox) {
                    const std::size_t o = (oy * G::OW + ox) * C;
                    if constexpr (Max) {
                        // Branch-free over channels so it vectorizes: a random-sign
                        // comparison per value would be a mispredicted jump half the time.
                        std::array<float, C> open;
                        open.fill(1.0f);
                        window(oy, ox, [&](std::size_t i) {
                            const float* __restrict xi = x + i * C;
                            const float* __restrict yo = y + o;
                            const float* __restrict dyo = dy + o;
                            float* __restrict dxi = dx + i * C;
                            float* __restrict op = open.data();
                            for (std::size_t c = 0; c < C; ++c) {
                                const float hit = static_cast<float>(xi[c] == yo[c]) * op[c];
                                dxi[c] += hit * dyo[c];
                                op[c] -= hit;
                            }
                        });
                    } else {
                        std::size_t count = 0;
                        window(oy, ox, [&](std::size_t) { ++count; });
                        const float inv = 1.0f / static_cast<float>(count);
                        window(oy, ox, [&](std::size_t i) {
                            for (std::size_t c = 0; c < C; ++c) dx[i * C + c] += dy[o + c] * inv;
                        });
                    }
                }
        }, 8);
    }

    int lower(compile::Graph& g, int value, std::span<const float>) const {
        compile::Node node = G::node(Max ? compile::Op::max_pool2d : compile::Op::avg_pool2d);
        node.name = g.fresh_name(node.op);
        return g.append(std::move(node), {value}, {G::OH, G::OW, C});
    }

private:
    template <class F>
    static void window(std::size_t oy, std::size_t ox, F&& f) {
        for (std::size_t ky = 0; ky < Pool; ++ky) {
            const long iy = G::in_y(oy, ky);
            if (iy < 0) continue;
            for (std::size_t kx = 0; kx < Pool; ++kx) {
                const long ix = G::in_x(ox, kx);
                if (ix < 0) continue;
                f(static_cast<std::size_t>(iy) * G::W + static_cast<std::size_t>(ix));
            }
        }
    }
};

} // namespace detail

/// Max pooling: `MaxPool2D<2>` halves height and width (stride defaults to the pool size).
template <std::size_t Pool, std::size_t Stride = Pool, Padding Pad = Padding::valid>
struct MaxPool2D {
    static_assert(Pool > 0 && Stride > 0, "MaxPool2D<P, S>: pool and stride must be >= 1");
    template <ShapeType In>
    using bind = detail::Pool2D<true, Pool, Stride, Pad, In>;
};

/// Average pooling; cells in the padding are not counted in the mean.
template <std::size_t Pool, std::size_t Stride = Pool, Padding Pad = Padding::valid>
struct AvgPool2D {
    static_assert(Pool > 0 && Stride > 0, "AvgPool2D<P, S>: pool and stride must be >= 1");
    template <ShapeType In>
    using bind = detail::Pool2D<false, Pool, Stride, Pad, In>;
};

/// Short name of MaxPool2D.
template <std::size_t Pool, std::size_t Stride = Pool, Padding Pad = Padding::valid>
using MaxPool = MaxPool2D<Pool, Stride, Pad>;
/// Short name of AvgPool2D.
template <std::size_t Pool, std::size_t Stride = Pool, Padding Pad = Padding::valid>
using AvgPool = AvgPool2D<Pool, Stride, Pad>;

/// Mean over every axis but the last: H x W x C -> C (or T x C -> C).
struct GlobalAvgPool {
    template <ShapeType In>
    struct bind {
        static_assert(In::rank >= 2, "GlobalAvgPool: input must be rank 2 or 3 (positions x "
                                     "channels) - it already is a feature vector, remove it");
        static constexpr std::size_t C = In::dims[In::rank - 1];
        static constexpr std::size_t positions = In::size / C;
        using input_shape = In;
        using output_shape = Shape<C>;
        static constexpr std::size_t param_count = 0;
        static constexpr std::size_t macs = 0;
        static std::string name() { return "GlobalAvgPool"; }

        void init(std::span<float>, Rng&) const {}
        void forward(const float* in, float* out, std::size_t batch, std::span<const float>, Mode,
                     Rng&) {
            const float inv = 1.0f / static_cast<float>(positions);
            for (std::size_t s = 0; s < batch; ++s) {
                float* y = out + s * C;
                std::fill_n(y, C, 0.0f);
                for (std::size_t i = 0; i < positions; ++i)
                    for (std::size_t c = 0; c < C; ++c) y[c] += in[(s * positions + i) * C + c];
                for (std::size_t c = 0; c < C; ++c) y[c] *= inv;
            }
        }
        void backward(const float*, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float>, std::span<float>) {
            if (din == nullptr) return;
            const float inv = 1.0f / static_cast<float>(positions);
            for (std::size_t s = 0; s < batch; ++s)
                for (std::size_t i = 0; i < positions; ++i)
                    for (std::size_t c = 0; c < C; ++c)
                        din[(s * positions + i) * C + c] = dout[s * C + c] * inv;
        }
        int lower(compile::Graph& g, int value, std::span<const float>) const {
            compile::Node node;
            node.op = compile::Op::global_avg_pool;
            node.name = g.fresh_name(node.op);
            return g.append(std::move(node), {value}, {C});
        }
    };
};

} // namespace edgestack::nn
