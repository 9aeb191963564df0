// The int8 form of attention (docs/quantization.md, "Attention"): the four projections are
// int8 matrix products. Q|K|V come from the int8 input against int8 weights with one
// symmetric scale per output column, summed exactly in int32 and dequantized with one
// float multiply per column; the scores, softmax and context stay fp32; each context row is
// quantized to int8 with its own symmetric scale (max |row| / 127, computed as it runs) for
// the output projection, again exact in int32, and the result is quantized to the output
// value's scale and zero point. This header holds the parameters and the reference kernel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "edgestack/compile/ops/recurrent_int8.hpp"
#include "edgestack/compile/ops/unit.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::compile::ops {

/// attention in int8: the projections' weights as int8 codes per output row, and what
/// turns their int32 sums back into real values.
struct AttentionInt8 {
    std::vector<std::int8_t> wqkv;  ///< W_q | W_k | W_v codes, [3D][D] ([out][in])
    std::vector<std::int8_t> wo;    ///< W_o codes, [D][D]
    std::vector<float> sqkv;        ///< per output of Q|K|V: s_in * s_w[o]
    std::vector<std::int32_t> cqkv; ///< per output of Q|K|V: -zp_in * sum_i w[o][i]
    std::vector<float> so;          ///< per output of the output projection: s_w[o]
};

/// Largest width whose int32 sums stay exact: D * 255 * 127 below 2^31.
inline constexpr std::size_t attention_int8_max_width = 66000;

/// Fills `q` from the node's fp32 weights (W_q | W_k | W_v | W_o, each [D][D]), the input's
/// scale `s_in` and zero point `zp_in`.
inline void prepare_attention_int8(AttentionInt8& q, const Node& n, const Prep& p, std::size_t d, float s_in,
                                   std::int32_t zp_in) {
    if (n.weights.size() != 4 * d * d || n.bias.size() != 4 * d)
        throw shape_error(p.where + ": has " + std::to_string(n.weights.size()) + " weights and " +
                          std::to_string(n.bias.size()) + " biases, expected " + std::to_string(4 * d * d) +
                          " and " + std::to_string(4 * d));
    if (d > attention_int8_max_width)
        throw p.bad("int8 attention takes a width of at most " + std::to_string(attention_int8_max_width));
    const std::span<const float> w(n.weights);
    q.wqkv.resize(3 * d * d);
    q.wo.resize(d * d);
    const auto s = quantize_rows(w.first(3 * d * d), 3 * d, d, q.wqkv.data());
    q.so = quantize_rows(w.subspan(3 * d * d), d, d, q.wo.data());
    q.sqkv.resize(3 * d);
    q.cqkv.resize(3 * d);
    for (std::size_t o = 0; o < 3 * d; ++o) {
        q.sqkv[o] = s_in * s[o];
        std::int32_t sum = 0;
        for (std::size_t i = 0; i < d; ++i) sum += q.wqkv[o * d + i];
        q.cqkv[o] = -zp_in * sum;
    }
}

/// Floats of scratch one sample needs in int8: Q|K|V rows, one head's K transposed, one row
/// of scores, the fp32 context, and one context row as int8 codes.
inline std::size_t attention_int8_scratch_floats(std::size_t t, std::size_t d, std::size_t heads) {
    return t * 3 * d + (d / heads) * t + t + t * d + (d + 3) / 4;
}

/// The int8 definition, sample by sample (see the header comment); `b` is b_q | b_k | b_v |
/// b_o in fp32, `scale` 1 / sqrt(D / heads).
template <class S>
void attention_int8_reference(const S& s, const AttentionInt8& q, const std::vector<float>& b, float scale,
                              const std::int8_t* x, std::int8_t* y, std::size_t batch, std::byte* scratch) noexcept {
    const std::size_t d = s.in.c, t = s.in.w, heads = s.kh, dh = d / heads, d3 = 3 * d;
    float* qkv = reinterpret_cast<float*>(scratch);
    float* kt = qkv + t * d3;
    float* row = kt + dh * t;
    float* ctx = row + t;
    auto* cq = reinterpret_cast<std::int8_t*>(ctx + t * d);
    for (std::size_t n = 0; n < batch; ++n) {
        const std::int8_t* xs = x + n * t * d;
        std::int8_t* ys = y + n * t * d;
        for (std::size_t r = 0; r < t; ++r)
            for (std::size_t o = 0; o < d3; ++o) {
                std::int32_t acc = q.cqkv[o];
                for (std::size_t i = 0; i < d; ++i) acc += std::int32_t{xs[r * d + i]} * q.wqkv[o * d + i];
                qkv[r * d3 + o] = q.sqkv[o] * static_cast<float>(acc) + b[o];
            }
        for (std::size_t h = 0; h < heads; ++h) {
            const std::size_t qo = h * dh, ko = d + h * dh, vo = 2 * d + h * dh;
            for (std::size_t u = 0; u < t; ++u)
                for (std::size_t j = 0; j < dh; ++j) kt[j * t + u] = qkv[u * d3 + ko + j];
            for (std::size_t r = 0; r < t; ++r) {
                for (std::size_t u = 0; u < t; ++u) row[u] = 0.0f;
                for (std::size_t j = 0; j < dh; ++j)
                    for (std::size_t u = 0; u < t; ++u) row[u] += qkv[r * d3 + qo + j] * kt[j * t + u];
                float m = row[0] * scale;
                for (std::size_t u = 0; u < t; ++u) {
                    row[u] *= scale;
                    m = std::max(m, row[u]);
                }
                float sum = 0.0f;
                for (std::size_t u = 0; u < t; ++u) {
                    row[u] = std::exp(row[u] - m);
                    sum += row[u];
                }
                const float inv = 1.0f / sum;
                float* c = ctx + r * d + h * dh;
                for (std::size_t j = 0; j < dh; ++j) c[j] = 0.0f;
                for (std::size_t u = 0; u < t; ++u)
                    for (std::size_t j = 0; j < dh; ++j) c[j] += row[u] * inv * qkv[u * d3 + vo + j];
            }
        }
        for (std::size_t r = 0; r < t; ++r) {
            const float* c = ctx + r * d;
            float m = 0.0f;
            for (std::size_t i = 0; i < d; ++i) m = std::max(m, std::fabs(c[i]));
            const float sc = quant::choose_symmetric(m);
            for (std::size_t i = 0; i < d; ++i)
                cq[i] = static_cast<std::int8_t>(std::clamp(std::nearbyint(c[i] / sc), -127.0f, 127.0f));
            for (std::size_t o = 0; o < d; ++o) {
                std::int32_t acc = 0;
                for (std::size_t i = 0; i < d; ++i) acc += std::int32_t{cq[i]} * q.wo[o * d + i];
                ys[r * d + o] = quant::quantize(sc * q.so[o] * static_cast<float>(acc) + b[3 * d + o], s.s_out, s.zp_out);
            }
        }
    }
}

} // namespace edgestack::compile::ops
