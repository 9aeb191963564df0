// 1-D layers over sequences of T steps x C channels (sensor time series, audio features):
// Conv1D, DepthwiseConv1D, MaxPool1D, AvgPool1D. A T x C sequence has the memory layout of a
// 1 x T x C image, so each is the 2-D layer with a 1 x k window (the same training code)
// whose shapes are rank 2, and lowers to the graph's conv2d, depthwise_conv2d, max_pool2d
// or avg_pool2d on the T x C value. Global pooling over time is nn::GlobalAvgPool, which
// takes T x C. Stage 2 (model).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <type_traits>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/detail/conv_geometry.hpp"
#include "edgestack/nn/geometry.hpp"
#include "edgestack/nn/pool.hpp"

namespace edgestack::nn {

/// Explicit zero padding of a 1-D layer: `Before` steps at the start, `After` at the end
/// (`After` defaults to `Before`). `Pad<p>` also works and means p at both ends, as
/// PyTorch's `Conv1d(..., padding=p)`.
template <std::size_t Before, std::size_t After = Before>
inline constexpr Padding Pad1D{Padding::Mode::explicit_, 0, Before, 0, After};

namespace detail {

/// The 1-D layers, for their messages.
enum class Layer1D { conv, depthwise, max_pool, avg_pool };

/// Whether a padding word makes sense along time: same, valid, Pad1D, or Pad with one size.
constexpr bool padding_1d_ok(const Padding& p) noexcept {
    if (p.mode != Padding::Mode::explicit_) return true;
    return (p.top == 0 && p.bottom == 0) || (p.top == p.left && p.bottom == p.right);
}

/// A 1-D padding word as the padding of a 1 x T map: rows never padded.
constexpr Padding padding_1d(const Padding& p) noexcept {
    if (p.mode != Padding::Mode::explicit_) return p;
    return {Padding::Mode::explicit_, 0, p.left, 0, p.right};
}

/// `Pad<1>` or `Pad1D<1, 2>`: the 1-D spelling of a padding word.
inline std::string padding_1d_arg(const Padding& p) {
    if (p.mode != Padding::Mode::explicit_) return padding_arg(p);
    if (p.left == p.right) return "Pad<" + std::to_string(p.left) + ">";
    return "Pad1D<" + std::to_string(p.left) + ", " + std::to_string(p.right) + ">";
}
/// The non-default trailing arguments (stride, padding, dilation) of a 1-D layer's name.
inline std::string window_args_1d(std::size_t s, std::size_t s_default, const Padding& p,
                                  const Padding& p_default, std::size_t d) {
    if (s == s_default && p == p_default && d == 1) return "";
    std::string r = ", " + std::to_string(s) + ", " + padding_1d_arg(p);
    if (d != 1) r += ", " + std::to_string(d);
    return r;
}

/// What a 1-D layer checks about its input before the 2-D layer is bound: rank 2, a window
/// that fits, a padding word that means something along time. `map` is the input as the
/// 1 x T x C map the 2-D layer reads, `steps` the output's length.
template <Layer1D L, ShapeType In, std::size_t K, std::size_t S, Padding P, std::size_t D>
struct Sequence1D {
    static_assert(L != Layer1D::conv || In::rank == 2,
                  "Conv1D: input must be rank 2 (time steps x channels) - use Input<T, C>");
    static_assert(L != Layer1D::depthwise || In::rank == 2,
                  "DepthwiseConv1D: input must be rank 2 (time steps x channels) - use Input<T, C>");
    static_assert(L != Layer1D::max_pool || In::rank == 2,
                  "MaxPool1D: input must be rank 2 (time steps x channels) - pool before Flatten");
    static_assert(L != Layer1D::avg_pool || In::rank == 2,
                  "AvgPool1D: input must be rank 2 (time steps x channels) - pool before Flatten");
    static_assert(padding_1d_ok(P), "1-D layers: padding is Padding::same, Padding::valid, Pad<p> "
                                    "(p at both ends) or Pad1D<before, after>");
    static constexpr std::size_t T = In::dims[0];
    static constexpr std::size_t C = In::dims[In::rank == 2 ? 1 : 0];
    static constexpr Axis axis =
        window_axis(T, K, S, D, P.mode, padding_1d(P).left, padding_1d(P).right);
    static_assert(L == Layer1D::max_pool || L == Layer1D::avg_pool || axis.out > 0,
                  "Conv1D/DepthwiseConv1D: the kernel is longer than the padded input - use "
                  "Padding::same, pad more (Pad<p>) or a shorter kernel");
    static_assert((L != Layer1D::max_pool && L != Layer1D::avg_pool) || axis.out > 0,
                  "MaxPool1D/AvgPool1D: the window is longer than the padded input - use a "
                  "shorter window or pad more (Pad<p>)");
    using map = Shape<1, T, C>;                   ///< the input as a 1 x T x C map
    static constexpr std::size_t steps = axis.out; ///< the output's time steps
};

/// A bound 2-D layer `Base` over the 1 x T x C map, seen as a T x C -> T' x C' layer: same
/// parameters and training code, rank-2 shapes, and a lowered value of rank 2.
template <class Base, ShapeType In, std::size_t Steps, std::size_t Channels>
struct As1D : Base {
    using input_shape = In;                        ///< T x C
    using output_shape = Shape<Steps, Channels>;   ///< T' x C'
    static_assert(output_shape::size == Base::output_shape::size, "As1D: the 1 x T map's output");

    /// The 2-D layer's node, on the T x C value: the graph runs a T x C value as a 1 x T x C
    /// map, so only the output value's shape differs.
    int lower(compile::Graph& g, int value, std::span<const float> p) const {
        const int v = Base::lower(g, value, p);
        g.values[static_cast<std::size_t>(v)] = {Steps, Channels};
        return v;
    }
};

} // namespace detail

/// 1-D convolution over T x C: `Conv1D<16, 5, 1, Pad<2>>` is PyTorch's
/// `Conv1d(c, 16, 5, padding=2)` (on N x C x T there, T x C here). Stride, padding
/// (`Padding::same`, `Padding::valid`, `Pad<p>`, `Pad1D<before, after>`) and dilation as in
/// Conv2D; it trains as Conv2D with a 1 x Kernel window and lowers to conv2d.
template <std::size_t Filters, std::size_t Kernel, std::size_t Stride = 1, Padding P = Padding::same,
          std::size_t Dilation = 1>
struct Conv1D {
    static_assert(Filters > 0 && Kernel > 0 && Stride > 0 && Dilation > 0,
                  "Conv1D<F, K, S, P, D>: filters, kernel, stride and dilation must be >= 1");
    /// The layer bound to a T x C input.
    template <ShapeType In>
    struct bind
        : detail::As1D<
              typename Conv2D<Filters, KernelSize{1, Kernel}, StrideSize{1, Stride}, detail::padding_1d(P),
                              DilationSize{1, Dilation}>::template bind<
                  typename detail::Sequence1D<detail::Layer1D::conv, In, Kernel, Stride, P, Dilation>::map>,
              In, detail::Sequence1D<detail::Layer1D::conv, In, Kernel, Stride, P, Dilation>::steps, Filters> {
        /// `Conv1D<16, 5, 1, Pad<2>>`.
        static std::string name() {
            return "Conv1D<" + std::to_string(Filters) + ", " + std::to_string(Kernel) +
                   detail::window_args_1d(Stride, 1, P, Padding::same, Dilation) + ">";
        }
    };
};

/// Depthwise 1-D convolution (one filter per channel): `DepthwiseConv1D<3, 1, Pad<1>>` is
/// PyTorch's `Conv1d(c, c, 3, padding=1, groups=c)`. Lowers to depthwise_conv2d.
template <std::size_t Kernel, std::size_t Stride = 1, Padding P = Padding::same, std::size_t Dilation = 1>
struct DepthwiseConv1D {
    static_assert(Kernel > 0 && Stride > 0 && Dilation > 0,
                  "DepthwiseConv1D<K, S, P, D>: kernel, stride and dilation must be >= 1");
    /// The layer bound to a T x C input.
    template <ShapeType In>
    struct bind
        : detail::As1D<
              typename DepthwiseConv2D<KernelSize{1, Kernel}, StrideSize{1, Stride}, detail::padding_1d(P),
                                       DilationSize{1, Dilation}>::template bind<
                  typename detail::Sequence1D<detail::Layer1D::depthwise, In, Kernel, Stride, P, Dilation>::map>,
              In, detail::Sequence1D<detail::Layer1D::depthwise, In, Kernel, Stride, P, Dilation>::steps,
              detail::Sequence1D<detail::Layer1D::depthwise, In, Kernel, Stride, P, Dilation>::C> {
        /// `DepthwiseConv1D<3, 1, Pad<1>>`.
        static std::string name() {
            return "DepthwiseConv1D<" + std::to_string(Kernel) +
                   detail::window_args_1d(Stride, 1, P, Padding::same, Dilation) + ">";
        }
    };
};

/// Max pooling over time: `MaxPool1D<2>` halves T (the stride defaults to the window);
/// `MaxPool1D<3, 2, Pad<1>>` is PyTorch's `MaxPool1d(3, 2, 1)`. Lowers to max_pool2d.
template <std::size_t Window, std::size_t Stride = 0, Padding P = Padding::valid>
struct MaxPool1D {
    static_assert(Window > 0, "MaxPool1D<K, S, P>: the window must be >= 1");
    /// The step: Stride, or the window's size when it is 0.
    static constexpr std::size_t stride = Stride == 0 ? Window : Stride;
    /// The layer bound to a T x C input.
    template <ShapeType In>
    struct bind
        : detail::As1D<detail::Pool2D<true, KernelSize{1, Window}, StrideSize{1, stride}, detail::padding_1d(P),
                                      false,
                                      typename detail::Sequence1D<detail::Layer1D::max_pool, In, Window, stride,
                                                                  P, 1>::map>,
                       In, detail::Sequence1D<detail::Layer1D::max_pool, In, Window, stride, P, 1>::steps,
                       detail::Sequence1D<detail::Layer1D::max_pool, In, Window, stride, P, 1>::C> {
        /// `MaxPool1D<2>`.
        static std::string name() {
            return "MaxPool1D<" + std::to_string(Window) +
                   detail::window_args_1d(stride, Window, P, Padding::valid, 1) + ">";
        }
    };
};

/// Average pooling over time: `AvgPool1D<2>` is PyTorch's `AvgPool1d(2)`. Padding cells are
/// not counted in the mean (ExcludePad) unless Count is CountPad: PyTorch's
/// `AvgPool1d(3, 1, 1)` (count_include_pad=True, its default) is
/// `AvgPool1D<3, 1, Pad<1>, CountPad>`. Lowers to avg_pool2d (CountPad with padding: a
/// depthwise_conv2d of weights 1 / Window, as AvgPool2D).
template <std::size_t Window, std::size_t Stride = 0, Padding P = Padding::valid, class Count = ExcludePad>
struct AvgPool1D {
    static_assert(Window > 0, "AvgPool1D<K, S, P, Count>: the window must be >= 1");
    static_assert(std::is_same_v<Count, CountPad> || std::is_same_v<Count, ExcludePad>,
                  "AvgPool1D<K, S, P, Count>: Count must be CountPad or ExcludePad");
    /// The step: Stride, or the window's size when it is 0.
    static constexpr std::size_t stride = Stride == 0 ? Window : Stride;
    /// The layer bound to a T x C input.
    template <ShapeType In>
    struct bind
        : detail::As1D<detail::Pool2D<false, KernelSize{1, Window}, StrideSize{1, stride}, detail::padding_1d(P),
                                      Count::count_pad,
                                      typename detail::Sequence1D<detail::Layer1D::avg_pool, In, Window, stride,
                                                                  P, 1>::map>,
                       In, detail::Sequence1D<detail::Layer1D::avg_pool, In, Window, stride, P, 1>::steps,
                       detail::Sequence1D<detail::Layer1D::avg_pool, In, Window, stride, P, 1>::C> {
        /// `AvgPool1D<2>`, `AvgPool1D<3, 1, Pad<1>, CountPad>`.
        static std::string name() {
            std::string args = detail::window_args_1d(stride, Window, P, Padding::valid, 1);
            if (Count::count_pad) {
                if (args.empty()) args = ", " + std::to_string(stride) + ", " + detail::padding_1d_arg(P);
                args += ", CountPad";
            }
            return "AvgPool1D<" + std::to_string(Window) + args + ">";
        }
    };
};

} // namespace edgestack::nn
