// Op unit: lstm. Input T x F; weights W_x [4U][F] then W_h [4U][U], bias [4U]; gates i, f,
// g, o; c' = f c + i g, h' = o tanh(c'); output U (the last step) or T x U (every step).
// ONNX: an LSTM node (gates i, o, f, c).
#pragma once

#include "edgestack/compile/ops/recurrent.hpp"

namespace edgestack::compile::ops {

/// Long short-term memory.
struct Lstm : RecurrentUnit<4, 4> {
    static constexpr Op op = Op::lstm; ///< its enumerator
    /// The definition, fp32 (the training layer's maths, h, c and the gate rows in `scratch`;
    /// both directions) and int8 (recurrent_int8.hpp: the same cell around exact integer
    /// dot products; one direction).
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch,
                          std::byte* scratch) noexcept {
        const std::size_t U = st.units;
        const auto cell = [U](const float* a, const float* hb, float* h, float* c) {
            for (std::size_t u = 0; u < U; ++u) {
                const float i = sigmoid(a[u] + hb[u]), f = sigmoid(a[U + u] + hb[U + u]);
                const float g = std::tanh(a[2 * U + u] + hb[2 * U + u]);
                const float o = sigmoid(a[3 * U + u] + hb[3 * U + u]);
                c[u] = f * c[u] + i * g;
                h[u] = o * std::tanh(c[u]);
            }
        };
        if constexpr (std::is_same_v<T, float>) {
            run(st, x, y, batch, scratch,
                [&](const float* a, const float* hb, float* h, float* c, std::size_t) { cell(a, hb, h, c); });
        } else {
            run_recurrent_int8(s, st.q, st.bx.data(), st.bh.data(), st.steps, st.features, U, 4 * U, st.every_step,
                               x, y, batch, scratch, cell);
        }
    }
    /// An ONNX LSTM node.
    template <class E>
    static void to_onnx(E& e, const Node& n) { recurrent_to_onnx(e, n, "LSTM", {0, 3, 1, 2}, false); }
};

} // namespace edgestack::compile::ops
