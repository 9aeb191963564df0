// backend::Simd's kernels for the int8 recurrent ops (gru, lstm; the scheme is in
// compile/ops/recurrent_int8.hpp). A step's two matrix-vector products run on int16 pairs:
// the int8 input and the int16 hidden state against int8 weights widened to int16, two
// products summed per int32 lane (vpmaddwd at AVX2 and AVX-512, vpdpwssd at AVX-VNNI and
// AVX-512 VNNI), which is exact; the gate rows are then dequantized and the cell runs on
// 16-float vectors with the fp32 kernels' polynomial sigmoid and tanh (simd_sequence.hpp).
// The level is the one the engine was compiled for (EDGESTACK_ISA caps it); below AVX2 the
// Reference loops run.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/backend/detail/simd_sequence.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/core/cpu.hpp"

#if defined(EDGESTACK_SEQ_DISPATCH)
#include <immintrin.h>
#endif

namespace edgestack::backend::detail {

namespace seq8 {

using seq::v16;
using seq::W;

#if defined(EDGESTACK_SEQ_DISPATCH)

// acc[j] = init[j] (0 when init is null) + sum_p (v[2p], v[2p+1]) . P[p][j][0..1] for j in [0, GUp): int16 pairs
// multiplied and summed into int32 lanes, N vectors of accumulators at a time.
#define EDGESTACK_SEQ8_DOT(suffix, attr, vec, lanes, load, store, set1, fma_pairs)                              \
    template <int N>                                                                                           \
    attr [[gnu::always_inline]] inline void dot_block_##suffix(const std::int16_t* P, const std::int16_t* v,   \
                                                               std::size_t pairs, std::size_t GUp,             \
                                                               const std::int32_t* init, std::int32_t* acc) {  \
        vec a[N];                                                                                              \
        _Pragma("GCC unroll 8") for (int i = 0; i < N; ++i) a[i] = init ? load(init + i * lanes) : set1(0);      \
        for (std::size_t p = 0; p < pairs; ++p) {                                                              \
            std::int32_t pair;                                                                                 \
            std::memcpy(&pair, v + 2 * p, sizeof pair);                                                        \
            const vec b = set1(pair);                                                                          \
            const std::int16_t* row = P + p * GUp * 2;                                                         \
            _Pragma("GCC unroll 8") for (int i = 0; i < N; ++i) a[i] = fma_pairs(a[i], b, load(row + i * lanes * 2)); \
        }                                                                                                      \
        _Pragma("GCC unroll 8") for (int i = 0; i < N; ++i) store(acc + i * lanes, a[i]);                      \
    }                                                                                                          \
    attr inline void dot_##suffix(const std::int16_t* P, const std::int16_t* v, std::size_t pairs,             \
                                  std::size_t GUp, const std::int32_t* init, std::int32_t* acc) noexcept {    \
        std::size_t j = 0;                                                                                     \
        const auto at = [init](std::size_t j) { return init ? init + j : nullptr; };                           \
        for (; j + 8 * lanes <= GUp; j += 8 * lanes) dot_block_##suffix<8>(P + 2 * j, v, pairs, GUp, at(j), acc + j); \
        if (j + 4 * lanes <= GUp) dot_block_##suffix<4>(P + 2 * j, v, pairs, GUp, at(j), acc + j), j += 4 * lanes; \
        if (j + 2 * lanes <= GUp) dot_block_##suffix<2>(P + 2 * j, v, pairs, GUp, at(j), acc + j), j += 2 * lanes; \
        if (j + lanes <= GUp) dot_block_##suffix<1>(P + 2 * j, v, pairs, GUp, at(j), acc + j);                 \
    }

#define EDGESTACK_SEQ8_L256(p) _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
#define EDGESTACK_SEQ8_S256(p, v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v)
#define EDGESTACK_SEQ8_L512(p) _mm512_loadu_si512(p)
#define EDGESTACK_SEQ8_S512(p, v) _mm512_storeu_si512(p, v)
#define EDGESTACK_SEQ8_MADD256(a, b, w) _mm256_add_epi32(a, _mm256_madd_epi16(b, w))
#define EDGESTACK_SEQ8_VNNI256(a, b, w) _mm256_dpwssd_avx_epi32(a, b, w)
#define EDGESTACK_SEQ8_MADD512(a, b, w) _mm512_add_epi32(a, _mm512_madd_epi16(b, w))
#define EDGESTACK_SEQ8_VNNI512(a, b, w) _mm512_dpwssd_epi32(a, b, w)

EDGESTACK_SEQ8_DOT(avx2, [[gnu::target("avx2,fma")]], __m256i, 8, EDGESTACK_SEQ8_L256, EDGESTACK_SEQ8_S256,
                   _mm256_set1_epi32, EDGESTACK_SEQ8_MADD256)
EDGESTACK_SEQ8_DOT(avxvnni, [[gnu::target("avx2,fma,avxvnni")]], __m256i, 8, EDGESTACK_SEQ8_L256,
                   EDGESTACK_SEQ8_S256, _mm256_set1_epi32, EDGESTACK_SEQ8_VNNI256)
EDGESTACK_SEQ8_DOT(avx512, [[gnu::target("avx2,fma,avx512f,avx512bw,avx512vl")]], __m512i, 16,
                   EDGESTACK_SEQ8_L512, EDGESTACK_SEQ8_S512, _mm512_set1_epi32, EDGESTACK_SEQ8_MADD512)
EDGESTACK_SEQ8_DOT(avx512vnni, [[gnu::target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]], __m512i, 16,
                   EDGESTACK_SEQ8_L512, EDGESTACK_SEQ8_S512, _mm512_set1_epi32, EDGESTACK_SEQ8_VNNI512)
#undef EDGESTACK_SEQ8_DOT
#undef EDGESTACK_SEQ8_L256
#undef EDGESTACK_SEQ8_S256
#undef EDGESTACK_SEQ8_L512
#undef EDGESTACK_SEQ8_S512
#undef EDGESTACK_SEQ8_MADD256
#undef EDGESTACK_SEQ8_VNNI256
#undef EDGESTACK_SEQ8_MADD512
#undef EDGESTACK_SEQ8_VNNI512

/// g[j] = s[j] * acc[j] + b[j] for j in [0, GUp): a gate row's int32 back to its real value.
EDGESTACK_SEQ_INLINE void dequantize_rows(const float* __restrict s, const std::int32_t* __restrict acc,
                                          const float* __restrict b, std::size_t GUp, float* __restrict g) noexcept {
    for (std::size_t j = 0; j < GUp; j += W) {
        seq::v16 sv, bv;
        seq::load(sv, s + j), seq::load(bv, b + j);
        typedef std::int32_t i16u __attribute__((vector_size(64), aligned(4)));
        const v16 av = __builtin_convertvector(*reinterpret_cast<const i16u*>(acc + j), v16);
        seq::store(g + j, sv * av + bv);
    }
}

/// The int16 codes of h (round to nearest even, as recurrent_state_code: adding and
/// subtracting 1.5 * 2^23 rounds a float below 2^22 in magnitude), and the state read back
/// as floats h = code / 32767; 16 units at a time.
EDGESTACK_SEQ_INLINE void recode_state(float* __restrict h, std::int16_t* __restrict h16, std::size_t U) noexcept {
    typedef short s16 __attribute__((vector_size(32)));
    typedef short s16u __attribute__((vector_size(32), aligned(2)));
    constexpr float steps = compile::ops::recurrent_state_steps;
    std::size_t u = 0;
    for (; u + W <= U; u += W) {
        v16 v;
        seq::load(v, h + u);
        v = v * steps;
        v = v + 12582912.0f;
        v = v - 12582912.0f;
        v = v > steps ? v16{} + steps : v;
        v = v < -steps ? v16{} - steps : v;
        *reinterpret_cast<s16u*>(h16 + u) = __builtin_convertvector(__builtin_convertvector(v, seq::i16), s16);
        seq::store(h + u, v * (1.0f / steps));
    }
    for (; u < U; ++u) {
        h16[u] = compile::ops::recurrent_state_code(h[u]);
        h[u] = static_cast<float>(h16[u]) * (1.0f / steps);
    }
}

/// Every step of every sample of an int8 gru or lstm (`G` gates) with dot product `dot`.
template <std::size_t G, class Dot>
EDGESTACK_SEQ_INLINE void run(const Step& s, const compile::ops::Recurrent& st, const std::int8_t* x, std::int8_t* y,
                              std::size_t batch, std::byte* scratch, Dot dot) noexcept {
    const auto& q = st.q;
    const std::size_t T = st.steps, F = st.features, U = st.units, GUp = q.gu_padded;
    const std::size_t Ue = (U + 1) / 2 * 2, Fe = (F + 1) / 2 * 2;
    float* __restrict a = reinterpret_cast<float*>(scratch);
    float* __restrict hb = a + GUp;
    float* __restrict h = hb + GUp;
    float* __restrict c = h + U;
    std::int16_t* __restrict h16 = reinterpret_cast<std::int16_t*>(c + U);
    std::int16_t* __restrict x16 = h16 + Ue;
    std::int32_t* __restrict ax = reinterpret_cast<std::int32_t*>(x16 + Fe);
    std::int32_t* __restrict ah = ax + GUp;
    auto out = [&](std::int8_t* dst) {
        for (std::size_t u = 0; u < U; ++u)
            dst[u] = quant::quantize(static_cast<float>(h16[u]) / compile::ops::recurrent_state_steps, s.s_out, s.zp_out);
    };
    for (std::size_t b = 0; b < batch; ++b) {
        std::fill_n(h16, Ue + Fe, std::int16_t{0});
        std::fill_n(h, 2 * U, 0.0f);
        for (std::size_t t = 0; t < T; ++t) {
            const std::int8_t* xt = x + (b * T + t) * F;
            for (std::size_t k = 0; k < F; ++k) x16[k] = xt[k];
            dot(q.px.data(), x16, Fe / 2, GUp, q.cx.data(), ax);
            dot(q.ph.data(), h16, Ue / 2, GUp, nullptr, ah);
            dequantize_rows(q.sx.data(), ax, q.bx.data(), GUp, a);
            dequantize_rows(q.sh.data(), ah, q.bh.data(), GUp, hb);
            std::size_t u = 0;
            if constexpr (G == 3) {
                for (; u + W <= U; u += W) {
                    v16 r, z, n, t0, t1;
                    seq::load(r, a + u), seq::load(t0, hb + u), r += t0, seq::sigmoid(r);
                    seq::load(z, a + U + u), seq::load(t0, hb + U + u), z += t0, seq::sigmoid(z);
                    seq::load(n, a + 2 * U + u), seq::load(t0, hb + 2 * U + u), n += r * t0, seq::tanh(n);
                    seq::load(t1, h + u);
                    seq::store(h + u, (1.0f - z) * n + z * t1);
                }
                for (; u < U; ++u) {
                    const float r = seq::sigmoid(a[u] + hb[u]);
                    const float z = seq::sigmoid(a[U + u] + hb[U + u]);
                    const float n = seq::tanh(a[2 * U + u] + r * hb[2 * U + u]);
                    h[u] = (1.0f - z) * n + z * h[u];
                }
            } else {
                for (; u + W <= U; u += W) {
                    v16 i, f, g, o, t0;
                    seq::load(i, a + u), seq::load(t0, hb + u), i += t0, seq::sigmoid(i);
                    seq::load(f, a + U + u), seq::load(t0, hb + U + u), f += t0, seq::sigmoid(f);
                    seq::load(g, a + 2 * U + u), seq::load(t0, hb + 2 * U + u), g += t0, seq::tanh(g);
                    seq::load(o, a + 3 * U + u), seq::load(t0, hb + 3 * U + u), o += t0, seq::sigmoid(o);
                    seq::load(t0, c + u);
                    t0 = f * t0 + i * g;
                    seq::store(c + u, t0);
                    seq::tanh(t0);
                    seq::store(h + u, o * t0);
                }
                for (; u < U; ++u) {
                    const float i = seq::sigmoid(a[u] + hb[u]), f = seq::sigmoid(a[U + u] + hb[U + u]);
                    const float g = seq::tanh(a[2 * U + u] + hb[2 * U + u]);
                    const float o = seq::sigmoid(a[3 * U + u] + hb[3 * U + u]);
                    c[u] = f * c[u] + i * g;
                    h[u] = o * seq::tanh(c[u]);
                }
            }
            recode_state(h, h16, U);
            if (st.every_step) out(y + (b * T + t) * U);
        }
        if (!st.every_step) out(y + b * U);
    }
}

// One copy per level: the cell's vectors use that level's registers.
#define EDGESTACK_SEQ8_LEVEL(suffix, attr)                                                                         \
    attr inline void gru_##suffix(const Step& s, const compile::ops::Recurrent& st, const std::int8_t* x,         \
                                  std::int8_t* y, std::size_t batch, std::byte* scratch) noexcept {               \
        run<3>(s, st, x, y, batch, scratch, dot_##suffix);                                                         \
    }                                                                                                              \
    attr inline void lstm_##suffix(const Step& s, const compile::ops::Recurrent& st, const std::int8_t* x,        \
                                   std::int8_t* y, std::size_t batch, std::byte* scratch) noexcept {              \
        run<4>(s, st, x, y, batch, scratch, dot_##suffix);                                                         \
    }
EDGESTACK_SEQ8_LEVEL(avx2, [[gnu::target("avx2,fma")]])
EDGESTACK_SEQ8_LEVEL(avxvnni, [[gnu::target("avx2,fma,avxvnni")]])
EDGESTACK_SEQ8_LEVEL(avx512, EDGESTACK_TARGET_WIDE("avx2,fma,avx512f,avx512bw,avx512vl"))
EDGESTACK_SEQ8_LEVEL(avx512vnni,
                     EDGESTACK_TARGET_WIDE("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"))
#undef EDGESTACK_SEQ8_LEVEL

#endif

} // namespace seq8

/// backend::Simd's int8 recurrent kernels; SimdKernels inherits them.
struct SimdSequenceInt8 {
    /// gru, int8: the level the engine was compiled for, the Reference loops below AVX2.
    static void kernel(compile::ops::Gru, const Step& s, const std::int8_t* x, const std::int8_t* x2, std::int8_t* y,
                       std::size_t batch, std::byte* scratch) noexcept {
        const auto& st = s.get<compile::ops::Recurrent>();
#if defined(EDGESTACK_SEQ_DISPATCH)
        switch (st.q.isa) {
        case Isa::avx512vnni: return seq8::gru_avx512vnni(s, st, x, y, batch, scratch);
        case Isa::avx512: return seq8::gru_avx512(s, st, x, y, batch, scratch);
        case Isa::avxvnni: return seq8::gru_avxvnni(s, st, x, y, batch, scratch);
        case Isa::avx2: return seq8::gru_avx2(s, st, x, y, batch, scratch);
        default: break;
        }
#endif
        compile::ops::Gru::reference(s, st, x, x2, y, batch, scratch);
    }
    /// lstm, int8: as gru.
    static void kernel(compile::ops::Lstm, const Step& s, const std::int8_t* x, const std::int8_t* x2,
                       std::int8_t* y, std::size_t batch, std::byte* scratch) noexcept {
        const auto& st = s.get<compile::ops::Recurrent>();
#if defined(EDGESTACK_SEQ_DISPATCH)
        switch (st.q.isa) {
        case Isa::avx512vnni: return seq8::lstm_avx512vnni(s, st, x, y, batch, scratch);
        case Isa::avx512: return seq8::lstm_avx512(s, st, x, y, batch, scratch);
        case Isa::avxvnni: return seq8::lstm_avxvnni(s, st, x, y, batch, scratch);
        case Isa::avx2: return seq8::lstm_avx2(s, st, x, y, batch, scratch);
        default: break;
        }
#endif
        compile::ops::Lstm::reference(s, st, x, x2, y, batch, scratch);
    }
};

} // namespace edgestack::backend::detail
