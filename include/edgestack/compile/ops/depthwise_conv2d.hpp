// Op unit: depthwise_conv2d. One filter per channel: weights [kh][kw][C], bias [C]; the
// output has the input's channels. Same window rule and padding as conv2d.
#pragma once

#include <cstddef>
#include <string>

#include "edgestack/compile/ops/conv2d.hpp"

namespace edgestack::compile::ops {

/// Depthwise convolution of an H x W x C value.
struct DepthwiseConv2d : UnitBase {
    static constexpr Op op = Op::depthwise_conv2d;            ///< its enumerator
    using State = Weighted;                                   ///< weights, bias, int8 form
    static constexpr Int8Role int8_role = Int8Role::weights;  ///< see Int8Role
    static constexpr std::string_view kernel = "dwconv";      ///< XNNPACK's kernel family

    /// The window rule, keeping the channels.
    static std::string check(const Node& n, const Io& io) {
        return check_window(n, io, io.in.empty() ? 0 : io.in.back());
    }
    /// [kh][kw][C] weights, C biases.
    static Tensors tensors(const Node& n, const Io& io) {
        const std::size_t c = io.in.back();
        return {n.kernel[0] * n.kernel[1] * c, c, 0, c};
    }
    /// Every output element: kh x kw.
    static std::size_t macs(const Node& n, const Io& io) { return volume(io.out) * n.kernel[0] * n.kernel[1]; }
    /// The weights (channel-last), and scratch for a padded copy of the input.
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        prepare_weighted(s, st, n, p, s.out.c, s.kh * s.kw, true);
        Conv2d::pad_scratch(s, p);
    }
    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        Conv2d::run(s, st, x, y, batch, true);
    }
    /// Conv with group = channels.
    template <class E>
    static void to_onnx(E& e, const Node& n) { Conv2d::conv_to_onnx(e, n, true); }
};

} // namespace edgestack::compile::ops
