// backend::Simd's kernels for the recurrent ops (gru, lstm), fp32. A step's cost is its two
// matrix-vector products (G*U gate values from F inputs and from U hidden values), written
// as row updates over the transposed weights the units prepare (compile/ops/recurrent.hpp)
// with up to 128 gate values in registers, and its G*U sigmoids and tanhs, computed with a
// polynomial exp (Cephes' expf, within two ulp) instead of libm calls. Both are written on
// GCC's generic 16-float vectors, compiled once per x86 level with target attributes (no
// -march) and chosen from the CPU the first time a recurrent step runs (core/cpu.hpp;
// EDGESTACK_ISA caps it). Hidden and cell state live in the step's scratch, as in the
// reference kernels.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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

/// Gate values rounded up to whole vectors: the row stride of the kernels' gate buffers.
constexpr std::size_t padded(std::size_t gu) noexcept { return (gu + W - 1) / W * W; }

/// Widths, in vectors, of the column blocks a row of `gu` gate values is cut into: as many
/// of 8 as fit, then 4, 2 and 1 (the last padded to a whole vector).
template <class F>
EDGESTACK_SEQ_INLINE void for_blocks(std::size_t gu, F&& f) noexcept {
    const std::size_t n = padded(gu) / W;
    std::size_t j = 0;
    for (; j + 8 <= n; j += 8) f(j * W, std::size_t{8});
    for (std::size_t w : {std::size_t{4}, std::size_t{2}, std::size_t{1}})
        if (j + w <= n) f(j * W, w), j += w;
}

/// W_h ([K][GU], rows GU apart) repacked for gate_rows_packed: per column block, its K
/// rows one after another, so that a step streams the weights from memory in order
/// instead of striding across rows; columns past GU are zero.
inline std::vector<float> pack_rows(const float* w, std::size_t K, std::size_t GU) {
    std::vector<float> out(K * padded(GU), 0.0f);
    float* dst = out.data();
    for_blocks(GU, [&](std::size_t j, std::size_t n) {
        for (std::size_t k = 0; k < K; ++k, dst += n * W)
            for (std::size_t c = 0; c < n * W && j + c < GU; ++c) dst[c] = w[k * GU + j + c];
    });
    return out;
}

/// g[0, N*16) = b + sum_k v[k] w[k][:] over one packed column block (rows N*16 apart).
template <int N>
EDGESTACK_SEQ_INLINE void packed_block(const float* __restrict b, const float* __restrict w, const float* __restrict v,
                                       std::size_t K, float* __restrict g) noexcept {
    gate_block<N>(b, w, v, K, N * W, g);
}

/// g = b + sum_k v[k] w[k][:] for all padded(GU) gate values, w packed by pack_rows.
EDGESTACK_SEQ_INLINE void gate_rows_packed(const float* __restrict b, const float* __restrict w,
                                           const float* __restrict v, std::size_t K, std::size_t GU,
                                           float* __restrict g) noexcept {
    for_blocks(GU, [&](std::size_t j, std::size_t n) {
        switch (n) {
        case 8: packed_block<8>(b + j, w, v, K, g + j); break;
        case 4: packed_block<4>(b + j, w, v, K, g + j); break;
        case 2: packed_block<2>(b + j, w, v, K, g + j); break;
        default: packed_block<1>(b + j, w, v, K, g + j); break;
        }
        w += K * n * W;
    });
}

/// Steps whose input-side gate values are computed together, before their recurrences:
/// W_x stays in L1 for the chunk instead of being evicted by W_h at every step.
inline constexpr std::size_t chunk = 8;

/// Floats of scratch the kernels use for `units` units of G gates: h, c, the input-side
/// gate rows of a chunk of steps, and one row of hidden-side gate values.
constexpr std::size_t scratch_floats(std::size_t gates, std::size_t units) noexcept {
    return 2 * units + (chunk + 1) * padded(gates * units);
}

/// xa[k] = b_x + W_x x_t for the n steps from the s0-th in direction d's order (t = s0 + k
/// forward, T - 1 - s0 - k backward) of one sample's rows `xs` (T x F). Rows padded(GU)
/// apart, the padding zero.
EDGESTACK_SEQ_INLINE void input_rows(const float* bx, const float* wx, std::size_t F, std::size_t GU, const float* xs,
                                     std::size_t T, std::size_t d, std::size_t s0, std::size_t n, float* xa) noexcept {
    const std::size_t P = padded(GU);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t t = d == 0 ? s0 + k : T - 1 - (s0 + k);
        gate_rows(bx, wx, xs + t * F, F, GU, xa + k * P);
        for (std::size_t j = GU; j < P; ++j) xa[k * P + j] = 0.0f;
    }
}

/// linear_before_reset = 0: the n rows of hb become W_hn (r * h) + b_hn (r * h kept in rh);
/// `wh` and `bh` are the direction's unpacked W_h ([U][3U]) and b_h.
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

/// Floats of one direction's packed hidden side: its biases (padded) then W_h (pack_rows).
constexpr std::size_t packed_floats(std::size_t units, std::size_t gu) noexcept { return (units + 1) * padded(gu); }

/// Every step of every sample of a gru (gates r, z, n; linear_before_reset = 1, or 0 with
/// st.reset_before), forward then, when bidirectional, backward over t = T-1..0.
/// `pk`: per direction, packed_floats() of hidden-side biases and weights.
EDGESTACK_SEQ_INLINE void gru(const compile::ops::Recurrent& st, const float* pk, const float* x, float* y,
                              std::size_t batch, std::byte* scratch) noexcept {
    const std::size_t T = st.steps, F = st.features, U = st.units, GU = 3 * U, P = padded(GU),
                      DU = st.directions * U;
    float* __restrict h = reinterpret_cast<float*>(scratch);
    float* __restrict rh = h + U;
    float* __restrict xa = h + 2 * U;
    float* __restrict hb = xa + chunk * P;
    const bool lbr = !st.reset_before;
    for (std::size_t d = 0; d < st.directions; ++d) {
        const float *wx = st.wx.data() + d * F * GU, *bx = st.bx.data() + d * GU;
        const float* wh = pk + d * packed_floats(U, GU);
        for (std::size_t b = 0; b < batch; ++b) {
            for (std::size_t u = 0; u < U; ++u) h[u] = 0.0f;
            for (std::size_t s = 0; s < T; ++s) {
                const std::size_t t = d == 0 ? s : T - 1 - s, i = s % chunk;
                if (i == 0) input_rows(bx, wx, F, GU, x + b * T * F, T, d, s, std::min(chunk, T - s), xa);
                const float* __restrict a = xa + i * P;
                gate_rows_packed(wh, wh + P, h, U, GU, hb);
                if (!lbr) gru_reset_before(st.wh.data() + d * U * GU, st.bh.data() + d * GU, a, hb, h, rh, U);
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
}

/// Every step of every sample of an lstm (gates i, f, g, o), forward then, when
/// bidirectional, backward. Its hidden side has no bias, so a step's gate values accumulate
/// W_h h onto the chunk's input-side row in one pass. `pk`: as for gru (biases not read).
EDGESTACK_SEQ_INLINE void lstm(const compile::ops::Recurrent& st, const float* pk, const float* x, float* y,
                               std::size_t batch, std::byte* scratch) noexcept {
    const std::size_t T = st.steps, F = st.features, U = st.units, GU = 4 * U, P = padded(GU),
                      DU = st.directions * U;
    float* __restrict h = reinterpret_cast<float*>(scratch);
    float* __restrict c = h + U;
    float* __restrict xa = c + U;
    float* __restrict a = xa + chunk * P;
    for (std::size_t d = 0; d < st.directions; ++d) {
        const float *wx = st.wx.data() + d * F * GU, *bx = st.bx.data() + d * GU;
        const float* wh = pk + d * packed_floats(U, GU) + P;
        for (std::size_t b = 0; b < batch; ++b) {
            for (std::size_t u = 0; u < 2 * U; ++u) h[u] = 0.0f;
            for (std::size_t s = 0; s < T; ++s) {
                const std::size_t t = d == 0 ? s : T - 1 - s, i = s % chunk;
                if (i == 0) input_rows(bx, wx, F, GU, x + b * T * F, T, d, s, std::min(chunk, T - s), xa);
                gate_rows_packed(xa + i * P, wh, h, U, GU, a);
                std::size_t u = 0;
                for (; u + W <= U; u += W) {
                    v16 i4, f, g, o, t0;
                    load(i4, a + u), seq::sigmoid(i4);
                    load(f, a + U + u), seq::sigmoid(f);
                    load(g, a + 2 * U + u), seq::tanh(g);
                    load(o, a + 3 * U + u), seq::sigmoid(o);
                    load(t0, c + u);
                    t0 = f * t0 + i4 * g;
                    store(c + u, t0);
                    seq::tanh(t0);
                    store(h + u, o * t0);
                }
                for (; u < U; ++u) {
                    const float ig = seq::sigmoid(a[u]), f = seq::sigmoid(a[U + u]);
                    const float g = seq::tanh(a[2 * U + u]);
                    const float o = seq::sigmoid(a[3 * U + u]);
                    c[u] = f * c[u] + ig * g;
                    h[u] = o * seq::tanh(c[u]);
                }
                if (st.every_step) std::copy_n(h, U, y + (b * T + t) * DU + d * U);
            }
            if (!st.every_step) std::copy_n(h, U, y + b * DU + d * U);
        }
    }
}

// A function compiled for the target features `f` (a string) with 512-bit vectors even
// where the compiler would prefer 256: each compiler spells the second part its own way.
#if !defined(EDGESTACK_TARGET_WIDE)
#if defined(__clang__)
#define EDGESTACK_TARGET_WIDE(f) [[gnu::target(f), clang::min_vector_width(512)]]
#else
#define EDGESTACK_TARGET_WIDE(f) [[gnu::target(f ",prefer-vector-width=512")]]
#endif
#endif

// One copy of each per level: the inlined bodies vectorise with that level's registers.
#define EDGESTACK_SEQ_LEVEL(suffix, attr)                                                       \
    attr inline void gru_##suffix(const compile::ops::Recurrent& st, const float* wh, const float* x, \
                                  float* y, std::size_t batch, std::byte* scratch) noexcept {  \
        gru(st, wh, x, y, batch, scratch);                                                     \
    }                                                                                          \
    attr inline void lstm_##suffix(const compile::ops::Recurrent& st, const float* wh, const float* x, \
                                   float* y, std::size_t batch, std::byte* scratch) noexcept { \
        lstm(st, wh, x, y, batch, scratch);                                                    \
    }
EDGESTACK_SEQ_LEVEL(base, )
#if defined(EDGESTACK_SEQ_DISPATCH)
EDGESTACK_SEQ_LEVEL(avx2, [[gnu::target("avx2,fma")]])
EDGESTACK_SEQ_LEVEL(avx512, EDGESTACK_TARGET_WIDE("avx2,fma,avx512f,avx512vl"))
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
    /// For a gru or lstm step in fp32: names its kernel (`f32-gru-avx512`), sizes the
    /// scratch the kernels use and returns true; false for any other step.
    static bool pack(Step& s) {
        if (s.int8 || (s.op != compile::Op::gru && s.op != compile::Op::lstm)) return false;
        const std::size_t gates = s.op == compile::Op::gru ? 3 : 4;
        const auto& st = s.get<compile::ops::Recurrent>();
        const std::size_t U = st.units, GU = gates * U, P = seq::padded(GU);
        s.scratch_bytes = std::max(s.scratch_bytes, seq::scratch_floats(gates, U) * sizeof(float));
        std::vector<float>& packed = s.pack().packed;
        packed.assign(st.directions * seq::packed_floats(U, GU), 0.0f);
        for (std::size_t d = 0; d < st.directions; ++d) {
            float* dst = packed.data() + d * seq::packed_floats(U, GU);
            std::copy_n(st.bh.data() + d * GU, GU, dst);
            const std::vector<float> wh = seq::pack_rows(st.wh.data() + d * U * GU, U, GU);
            std::copy(wh.begin(), wh.end(), dst + P);
        }
        s.level = Isa::scalar;
#if defined(__aarch64__) && defined(__ARM_NEON)
        s.level = Isa::neon; // the generic vectors are NEON registers there
#endif
#if defined(EDGESTACK_SEQ_DISPATCH)
        s.level = seq::level() >= Isa::avx512 ? Isa::avx512 : (seq::level() >= Isa::avx2 ? Isa::avx2 : Isa::scalar);
#endif
        s.kernel = std::string("f32-") + std::string(compile::op_name(s.op)) + "-" + std::string(isa_name(s.level));
        return true;
    }

    /// gru, fp32: h and the gate rows in `scratch`.
    static void kernel(compile::ops::Gru, const Step& s, const float* x, const float*, float* y, std::size_t batch,
                       std::byte* scratch) noexcept {
        const auto& st = s.get<compile::ops::Recurrent>();
        const float* wh = s.pack().packed.data();
#if defined(EDGESTACK_SEQ_DISPATCH)
        if (seq::level() >= Isa::avx512) return seq::gru_avx512(st, wh, x, y, batch, scratch);
        if (seq::level() >= Isa::avx2) return seq::gru_avx2(st, wh, x, y, batch, scratch);
#endif
        seq::gru_base(st, wh, x, y, batch, scratch);
    }
    /// lstm, fp32: h, c and the gate rows in `scratch`.
    static void kernel(compile::ops::Lstm, const Step& s, const float* x, const float*, float* y, std::size_t batch,
                       std::byte* scratch) noexcept {
        const auto& st = s.get<compile::ops::Recurrent>();
        const float* wh = s.pack().packed.data();
#if defined(EDGESTACK_SEQ_DISPATCH)
        if (seq::level() >= Isa::avx512) return seq::lstm_avx512(st, wh, x, y, batch, scratch);
        if (seq::level() >= Isa::avx2) return seq::lstm_avx2(st, wh, x, y, batch, scratch);
#endif
        seq::lstm_base(st, wh, x, y, batch, scratch);
    }
};

} // namespace edgestack::backend::detail
