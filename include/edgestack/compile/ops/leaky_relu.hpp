// Op unit: leaky_relu. x for x > 0, alpha * x (alpha: the node's alpha) below. int8 runs a 256-entry table of quantize(f(dequantize(q))).
#pragma once

#include <cmath>
#include <cstddef>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// x, or alpha * x below 0.
struct LeakyRelu : TableUnit<LeakyRelu> {
    static constexpr Op op = Op::leaky_relu; ///< its enumerator
    static constexpr std::string_view onnx_op = "LeakyRelu"; ///< the ONNX operator it reads as
    /// The function, at one value (alpha: the node's alpha).
    static float f(float x, [[maybe_unused]] float alpha) noexcept { return x > 0.0f ? x : alpha * x; }
    /// The slope from the ONNX node's attributes (ONNX's default 0.01).
    template <class A>
    static void from_onnx(const A& attrs, Node& n) { n.alpha = attrs.f("alpha", 0.01f); }
    /// Its ONNX form.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        e.attr(e.node("LeakyRelu", n.name, {e.x()}, {e.y}), "alpha", n.alpha);
    }
};

} // namespace edgestack::compile::ops
