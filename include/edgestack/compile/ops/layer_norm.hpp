// Op unit: layer_norm over the last axis; extra = gamma | beta; alpha = eps. ONNX: the
// opset-13 decomposition (LayerNormalization arrives in opset 17).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// (x - mean) / sqrt(var + eps) * gamma + beta over the last axis.
struct LayerNorm : UnitBase {
    static constexpr Op op = Op::layer_norm; ///< its enumerator
    static constexpr bool runs = false;       ///< trained and exported; no engine kernel yet

    /// Same shape in and out.
    static std::string check(const Node&, const Io& io) {
        if (io.in != io.out) return "input and output shapes differ";
        return {};
    }
    /// 2 x channels parameters.
    static Tensors tensors(const Node&, const Io& io) { return {0, 0, 2 * io.in.back(), 0}; }
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
