// Op unit: attention. Multi-head self-attention over T x D; weights W_q | W_k | W_v | W_o,
// each [D][D]; bias b_q | b_k | b_v | b_o; kernel[0] = heads; scale 1/sqrt(D / heads).
#pragma once

#include <cstddef>
#include <string>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// Multi-head self-attention.
struct Attention : UnitBase {
    static constexpr Op op = Op::attention; ///< its enumerator
    static constexpr bool runs = false;      ///< trained; no engine kernel yet

    /// Equal T x D input and output, heads dividing D.
    static std::string check(const Node& n, const Io& io) {
        if (io.in.size() != 2 || io.out != io.in)
            return "needs equal T x D input and output, got " + to_string(io.in) + " -> " + to_string(io.out);
        if (n.kernel[0] == 0 || io.in[1] % n.kernel[0] != 0)
            return std::to_string(n.kernel[0]) + " heads do not divide the width " + std::to_string(io.in[1]);
        return {};
    }
    /// 4 x D x D weights, 4 x D biases.
    static Tensors tensors(const Node&, const Io& io) {
        const std::size_t d = io.in[1];
        return {4 * d * d, 4 * d, 0, d};
    }
    /// No ONNX form yet.
    template <class E>
    static void to_onnx(E& e, const Node& n) { e.unsupported(n, "no ONNX mapping for this op yet"); }
};

} // namespace edgestack::compile::ops
