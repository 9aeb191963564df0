// Op unit: positional_embedding. Adds a learned table: weights [T][D]. ONNX: Add of the table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// positional_embedding: the learned table, [T][D].
struct Embedding {
    std::vector<float> table; ///< added to every sample
};

/// x + table.
struct PositionalEmbedding : UnitBase {
    static constexpr Op op = Op::positional_embedding; ///< its enumerator
    using State = Embedding; ///< the table

    /// Equal T x D input and output.
    static std::string check(const Node&, const Io& io) {
        if (io.in.size() != 2 || io.out != io.in) return "needs equal T x D input and output";
        return {};
    }
    /// T x D weights, no bias.
    static Tensors tensors(const Node&, const Io& io) { return {volume(io.in), 0, 0, io.in[1]}; }
    /// Copies the table (fp32 and int8 alike).
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        if (n.weights.size() != s.in.size())
            throw shape_error(p.where + ": has a table of " + std::to_string(n.weights.size()) + " values, expected " +
                              std::to_string(s.in.size()));
        st.table = n.weights;
        p.weight_bytes += st.table.size() * sizeof(float);
    }
    /// The definition: x + table, sample by sample; int8: the dequantized input plus the
    /// table, quantized to the output's grid.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        const std::size_t N = s.in.size();
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t i = 0; i < N; ++i) {
                if constexpr (std::is_same_v<T, float>) y[b * N + i] = x[b * N + i] + st.table[i];
                else y[b * N + i] = quant::quantize(quant::dequantize(x[b * N + i], s.s_in, s.zp_in) + st.table[i],
                                                    s.s_out, s.zp_out);
            }
    }
    /// Add of the table.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        e.initializer(n.name + ".table", {static_cast<std::int64_t>(e.in()[0]), static_cast<std::int64_t>(e.in()[1])},
                      n.weights);
        e.node("Add", n.name, {e.x(), n.name + ".table"}, {e.y});
    }
};

} // namespace edgestack::compile::ops
