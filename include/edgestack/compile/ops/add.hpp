// Op unit: add. The element-wise sum of two values of one shape, then the relu or relu6
// compile::canonicalize fused into it (a residual block's add -> relu). int8: both inputs
// rescaled to the output's scale with 20 fractional bits, summed, rounding-shifted, clamped
// to the fused activation's codes; an input scale 4x the output's or more is refused (the
// rescale would overflow).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// a + b.
struct Add : UnitBase {
    static constexpr Op op = Op::add;          ///< its enumerator
    using State = Rescale; ///< what an engine keeps per step
    static constexpr std::size_t arity = 2;    ///< two inputs
    static constexpr std::string_view onnx_op = "Add"; ///< the ONNX operator it reads as (two tensors)

    /// Both inputs and the output of one shape.
    static std::string check(const Node&, const Io& io) {
        if (*io.in2 != io.in || io.out != io.in)
            return "shapes " + to_string(io.in) + " + " + to_string(*io.in2) + " -> " + to_string(io.out) +
                   ": both inputs and the output must have the same shape";
        return {};
    }
    /// int8: each input's multiplier onto the output's scale, and the fused activation's codes.
    template <class S>
    static void prepare(S& s, State& st, const Node&, Prep& p) {
        if (!p.int8) return;
        if (s.s_in / s.s_out >= 4.0f || s.s_in2 / s.s_out >= 4.0f)
            throw p.bad("an input scale is 4x the output scale or more");
        st.a = quant::quantize_multiplier(static_cast<double>(s.s_in) / s.s_out);
        st.b = quant::quantize_multiplier(static_cast<double>(s.s_in2) / s.s_out);
        const Clamp codes = activation_codes(s.act, s.s_out, s.zp_out);
        st.lo = codes.lo;
        st.hi = codes.hi;
    }
    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* a, const T* b, T* y, std::size_t batch) noexcept {
        const std::size_t n = batch * s.out.size();
        if constexpr (std::is_same_v<T, float>) {
            for (std::size_t i = 0; i < n; ++i) y[i] = apply_activation(a[i] + b[i], s.act);
        } else {
            constexpr int k = 20;
            const quant::Requant down{1 << 30, k - 1}; // 2^30 * 2^-(31 + k - 1) = 2^-k
            for (std::size_t i = 0; i < n; ++i) {
                const std::int32_t ea = quant::multiply_by_quantized((std::int32_t{a[i]} - s.zp_in) * (1 << k), st.a);
                const std::int32_t eb = quant::multiply_by_quantized((std::int32_t{b[i]} - s.zp_in2) * (1 << k), st.b);
                y[i] = quant::requantize(ea + eb, down, s.zp_out, st.lo, st.hi);
            }
        }
    }
    /// Add (both inputs in one layout), then Relu or Clip(0, 6) when one is fused.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        if (e.spatial2() != e.spatial) e.unsupported(n, "adds values of different layouts");
        e.node("Add", n.name, {e.x(), e.x2()}, {e.y});
        e.y = e.fused(n, e.y);
    }
};

} // namespace edgestack::compile::ops
