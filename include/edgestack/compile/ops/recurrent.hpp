// What lstm and gru share: the shape rule (T x F in; U, the last step, or T x U, every step,
// out), the weight layout W_x [G*U][F] then W_h [G*U][U], and their ONNX form (LSTM / GRU
// nodes, time-major, gates reordered).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// A recurrent layer with G gates and `bias_per_unit` biases per unit.
template <std::size_t G, std::size_t BiasPerUnit>
struct RecurrentUnit : UnitBase {
    static constexpr bool runs = false; ///< trained and exported; no engine kernel yet

    /// T x F in; U or T x U out.
    static std::string check(const Node&, const Io& io) {
        const Dims &in = io.in, &out = io.out;
        if (in.size() != 2 || out.empty() || out.size() > 2 || (out.size() == 2 && out[0] != in[0]))
            return "needs a T x F input and a U or T x U output, got " + to_string(in) + " -> " + to_string(out);
        return {};
    }
    /// G x U x (F + U) weights, BiasPerUnit x U biases.
    static Tensors tensors(const Node&, const Io& io) {
        const std::size_t u = io.out.back();
        return {G * u * (io.in[1] + u), BiasPerUnit * u, 0, u};
    }
    /// ONNX LSTM / GRU run time-major ([T, N, F]); `gate_of[k]` is our gate in ONNX
    /// position k; one bias per gate goes in W's half of B unless `two_biases`.
    template <class E>
    static void recurrent_to_onnx(E& e, const Node& n, const char* type, const std::vector<std::size_t>& gate_of,
                                  bool two_biases) {
        const Dims &in = e.in(), &out = e.out();
        if (e.spatial || in.size() != 2) e.unsupported(n, "needs a T x F input, got " + to_string(in));
        const std::size_t U = out.back(), F = in[1];
        if (n.weights.size() != G * U * (F + U) || n.bias.size() != BiasPerUnit * U)
            e.unsupported(n, "has weights that do not fit its shapes");
        std::vector<float> W(G * U * F), R(G * U * U), B(2 * G * U, 0.0f);
        const float* wx = n.weights.data();
        const float* wh = wx + G * U * F;
        for (std::size_t k = 0; k < G; ++k) {
            const std::size_t o = gate_of[k];
            std::copy_n(wx + o * U * F, U * F, W.begin() + static_cast<long>(k * U * F));
            std::copy_n(wh + o * U * U, U * U, R.begin() + static_cast<long>(k * U * U));
            std::copy_n(n.bias.data() + o * U, U, B.begin() + static_cast<long>(k * U));
            if (two_biases) std::copy_n(n.bias.data() + (G + o) * U, U, B.begin() + static_cast<long>((G + k) * U));
        }
        const auto g = static_cast<std::int64_t>(G * U);
        e.initializer(n.name + ".W", {1, g, static_cast<std::int64_t>(F)}, W);
        e.initializer(n.name + ".R", {1, g, static_cast<std::int64_t>(U)}, R);
        e.initializer(n.name + ".B", {1, 2 * g}, B);
        const std::string p = n.name + "_";
        e.attr(e.node("Transpose", p + "time_major", {e.x()}, {p + "time_major"}), "perm", std::vector<std::int64_t>{1, 0, 2});
        auto& r = e.node(type, p + "run", {p + "time_major", n.name + ".W", n.name + ".R", n.name + ".B"},
                         {p + "all", p + "last"});
        e.attr(r, "hidden_size", static_cast<std::int64_t>(U));
        if (two_biases) e.attr(r, "linear_before_reset", 1);
        if (out.size() == 1) { // the last step: Y_h is [1, N, U]
            e.initializer_i64(p + "axis0", {1}, {0});
            e.node("Squeeze", n.name, {p + "last", p + "axis0"}, {e.y});
        } else { // every step: Y is [T, 1, N, U]
            e.initializer_i64(p + "axis1", {1}, {1});
            e.node("Squeeze", p + "steps", {p + "all", p + "axis1"}, {p + "steps"});
            e.attr(e.node("Transpose", n.name, {p + "steps"}, {e.y}), "perm", std::vector<std::int64_t>{1, 0, 2});
        }
    }
};

} // namespace edgestack::compile::ops
