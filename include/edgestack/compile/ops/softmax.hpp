// Op unit: softmax over the last axis (the channels). int8: dequantize, fp32 softmax,
// quantize to scale 1/256 and zero point -128.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// exp(x) / sum exp(x) along the last axis.
struct Softmax : UnitBase {
    static constexpr Op op = Op::softmax;                   ///< its enumerator
    static constexpr Int8Role int8_role = Int8Role::fixed;  ///< see Int8Role

    /// Rows of the last axis.
    template <class S>
    static void prepare(S& s, State&, const Node&, Prep&) {
        s.in = {1, s.in.size() / s.in.c, s.in.c};
    }
    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State&, const T* x, const T*, T* y, std::size_t batch) noexcept {
        const std::size_t C = s.in.c, rows = batch * s.in.h * s.in.w;
        for (std::size_t r = 0; r < rows; ++r) {
            const T* xr = x + r * C;
            T* yr = y + r * C;
            const T m = *std::max_element(xr, xr + C);
            if constexpr (std::is_same_v<T, float>) {
                float sum = 0.0f;
                for (std::size_t c = 0; c < C; ++c) sum += (yr[c] = std::exp(xr[c] - m));
                for (std::size_t c = 0; c < C; ++c) yr[c] /= sum;
            } else {
                float sum = 0.0f;
                for (std::size_t c = 0; c < C; ++c) sum += std::exp(s.s_in * static_cast<float>(std::int32_t{xr[c]} - m));
                for (std::size_t c = 0; c < C; ++c)
                    yr[c] = quant::quantize(std::exp(s.s_in * static_cast<float>(std::int32_t{xr[c]} - m)) / sum,
                                            s.s_out, s.zp_out);
            }
        }
    }
    /// Softmax along axis 1 in NCHW, the last axis otherwise.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        e.attr(e.node("Softmax", n.name, {e.x()}, {e.y}), "axis", e.spatial ? 1 : -1);
    }
};

} // namespace edgestack::compile::ops
