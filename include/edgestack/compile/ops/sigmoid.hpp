// Op unit: sigmoid. The logistic function. int8 runs a 256-entry table of quantize(f(dequantize(q))).
#pragma once

#include <cmath>
#include <cstddef>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// 1 / (1 + exp(-x)).
struct Sigmoid : TableUnit<Sigmoid> {
    static constexpr Op op = Op::sigmoid; ///< its enumerator
    static constexpr std::string_view onnx_op = "Sigmoid"; ///< the ONNX operator it reads as
    static constexpr bool nonnegative = true; ///< its output is never below 0
    /// The function, at one value (alpha: the node's alpha).
    static float f(float x, [[maybe_unused]] float alpha) noexcept { return 1.0f / (1.0f + std::exp(-x)); }
    /// Its ONNX form.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        e.node("Sigmoid", n.name, {e.x()}, {e.y});
    }
};

} // namespace edgestack::compile::ops
