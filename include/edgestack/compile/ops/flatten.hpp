// Op unit: flatten. A value's elements as one row, in (h, w, c) order; the memory plan lets
// the output share the input's storage, so no engine does any work.
#pragma once

#include <cstddef>
#include <string>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// The same elements, rank 1.
struct Flatten : UnitBase {
    static constexpr Op op = Op::flatten;                     ///< its enumerator
    static constexpr bool alias = true;                        ///< no work: shared storage
    static constexpr Int8Role int8_role = Int8Role::inherit;  ///< see Int8Role
    /// int8: same parameters in and out.
    template <class S>
    static void prepare(S& s, State&, const Node&, Prep& p) {
        if (p.int8 && (s.s_in != s.s_out || s.zp_in != s.zp_out)) throw p.bad("must keep its input's scale and zero point");
    }
    /// Nothing to do: the output is the input's storage.
    template <class S, class T>
    static void reference(const S&, const State&, const T*, const T*, T*, std::size_t) noexcept {}
    /// Flatten(axis 1), after a transpose of an NCHW input to NHWC order.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        std::string src = e.x();
        if (e.spatial) src = e.transpose(src, n.name + "_to_nhwc", {0, 2, 3, 1});
        e.attr(e.node("Flatten", n.name, {src}, {e.y}), "axis", 1);
        e.spatial = false;
        if (e.out().size() != 1) e.unsupported(n, "flatten to rank " + std::to_string(e.out().size()));
    }
};

} // namespace edgestack::compile::ops
