// Op unit: tanh. The hyperbolic tangent. int8 runs a 256-entry table of quantize(f(dequantize(q))).
#pragma once

#include <cmath>
#include <cstddef>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// tanh(x).
struct Tanh : TableUnit<Tanh> {
    static constexpr Op op = Op::tanh; ///< its enumerator
    static constexpr std::string_view onnx_op = "Tanh"; ///< the ONNX operator it reads as
    /// The function, at one value (alpha: the node's alpha).
    static float f(float x, [[maybe_unused]] float alpha) noexcept { return std::tanh(x); }
    /// Its ONNX form.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        e.node("Tanh", n.name, {e.x()}, {e.y});
    }
};

} // namespace edgestack::compile::ops
