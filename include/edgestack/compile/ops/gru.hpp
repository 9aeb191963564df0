// Op unit: gru. Input T x F; weights W_x [3U][F] then W_h [3U][U], bias b_x [3U] then b_h
// [3U]; gates r, z, n with n = tanh(W_xn x + b_xn + r * (W_hn h + b_hn)) (ONNX's
// linear_before_reset = 1, PyTorch's form), or, with alpha = 1, n = tanh(W_xn x + b_xn +
// W_hn (r * h) + b_hn) (linear_before_reset = 0, ONNX's default, what Keras converters
// write); h' = (1 - z) n + z h. ONNX: a GRU node (gates z, r, h).
#pragma once

#include "edgestack/compile/ops/recurrent.hpp"

namespace edgestack::compile::ops {

/// Gated recurrent unit.
struct Gru : RecurrentUnit<3, 6> {
    static constexpr Op op = Op::gru; ///< its enumerator
    /// The recurrent shape rule, and alpha 0 (linear_before_reset = 1) or 1 (= 0).
    static std::string check(const Node& n, const Io& io) {
        if (n.alpha != 0.0f && n.alpha != 1.0f)
            return "alpha " + std::to_string(n.alpha) + " is neither 0 (linear_before_reset = 1) nor 1 (= 0)";
        return RecurrentUnit::check(n, io);
    }
    /// lbr = 0: hb's n rows become W_hn (r * h) + b_hn, r * h kept in `rh`.
    static void reset_before(const State& st, std::size_t d, const float* a, float* hb, const float* h,
                             float* rh) noexcept {
        const std::size_t U = st.units, GU = 3 * U;
        const float* wh = st.wh.data() + d * U * GU + 2 * U;
        const float* bh = st.bh.data() + d * GU + 2 * U;
        for (std::size_t u = 0; u < U; ++u) rh[u] = sigmoid(a[u] + hb[u]) * h[u];
        std::copy_n(bh, U, hb + 2 * U);
        for (std::size_t k = 0; k < U; ++k)
            for (std::size_t u = 0; u < U; ++u) hb[2 * U + u] += rh[k] * wh[k * GU + u];
    }
    /// The definition, fp32 (the training layer's maths, h and the gate rows in `scratch`;
    /// both directions, both linear_before_reset forms) and int8 (recurrent_int8.hpp: the
    /// same cell around exact integer dot products; one direction, linear_before_reset = 1).
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch,
                          std::byte* scratch) noexcept {
        const std::size_t U = st.units;
        const auto cell = [U, &st](const float* a, const float* hb, float* h, float*) {
            for (std::size_t u = 0; u < U; ++u) {
                const float r = st.reset_before ? 1.0f : sigmoid(a[u] + hb[u]);
                const float z = sigmoid(a[U + u] + hb[U + u]);
                const float n = std::tanh(a[2 * U + u] + r * hb[2 * U + u]);
                h[u] = (1.0f - z) * n + z * h[u];
            }
        };
        if constexpr (std::is_same_v<T, float>) {
            run(st, x, y, batch, scratch, [&](const float* a, float* hb, float* h, float* rh, std::size_t d) {
                if (st.reset_before) reset_before(st, d, a, hb, h, rh);
                cell(a, hb, h, rh);
            });
        } else {
            run_recurrent_int8(s, st.q, st.bx.data(), st.bh.data(), st.steps, st.features, U, 3 * U, st.every_step,
                               x, y, batch, scratch, cell);
        }
    }
    /// An ONNX GRU node, linear_before_reset = 1 (or 0 with alpha = 1).
    template <class E>
    static void to_onnx(E& e, const Node& n) { recurrent_to_onnx(e, n, "GRU", {1, 0, 2}, true); }
};

} // namespace edgestack::compile::ops
