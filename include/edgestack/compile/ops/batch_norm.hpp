// Op unit: batch_norm. Parameters in `extra`: gamma | beta | running mean | running var, one
// per channel (the last axis); alpha = eps. Folded into the conv or dense before it by
// compile::canonicalize; one that cannot be folded runs as a per-channel affine map (fp32
// only: the int8 graph has none).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// y = gamma * (x - mean) / sqrt(var + eps) + beta over the last axis.
struct BatchNorm : UnitBase {
    static constexpr Op op = Op::batch_norm;                ///< its enumerator
    using State = Affine; ///< what an engine keeps per step
    static constexpr Int8Role int8_role = Int8Role::folds;  ///< see Int8Role

    /// Same shape in and out.
    static std::string check(const Node&, const Io& io) {
        if (io.in != io.out) return "input and output shapes differ";
        return {};
    }
    /// 4 x channels parameters.
    static Tensors tensors(const Node&, const Io& io) { return {0, 0, 4 * io.in.back(), 0}; }
    /// The affine map: w = gamma / sqrt(var + eps), b = beta - mean * w.
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        if (p.int8) throw p.bad("batch norm must be folded before quantization (compile::canonicalize)");
        const std::size_t C = s.in.c;
        if (n.extra.size() != 4 * C)
            throw shape_error(p.where + ": has " + std::to_string(n.extra.size()) + " parameters, expected 4 x " +
                              std::to_string(C));
        st.w.resize(C);
        st.b.resize(C);
        for (std::size_t c = 0; c < C; ++c) {
            const float k = n.extra[c] / std::sqrt(n.extra[3 * C + c] + n.alpha);
            st.w[c] = k;
            st.b[c] = n.extra[C + c] - n.extra[2 * C + c] * k;
        }
        p.weight_bytes += 2 * C * sizeof(float);
    }
    /// The definition (fp32).
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        if constexpr (std::is_same_v<T, float>) {
            const std::size_t C = s.in.c, n = batch * s.out.size();
            for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * st.w[i % C] + st.b[i % C];
        }
    }
    /// BatchNormalization, which normalises axis 1: the channels of NCHW, the features of N
    /// x F; a T x F value (N x T x F) is transposed so that F comes second.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        const std::size_t c = e.in().back();
        auto part = [&](std::size_t k) {
            return std::vector<float>(n.extra.begin() + static_cast<long>(k * c),
                                      n.extra.begin() + static_cast<long>((k + 1) * c));
        };
        const char* names[] = {".scale", ".bias", ".mean", ".var"};
        const bool sequence = !e.spatial && e.in().size() == 2;
        if (!e.spatial && e.in().size() > 2) e.unsupported(n, "batch norm over a rank " + std::to_string(e.in().size()) + " value");
        std::vector<std::string> ins{sequence ? e.transpose(e.x(), n.name + "_to_nft", {0, 2, 1}) : e.x()};
        for (std::size_t k = 0; k < 4; ++k) {
            e.initializer(n.name + names[k], {static_cast<std::int64_t>(c)}, part(k));
            ins.push_back(n.name + names[k]);
        }
        const std::string bn = sequence ? n.name + "_nft" : e.y;
        e.attr(e.node("BatchNormalization", n.name, ins, {bn}), "epsilon", n.alpha);
        if (sequence) e.attr(e.node("Transpose", n.name + "_to_ntf", {bn}, {e.y}), "perm", std::vector<std::int64_t>{0, 2, 1});
    }
};

} // namespace edgestack::compile::ops
