// Output size and padding of a 2-D window (convolution or pooling) over an input, from the
// geometry words of nn/geometry.hpp. `same` follows TensorFlow: it keeps ceil(in / stride)
// and puts an odd extra row at the bottom; explicit padding is PyTorch's and ONNX's.
// Shared by nn/conv.hpp and nn/pool.hpp, so that pooling does not include convolution.
#pragma once

#include <cstddef>
#include <string>

#include "edgestack/compile/graph.hpp"
#include "edgestack/nn/geometry.hpp"

namespace edgestack::nn {

namespace detail {

struct Axis {
    std::size_t out = 0;
    std::size_t pad_before = 0;
    std::size_t pad_after = 0;
};

/// Output size and padding along one axis; `before`/`after` are read for explicit padding.
constexpr Axis window_axis(std::size_t in, std::size_t kernel, std::size_t stride,
                           std::size_t dilation, Padding::Mode mode, std::size_t before,
                           std::size_t after) noexcept {
    const std::size_t eff = (kernel - 1) * dilation + 1;
    if (mode == Padding::Mode::valid) before = after = 0;
    if (mode != Padding::Mode::same) {
        const std::size_t padded = in + before + after;
        return {padded >= eff ? (padded - eff) / stride + 1 : 0, before, after};
    }
    const std::size_t out = (in + stride - 1) / stride;
    const std::size_t need = (out - 1) * stride + eff;
    const std::size_t total = need > in ? need - in : 0;
    return {out, total / 2, total - total / 2};
}

/// Geometry of a 2-D window over an H x W x C input.
template <class In, KernelSize K, StrideSize S, Padding P, DilationSize D>
struct WindowGeometry {
    static constexpr std::size_t H = In::dims[0];
    static constexpr std::size_t W = In::dims[1];
    static constexpr std::size_t C = In::dims[2];
    static constexpr std::size_t KH = K.h;
    static constexpr std::size_t KW = K.w;
    static constexpr std::size_t taps = KH * KW;
    static constexpr Axis y = window_axis(H, K.h, S.h, D.h, P.mode, P.top, P.bottom);
    static constexpr Axis x = window_axis(W, K.w, S.w, D.w, P.mode, P.left, P.right);
    static constexpr std::size_t OH = y.out;
    static constexpr std::size_t OW = x.out;
    static constexpr std::size_t pixels = OH * OW;
    static constexpr bool padded = y.pad_before + y.pad_after + x.pad_before + x.pad_after > 0;

    /// Input row/column of kernel tap k at output position o, or -1 when it falls in padding.
    static constexpr long in_y(std::size_t o, std::size_t k) noexcept {
        const long v = static_cast<long>(o * S.h + k * D.h) - static_cast<long>(y.pad_before);
        return v >= 0 && v < static_cast<long>(H) ? v : -1;
    }
    static constexpr long in_x(std::size_t o, std::size_t k) noexcept {
        const long v = static_cast<long>(o * S.w + k * D.w) - static_cast<long>(x.pad_before);
        return v >= 0 && v < static_cast<long>(W) ? v : -1;
    }
    static compile::Node node(compile::Op op) {
        compile::Node n;
        n.op = op;
        n.kernel = {K.h, K.w};
        n.stride = {S.h, S.w};
        n.dilation = {D.h, D.w};
        n.pad = {y.pad_before, x.pad_before, y.pad_after, x.pad_after};
        return n;
    }
};

/// "3" for a square, else "Kernel<10, 4>" (`word` names the form).
inline std::string extent_arg(const Extent2& e, const char* word) {
    if (e.h == e.w) return std::to_string(e.h);
    return std::string(word) + "<" + std::to_string(e.h) + ", " + std::to_string(e.w) + ">";
}

inline std::string padding_arg(const Padding& p) {
    if (p.mode == Padding::Mode::same) return "same";
    if (p.mode == Padding::Mode::valid) return "valid";
    auto s = [](std::size_t v) { return std::to_string(v); };
    if (p.top == p.bottom && p.left == p.right)
        return p.top == p.left ? "Pad<" + s(p.top) + ">" : "Pad<" + s(p.top) + ", " + s(p.left) + ">";
    return "Pad<" + s(p.top) + ", " + s(p.left) + ", " + s(p.bottom) + ", " + s(p.right) + ">";
}

/// The non-default trailing arguments of a window layer's name: "" for the defaults.
inline std::string window_args(const StrideSize& s, const StrideSize& s_default, const Padding& p,
                               const DilationSize& d, const Padding& p_default = Padding::same) {
    const bool s_def = s.h == s_default.h && s.w == s_default.w;
    const bool d_def = d.h == 1 && d.w == 1;
    if (s_def && p == p_default && d_def) return "";
    std::string r = ", " + extent_arg(s, "Stride") + ", " + padding_arg(p);
    if (!d_def) r += ", " + extent_arg(d, "Dilation");
    return r;
}

} // namespace detail
} // namespace edgestack::nn
