// Output size and padding of a 2-D window (convolution or pooling), TensorFlow's rules:
// `same` keeps ceil(in / stride) and splits the padding with the extra row at the bottom.
#pragma once

#include <cstddef>

namespace edgestack::nn {

/// How a convolution or pooling window treats the border.
enum class Padding { same, valid };

namespace detail {

struct Axis {
    std::size_t out = 0;
    std::size_t pad_before = 0;
    std::size_t pad_after = 0;
};

constexpr Axis window_axis(std::size_t in, std::size_t kernel, std::size_t stride,
                           std::size_t dilation, Padding p) noexcept {
    const std::size_t eff = (kernel - 1) * dilation + 1;
    if (p == Padding::valid) return {in >= eff ? (in - eff) / stride + 1 : 0, 0, 0};
    const std::size_t out = (in + stride - 1) / stride;
    const std::size_t need = (out - 1) * stride + eff;
    const std::size_t total = need > in ? need - in : 0;
    return {out, total / 2, total - total / 2};
}

constexpr const char* padding_name(Padding p) noexcept {
    return p == Padding::same ? "same" : "valid";
}

} // namespace detail
} // namespace edgestack::nn
