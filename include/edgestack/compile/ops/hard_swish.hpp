// Op unit: hard_swish. x * relu6(x + 3) / 6 (MobileNetV3). int8 runs a 256-entry table of quantize(f(dequantize(q))).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// x * relu6(x + 3) / 6.
struct HardSwish : TableUnit<HardSwish> {
    static constexpr Op op = Op::hard_swish; ///< its enumerator
    static constexpr std::string_view onnx_op = "HardSwish"; ///< the ONNX operator it reads as
    /// The function, at one value (alpha: the node's alpha).
    static float f(float x, [[maybe_unused]] float alpha) noexcept { return x * std::clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f; }
    /// Its ONNX form.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        // HardSwish arrives in opset 14; x * HardSigmoid(x) is the same function in 13.
        auto& hs = e.node("HardSigmoid", n.name + "_gate", {e.x()}, {n.name + "_gate"});
        e.attr(hs, "alpha", 1.0f / 6.0f);
        e.attr(hs, "beta", 0.5f);
        e.node("Mul", n.name, {e.x(), n.name + "_gate"}, {e.y});
    }
};

} // namespace edgestack::compile::ops
