// Pooling over NHWC images: MaxPool2D, AvgPool2D (padding cells counted or not, as the
// CountPad / ExcludePad policy says; windows and strides square or not, padding same, valid
// or explicit) and GlobalAvgPool (H x W x C -> C, or T x C -> C for sequences).
#pragma once

#include <array>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <type_traits>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/detail/conv_geometry.hpp"

namespace edgestack::nn {

/// AvgPool2D's count policy: padding cells count in the mean as zeros (PyTorch's
/// `count_include_pad=True`, its default; ONNX `count_include_pad = 1`).
struct CountPad {
    static constexpr bool count_pad = true; ///< padding cells count
};
/// AvgPool2D's count policy: the mean is over the cells inside the image (TensorFlow's
/// rule; ONNX's default `count_include_pad = 0`).
struct ExcludePad {
    static constexpr bool count_pad = false; ///< padding cells do not count
};

namespace detail {

template <bool Max, KernelSize K, StrideSize S, Padding P, bool CountPadding, ShapeType In>
struct Pool2D {
    static_assert(In::rank == 3, "MaxPool2D/AvgPool2D: input must be rank 3 (height x width x "
                                 "channels) - pool before Flatten, not after");
    using G = WindowGeometry<In, K, S, P, 1>;
    static_assert(!Max || (G::OH > 0 && G::OW > 0),
                  "MaxPool2D: the window is larger than the padded input - use a smaller "
                  "Window<h, w>, Padding::same or pad more (Pad<h, w>)");
    static_assert(Max || (G::OH > 0 && G::OW > 0),
                  "AvgPool2D: the window is larger than the padded input - use a smaller "
                  "Window<h, w>, Padding::same or pad more (Pad<h, w>)");
    static_assert(!Max || (G::y.pad_before < K.h && G::y.pad_after < K.h &&
                           G::x.pad_before < K.w && G::x.pad_after < K.w),
                  "MaxPool2D: padding must be smaller than the window on every side - a window "
                  "wholly in the padding has no input; pad less");
    static_assert(Max || (G::y.pad_before < K.h && G::y.pad_after < K.h &&
                          G::x.pad_before < K.w && G::x.pad_after < K.w),
                  "AvgPool2D: padding must be smaller than the window on every side - a window "
                  "wholly in the padding has no input; pad less");
    static constexpr std::size_t C = G::C;
    /// Padding cells count in the mean: every window averages over kh * kw cells.
    static constexpr bool count_pad = !Max && CountPadding && G::padded;
    using input_shape = In;
    using output_shape = Shape<G::OH, G::OW, C>;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t macs = 0;
    static std::string name() {
        std::string args = window_args(S, StrideSize{K.h, K.w}, P, 1, Padding::valid);
        if (!Max && CountPadding) {
            if (args.empty()) args = ", " + extent_arg(S, "Stride") + ", " + padding_arg(P);
            args += ", CountPad";
        }
        return std::string(Max ? "MaxPool2D<" : "AvgPool2D<") + extent_arg(K, "Window") + args +
               ">";
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
                    window(oy, ox, [&](std::size_t i) {
                        const float* xi = x + i * C;
                        for (std::size_t c = 0; c < C; ++c) {
                            if constexpr (Max) yo[c] = xi[c] > yo[c] ? xi[c] : yo[c];
                            else yo[c] += xi[c];
                        }
                    });
                    if constexpr (!Max) {
                        const float inv = 1.0f / static_cast<float>(cells(oy, ox));
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
                        const float inv = 1.0f / static_cast<float>(cells(oy, ox));
                        window(oy, ox, [&](std::size_t i) {
                            for (std::size_t c = 0; c < C; ++c) dx[i * C + c] += dy[o + c] * inv;
                        });
                    }
                }
        }, 8);
    }

    /// A max_pool2d or avg_pool2d node; an average that counts its padding is the graph's
    /// depthwise convolution with every weight 1 / (kh * kw) and no bias (the graph's
    /// avg_pool2d never counts padding), as io::import_onnx_graph reads ONNX's.
    int lower(compile::Graph& g, int value, std::span<const float>) const {
        compile::Node node = G::node(count_pad ? compile::Op::depthwise_conv2d
                                     : Max     ? compile::Op::max_pool2d
                                               : compile::Op::avg_pool2d);
        if constexpr (count_pad) node.weights.assign(G::taps * C, 1.0f / static_cast<float>(G::taps));
        node.name = g.fresh_name(node.op);
        return g.append(std::move(node), {value}, {G::OH, G::OW, C});
    }

private:
    /// How many cells the mean at (oy, ox) divides by.
    static std::size_t cells(std::size_t oy, std::size_t ox) {
        if constexpr (count_pad) {
            (void)oy; (void)ox;
            return G::taps;
        } else {
            std::size_t n = 0;
            window(oy, ox, [&](std::size_t) { ++n; });
            return n;
        }
    }

    template <class F>
    static void window(std::size_t oy, std::size_t ox, F&& f) {
        for (std::size_t ky = 0; ky < G::KH; ++ky) {
            const long iy = G::in_y(oy, ky);
            if (iy < 0) continue;
            for (std::size_t kx = 0; kx < G::KW; ++kx) {
                const long ix = G::in_x(ox, kx);
                if (ix < 0) continue;
                f(static_cast<std::size_t>(iy) * G::W + static_cast<std::size_t>(ix));
            }
        }
    }
};

/// A pooling layer's stride: 0 (the default) means the window's size.
constexpr StrideSize pool_stride(KernelSize k, StrideSize s) noexcept {
    return {s.h == 0 ? k.h : s.h, s.w == 0 ? k.w : s.w};
}

} // namespace detail

/// Max pooling: `MaxPool2D<2>` halves height and width (the stride defaults to the window);
/// `MaxPool2D<Window<3, 3>, Stride<2, 2>, Pad<1, 1>>` is PyTorch's `MaxPool2d(3, 2, 1)`.
/// Padding never wins the maximum.
template <KernelSize K, StrideSize S = 0, Padding P = Padding::valid>
struct MaxPool2D {
    static_assert(K.h > 0 && K.w > 0, "MaxPool2D<K, S, P>: the window must be >= 1");
    /// The step: S, or the window's size when S is 0.
    static constexpr StrideSize stride = detail::pool_stride(K, S);
    template <ShapeType In>
    using bind = detail::Pool2D<true, K, stride, P, false, In>;
};

/// Average pooling: `AvgPool2D<Window<24, 5>>` is PyTorch's `AvgPool2d((24, 5))`. Cells in
/// the padding are not counted in the mean (ExcludePad) unless Count is CountPad:
/// `AvgPool2D<3, 1, Pad<1>, CountPad>` is PyTorch's `AvgPool2d(3, 1, 1)`.
template <KernelSize K, StrideSize S = 0, Padding P = Padding::valid, class Count = ExcludePad>
struct AvgPool2D {
    static_assert(K.h > 0 && K.w > 0, "AvgPool2D<K, S, P, Count>: the window must be >= 1");
    static_assert(std::is_same_v<Count, CountPad> || std::is_same_v<Count, ExcludePad>,
                  "AvgPool2D<K, S, P, Count>: Count must be CountPad or ExcludePad");
    /// The step: S, or the window's size when S is 0.
    static constexpr StrideSize stride = detail::pool_stride(K, S);
    template <ShapeType In>
    using bind = detail::Pool2D<false, K, stride, P, Count::count_pad, In>;
};

/// Short name of MaxPool2D.
template <KernelSize K, StrideSize S = 0, Padding P = Padding::valid>
using MaxPool = MaxPool2D<K, S, P>;
/// Short name of AvgPool2D.
template <KernelSize K, StrideSize S = 0, Padding P = Padding::valid, class Count = ExcludePad>
using AvgPool = AvgPool2D<K, S, P, Count>;

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
