// The int8 form of lstm and gru (docs/quantization.md, "Recurrent layers"): int8 weights
// with one symmetric scale per gate row, the hidden state h as int16 codes of the fixed
// scale 1/32767, integer dot products that are exact in int32, each gate row's
// pre-activation dequantized with one float multiply, the gates and the lstm's cell state in
// fp32, and h requantized to the output value's scale and zero point. This header holds the
// parameters (prepared from the node's fp32 weights) and the reference kernels, the
// definition the vector kernels (backend/detail/simd_sequence_int8.hpp) are tested against.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"
#include "edgestack/core/cpu.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::compile::ops {

/// The fixed scale of the hidden state's int16 codes: h = code / 32767, h in (-1, 1).
inline constexpr float recurrent_state_steps = 32767.0f;

/// Largest hidden size whose W_h h products sum exactly in int32:
/// U * 127 * 32767 must stay below 2^31.
inline constexpr std::size_t recurrent_int8_max_units = 516;

/// lstm, gru in int8: the weights as int8 codes per gate row, and what turns the integer
/// dot products back into gate pre-activations.
struct RecurrentInt8 {
    std::vector<std::int8_t> wx;   ///< W_x codes, [G*U][F] (row per gate value)
    std::vector<std::int8_t> wh;   ///< W_h codes, [G*U][U]
    std::vector<float> sx;         ///< per gate row: s_in * s_wx[j] (multiplies the x side's int32), GUp
    std::vector<float> sh;         ///< per gate row: s_wh[j] / 32767 (multiplies the h side's int32), GUp
    std::vector<std::int32_t> cx;  ///< per gate row: -zp_in * sum_k wx[j][k] (the input zero point), GUp
    std::vector<std::int16_t> px;  ///< W_x for the vector kernels: pairs of inputs per gate value,
                                   ///< [ceil(F/2)][GUp][2], GUp = G*U rounded up to 16, zero-padded
    std::vector<std::int16_t> ph;  ///< W_h likewise, [ceil(U/2)][GUp][2]
    std::size_t gu_padded = 0;     ///< GUp
    std::vector<float> bx;         ///< b_x zero-padded to GUp (the vector kernels' copy)
    std::vector<float> bh;         ///< b_h zero-padded to GUp
    Isa isa = Isa::scalar;         ///< the level the engine was compiled for (EDGESTACK_ISA caps it)
};

/// Per-row symmetric int8 codes of the [rows][cols] matrix `w` (scale max|row| / 127, codes
/// in [-127, 127], ties to even: what the quantizer does to a dense layer's rows). Returns
/// the scales.
inline std::vector<float> quantize_rows(std::span<const float> w, std::size_t rows, std::size_t cols,
                                        std::int8_t* q) {
    std::vector<float> s(rows);
    for (std::size_t r = 0; r < rows; ++r) {
        float m = 0.0f;
        for (std::size_t k = 0; k < cols; ++k) m = std::max(m, std::fabs(w[r * cols + k]));
        s[r] = quant::choose_symmetric(m);
        for (std::size_t k = 0; k < cols; ++k)
            q[r * cols + k] = static_cast<std::int8_t>(
                std::clamp(std::nearbyint(w[r * cols + k] / s[r]), -127.0f, 127.0f));
    }
    return s;
}

/// The [rows][K] int8 matrix `q` as int16 pairs of K per row for the vector kernels:
/// out[(k / 2) * cols_padded * 2 + r * 2 + k % 2], zero where k or r is past the end.
inline std::vector<std::int16_t> pair_rows(const std::vector<std::int8_t>& q, std::size_t rows, std::size_t K,
                                           std::size_t cols_padded) {
    std::vector<std::int16_t> p((K + 1) / 2 * cols_padded * 2, 0);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t k = 0; k < K; ++k) p[(k / 2) * cols_padded * 2 + r * 2 + k % 2] = q[r * K + k];
    return p;
}

/// Fills `q` for a recurrent node with G*U gate rows, F inputs and U units from its fp32
/// weights (W_x [GU][F] then W_h [GU][U]), the input's scale `s_in` and zero point `zp_in`.
/// Refuses sizes whose integer sums could leave int32.
inline void prepare_recurrent_int8(RecurrentInt8& q, const Node& n, const Prep& p, std::size_t GU, std::size_t F,
                                   std::size_t U, float s_in, std::int32_t zp_in, const std::vector<float>& bx,
                                   const std::vector<float>& bh) {
    if (n.weights.size() != GU * (F + U))
        throw p.bad("int8 recurrent layers are quantized from their fp32 weights at compile time; this node has " +
                    std::to_string(n.weights.size()) + " of them, expected " + std::to_string(GU * (F + U)));
    if (U > recurrent_int8_max_units)
        throw p.bad("int8 recurrent layers take at most " + std::to_string(recurrent_int8_max_units) +
                    " units (the hidden side's int32 sums would overflow), this one has " + std::to_string(U));
    if (F > 66000) throw p.bad("int8 recurrent layers take at most 66000 input features");
    q.wx.resize(GU * F);
    q.wh.resize(GU * U);
    const std::span<const float> w(n.weights);
    const auto swx = quantize_rows(w.first(GU * F), GU, F, q.wx.data());
    const auto swh = quantize_rows(w.subspan(GU * F), GU, U, q.wh.data());
    q.sx.resize(GU);
    q.sh.resize(GU);
    q.cx.resize(GU);
    for (std::size_t j = 0; j < GU; ++j) {
        q.sx[j] = s_in * swx[j];
        q.sh[j] = swh[j] / recurrent_state_steps;
        std::int32_t sum = 0;
        for (std::size_t k = 0; k < F; ++k) sum += q.wx[j * F + k];
        q.cx[j] = -zp_in * sum;
    }
    q.gu_padded = (GU + 15) / 16 * 16;
    q.sx.resize(q.gu_padded, 0.0f);
    q.sh.resize(q.gu_padded, 0.0f);
    q.cx.resize(q.gu_padded, 0);
    q.bx = bx;
    q.bh = bh;
    q.bx.resize(q.gu_padded, 0.0f);
    q.bh.resize(q.gu_padded, 0.0f);
    q.isa = selected_isa();
    q.px = pair_rows(q.wx, GU, F, q.gu_padded);
    q.ph = pair_rows(q.wh, GU, U, q.gu_padded);
}

/// Bytes of scratch the int8 kernels use: a, hb [GUp] floats, h and c [U] floats, the
/// int16 state and the step's input as int16 (each rounded up to an even count), then two
/// int32 accumulator rows [GUp].
inline std::size_t recurrent_int8_scratch(std::size_t GU, std::size_t F, std::size_t U) noexcept {
    const std::size_t gup = (GU + 15) / 16 * 16;
    return (2 * gup + 2 * U) * sizeof(float) + ((U + 1) / 2 * 2 + (F + 1) / 2 * 2) * sizeof(std::int16_t) +
           2 * gup * sizeof(std::int32_t) + 64;
}

/// The int16 code of a hidden value h in [-1, 1]: round(h * 32767), ties to even.
inline std::int16_t recurrent_state_code(float h) noexcept {
    return static_cast<std::int16_t>(std::clamp(std::nearbyint(h * recurrent_state_steps), -32767.0f, 32767.0f));
}

/// The reference int8 recurrence: for every step of every sample, the gate pre-activations
/// a = sx * (sum_k x_k wx[j][k] + cx[j]) + b_x and hb = sh * (sum_k h16_k wh[j][k]) + b_h
/// (both sums exact in int32), `cell(a, hb, h, c)` updating the fp32 h (which holds the
/// dequantized state on entry) and c, then h re-coded to int16 and written as
/// quantize(h16 / 32767, s_out, zp_out) after every step or after the last.
template <class S, class Cell>
void run_recurrent_int8(const S& s, const RecurrentInt8& q, const float* bx, const float* bh, std::size_t T,
                        std::size_t F, std::size_t U, std::size_t GU, bool every_step, const std::int8_t* x,
                        std::int8_t* y, std::size_t batch, std::byte* scratch, Cell&& cell) noexcept {
    auto* a = reinterpret_cast<float*>(scratch);
    float* hb = a + q.gu_padded;
    float* h = hb + q.gu_padded;
    float* c = h + U;
    auto* h16 = reinterpret_cast<std::int16_t*>(c + U);
    auto out = [&](std::int8_t* dst) {
        for (std::size_t u = 0; u < U; ++u)
            dst[u] = quant::quantize(static_cast<float>(h16[u]) / recurrent_state_steps, s.s_out, s.zp_out);
    };
    for (std::size_t b = 0; b < batch; ++b) {
        std::fill_n(h16, U, std::int16_t{0});
        std::fill_n(c, U, 0.0f);
        for (std::size_t t = 0; t < T; ++t) {
            const std::int8_t* xt = x + (b * T + t) * F;
            for (std::size_t j = 0; j < GU; ++j) {
                std::int32_t acc = q.cx[j];
                for (std::size_t k = 0; k < F; ++k) acc += std::int32_t{xt[k]} * q.wx[j * F + k];
                a[j] = q.sx[j] * static_cast<float>(acc) + bx[j];
                std::int32_t acch = 0;
                for (std::size_t k = 0; k < U; ++k) acch += std::int32_t{h16[k]} * q.wh[j * U + k];
                hb[j] = q.sh[j] * static_cast<float>(acch) + bh[j];
            }
            for (std::size_t u = 0; u < U; ++u) h[u] = static_cast<float>(h16[u]) / recurrent_state_steps;
            cell(a, hb, h, c);
            for (std::size_t u = 0; u < U; ++u) h16[u] = recurrent_state_code(h[u]);
            if (every_step) out(y + (b * T + t) * U);
        }
        if (!every_step) out(y + b * U);
    }
}

} // namespace edgestack::compile::ops
