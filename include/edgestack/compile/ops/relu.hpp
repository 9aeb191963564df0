// Op unit: relu. max(x, 0); fused into the conv, dense or add before it by
// compile::canonicalize when nothing else reads that op's output. int8 keeps its input's
// parameters and clamps codes below the zero point.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// What relu and relu6 share: int8 is a clamp of codes in [lo, hi].
struct ClampUnit : UnitBase {
    using State = Clamp;                                   ///< the int8 clamp
    static constexpr Int8Role int8_role = Int8Role::fuses; ///< see Int8Role
    static constexpr bool nonnegative = true;              ///< its output is never below 0
    /// int8: same parameters in and out; lo = zp (real 0), hi = 127 or the code of 6.
    template <class S>
    static void prepare_clamp(const S& s, Clamp& st, Prep& p, bool six) {
        if (!p.int8) return;
        if (s.s_in != s.s_out || s.zp_in != s.zp_out) throw p.bad("must keep its input's scale and zero point");
        st = activation_codes(six ? Activation::relu6 : Activation::relu, s.s_out, s.zp_out);
    }
    /// Clamps to [lo, hi] (fp32: [0, top]).
    template <class S, class T>
    static void clamp(const S& s, const Clamp& st, const T* x, T* y, std::size_t batch, float top) noexcept {
        const std::size_t n = batch * s.out.size();
        for (std::size_t i = 0; i < n; ++i) {
            if constexpr (std::is_same_v<T, float>) y[i] = std::clamp(x[i], 0.0f, top);
            else y[i] = static_cast<T>(std::clamp<std::int32_t>(x[i], st.lo, st.hi));
        }
    }
};

/// max(x, 0).
struct Relu : ClampUnit {
    static constexpr Op op = Op::relu;                  ///< its enumerator
    static constexpr std::string_view onnx_op = "Relu"; ///< the ONNX operator it reads as
    /// See ClampUnit.
    template <class S>
    static void prepare(S& s, State& st, const Node&, Prep& p) { prepare_clamp(s, st, p, false); }
    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        clamp(s, st, x, y, batch, std::numeric_limits<float>::infinity());
    }
    /// Relu.
    template <class E>
    static void to_onnx(E& e, const Node& n) { e.node("Relu", n.name, {e.x()}, {e.y}); }
};

} // namespace edgestack::compile::ops
