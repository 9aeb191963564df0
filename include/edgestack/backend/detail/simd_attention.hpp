// backend::Simd's kernels for the attention and layer_norm ops, fp32. Attention's cost is
// its four T x D x D projections and, per head, the T x T scores and their product with v:
// the projections run as a small GEMM over blocks of 4 rows x 32 outputs (weights as the
// unit prepares them, [in][out]), the scores of 4 rows at a time over keys in vectors of
// 16 (k transposed per head), the softmax with the polynomial exp of simd_sequence.hpp, and
// the context of 4 rows at a time. Layer norm runs a row of D in vectors. Written on GCC's
// generic 16-float vectors, compiled once per x86 level with target attributes (no -march)
// and chosen from the CPU (core/cpu.hpp; EDGESTACK_ISA caps it), as the recurrent kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/backend/detail/reference_kernels.hpp"
#include "edgestack/backend/detail/simd_sequence.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/core/cpu.hpp"

namespace edgestack::backend::detail {

namespace att {

using seq::v16;
using seq::W;

/// Scratch floats one attention sample needs here: Q|K|V rows, one head's K transposed
/// (keys padded to whole vectors), scores of 4 rows, the context.
inline std::size_t scratch_floats(std::size_t t, std::size_t d, std::size_t heads) noexcept {
    const std::size_t tp = (t + W - 1) / W * W;
    return t * 3 * d + (d / heads) * tp + 4 * tp + t * d;
}

/// v = 16 floats at p (any float alignment).
EDGESTACK_SEQ_INLINE void load(v16& v, const float* p) noexcept { seq::load(v, p); }
/// 16 floats at p = v.
EDGESTACK_SEQ_INLINE void store(float* p, const v16& v) noexcept { seq::store(p, v); }

/// y[r][0, C*16) = b + sum_i x[r][i] w[i][:] for R rows (x rows `ldx` apart, y rows `ldy`,
/// w rows `ldw`): R x C accumulators share each weight load.
template <int R, int C>
EDGESTACK_SEQ_INLINE void gemm_tile(const float* __restrict x, std::size_t ldx, const float* __restrict w,
                                    std::size_t ldw, const float* __restrict b, std::size_t K,
                                    float* __restrict y, std::size_t ldy) noexcept {
    v16 acc[R][C], wk[C];
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
        load(wk[c], b + c * W);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[r][c] = wk[c];
    }
    for (std::size_t i = 0; i < K; ++i) {
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c) load(wk[c], w + i * ldw + c * W);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const float xi = x[r * ldx + i];
#pragma GCC unroll 4
            for (int c = 0; c < C; ++c) acc[r][c] += xi * wk[c];
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c) store(y + r * ldy + c * W, acc[r][c]);
}

/// Y (T x N) = b + X (T x K) W (K x N), N a multiple of 16.
template <int R>
EDGESTACK_SEQ_INLINE void gemm_rows(const float* x, std::size_t ldx, const float* w, const float* b, std::size_t K,
                                    std::size_t N, float* y, std::size_t ldy) noexcept {
    std::size_t n = 0;
    for (; n + 2 * W <= N; n += 2 * W) gemm_tile<R, 2>(x, ldx, w + n, N, b + n, K, y + n, ldy);
    if (n < N) gemm_tile<R, 1>(x, ldx, w + n, N, b + n, K, y + n, ldy);
}
/// Y (T x N, rows `ldy` apart) = b + X (T x K) W (K x N): 4 rows at a time.
EDGESTACK_SEQ_INLINE void gemm(const float* x, std::size_t T, std::size_t K, const float* w, const float* b,
                               std::size_t N, float* y, std::size_t ldy) noexcept {
    std::size_t r = 0;
    for (; r + 4 <= T; r += 4) gemm_rows<4>(x + r * K, K, w, b, K, N, y + r * ldy, ldy);
    for (; r < T; ++r) gemm_rows<1>(x + r * K, K, w, b, K, N, y + r * ldy, ldy);
}

/// The largest lane.
EDGESTACK_SEQ_INLINE float hmax(const v16& v) noexcept {
    float m = v[0];
    for (std::size_t k = 1; k < W; ++k) m = std::max(m, v[k]);
    return m;
}
/// The sum of the lanes.
EDGESTACK_SEQ_INLINE float hsum(const v16& v) noexcept {
    float s = 0.0f;
    for (std::size_t k = 0; k < W; ++k) s += v[k];
    return s;
}

/// Scores, softmax and context of rows [r0, r0 + R) for one head: kt is the head's K
/// transposed, [dh][tp] (zero past T); `rows` holds R rows of tp scores; `ctx` points at
/// the head's first column of the context. The scores are scaled and their row maxima
/// kept while they are in registers; the keys past T get -1e30 (exp gives 0); the context
/// is summed over unnormalised weights and divided by their sum once. Whole vectors only
/// are stored and loaded back, so that every load is forwarded from a store of its size.
template <int R>
EDGESTACK_SEQ_INLINE void head_rows(const float* __restrict qkv, std::size_t d3, std::size_t qo, std::size_t vo,
                                    const float* __restrict kt, std::size_t T, std::size_t tp, std::size_t dh,
                                    float scale, float* __restrict rows, float* __restrict ctx, std::size_t d,
                                    std::size_t r0) noexcept {
    v16 mx[R];
    const v16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) mx[r] = v16{} - 1e30f;
    for (std::size_t u = 0; u < tp; u += W) {
        v16 acc[R], k;
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[r] = v16{};
        for (std::size_t j = 0; j < dh; ++j) {
            load(k, kt + j * tp + u);
#pragma GCC unroll 4
            for (int r = 0; r < R; ++r) acc[r] += qkv[(r0 + std::size_t(r)) * d3 + qo + j] * k;
        }
        const float valid = static_cast<float>(T - u); // lanes below this are keys
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            acc[r] *= scale;
            if (u + W > T) acc[r] = lane < valid ? acc[r] : v16{} - 1e30f;
            mx[r] = mx[r] > acc[r] ? mx[r] : acc[r];
            store(rows + std::size_t(r) * tp + u, acc[r]);
        }
    }
    float inv[R];
    for (int r = 0; r < R; ++r) {
        float* row = rows + std::size_t(r) * tp;
        const float m = hmax(mx[r]);
        v16 sum{}, v;
        for (std::size_t u = 0; u < tp; u += W) {
            load(v, row + u);
            v -= m;
            seq::exp(v);
            store(row + u, v);
            sum += v;
        }
        inv[r] = 1.0f / hsum(sum);
    }
    // Context: c[r][:] = sum_u e[r][u] v[u][:] / sum_u e[r][u], 16 values of the head at a time.
    for (std::size_t j = 0; j + W <= dh; j += W) {
        v16 acc[R], v;
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[r] = v16{};
        for (std::size_t u = 0; u < T; ++u) {
            load(v, qkv + u * d3 + vo + j);
#pragma GCC unroll 4
            for (int r = 0; r < R; ++r) acc[r] += rows[std::size_t(r) * tp + u] * v;
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) store(ctx + (r0 + std::size_t(r)) * d + j, acc[r] * inv[r]);
    }
    for (std::size_t j = dh / W * W; j < dh; ++j)
        for (int r = 0; r < R; ++r) {
            float a = 0.0f;
            for (std::size_t u = 0; u < T; ++u) a += rows[std::size_t(r) * tp + u] * qkv[u * d3 + vo + j];
            ctx[(r0 + std::size_t(r)) * d + j] = a * inv[r];
        }
}

/// Every sample of an attention step (D a multiple of 16).
EDGESTACK_SEQ_INLINE void attention(const compile::ops::AttentionParams& st, std::size_t T, std::size_t D,
                                    std::size_t heads, const float* x, float* y, std::size_t batch,
                                    std::byte* scratch) noexcept {
    const std::size_t d3 = 3 * D, dh = D / heads, tp = (T + W - 1) / W * W;
    float* qkv = reinterpret_cast<float*>(scratch);
    float* kt = qkv + T * d3;
    float* rows = kt + dh * tp;
    float* ctx = rows + 4 * tp;
    for (std::size_t b = 0; b < batch; ++b) {
        gemm(x + b * T * D, T, D, st.wqkv.data(), st.b.data(), d3, qkv, d3);
        for (std::size_t h = 0; h < heads; ++h) {
            const std::size_t qo = h * dh, ko = D + h * dh, vo = 2 * D + h * dh;
            for (std::size_t j = 0; j < dh; ++j) {
                for (std::size_t u = 0; u < T; ++u) kt[j * tp + u] = qkv[u * d3 + ko + j];
                for (std::size_t u = T; u < tp; ++u) kt[j * tp + u] = 0.0f;
            }
            std::size_t r = 0;
            for (; r + 4 <= T; r += 4) head_rows<4>(qkv, d3, qo, vo, kt, T, tp, dh, st.scale, rows, ctx + qo, D, r);
            for (; r < T; ++r) head_rows<1>(qkv, d3, qo, vo, kt, T, tp, dh, st.scale, rows, ctx + qo, D, r);
        }
        gemm(ctx, T, D, st.wo.data(), st.b.data() + d3, D, y + b * T * D, D);
    }
}

/// Layer norm over rows of C (C a multiple of 16): mean, mean squared deviation, then
/// gamma * (x - mean) / sqrt(var + eps) + beta, as the reference kernel.
EDGESTACK_SEQ_INLINE void layer_norm(const float* __restrict g, const float* __restrict be, float eps,
                                     std::size_t C, std::size_t rows, const float* __restrict x,
                                     float* __restrict y) noexcept {
    for (std::size_t r = 0; r < rows; ++r) {
        const float* xr = x + r * C;
        float* yr = y + r * C;
        v16 s{}, v, t;
        for (std::size_t c = 0; c < C; c += W) load(v, xr + c), s += v;
        float mean = 0.0f;
        for (std::size_t k = 0; k < W; ++k) mean += s[k];
        mean /= static_cast<float>(C);
        s = v16{};
        for (std::size_t c = 0; c < C; c += W) load(v, xr + c), v -= mean, s += v * v;
        float var = 0.0f;
        for (std::size_t k = 0; k < W; ++k) var += s[k];
        var /= static_cast<float>(C);
        const float inv = 1.0f / std::sqrt(var + eps);
        for (std::size_t c = 0; c < C; c += W) {
            load(v, xr + c);
            load(t, g + c);
            v = (v - mean) * inv * t;
            load(t, be + c);
            store(yr + c, v + t);
        }
    }
}

// One copy of each per level: the inlined bodies vectorise with that level's registers
// (attention_base/avx2/avx512, layer_norm_base/avx2/avx512).
#define EDGESTACK_ATT_LEVEL(suffix, attr)                                                                  \
    attr inline void attention_##suffix(const compile::ops::AttentionParams& st, std::size_t T,             \
                                        std::size_t D, std::size_t heads, const float* x, float* y,          \
                                        std::size_t batch, std::byte* scratch) noexcept {                   \
        attention(st, T, D, heads, x, y, batch, scratch);                                                   \
    }                                                                                                       \
    attr inline void layer_norm_##suffix(const float* g, const float* be, float eps, std::size_t C,          \
                                         std::size_t rows, const float* x, float* y) noexcept {             \
        layer_norm(g, be, eps, C, rows, x, y);                                                              \
    }
EDGESTACK_ATT_LEVEL(base, )
#if defined(EDGESTACK_SEQ_DISPATCH)
EDGESTACK_ATT_LEVEL(avx2, [[gnu::target("avx2,fma")]])
EDGESTACK_ATT_LEVEL(avx512, EDGESTACK_TARGET_WIDE("avx2,fma,avx512f,avx512vl"))
#endif
#undef EDGESTACK_ATT_LEVEL

} // namespace att

/// backend::Simd's attention and layer norm kernels; SimdKernels inherits them.
struct SimdAttention {
    /// Grows an attention step's scratch to what attention() uses (keys padded to whole
    /// vectors, scores of 4 rows); called when the engine packs the step.
    static void grow_scratch(Step& s) {
        if (s.op != compile::Op::attention || s.int8) return;
        s.scratch_bytes = std::max(s.scratch_bytes, compile::align_up(att::scratch_floats(s.in.w, s.in.c, s.kh) * sizeof(float)));
    }
    /// attention, fp32: per sample, Q|K|V, scores and context in `scratch`. Widths that
    /// are not a multiple of 16 run the reference loops.
    static void kernel(compile::ops::Attention u, const Step& s, const float* x, const float* x2, float* y,
                       std::size_t batch, std::byte* scratch) noexcept {
        const auto& st = s.get<compile::ops::AttentionParams>();
        const std::size_t T = s.in.w, D = s.in.c, H = s.kh;
        if (D % att::W != 0) return ReferenceKernels::kernel(u, s, x, x2, y, batch, scratch);
#if defined(EDGESTACK_SEQ_DISPATCH)
        if (seq::level() >= Isa::avx512) return att::attention_avx512(st, T, D, H, x, y, batch, scratch);
        if (seq::level() >= Isa::avx2) return att::attention_avx2(st, T, D, H, x, y, batch, scratch);
#endif
        att::attention_base(st, T, D, H, x, y, batch, scratch);
    }
    /// layer_norm, fp32, rows of a multiple of 16 values (others: the reference loops).
    static void kernel(compile::ops::LayerNorm u, const Step& s, const float* x, const float* x2, float* y,
                       std::size_t batch, std::byte* scratch) noexcept {
        const auto& st = s.get<compile::ops::Affine>();
        const std::size_t C = s.in.c;
        if (C % att::W != 0) return ReferenceKernels::kernel(u, s, x, x2, y, batch, scratch);
        const std::size_t rows = batch * s.out.size() / C;
#if defined(EDGESTACK_SEQ_DISPATCH)
        if (seq::level() >= Isa::avx512) return att::layer_norm_avx512(st.w.data(), st.b.data(), s.alpha, C, rows, x, y);
        if (seq::level() >= Isa::avx2) return att::layer_norm_avx2(st.w.data(), st.b.data(), s.alpha, C, rows, x, y);
#endif
        att::layer_norm_base(st.w.data(), st.b.data(), s.alpha, C, rows, x, y);
    }
};

} // namespace edgestack::backend::detail
