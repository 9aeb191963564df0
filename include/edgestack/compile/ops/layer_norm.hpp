// Op unit: layer_norm over the last axis; extra = gamma | beta; alpha = eps. ONNX: the
// opset-13 decomposition (LayerNormalization arrives in opset 17).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// (x - mean) / sqrt(var + eps) * gamma + beta over the last axis.
struct LayerNorm : UnitBase {
    static constexpr Op op = Op::layer_norm; ///< its enumerator
    using State = Affine; ///< gamma (as w) and beta (as b)

    /// Same shape in and out.
    static std::string check(const Node&, const Io& io) {
        if (io.in != io.out) return "input and output shapes differ";
        return {};
    }
    /// 2 x channels parameters.
    static Tensors tensors(const Node&, const Io& io) { return {0, 0, 2 * io.in.back(), 0}; }
    /// Copies gamma and beta (fp32 and int8 alike).
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        const std::size_t C = s.in.c;
        if (n.extra.size() != 2 * C)
            throw shape_error(p.where + ": has " + std::to_string(n.extra.size()) + " parameters, expected 2 x " +
                              std::to_string(C));
        st.w.assign(n.extra.begin(), n.extra.begin() + static_cast<long>(C));
        st.b.assign(n.extra.begin() + static_cast<long>(C), n.extra.end());
        p.weight_bytes += 2 * C * sizeof(float);
    }
    /// The definition, as the training layer computes it: per row of C values, mean, then
    /// the mean squared deviation, then gamma * (x - mean) / sqrt(var + eps) + beta. int8:
    /// the same in fp32 on the dequantized row, the result quantized to the output's grid.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        const std::size_t C = s.in.c, rows = batch * s.out.size() / C;
        for (std::size_t r = 0; r < rows; ++r) {
            const T* xr = x + r * C;
            auto at = [&](std::size_t c) {
                if constexpr (std::is_same_v<T, float>) return xr[c];
                else return quant::dequantize(xr[c], s.s_in, s.zp_in);
            };
            float mean = 0.0f, var = 0.0f;
            for (std::size_t c = 0; c < C; ++c) mean += at(c);
            mean /= static_cast<float>(C);
            for (std::size_t c = 0; c < C; ++c) var += (at(c) - mean) * (at(c) - mean);
            var /= static_cast<float>(C);
            const float inv = 1.0f / std::sqrt(var + s.alpha);
            for (std::size_t c = 0; c < C; ++c) {
                const float v = st.w[c] * ((at(c) - mean) * inv) + st.b[c];
                if constexpr (std::is_same_v<T, float>) y[r * C + c] = v;
                else y[r * C + c] = quant::quantize(v, s.s_out, s.zp_out);
            }
        }
    }
    /// ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Div, Mul, Add over our last axis.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        const std::size_t c = e.in().back();
        const std::int64_t axis = e.spatial ? 1 : -1;
        std::vector<std::int64_t> pdims{static_cast<std::int64_t>(c)};
        if (e.spatial) pdims = {static_cast<std::int64_t>(c), 1, 1};
        e.initializer(n.name + ".gamma", pdims, std::vector<float>(n.extra.begin(), n.extra.begin() + static_cast<long>(c)));
        e.initializer(n.name + ".beta", pdims,
                      std::vector<float>(n.extra.begin() + static_cast<long>(c), n.extra.begin() + static_cast<long>(2 * c)));
        e.initializer(n.name + ".eps", {}, std::vector<float>{n.alpha});
        const std::string p = n.name + "_";
        const std::string x = e.x();
        e.attr(e.node("ReduceMean", p + "mean", {x}, {p + "mean"}), "axes", std::vector<std::int64_t>{axis});
        e.node("Sub", p + "centred", {x, p + "mean"}, {p + "centred"});
        e.node("Mul", p + "squared", {p + "centred", p + "centred"}, {p + "squared"});
        e.attr(e.node("ReduceMean", p + "var", {p + "squared"}, {p + "var"}), "axes", std::vector<std::int64_t>{axis});
        e.node("Add", p + "var_eps", {p + "var", n.name + ".eps"}, {p + "var_eps"});
        e.node("Sqrt", p + "std", {p + "var_eps"}, {p + "std"});
        e.node("Div", p + "normed", {p + "centred", p + "std"}, {p + "normed"});
        e.node("Mul", p + "scaled", {p + "normed", n.name + ".gamma"}, {p + "scaled"});
        e.node("Add", n.name, {p + "scaled", n.name + ".beta"}, {e.y});
    }
};

} // namespace edgestack::compile::ops
