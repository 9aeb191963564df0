// backend::Simd's kernels for the recurrent ops (gru, lstm), fp32. A step's cost is its two
// matrix-vector products (G*U gate values from F inputs and from U hidden values), written
// as row updates over the transposed weights the units prepare (compile/ops/recurrent.hpp)
// with up to 128 gate values in registers, and its G*U sigmoids and tanhs, computed with a
// polynomial exp (Cephes' expf, within two ulp) instead of libm calls. Both are written on
// GCC's generic 16-float vectors, compiled once per x86 level with target attributes (no
// -march) and chosen from the CPU the first time a recurrent step runs (core/cpu.hpp;
// EDGESTACK_ISA caps it). Hidden and cell state live in the step's scratch, as in the
// reference kernels. A bidirectional layer runs the same step loop twice, the second time
// over t = T-1..0 with the backward weights, writing the second half of each output row.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/core/cpu.hpp"

#if defined(EDGESTACK_X86) && defined(__GNUC__) && defined(__x86_64__)
#define EDGESTACK_SEQ_DISPATCH 1
#define EDGESTACK_SEQ_INLINE [[gnu::always_inline]] inline
#else
#define EDGESTACK_SEQ_INLINE inline
#endif

namespace edgestack::backend::detail {

namespace seq {

/// e^x, Cephes' expf: 2^n e^r with |r| <= ln2 / 2, a degree-6 polynomial for e^r.
/// Branch-free so that the loops around it vectorise; x is clamped to [-87, 88].
EDGESTACK_SEQ_INLINE float exp(float x) noexcept {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float n = std::floor(x * 1.44269504088896341f + 0.5f);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    return p * std::bit_cast<float>((static_cast<std::int32_t>(n) + 127) << 23);
}
/// 1 / (1 + e^-x).
EDGESTACK_SEQ_INLINE float sigmoid(float x) noexcept { return 1.0f / (1.0f + seq::exp(-x)); }
/// 2 sigmoid(2x) - 1.
EDGESTACK_SEQ_INLINE float tanh(float x) noexcept { return 2.0f / (1.0f + seq::exp(-2.0f * x)) - 1.0f; }

/// 16 floats: GCC's generic vectors, lowered to whatever registers the level has (four SSE,
/// two AVX or one AVX-512 register), so the kernels vectorise at every optimisation level.
/// Passed by reference only (by value would change the ABI between levels).
typedef float v16 __attribute__((vector_size(64)));
/// The same, read and written at any float alignment.
typedef float v16u __attribute__((vector_size(64), aligned(4)));
/// 16 int32.
typedef std::int32_t i16 __attribute__((vector_size(64)));
inline constexpr std::size_t W = 16; ///< floats per vector

EDGESTACK_SEQ_INLINE void load(v16& v, const float* p) noexcept { v = *reinterpret_cast<const v16u*>(p); }
EDGESTACK_SEQ_INLINE void store(float* p, const v16& v) noexcept { *reinterpret_cast<v16u*>(p) = v; }

/// e^x in place, lane by lane: seq::exp.
EDGESTACK_SEQ_INLINE void exp(v16& x) noexcept {
    x = x < -87.0f ? v16{} - 87.0f : x;
    x = x > 88.0f ? v16{} + 88.0f : x;
    const v16 y = x * 1.44269504088896341f + 0.5f;
    v16 n = __builtin_convertvector(__builtin_convertvector(y, i16), v16); // toward zero
    n += __builtin_convertvector(n > y, v16);                              // floor: -1 where above
    const v16 r = x - n * 0.693359375f + n * 2.12194440e-4f;
    v16 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    x = p * reinterpret_cast<const v16&>(static_cast<const i16&>((__builtin_convertvector(n, i16) + 127) << 23));
}
/// 1 / (1 + e^-x) in place.
EDGESTACK_SEQ_INLINE void sigmoid(v16& x) noexcept {
    x = -x;
    seq::exp(x);
    x = 1.0f / (1.0f + x);
}
/// 2 sigmoid(2x) - 1 in place.
EDGESTACK_SEQ_INLINE void tanh(v16& x) noexcept {
    x = -2.0f * x;
    seq::exp(x);
    x = 2.0f / (1.0f + x) - 1.0f;
}

/// g[0, N*16) = b + sum_k v[k] w[k][:]: N independent accumulators, so that the FMAs'
/// latency is hidden (two would wait on each other every iteration).
template <int N>
EDGESTACK_SEQ_INLINE void gate_block(const float* __restrict b, const float* __restrict w, const float* __restrict v,
                                     std::size_t K, std::size_t GU, float* __restrict g) noexcept {
    v16 acc[N], wk;
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) load(acc[i], b + i * W);
    for (std::size_t k = 0; k < K; ++k) {
        const float vk = v[k];
#pragma GCC unroll 8
        for (int i = 0; i < N; ++i) {
            load(wk, w + k * GU + i * W);
            acc[i] += vk * wk;
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) store(g + i * W, acc[i]);
}

/// g = b + sum_k v[k] w[k][:]: GU gate values from K inputs, rows of w GU apart.
EDGESTACK_SEQ_INLINE void gate_rows(const float* __restrict b, const float* __restrict w, const float* __restrict v,
                                    std::size_t K, std::size_t GU, float* __restrict g) noexcept {
    std::size_t j = 0;
    for (; j + 8 * W <= GU; j += 8 * W) gate_block<8>(b + j, w + j, v, K, GU, g + j);
    if (j + 4 * W <= GU) gate_block<4>(b + j, w + j, v, K, GU, g + j), j += 4 * W;
    if (j + 2 * W <= GU) gate_block<2>(b + j, w + j, v, K, GU, g + j), j += 2 * W;
    if (j + W <= GU) gate_block<1>(b + j, w + j, v, K, GU, g + j), j += W;
    for (; j < GU; ++j) {
        float a = b[j];
        for (std::size_t k = 0; k < K; ++k) a += v[k] * w[k * GU + j];
        g[j] = a;
    }
}

/// linear_before_reset = 0: the n rows of hb become W_hn (r * h) + b_hn (r * h kept in rh).
EDGESTACK_SEQ_INLINE void gru_reset_before(const float* __restrict wh, const float* __restrict bh,
                                           const float* __restrict a, float* __restrict hb, const float* __restrict h,
                                           float* __restrict rh, std::size_t U) noexcept {
    const std::size_t GU = 3 * U;
    for (std::size_t u = 0; u < U; ++u) rh[u] = seq::sigmoid(a[u] + hb[u]) * h[u];
    for (std::size_t u = 0; u < U; ++u) hb[2 * U + u] = bh[2 * U + u];
    for (std::size_t k = 0; k < U; ++k) {
        const float r = rh[k];
        const float* w = wh + k * GU + 2 * U;
        for (std::size_t u = 0; u < U; ++u) hb[2 * U + u] += r * w[u];
    }
}

/// Every step of every sample of a gru (gates r, z, n; linear_before_reset = 1, or 0 with
/// st.reset_before).
EDGESTACK_SEQ_INLINE void gru(const compile::ops::Recurrent& st, const float* x, float* y, std::size_t batch,
                              std::byte* scratch) noexcept {
    const std::size_t T = st.steps, F = st.features, U = st.units, GU = 3 * U, DU = st.directions * U;
    float* __restrict h = reinterpret_cast<float*>(scratch);
    float* __restrict a = h + 2 * U;
    float* __restrict hb = a + GU;
    for (std::size_t d = 0; d < st.directions; ++d) // forward, then backward over t = T-1..0
    for (std::size_t b = 0; b < batch; ++b) {
        const float *wx = st.wx.data() + d * F * GU, *wh = st.wh.data() + d * U * GU;
        const float *bx = st.bx.data() + d * GU, *bh = st.bh.data() + d * GU;
        for (std::size_t u = 0; u < U; ++u) h[u] = 0.0f;
        for (std::size_t s = 0; s < T; ++s) {
            const std::size_t t = d == 0 ? s : T - 1 - s;
            gate_rows(bx, wx, x + (b * T + t) * F, F, GU, a);
            gate_rows(bh, wh, h, U, GU, hb);
            const bool lbr = !st.reset_before;
            if (!lbr) gru_reset_before(wh, bh, a, hb, h, h + U, U);
            std::size_t u = 0;
            for (; u + W <= U; u += W) {
                v16 r, z, n, t0, t1;
                load(r, a + u), load(t0, hb + u), r += t0, seq::sigmoid(r);
                load(z, a + U + u), load(t0, hb + U + u), z += t0, seq::sigmoid(z);
                load(n, a + 2 * U + u), load(t0, hb + 2 * U + u), n += lbr ? r * t0 : t0, seq::tanh(n);
                load(t1, h + u);
                store(h + u, (1.0f - z) * n + z * t1);
            }
            for (; u < U; ++u) {
                const float r = seq::sigmoid(a[u] + hb[u]);
                const float z = seq::sigmoid(a[U + u] + hb[U + u]);
                const float n = seq::tanh(a[2 * U + u] + (lbr ? r : 1.0f) * hb[2 * U + u]);
                h[u] = (1.0f - z) * n + z * h[u];
            }
            if (st.every_step) std::copy_n(h, U, y + (b * T + t) * DU + d * U);
        }
        if (!st.every_step) std::copy_n(h, U, y + b * DU + d * U);
    }
}

/// Every step of every sample of an lstm (gates i, f, g, o).
EDGESTACK_SEQ_INLINE void lstm(const compile::ops::Recurrent& st, const float* x, float* y, std::size_t batch,
                               std::byte* scratch) noexcept {
    const std::size_t T = st.steps, F = st.features, U = st.units, GU = 4 * U, DU = st.directions * U;
    float* __restrict h = reinterpret_cast<float*>(scratch);
    float* __restrict c = h + U;
    float* __restrict a = c + U;
    float* __restrict hb = a + GU;
    for (std::size_t d = 0; d < st.directions; ++d) // forward, then backward over t = T-1..0
    for (std::size_t b = 0; b < batch; ++b) {
        const float *wx = st.wx.data() + d * F * GU, *wh = st.wh.data() + d * U * GU;
        const float *bx = st.bx.data() + d * GU, *bh = st.bh.data() + d * GU;
        for (std::size_t u = 0; u < 2 * U; ++u) h[u] = 0.0f;
        for (std::size_t s = 0; s < T; ++s) {
            const std::size_t t = d == 0 ? s : T - 1 - s;
            gate_rows(bx, wx, x + (b * T + t) * F, F, GU, a);
            gate_rows(bh, wh, h, U, GU, hb);
            std::size_t u = 0;
            for (; u + W <= U; u += W) {
                v16 i, f, g, o, t0;
                load(i, a + u), load(t0, hb + u), i += t0, seq::sigmoid(i);
                load(f, a + U + u), load(t0, hb + U + u), f += t0, seq::sigmoid(f);
                load(g, a + 2 * U + u), load(t0, hb + 2 * U + u), g += t0, seq::tanh(g);
                load(o, a + 3 * U + u), load(t0, hb + 3 * U + u), o += t0, seq::sigmoid(o);
                load(t0, c + u);
                t0 = f * t0 + i * g;
                store(c + u, t0);
                seq::tanh(t0);
                store(h + u, o * t0);
            }
            for (; u < U; ++u) {
                const float i = seq::sigmoid(a[u] + hb[u]), f = seq::sigmoid(a[U + u] + hb[U + u]);
                const float g = seq::tanh(a[2 * U + u] + hb[2 * U + u]);
                const float o = seq::sigmoid(a[3 * U + u] + hb[3 * U + u]);
                c[u] = f * c[u] + i * g;
                h[u] = o * seq::tanh(c[u]);
            }
            if (st.every_step) std::copy_n(h, U, y + (b * T + t) * DU + d * U);
        }
        if (!st.every_step) std::copy_n(h, U, y + b * DU + d * U);
    }
}

// One copy of each per level: the inlined bodies vectorise with that level's registers.
#define EDGESTACK_SEQ_LEVEL(suffix, attr)                                                       \
    attr inline void gru_##suffix(const compile::ops::Recurrent& st, const float* x, float* y, \
                                  std::size_t batch, std::byte* scratch) noexcept {            \
        gru(st, x, y, batch, scratch);                                                         \
    }                                                                                          \
    attr inline void lstm_##suffix(const compile::ops::Recurrent& st, const float* x, float* y, \
                                   std::size_t batch, std::byte* scratch) noexcept {           \
        lstm(st, x, y, batch, scratch);                                                        \
    }
EDGESTACK_SEQ_LEVEL(base, )
#if defined(EDGESTACK_SEQ_DISPATCH)
EDGESTACK_SEQ_LEVEL(avx2, [[gnu::target("avx2,fma")]])
EDGESTACK_SEQ_LEVEL(avx512, [[gnu::target("avx2,fma,avx512f,avx512vl,prefer-vector-width=512")]])
#endif
#undef EDGESTACK_SEQ_LEVEL

/// The level the recurrent kernels run at, chosen once.
inline Isa level() noexcept {
    static const Isa l = selected_isa();
    return l;
}

} // namespace seq

/// backend::Simd's recurrent kernels; SimdKernels inherits them.
struct SimdSequence {
    /// gru, fp32: h and the gate rows in `scratch`.
    static void kernel(compile::ops::Gru, const Step& s, const float* x, const float*, float* y, std::size_t batch,
                       std::byte* scratch) noexcept {
        const auto& st = s.get<compile::ops::Recurrent>();
#if defined(EDGESTACK_SEQ_DISPATCH)
        if (seq::level() >= Isa::avx512) return seq::gru_avx512(st, x, y, batch, scratch);
        if (seq::level() >= Isa::avx2) return seq::gru_avx2(st, x, y, batch, scratch);
#endif
        seq::gru_base(st, x, y, batch, scratch);
    }
    /// lstm, fp32: h, c and the gate rows in `scratch`.
    static void kernel(compile::ops::Lstm, const Step& s, const float* x, const float*, float* y, std::size_t batch,
                       std::byte* scratch) noexcept {
        const auto& st = s.get<compile::ops::Recurrent>();
#if defined(EDGESTACK_SEQ_DISPATCH)
        if (seq::level() >= Isa::avx512) return seq::lstm_avx512(st, x, y, batch, scratch);
        if (seq::level() >= Isa::avx2) return seq::lstm_avx2(st, x, y, batch, scratch);
#endif
        seq::lstm_base(st, x, y, batch, scratch);
    }
};

} // namespace edgestack::backend::detail
