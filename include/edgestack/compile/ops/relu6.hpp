// Op unit: relu6. min(max(x, 0), 6); fused like relu. ONNX: Clip(0, 6).
#pragma once

#include <cstddef>

#include "edgestack/compile/ops/relu.hpp"

namespace edgestack::compile::ops {

/// min(max(x, 0), 6).
struct Relu6 : ClampUnit {
    static constexpr Op op = Op::relu6; ///< its enumerator
    /// See ClampUnit.
    template <class S>
    static void prepare(S& s, State& st, const Node&, Prep& p) { prepare_clamp(s, st, p, true); }
    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        clamp(s, st, x, y, batch, 6.0f);
    }
    /// Clip(0, 6).
    template <class E>
    static void to_onnx(E& e, const Node& n) { e.y = e.clip6(n.name, e.x()); }
};

} // namespace edgestack::compile::ops
