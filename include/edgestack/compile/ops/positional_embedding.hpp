// Op unit: positional_embedding. Adds a learned table: weights [T][D]. ONNX: Add of the table.
#pragma once

#include <cstdint>
#include <string>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// x + table.
struct PositionalEmbedding : UnitBase {
    static constexpr Op op = Op::positional_embedding; ///< its enumerator
    static constexpr bool runs = false;                 ///< trained and exported; no engine kernel yet

    /// Equal T x D input and output.
    static std::string check(const Node&, const Io& io) {
        if (io.in.size() != 2 || io.out != io.in) return "needs equal T x D input and output";
        return {};
    }
    /// T x D weights, no bias.
    static Tensors tensors(const Node&, const Io& io) { return {volume(io.in), 0, 0, io.in[1]}; }
    /// Add of the table.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        e.initializer(n.name + ".table", {static_cast<std::int64_t>(e.in()[0]), static_cast<std::int64_t>(e.in()[1])},
                      n.weights);
        e.node("Add", n.name, {e.x(), n.name + ".table"}, {e.y});
    }
};

} // namespace edgestack::compile::ops
