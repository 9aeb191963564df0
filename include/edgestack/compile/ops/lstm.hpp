// Op unit: lstm. Input T x F; weights W_x [4U][F] then W_h [4U][U], bias [4U]; gates i, f,
// g, o; output U (the last step) or T x U (every step). ONNX: an LSTM node (gates i, o, f, c).
#pragma once

#include "edgestack/compile/ops/recurrent.hpp"

namespace edgestack::compile::ops {

/// Long short-term memory.
struct Lstm : RecurrentUnit<4, 4> {
    static constexpr Op op = Op::lstm; ///< its enumerator
    /// An ONNX LSTM node.
    template <class E>
    static void to_onnx(E& e, const Node& n) { recurrent_to_onnx(e, n, "LSTM", {0, 3, 1, 2}, false); }
};

} // namespace edgestack::compile::ops
