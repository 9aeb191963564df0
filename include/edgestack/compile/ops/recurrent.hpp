// What lstm and gru share: the shape rule (T x F in; U, the last step, or T x U, every step,
// out), the weight layout W_x [G*U][F] then W_h [G*U][U], the engines' preparation (weights
// transposed for the kernels, the hidden and cell state in the step's scratch), and their
// ONNX form (LSTM / GRU nodes, time-major, gates reordered).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "edgestack/compile/ops/recurrent_int8.hpp"
#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// lstm, gru: the weights as the kernels read them, transposed so that a step's G*U gate
/// pre-activations accumulate along contiguous rows (one row per input element).
struct Recurrent {
    std::vector<float> wx;      ///< W_x transposed: [F][G*U]
    std::vector<float> wh;      ///< W_h transposed: [U][G*U]
    std::vector<float> bx;      ///< the input side's bias, [G*U] (lstm: its only bias)
    std::vector<float> bh;      ///< the hidden side's bias, [G*U] (zeros for lstm)
    std::size_t steps = 0;      ///< T
    std::size_t features = 0;   ///< F
    std::size_t units = 0;      ///< U
    bool every_step = false;    ///< the output is T x U (every step), else U (the last)
    RecurrentInt8 q;            ///< the int8 form (recurrent_int8.hpp); empty in fp32
};

/// A recurrent layer with G gates and `bias_per_unit` biases per unit.
template <std::size_t G, std::size_t BiasPerUnit>
struct RecurrentUnit : UnitBase {
    using State = Recurrent; ///< the weights transposed for the kernels
    /// Floats of per-step scratch a kernel reads: h [U], c [U], two gate rows [G*U].
    static constexpr std::size_t scratch_floats(std::size_t units) noexcept { return 2 * units + 2 * G * units; }

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
    /// Transposes the weights, splits the biases and sizes the scratch (the hidden and cell
    /// state live there: nothing is allocated per run). int8: the weights' int8 form
    /// (recurrent_int8.hpp) instead of the transposed fp32 weights.
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        const std::size_t T = s.in.w, F = s.in.c, U = s.out.c, GU = G * U;
        if (n.weights.size() != GU * (F + U) || n.bias.size() != BiasPerUnit * U)
            throw shape_error(p.where + ": has " + std::to_string(n.weights.size()) + " weights and " +
                              std::to_string(n.bias.size()) + " biases, expected " + std::to_string(GU * (F + U)) +
                              " and " + std::to_string(BiasPerUnit * U));
        st.steps = T;
        st.features = F;
        st.units = U;
        st.every_step = s.out.w == T && T > 1;
        st.bx.assign(n.bias.begin(), n.bias.begin() + static_cast<long>(GU));
        st.bh.assign(GU, 0.0f);
        if (BiasPerUnit == 2 * G) std::copy_n(n.bias.begin() + static_cast<long>(GU), GU, st.bh.begin());
        if (p.int8) {
            prepare_recurrent_int8(st.q, n, p, GU, F, U, s.s_in, s.zp_in, st.bx, st.bh);
            s.scratch_bytes = std::max(s.scratch_bytes, recurrent_int8_scratch(GU, F, U));
            p.weight_bytes += GU * (F + U) + 5 * GU * sizeof(float);
            return;
        }
        st.wx.assign(F * GU, 0.0f);
        st.wh.assign(U * GU, 0.0f);
        for (std::size_t g = 0; g < GU; ++g) {
            for (std::size_t k = 0; k < F; ++k) st.wx[k * GU + g] = n.weights[g * F + k];
            for (std::size_t k = 0; k < U; ++k) st.wh[k * GU + g] = n.weights[GU * F + g * U + k];
        }
        s.scratch_bytes = std::max(s.scratch_bytes, scratch_floats(U) * sizeof(float));
        p.weight_bytes += (GU * (F + U) + 2 * GU) * sizeof(float);
    }
    /// Multiply-accumulates per sample.
    static std::size_t macs(const Node&, const Io& io) {
        const std::size_t u = io.out.back();
        return io.in[0] * G * u * (io.in[1] + u);
    }
    /// g[0..GU) = b + sum_k v[k] * w[k][0..GU): the gate rows of one input vector.
    static void gate_rows(const float* b, const float* w, const float* v, std::size_t K, std::size_t GU,
                          float* g) noexcept {
        std::copy_n(b, GU, g);
        for (std::size_t k = 0; k < K; ++k)
            for (std::size_t j = 0; j < GU; ++j) g[j] += v[k] * w[k * GU + j];
    }
    /// Runs `cell(a, hb, h, c)` for every step of every sample, h and c starting at zero:
    /// a = W_x x_t + b_x, hb = W_h h + b_h; the cell updates h (and c) in place. Writes h
    /// after every step, or after the last.
    template <class Cell>
    static void run(const State& st, const float* x, float* y, std::size_t batch, std::byte* scratch,
                    Cell&& cell) noexcept {
        const std::size_t T = st.steps, F = st.features, U = st.units, GU = G * U;
        auto* h = reinterpret_cast<float*>(scratch);
        float* c = h + U;
        float* a = c + U;
        float* hb = a + GU;
        for (std::size_t b = 0; b < batch; ++b) {
            std::fill_n(h, 2 * U, 0.0f);
            for (std::size_t t = 0; t < T; ++t) {
                gate_rows(st.bx.data(), st.wx.data(), x + (b * T + t) * F, F, GU, a);
                gate_rows(st.bh.data(), st.wh.data(), h, U, GU, hb);
                cell(a, hb, h, c);
                if (st.every_step) std::copy_n(h, U, y + (b * T + t) * U);
            }
            if (!st.every_step) std::copy_n(h, U, y + b * U);
        }
    }
    /// The training layers' sigmoid.
    static float sigmoid(float v) noexcept { return 1.0f / (1.0f + std::exp(-v)); }

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
