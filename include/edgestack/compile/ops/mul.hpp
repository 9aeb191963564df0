// Op unit: mul. The element-wise product of two values of one shape, as in SiLU / Swish
// (x * sigmoid(x)) and gated units. int8: acc = (a - zp_a) * (b - zp_b) in exact int32
// (at most 255 x 255), requantized by s_a * s_b / s_out. ONNX: Mul of two tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// a * b.
struct Mul : UnitBase {
    static constexpr Op op = Op::mul;                   ///< its enumerator
    using State = Rescale;                              ///< the product's multiplier
    static constexpr std::size_t arity = 2;             ///< two inputs
    static constexpr std::string_view onnx_op = "Mul";  ///< the ONNX operator it reads as (two tensors)

    /// Both inputs and the output of one shape.
    static std::string check(const Node&, const Io& io) {
        if (*io.in2 != io.in || io.out != io.in)
            return "shapes " + to_string(io.in) + " * " + to_string(*io.in2) + " -> " + to_string(io.out) +
                   ": both inputs and the output must have the same shape";
        return {};
    }
    /// int8: the product's multiplier onto the output's scale.
    template <class S>
    static void prepare(const S& s, State& st, const Node&, Prep& p) {
        if (!p.int8) return;
        st.a = quant::quantize_multiplier(static_cast<double>(s.s_in) * s.s_in2 / s.s_out);
    }
    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* a, const T* b, T* y, std::size_t batch) noexcept {
        const std::size_t n = batch * s.out.size();
        for (std::size_t i = 0; i < n; ++i) {
            if constexpr (std::is_same_v<T, float>) y[i] = a[i] * b[i];
            else y[i] = quant::requantize((std::int32_t{a[i]} - s.zp_in) * (std::int32_t{b[i]} - s.zp_in2), st.a, s.zp_out);
        }
    }
    /// Mul (both inputs in one layout).
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        if (e.spatial2() != e.spatial) e.unsupported(n, "multiplies values of different layouts");
        e.node("Mul", n.name, {e.x(), e.x2()}, {e.y});
    }
};

} // namespace edgestack::compile::ops
