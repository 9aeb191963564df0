// Op unit: gru. Input T x F; weights W_x [3U][F] then W_h [3U][U], bias b_x [3U] then b_h
// [3U]; gates r, z, n with n = tanh(W_xn x + b_xn + r * (W_hn h + b_hn)) (ONNX's
// linear_before_reset = 1), h' = (1 - z) n + z h. ONNX: a GRU node (gates z, r, h).
#pragma once

#include "edgestack/compile/ops/recurrent.hpp"

namespace edgestack::compile::ops {

/// Gated recurrent unit.
struct Gru : RecurrentUnit<3, 6> {
    static constexpr Op op = Op::gru; ///< its enumerator
    /// The definition, fp32 (the training layer's maths, h and the gate rows in `scratch`)
    /// and int8 (recurrent_int8.hpp: the same cell around exact integer dot products).
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch,
                          std::byte* scratch) noexcept {
        const std::size_t U = st.units;
        const auto cell = [U](const float* a, const float* hb, float* h, float*) {
                for (std::size_t u = 0; u < U; ++u) {
                    const float r = sigmoid(a[u] + hb[u]);
                    const float z = sigmoid(a[U + u] + hb[U + u]);
                    const float n = std::tanh(a[2 * U + u] + r * hb[2 * U + u]);
                    h[u] = (1.0f - z) * n + z * h[u];
                }
            };
        if constexpr (std::is_same_v<T, float>) run(st, x, y, batch, scratch, cell);
        else
            run_recurrent_int8(s, st.q, st.bx.data(), st.bh.data(), st.steps, st.features, U, 3 * U, st.every_step,
                               x, y, batch, scratch, cell);
    }
    /// An ONNX GRU node, linear_before_reset = 1.
    template <class E>
    static void to_onnx(E& e, const Node& n) { recurrent_to_onnx(e, n, "GRU", {1, 0, 2}, true); }
};

} // namespace edgestack::compile::ops
