// What lstm and gru share: the shape rule (T x F in; U, the last step, or T x U, every step,
// out), the weight layout W_x [G*U][F] then W_h [G*U][U], the engines' preparation (weights
// transposed for the kernels, the hidden and cell state in the step's scratch), and their
// ONNX form (LSTM / GRU nodes, time-major, gates reordered).
//
// Bidirectional: a node holding two sets of weights (forward's W_x, W_h, then backward's;
// forward's biases, then backward's) runs a forward pass over t = 0..T-1 and a backward one
// over t = T-1..0 and concatenates them: 2U per step, or forward's last h then backward's
// last h (the one after t = 0), as ONNX's Y_h and PyTorch's h_n hold them. Its output is 2U
// wide; the weight count says which form a node has.
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
    std::size_t directions = 1; ///< 1, or 2 (bidirectional: each vector above holds forward's then backward's)
    bool reset_before = false;  ///< gru: r multiplies h before W_hn (ONNX's linear_before_reset = 0)
    bool every_step = false;    ///< the output is T x D*U (every step), else D*U (the last)
    RecurrentInt8 q;            ///< the int8 form (recurrent_int8.hpp); empty in fp32
};

/// A recurrent layer with G gates and `bias_per_unit` biases per unit.
template <std::size_t G, std::size_t BiasPerUnit>
struct RecurrentUnit : UnitBase {
    using State = Recurrent; ///< the weights transposed for the kernels
    /// Floats of per-step scratch a kernel reads: h [U], c [U], two gate rows [G*U].
    static constexpr std::size_t scratch_floats(std::size_t units) noexcept { return 2 * units + 2 * G * units; }

    /// 2 when `n` holds the weights of a bidirectional layer with `io.out.back() / 2` units
    /// per direction, else 1.
    static std::size_t directions(const Node& n, const Io& io) {
        const std::size_t o = io.out.empty() ? 0 : io.out.back(), f = io.in.size() == 2 ? io.in[1] : 0;
        return o % 2 == 0 && o > 0 && n.weights.size() == G * o * (f + o / 2) ? 2 : 1;
    }
    /// T x F in; U or T x U out.
    static std::string check(const Node&, const Io& io) {
        const Dims &in = io.in, &out = io.out;
        if (in.size() != 2 || out.empty() || out.size() > 2 || (out.size() == 2 && out[0] != in[0]))
            return "needs a T x F input and a U or T x U output, got " + to_string(in) + " -> " + to_string(out);
        return {};
    }
    /// G x U x (F + U) weights, BiasPerUnit x U biases, per direction.
    static Tensors tensors(const Node& n, const Io& io) {
        const std::size_t d = directions(n, io), u = io.out.back() / d;
        return {d * G * u * (io.in[1] + u), d * BiasPerUnit * u, 0, io.out.back()};
    }
    /// Transposes the weights, splits the biases and sizes the scratch (the hidden and cell
    /// state live there: nothing is allocated per run). int8: the weights' int8 form
    /// (recurrent_int8.hpp) instead of the transposed fp32 weights.
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        const std::size_t T = s.in.w, F = s.in.c;
        const std::size_t D = n.weights.size() == G * s.out.c * (F + s.out.c / 2) && s.out.c % 2 == 0 ? 2 : 1;
        const std::size_t U = s.out.c / D, GU = G * U, per = GU * (F + U);
        if (n.weights.size() != D * per || n.bias.size() != D * BiasPerUnit * U)
            throw shape_error(p.where + ": has " + std::to_string(n.weights.size()) + " weights and " +
                              std::to_string(n.bias.size()) + " biases, expected " + std::to_string(D * per) +
                              " and " + std::to_string(D * BiasPerUnit * U));
        st.steps = T;
        st.features = F;
        st.units = U;
        st.directions = D;
        st.reset_before = G == 3 && n.alpha != 0.0f;
        st.every_step = s.out.w == T && T > 1;
        st.bx.assign(D * GU, 0.0f);
        st.bh.assign(D * GU, 0.0f);
        for (std::size_t d = 0; d < D; ++d) {
            const float* b = n.bias.data() + d * BiasPerUnit * U;
            std::copy_n(b, GU, st.bx.begin() + static_cast<long>(d * GU));
            if (BiasPerUnit == 2 * G) std::copy_n(b + GU, GU, st.bh.begin() + static_cast<long>(d * GU));
        }
        if (p.int8) {
            if (D != 1) throw p.bad("int8 bidirectional recurrent layers are not supported yet: run this graph in fp32");
            if (st.reset_before)
                throw p.bad("int8 GRU with linear_before_reset = 0 is not supported yet: run this graph in fp32");
            prepare_recurrent_int8(st.q, n, p, GU, F, U, s.s_in, s.zp_in, st.bx, st.bh);
            s.scratch_bytes = std::max(s.scratch_bytes, recurrent_int8_scratch(GU, F, U));
            p.weight_bytes += GU * (F + U) + 5 * GU * sizeof(float);
            return;
        }
        st.wx.assign(D * F * GU, 0.0f);
        st.wh.assign(D * U * GU, 0.0f);
        for (std::size_t d = 0; d < D; ++d) {
            const float* w = n.weights.data() + d * per;
            float* wx = st.wx.data() + d * F * GU;
            float* wh = st.wh.data() + d * U * GU;
            for (std::size_t g = 0; g < GU; ++g) {
                for (std::size_t k = 0; k < F; ++k) wx[k * GU + g] = w[g * F + k];
                for (std::size_t k = 0; k < U; ++k) wh[k * GU + g] = w[GU * F + g * U + k];
            }
        }
        s.scratch_bytes = std::max(s.scratch_bytes, scratch_floats(U) * sizeof(float));
        p.weight_bytes += D * (per + 2 * GU) * sizeof(float);
    }
    /// Multiply-accumulates per sample.
    static std::size_t macs(const Node& n, const Io& io) {
        const std::size_t d = directions(n, io), u = io.out.back() / d;
        return d * io.in[0] * G * u * (io.in[1] + u);
    }
    /// g[0..GU) = b + sum_k v[k] * w[k][0..GU): the gate rows of one input vector.
    static void gate_rows(const float* b, const float* w, const float* v, std::size_t K, std::size_t GU,
                          float* g) noexcept {
        std::copy_n(b, GU, g);
        for (std::size_t k = 0; k < K; ++k)
            for (std::size_t j = 0; j < GU; ++j) g[j] += v[k] * w[k * GU + j];
    }
    /// Runs `cell(a, hb, h, c, d)` for every step of every sample of direction d, h and c
    /// starting at zero: a = W_x x_t + b_x, hb = W_h h + b_h; the cell updates h (and c) in
    /// place. Writes h
    /// after every step, or after the last; a backward direction walks t = T-1..0 and
    /// writes the second half of each output row.
    template <class Cell>
    static void run(const State& st, const float* x, float* y, std::size_t batch, std::byte* scratch,
                    Cell&& cell) noexcept {
        const std::size_t T = st.steps, F = st.features, U = st.units, GU = G * U, DU = st.directions * U;
        auto* h = reinterpret_cast<float*>(scratch);
        float* c = h + U;
        float* a = c + U;
        float* hb = a + GU;
        for (std::size_t d = 0; d < st.directions; ++d) {
            const float *wx = st.wx.data() + d * F * GU, *wh = st.wh.data() + d * U * GU;
            const float *bx = st.bx.data() + d * GU, *bh = st.bh.data() + d * GU;
            for (std::size_t b = 0; b < batch; ++b) {
                std::fill_n(h, 2 * U, 0.0f);
                for (std::size_t s = 0; s < T; ++s) {
                    const std::size_t t = d == 0 ? s : T - 1 - s;
                    gate_rows(bx, wx, x + (b * T + t) * F, F, GU, a);
                    gate_rows(bh, wh, h, U, GU, hb);
                    cell(a, hb, h, c, d);
                    if (st.every_step) std::copy_n(h, U, y + (b * T + t) * DU + d * U);
                }
                if (!st.every_step) std::copy_n(h, U, y + b * DU + d * U);
            }
        }
    }
    /// The training layers' sigmoid.
    static float sigmoid(float v) noexcept { return 1.0f / (1.0f + std::exp(-v)); }

    /// ONNX LSTM / GRU run time-major ([T, N, F]); `gate_of[k]` is our gate in ONNX
    /// position k; one bias per gate goes in W's half of B unless `two_biases`. A
    /// bidirectional node is direction = "bidirectional", its two directions' outputs
    /// transposed next to each other per sample.
    template <class E>
    static void recurrent_to_onnx(E& e, const Node& n, const char* type, const std::vector<std::size_t>& gate_of,
                                  bool two_biases) {
        const Dims &in = e.in(), &out = e.out();
        if (e.spatial || in.size() != 2) e.unsupported(n, "needs a T x F input, got " + to_string(in));
        const std::size_t D = directions(n, Io{in, nullptr, out}), U = out.back() / D, F = in[1];
        if (n.weights.size() != D * G * U * (F + U) || n.bias.size() != D * BiasPerUnit * U)
            e.unsupported(n, "has weights that do not fit its shapes");
        std::vector<float> W(D * G * U * F), R(D * G * U * U), B(D * 2 * G * U, 0.0f);
        for (std::size_t d = 0; d < D; ++d) {
            const float* wx = n.weights.data() + d * G * U * (F + U);
            const float* wh = wx + G * U * F;
            const float* bias = n.bias.data() + d * BiasPerUnit * U;
            const auto w0 = static_cast<long>(d * G * U * F), r0 = static_cast<long>(d * G * U * U);
            const auto b0 = static_cast<long>(d * 2 * G * U);
            for (std::size_t k = 0; k < G; ++k) {
                const std::size_t o = gate_of[k];
                std::copy_n(wx + o * U * F, U * F, W.begin() + w0 + static_cast<long>(k * U * F));
                std::copy_n(wh + o * U * U, U * U, R.begin() + r0 + static_cast<long>(k * U * U));
                std::copy_n(bias + o * U, U, B.begin() + b0 + static_cast<long>(k * U));
                if (two_biases)
                    std::copy_n(bias + (G + o) * U, U, B.begin() + b0 + static_cast<long>((G + k) * U));
            }
        }
        const auto g = static_cast<std::int64_t>(G * U), dd = static_cast<std::int64_t>(D);
        e.initializer(n.name + ".W", {dd, g, static_cast<std::int64_t>(F)}, W);
        e.initializer(n.name + ".R", {dd, g, static_cast<std::int64_t>(U)}, R);
        e.initializer(n.name + ".B", {dd, 2 * g}, B);
        const std::string p = n.name + "_";
        e.attr(e.node("Transpose", p + "time_major", {e.x()}, {p + "time_major"}), "perm", std::vector<std::int64_t>{1, 0, 2});
        auto& r = e.node(type, p + "run", {p + "time_major", n.name + ".W", n.name + ".R", n.name + ".B"},
                         {p + "all", p + "last"});
        e.attr(r, "hidden_size", static_cast<std::int64_t>(U));
        if (two_biases) e.attr(r, "linear_before_reset", n.alpha == 0.0f ? 1 : 0);
        if (D == 2) e.attr(r, "direction", std::string("bidirectional"));
        if (D == 2 && out.size() == 1) { // Y_h [2, N, U] -> [N, 2, U] -> [N, 2U]
            e.initializer_i64(p + "shape", {2}, {0, -1});
            e.attr(e.node("Transpose", p + "batch_major", {p + "last"}, {p + "batch_major"}), "perm",
                   std::vector<std::int64_t>{1, 0, 2});
            e.node("Reshape", n.name, {p + "batch_major", p + "shape"}, {e.y});
        } else if (D == 2) { // Y [T, 2, N, U] -> [N, T, 2, U] -> [N, T, 2U]
            e.initializer_i64(p + "shape", {3}, {0, 0, -1});
            e.attr(e.node("Transpose", p + "batch_major", {p + "all"}, {p + "batch_major"}), "perm",
                   std::vector<std::int64_t>{2, 0, 1, 3});
            e.node("Reshape", n.name, {p + "batch_major", p + "shape"}, {e.y});
        } else if (out.size() == 1) { // the last step: Y_h is [1, N, U]
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
