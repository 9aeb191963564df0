// Op unit: gru. Input T x F; weights W_x [3U][F] then W_h [3U][U], bias b_x [3U] then b_h
// [3U]; gates r, z, n with n = tanh(W_xn x + b_xn + r * (W_hn h + b_hn)) (ONNX's
// linear_before_reset = 1). ONNX: a GRU node (gates z, r, h).
#pragma once

#include "edgestack/compile/ops/recurrent.hpp"

namespace edgestack::compile::ops {

/// Gated recurrent unit.
struct Gru : RecurrentUnit<3, 6> {
    static constexpr Op op = Op::gru; ///< its enumerator
    /// An ONNX GRU node, linear_before_reset = 1.
    template <class E>
    static void to_onnx(E& e, const Node& n) { recurrent_to_onnx(e, n, "GRU", {1, 0, 2}, true); }
};

} // namespace edgestack::compile::ops
