// Op unit: dropout. The identity at inference: compile::canonicalize removes it, and where it
// stays the output shares the input's storage.
#pragma once

#include <cstddef>

#include "edgestack/compile/ops/flatten.hpp"

namespace edgestack::compile::ops {

/// The identity.
struct Dropout : Flatten {
    static constexpr Op op = Op::dropout; ///< its enumerator
    /// Identity.
    template <class E>
    static void to_onnx(E& e, const Node& n) { e.node("Identity", n.name, {e.x()}, {e.y}); }
};

} // namespace edgestack::compile::ops
