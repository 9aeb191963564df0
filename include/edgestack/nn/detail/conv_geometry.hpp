// Output size and padding of a 2-D window (convolution or pooling), TensorFlow's rules:
// `same` keeps ceil(in / stride) and splits the padding with the extra row at the bottom.
// Shared by nn/conv.hpp and nn/pool.hpp, so that pooling does not include convolution.
#pragma once

#include <cstddef>
#include <string>

#include "edgestack/compile/graph.hpp"

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

/// Geometry of a 2-D window over an H x W x C input.
template <class In, std::size_t KH, std::size_t KW, std::size_t S, Padding P, std::size_t D>
struct Window {
    static constexpr std::size_t H = In::dims[0];
    static constexpr std::size_t W = In::dims[1];
    static constexpr std::size_t C = In::dims[2];
    static constexpr Axis y = window_axis(H, KH, S, D, P);
    static constexpr Axis x = window_axis(W, KW, S, D, P);
    static constexpr std::size_t OH = y.out;
    static constexpr std::size_t OW = x.out;
    static constexpr std::size_t pixels = OH * OW;

    /// Input row/column of kernel tap k at output position o, or -1 when it falls in padding.
    static constexpr long in_y(std::size_t o, std::size_t k) noexcept {
        const long v = static_cast<long>(o * S + k * D) - static_cast<long>(y.pad_before);
        return v >= 0 && v < static_cast<long>(H) ? v : -1;
    }
    static constexpr long in_x(std::size_t o, std::size_t k) noexcept {
        const long v = static_cast<long>(o * S + k * D) - static_cast<long>(x.pad_before);
        return v >= 0 && v < static_cast<long>(W) ? v : -1;
    }
    static compile::Node node(compile::Op op) {
        compile::Node n;
        n.op = op;
        n.kernel = {KH, KW};
        n.stride = {S, S};
        n.dilation = {D, D};
        n.pad = {y.pad_before, x.pad_before, y.pad_after, x.pad_after};
        return n;
    }
};

/// The non-default trailing arguments of a window layer's name: "" for the defaults.
inline std::string window_args(std::size_t s, std::size_t s_default, Padding p, std::size_t d,
                               Padding p_default = Padding::same) {
    if (s == s_default && p == p_default && d == 1) return "";
    std::string r = ", " + std::to_string(s) + ", " + padding_name(p);
    if (d != 1) r += ", " + std::to_string(d);
    return r;
}

} // namespace detail
} // namespace edgestack::nn
