// The words of a window layer's geometry (Conv2D, DepthwiseConv2D, MaxPool2D, AvgPool2D):
// kernel and window sizes, strides and dilations, square or not, and padding: TensorFlow's
// same / valid or explicit sizes as PyTorch and ONNX give them. Stage 2 (model).
#pragma once

#include <cstddef>

namespace edgestack::nn {

/// How a convolution or pooling window treats the border: `Padding::same` (TensorFlow's
/// rule), `Padding::valid` (none), or explicit sizes made with `Pad<...>`.
///
/// A structural value, so it is a template argument: `Conv2D<32, 3, 2, Padding::valid>`,
/// `Conv2D<32, 3, 2, Pad<1, 1>>`.
struct Padding {
    /// Which rule the padding follows.
    enum class Mode : unsigned char {
        same,    ///< output ceil(in / stride), padding split with the extra row after
        valid,   ///< no padding
        explicit_ ///< the four sizes below
    };
    Mode mode = Mode::same;   ///< the rule
    std::size_t top = 0;      ///< rows added above (explicit only)
    std::size_t left = 0;     ///< columns added on the left (explicit only)
    std::size_t bottom = 0;   ///< rows added below (explicit only)
    std::size_t right = 0;    ///< columns added on the right (explicit only)

    static const Padding same;  ///< TensorFlow's "same"
    static const Padding valid; ///< no padding

    /// Whether two paddings are the same rule with the same sizes.
    friend constexpr bool operator==(const Padding&, const Padding&) = default;
};
inline constexpr Padding Padding::same{Padding::Mode::same};
inline constexpr Padding Padding::valid{Padding::Mode::valid};

namespace detail {

/// Height and width of a window, stride or dilation; one number means a square.
struct Extent2 {
    std::size_t h = 1; ///< along the height
    std::size_t w = 1; ///< along the width
    constexpr Extent2(std::size_t n) noexcept : h(n), w(n) {} // NOLINT: 3 means 3x3
    constexpr Extent2(std::size_t h_, std::size_t w_) noexcept : h(h_), w(w_) {}
};

template <std::size_t... V>
consteval Padding make_pad() {
    static_assert(sizeof...(V) == 1 || sizeof...(V) == 2 || sizeof...(V) == 4,
                  "Pad<...>: give 1 size (every side), 2 (height, width: top = bottom, left = "
                  "right) or 4 (top, left, bottom, right)");
    constexpr std::size_t n = sizeof...(V);
    constexpr std::size_t v[4 > n ? 4 : n] = {V...};
    if constexpr (n == 1) return {Padding::Mode::explicit_, v[0], v[0], v[0], v[0]};
    else if constexpr (n == 2) return {Padding::Mode::explicit_, v[0], v[1], v[0], v[1]};
    else return {Padding::Mode::explicit_, v[0], v[1], v[2], v[3]};
}

} // namespace detail

/// A convolution kernel's or pooling window's height and width: a number (3: 3x3), or
/// `Kernel<10, 4>` / `Window<24, 5>` for a rectangle.
struct KernelSize : detail::Extent2 {
    using Extent2::Extent2;
};
/// A window's step along height and width: a number (2: 2x2) or `Stride<2, 1>`. In a pooling
/// layer 0 means "the window's size".
struct StrideSize : detail::Extent2 {
    using Extent2::Extent2;
};
/// The gap between a kernel's taps along height and width: a number or `Dilation<2, 1>`.
struct DilationSize : detail::Extent2 {
    using Extent2::Extent2;
};

/// A convolution kernel of H rows and W columns (W defaults to H): `Conv2D<64, Kernel<10, 4>>`.
template <std::size_t H, std::size_t W = H>
inline constexpr KernelSize Kernel{H, W};
/// A pooling window of H rows and W columns (W defaults to H): `AvgPool2D<Window<24, 5>>`.
template <std::size_t H, std::size_t W = H>
inline constexpr KernelSize Window{H, W};
/// A step of H rows and W columns (W defaults to H): `Stride<2, 2>`.
template <std::size_t H, std::size_t W = H>
inline constexpr StrideSize Stride{H, W};
/// A dilation of H rows and W columns (W defaults to H).
template <std::size_t H, std::size_t W = H>
inline constexpr DilationSize Dilation{H, W};

/// Explicit zero padding, in PyTorch's and ONNX's terms:
/// - `Pad<p>`: p on every side (PyTorch `padding=p`);
/// - `Pad<h, w>`: h rows above and below, w columns left and right (PyTorch `padding=(h, w)`);
/// - `Pad<top, left, bottom, right>`: each side (ONNX `pads`, begins then ends; note that
///   Keras' ZeroPadding2D orders them ((top, bottom), (left, right)) instead).
template <std::size_t... V>
inline constexpr Padding Pad = detail::make_pad<V...>();

} // namespace edgestack::nn
