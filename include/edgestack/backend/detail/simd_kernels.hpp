// Kernels of backend::Simd. Convolutions and dense layers run one register-blocked
// micro-kernel over pre-packed weights: fp32 as MR pixels x 16 channels of FMAs (xsimd),
// int8 as MR pixels x 16 channels of vpmaddwd on sign-extended 16-bit operands, which sums
// int8 x int8 products exactly in int32 (no vpmaddubsw: its 16-bit sums saturate for
// worst-case inputs). Requantization is the shared fixed-point rounding, vectorized.
// Chosen at compile time: with AVX2+FMA these kernels, otherwise the Reference loops.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/backend/detail/reference_kernels.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#define EDGESTACK_SIMD_AVX2 1
#include <immintrin.h>
#include <xsimd/xsimd.hpp>
#endif

namespace edgestack::backend::detail {

#if defined(EDGESTACK_SIMD_AVX2)

namespace simd {

using F = xsimd::batch<float, xsimd::avx2>;
inline constexpr std::size_t nr = 16; // output channels per micro-kernel tile
inline constexpr std::size_t max_mr = 6;

/// Geometry shared by the conv and dense drivers: `rows` segments of `seg` contiguous
/// inputs per output pixel (one per kernel row), pixels `pix` apart, rows `row` apart.
struct Tile {
    std::size_t pix = 0, row = 0, rows = 1, seg = 0;
};

template <std::size_t MR>
inline void f32_tile(const float* x, const Tile& t, const float* w, float* y, std::size_t ystride,
                     std::size_t nvalid, float lo, float hi) noexcept {
    F acc[MR][2];
    const F b0 = F::load_unaligned(w), b1 = F::load_unaligned(w + 8);
    w += nr;
    for (std::size_t p = 0; p < MR; ++p) {
        acc[p][0] = b0;
        acc[p][1] = b1;
    }
    for (std::size_t r = 0; r < t.rows; ++r) {
        const float* xr = x + r * t.row;
        for (std::size_t k = 0; k < t.seg; ++k, w += nr) {
            const F w0 = F::load_unaligned(w), w1 = F::load_unaligned(w + 8);
            for (std::size_t p = 0; p < MR; ++p) {
                const F xv(xr[p * t.pix + k]);
                acc[p][0] = xsimd::fma(xv, w0, acc[p][0]);
                acc[p][1] = xsimd::fma(xv, w1, acc[p][1]);
            }
        }
    }
    const F vlo(lo), vhi(hi);
    for (std::size_t p = 0; p < MR; ++p) {
        const F a0 = xsimd::min(xsimd::max(acc[p][0], vlo), vhi);
        const F a1 = xsimd::min(xsimd::max(acc[p][1], vlo), vhi);
        float* yp = y + p * ystride;
        if (nvalid == nr) {
            a0.store_unaligned(yp);
            a1.store_unaligned(yp + 8);
        } else {
            alignas(32) float tmp[nr];
            a0.store_aligned(tmp);
            a1.store_aligned(tmp + 8);
            std::copy_n(tmp, nvalid, yp);
        }
    }
}

/// One row (batch-1 dense): four independent accumulator pairs over k, so the FMA latency
/// chain does not bound a long dot product; summed at the end.
inline void f32_row(const float* x, std::size_t K, const float* w, float* y, std::size_t nvalid,
                    float lo, float hi) noexcept {
    F a0 = F::load_unaligned(w), a1 = F::load_unaligned(w + 8);
    w += nr;
    F b0(0.0f), b1(0.0f), c0(0.0f), c1(0.0f), d0(0.0f), d1(0.0f);
    std::size_t k = 0;
    for (; k + 4 <= K; k += 4, w += 4 * nr) {
        a0 = xsimd::fma(F(x[k]), F::load_unaligned(w), a0);
        a1 = xsimd::fma(F(x[k]), F::load_unaligned(w + 8), a1);
        b0 = xsimd::fma(F(x[k + 1]), F::load_unaligned(w + 16), b0);
        b1 = xsimd::fma(F(x[k + 1]), F::load_unaligned(w + 24), b1);
        c0 = xsimd::fma(F(x[k + 2]), F::load_unaligned(w + 32), c0);
        c1 = xsimd::fma(F(x[k + 2]), F::load_unaligned(w + 40), c1);
        d0 = xsimd::fma(F(x[k + 3]), F::load_unaligned(w + 48), d0);
        d1 = xsimd::fma(F(x[k + 3]), F::load_unaligned(w + 56), d1);
    }
    for (; k < K; ++k, w += nr) {
        a0 = xsimd::fma(F(x[k]), F::load_unaligned(w), a0);
        a1 = xsimd::fma(F(x[k]), F::load_unaligned(w + 8), a1);
    }
    const F vlo(lo), vhi(hi);
    const F r0 = xsimd::min(xsimd::max((a0 + b0) + (c0 + d0), vlo), vhi);
    const F r1 = xsimd::min(xsimd::max((a1 + b1) + (c1 + d1), vlo), vhi);
    alignas(32) float tmp[nr];
    r0.store_aligned(tmp);
    r1.store_aligned(tmp + 8);
    std::copy_n(tmp, nvalid, y);
}

/// round(acc * M) with ties away from zero, per channel, exactly as quant::requantize:
/// on |acc| with unsigned 64-bit products and logical shifts, then the sign restored.
struct Rq8 {
    __m256i mult, te, to, he, ho;
};
inline Rq8 load_rq(const std::int32_t* m, const std::int64_t* s) noexcept {
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(m)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 4)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 8)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 12))};
}
inline __m256i requant8(__m256i acc, const Rq8& q, __m256i zp, __m256i lo, __m256i hi) noexcept {
    const __m256i a = _mm256_abs_epi32(acc);
    __m256i pe = _mm256_mul_epu32(a, q.mult);
    __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(q.mult, 32));
    pe = _mm256_srlv_epi64(_mm256_add_epi64(pe, q.he), q.te);
    po = _mm256_srlv_epi64(_mm256_add_epi64(po, q.ho), q.to);
    __m256i r = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    r = _mm256_add_epi32(_mm256_sign_epi32(r, acc), zp);
    return _mm256_min_epi32(_mm256_max_epi32(r, lo), hi);
}
/// Two vectors of 8 clamped int32 to 16 int8.
inline __m128i pack16(__m256i a, __m256i b) noexcept {
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    return _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

/// Per-channel requantization data for channels [c0, c0 + 8): multipliers (8 x int32)
/// and (shift, rounding half) as 64-bit lanes for even and odd channels.
inline void pack_rq(const Step& s, std::size_t c0, std::int32_t* m, std::int64_t* sh) {
    const std::size_t oc = s.rq.size();
    for (std::size_t j = 0; j < 8; ++j) {
        const std::size_t c = std::min(c0 + j, oc - 1);
        m[j] = s.rq[c].multiplier;
        const std::int64_t t = 31 + s.rq[c].shift;
        const std::size_t lane = j / 2, odd = j % 2;
        sh[odd * 4 + lane] = t;
        sh[8 + odd * 4 + lane] = std::int64_t{1} << (t - 1);
    }
}

template <std::size_t MR>
inline void qs8_tile(const std::int16_t* x, const Tile& t, std::size_t pairs, const std::int8_t* w,
                     const std::int32_t* p32, const std::int64_t* p64, std::int8_t* y,
                     std::size_t ystride, std::size_t nvalid, std::int32_t zp, std::int32_t lo,
                     std::int32_t hi) noexcept {
    __m256i acc[MR][2];
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p32));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p32 + 8));
    for (std::size_t p = 0; p < MR; ++p) {
        acc[p][0] = b0;
        acc[p][1] = b1;
    }
    for (std::size_t r = 0; r < t.rows; ++r) {
        const std::int16_t* xr = x + r * t.row;
        for (std::size_t k = 0; k < pairs; ++k, w += 32) {
            const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
            const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 16)));
            for (std::size_t p = 0; p < MR; ++p) {
                std::int32_t pair;
                std::memcpy(&pair, xr + p * t.pix + 2 * k, sizeof pair);
                const __m256i xv = _mm256_set1_epi32(pair);
                acc[p][0] = _mm256_add_epi32(acc[p][0], _mm256_madd_epi16(xv, w0));
                acc[p][1] = _mm256_add_epi32(acc[p][1], _mm256_madd_epi16(xv, w1));
            }
        }
    }
    const Rq8 q0 = load_rq(p32 + 16, p64), q1 = load_rq(p32 + 24, p64 + 16);
    const __m256i vzp = _mm256_set1_epi32(zp), vlo = _mm256_set1_epi32(lo), vhi = _mm256_set1_epi32(hi);
    for (std::size_t p = 0; p < MR; ++p) {
        const __m128i v = pack16(requant8(acc[p][0], q0, vzp, vlo, vhi), requant8(acc[p][1], q1, vzp, vlo, vhi));
        std::int8_t* yp = y + p * ystride;
        if (nvalid == nr) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(yp), v);
        } else {
            alignas(16) std::int8_t tmp[nr];
            _mm_store_si128(reinterpret_cast<__m128i*>(tmp), v);
            std::copy_n(tmp, nvalid, yp);
        }
    }
}

/// Width of the tile starting at `ow` in a row of `w` pixels: the row is cut into
/// ceil(w / 6) tiles as equal as possible (14 = 5 + 5 + 4, not 6 + 6 + 2), because a
/// narrow tile has too few independent accumulators to hide the FMA latency.
inline std::size_t tile_width(std::size_t w, std::size_t ow) noexcept {
    const std::size_t tiles = (w + max_mr - 1) / max_mr, base = w / tiles, wide = w % tiles;
    const std::size_t t = ow < wide * (base + 1) ? ow / (base + 1) : wide + (ow - wide * (base + 1)) / base;
    return t < wide ? base + 1 : base;
}

template <class F>
inline void dispatch_mr(std::size_t mr, F&& f) noexcept {
    switch (mr) {
    case 1: f(std::integral_constant<std::size_t, 1>{}); break;
    case 2: f(std::integral_constant<std::size_t, 2>{}); break;
    case 3: f(std::integral_constant<std::size_t, 3>{}); break;
    case 4: f(std::integral_constant<std::size_t, 4>{}); break;
    case 5: f(std::integral_constant<std::size_t, 5>{}); break;
    default: f(std::integral_constant<std::size_t, 6>{}); break;
    }
}

} // namespace simd

struct SimdKernels : ReferenceKernels {
    static constexpr const char* name = "simd";

    static bool gemm_like(const Step& s) noexcept {
        return s.op == compile::Op::dense || s.op == compile::Op::conv2d;
    }
    static std::size_t rows_of(const Step& s) noexcept { return s.op == compile::Op::dense ? 1 : s.kh; }
    static std::size_t seg_of(const Step& s) noexcept {
        return s.op == compile::Op::dense ? s.in.c : s.kw * s.in.c;
    }
    static std::size_t blocks(std::size_t oc) noexcept { return (oc + simd::nr - 1) / simd::nr; }

    /// fp32: per block of 16 channels, 16 biases then K x 16 weights (zero past the last
    /// channel). int8: per block, K/2 rounded up pairs per kernel row x 32 weights, with
    /// bias and requantization data beside.
    static void pack(Step& s) {
        if (gemm_like(s)) {
            const std::size_t oc = s.out.c, rows = rows_of(s), seg = seg_of(s), K = rows * seg;
            const std::size_t nb = blocks(oc);
            if (!s.int8) {
                s.packed.assign(nb * simd::nr * (K + 1), 0.0f);
                for (std::size_t b = 0; b < nb; ++b) {
                    float* dst = s.packed.data() + b * simd::nr * (K + 1);
                    for (std::size_t j = 0; j < simd::nr && b * simd::nr + j < oc; ++j) {
                        const std::size_t o = b * simd::nr + j;
                        dst[j] = s.b[o];
                        for (std::size_t k = 0; k < K; ++k) dst[simd::nr + k * simd::nr + j] = s.w[o * K + k];
                    }
                }
                if (s.op == compile::Op::conv2d && s.pt + s.pb + s.pl + s.pr != 0)
                    s.scratch_bytes = padded_bytes(s, sizeof(float));
            } else {
                const std::size_t pairs = (seg + 1) / 2;
                s.qpacked.assign(nb * rows * pairs * 32, 0);
                s.qpack32.assign(nb * 32, 0);
                s.qpack64.assign(nb * 32, 0);
                for (std::size_t b = 0; b < nb; ++b) {
                    std::int8_t* dst = s.qpacked.data() + b * rows * pairs * 32;
                    for (std::size_t j = 0; j < simd::nr; ++j) {
                        const std::size_t o = b * simd::nr + j;
                        if (o >= oc) break;
                        s.qpack32[b * 32 + j] = s.qb[o];
                        for (std::size_t r = 0; r < rows; ++r)
                            for (std::size_t k = 0; k < seg; ++k)
                                dst[(r * pairs + k / 2) * 32 + (j / 8) * 16 + (j % 8) * 2 + k % 2] =
                                    s.qw[o * rows * seg + r * seg + k];
                    }
                    simd::pack_rq(s, b * simd::nr, s.qpack32.data() + b * 32 + 16, s.qpack64.data() + b * 32);
                    simd::pack_rq(s, b * simd::nr + 8, s.qpack32.data() + b * 32 + 24, s.qpack64.data() + b * 32 + 16);
                }
                // int16 copy of the (padded) input, plus slack for the pair read past a row.
                const std::size_t elems = s.op == compile::Op::dense
                                              ? s.in.c
                                              : (s.in.h + s.pt + s.pb) * (s.in.w + s.pl + s.pr) * s.in.c;
                s.scratch_bytes = compile::align_up((elems + 2) * sizeof(std::int16_t));
            }
        } else if (s.op == compile::Op::depthwise_conv2d && s.int8) {
            const std::size_t nb = blocks(s.out.c);
            s.qpack32.assign(nb * 32, 0);
            s.qpack64.assign(nb * 32, 0);
            for (std::size_t b = 0; b < nb; ++b) {
                simd::pack_rq(s, b * simd::nr, s.qpack32.data() + b * 32 + 16, s.qpack64.data() + b * 32);
                simd::pack_rq(s, b * simd::nr + 8, s.qpack32.data() + b * 32 + 24, s.qpack64.data() + b * 32 + 16);
            }
            s.scratch_bytes = 0;
        } else if (s.op == compile::Op::depthwise_conv2d) {
            s.scratch_bytes = 0;
        }
    }

    static void act_bounds(const Step& s, float& lo, float& hi) noexcept {
        lo = -std::numeric_limits<float>::infinity();
        hi = std::numeric_limits<float>::infinity();
        if (s.act != compile::Activation::none) lo = 0.0f;
        if (s.act == compile::Activation::relu6) hi = 6.0f;
    }

    // ---- fp32 -------------------------------------------------------------------------
    static void f32_dense(const Step& s, const float* x, float* y, std::size_t batch,
                          std::byte*) noexcept {
        const std::size_t in = s.in.c, oc = s.out.c, K = in;
        float lo, hi;
        act_bounds(s, lo, hi);
        const simd::Tile t{in, 0, 1, in};
        if (batch == 1) {
            for (std::size_t blk = 0; blk < blocks(oc); ++blk)
                simd::f32_row(x, K, s.packed.data() + blk * simd::nr * (K + 1), y + blk * simd::nr,
                              std::min(simd::nr, oc - blk * simd::nr), lo, hi);
            return;
        }
        for (std::size_t b0 = 0; b0 < batch; b0 += simd::max_mr) {
            const std::size_t mr = std::min(simd::max_mr, batch - b0);
            for (std::size_t blk = 0; blk < blocks(oc); ++blk) {
                const float* w = s.packed.data() + blk * simd::nr * (K + 1);
                simd::dispatch_mr(mr, [&](auto MR) {
                    simd::f32_tile<MR>(x + b0 * in, t, w, y + b0 * oc + blk * simd::nr, oc,
                                       std::min(simd::nr, oc - blk * simd::nr), lo, hi);
                });
            }
        }
    }

    static void f32_conv2d(const Step& s, const float* x, float* y, std::size_t batch,
                           std::byte* scratch) noexcept {
        const std::size_t C = s.in.c, OC = s.out.c, K = s.kh * s.kw * C;
        const bool padded = s.pt + s.pb + s.pl + s.pr != 0;
        const std::size_t PH = s.in.h + s.pt + s.pb, PW = s.in.w + s.pl + s.pr;
        float lo, hi;
        act_bounds(s, lo, hi);
        const simd::Tile t{s.sw * C, PW * C, s.kh, s.kw * C};
        for (std::size_t b = 0; b < batch; ++b) {
            const float* src = x + b * s.in.size();
            if (padded) {
                float* p = reinterpret_cast<float*>(scratch);
                std::fill_n(p, PH * PW * C, 0.0f);
                for (std::size_t h = 0; h < s.in.h; ++h)
                    std::copy_n(src + h * s.in.w * C, s.in.w * C, p + ((h + s.pt) * PW + s.pl) * C);
                src = p;
            }
            float* dst = y + b * s.out.size();
            for (std::size_t blk = 0; blk < blocks(OC); ++blk) {
                const float* w = s.packed.data() + blk * simd::nr * (K + 1);
                const std::size_t nvalid = std::min(simd::nr, OC - blk * simd::nr);
                for (std::size_t oh = 0; oh < s.out.h; ++oh)
                    for (std::size_t ow = 0, mr = 0; ow < s.out.w; ow += mr) {
                        mr = simd::tile_width(s.out.w, ow);
                        const float* xb = src + (oh * s.sh * PW + ow * s.sw) * C;
                        float* yb = dst + (oh * s.out.w + ow) * OC + blk * simd::nr;
                        simd::dispatch_mr(mr, [&](auto MR) { simd::f32_tile<MR>(xb, t, w, yb, OC, nvalid, lo, hi); });
                    }
            }
        }
    }

    /// Taps of output pixel (oh, ow) that fall inside the input, as input pixel offsets and
    /// tap indices; returns how many (padded taps are left out).
    static std::size_t taps_of(const Step& s, std::size_t oh, std::size_t ow, std::size_t* pix,
                               std::size_t* tap, std::size_t* pad_taps, std::size_t& npad) noexcept {
        std::size_t n = 0;
        npad = 0;
        for (std::size_t i = 0; i < s.kh; ++i) {
            const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * s.sh + i) - static_cast<std::ptrdiff_t>(s.pt);
            for (std::size_t j = 0; j < s.kw; ++j) {
                const std::ptrdiff_t iw = static_cast<std::ptrdiff_t>(ow * s.sw + j) - static_cast<std::ptrdiff_t>(s.pl);
                if (ih < 0 || iw < 0 || ih >= static_cast<std::ptrdiff_t>(s.in.h) || iw >= static_cast<std::ptrdiff_t>(s.in.w)) {
                    pad_taps[npad++] = i * s.kw + j;
                    continue;
                }
                pix[n] = static_cast<std::size_t>(ih) * s.in.w + static_cast<std::size_t>(iw);
                tap[n++] = i * s.kw + j;
            }
        }
        return n;
    }
    static constexpr std::size_t max_taps = 64; // larger depthwise kernels use Reference

    static void f32_depthwise_conv2d(const Step& s, const float* x, float* y, std::size_t batch,
                                     std::byte* scratch) noexcept {
        if (s.kh * s.kw > max_taps) return ReferenceKernels::f32_depthwise_conv2d(s, x, y, batch, scratch);
        const std::size_t C = s.in.c, full = C / simd::nr * simd::nr;
        float lo, hi;
        act_bounds(s, lo, hi);
        const simd::F vlo(lo), vhi(hi);
        std::size_t pix[max_taps], tap[max_taps], pad[max_taps], npad = 0;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow) {
                    const std::size_t n = taps_of(s, oh, ow, pix, tap, pad, npad);
                    const float* xb = x + b * s.in.size();
                    float* yp = y + b * s.out.size() + (oh * s.out.w + ow) * C;
                    for (std::size_t c = 0; c < full; c += simd::nr) {
                        simd::F a0 = simd::F::load_unaligned(s.b.data() + c), a1 = simd::F::load_unaligned(s.b.data() + c + 8);
                        for (std::size_t t = 0; t < n; ++t) {
                            const float* xp = xb + pix[t] * C + c;
                            const float* wp = s.w.data() + tap[t] * C + c;
                            a0 = xsimd::fma(simd::F::load_unaligned(xp), simd::F::load_unaligned(wp), a0);
                            a1 = xsimd::fma(simd::F::load_unaligned(xp + 8), simd::F::load_unaligned(wp + 8), a1);
                        }
                        xsimd::min(xsimd::max(a0, vlo), vhi).store_unaligned(yp + c);
                        xsimd::min(xsimd::max(a1, vlo), vhi).store_unaligned(yp + c + 8);
                    }
                    for (std::size_t c = full; c < C; ++c) {
                        float acc = s.b[c];
                        for (std::size_t t = 0; t < n; ++t) acc += xb[pix[t] * C + c] * s.w[tap[t] * C + c];
                        yp[c] = std::min(std::max(acc, lo), hi);
                    }
                }
    }

    template <class T>
    static void max_pool(const Step& s, const T* x, T* y, std::size_t batch) noexcept {
        const std::size_t C = s.in.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow) {
                    T* yp = y + b * s.out.size() + (oh * s.out.w + ow) * C;
                    bool first = true;
                    for (std::size_t i = 0; i < s.kh; ++i) {
                        const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * s.sh + i) - static_cast<std::ptrdiff_t>(s.pt);
                        if (ih < 0 || ih >= static_cast<std::ptrdiff_t>(s.in.h)) continue;
                        for (std::size_t j = 0; j < s.kw; ++j) {
                            const std::ptrdiff_t iw = static_cast<std::ptrdiff_t>(ow * s.sw + j) - static_cast<std::ptrdiff_t>(s.pl);
                            if (iw < 0 || iw >= static_cast<std::ptrdiff_t>(s.in.w)) continue;
                            const T* xp = x + b * s.in.size() + (static_cast<std::size_t>(ih) * s.in.w + static_cast<std::size_t>(iw)) * C;
                            if (first) std::copy_n(xp, C, yp);
                            else
                                for (std::size_t c = 0; c < C; ++c) yp[c] = std::max(yp[c], xp[c]);
                            first = false;
                        }
                    }
                }
    }
    static void f32_max_pool2d(const Step& s, const float* x, float* y, std::size_t batch,
                               std::byte*) noexcept {
        max_pool(s, x, y, batch);
    }
    static void qs8_max_pool2d(const Step& s, const std::int8_t* x, std::int8_t* y,
                               std::size_t batch, std::byte*) noexcept {
        max_pool(s, x, y, batch);
    }

    // ---- int8 -------------------------------------------------------------------------
    static void qs8_dense(const Step& s, const std::int8_t* x, std::int8_t* y, std::size_t batch,
                          std::byte* scratch) noexcept {
        const std::size_t in = s.in.c, oc = s.out.c, pairs = (in + 1) / 2;
        auto* x16 = reinterpret_cast<std::int16_t*>(scratch);
        const simd::Tile t{0, 0, 1, in};
        for (std::size_t b = 0; b < batch; ++b) {
            for (std::size_t i = 0; i < in; ++i) x16[i] = x[b * in + i];
            x16[in] = 0;
            for (std::size_t blk = 0; blk < blocks(oc); ++blk)
                simd::qs8_tile<1>(x16, t, pairs, s.qpacked.data() + blk * pairs * 32,
                                  s.qpack32.data() + blk * 32, s.qpack64.data() + blk * 32,
                                  y + b * oc + blk * simd::nr, oc, std::min(simd::nr, oc - blk * simd::nr),
                                  s.zp_out, s.lo, s.hi);
        }
    }

    static void qs8_conv2d(const Step& s, const std::int8_t* x, std::int8_t* y, std::size_t batch,
                           std::byte* scratch) noexcept {
        const std::size_t C = s.in.c, OC = s.out.c, seg = s.kw * C, pairs = (seg + 1) / 2;
        const std::size_t PH = s.in.h + s.pt + s.pb, PW = s.in.w + s.pl + s.pr;
        const simd::Tile t{s.sw * C, PW * C, s.kh, seg};
        auto* p = reinterpret_cast<std::int16_t*>(scratch);
        for (std::size_t b = 0; b < batch; ++b) {
            const std::int8_t* src = x + b * s.in.size();
            std::fill_n(p, PH * PW * C + 2, static_cast<std::int16_t>(s.zp_in));
            for (std::size_t h = 0; h < s.in.h; ++h) {
                std::int16_t* row = p + ((h + s.pt) * PW + s.pl) * C;
                const std::int8_t* srow = src + h * s.in.w * C;
                for (std::size_t i = 0; i < s.in.w * C; ++i) row[i] = srow[i];
            }
            std::int8_t* dst = y + b * s.out.size();
            for (std::size_t blk = 0; blk < blocks(OC); ++blk) {
                const std::int8_t* w = s.qpacked.data() + blk * s.kh * pairs * 32;
                const std::size_t nvalid = std::min(simd::nr, OC - blk * simd::nr);
                for (std::size_t oh = 0; oh < s.out.h; ++oh)
                    for (std::size_t ow = 0, mr = 0; ow < s.out.w; ow += mr) {
                        mr = simd::tile_width(s.out.w, ow);
                        const std::int16_t* xb = p + (oh * s.sh * PW + ow * s.sw) * C;
                        std::int8_t* yb = dst + (oh * s.out.w + ow) * OC + blk * simd::nr;
                        simd::dispatch_mr(mr, [&](auto MR) {
                            simd::qs8_tile<MR>(xb, t, pairs, w, s.qpack32.data() + blk * 32,
                                               s.qpack64.data() + blk * 32, yb, OC, nvalid, s.zp_out, s.lo, s.hi);
                        });
                    }
            }
        }
    }

    static void qs8_depthwise_conv2d(const Step& s, const std::int8_t* x, std::int8_t* y,
                                     std::size_t batch, std::byte* scratch) noexcept {
        if (s.kh * s.kw > max_taps) return ReferenceKernels::qs8_depthwise_conv2d(s, x, y, batch, scratch);
        const std::size_t C = s.in.c, full = C / simd::nr * simd::nr;
        const __m256i vzp = _mm256_set1_epi32(s.zp_out), vlo = _mm256_set1_epi32(s.lo), vhi = _mm256_set1_epi32(s.hi);
        const __m256i vzin = _mm256_set1_epi16(static_cast<std::int16_t>(s.zp_in));
        std::size_t pix[max_taps], tap[max_taps], pad[max_taps], npad = 0;
        auto load16 = [](const std::int8_t* p) {
            return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        };
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow) {
                    const std::size_t n = taps_of(s, oh, ow, pix, tap, pad, npad);
                    const std::int8_t* xb = x + b * s.in.size();
                    std::int8_t* yp = y + b * s.out.size() + (oh * s.out.w + ow) * C;
                    for (std::size_t c = 0; c < full; c += simd::nr) {
                        __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.qb.data() + c));
                        __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.qb.data() + c + 8));
                        // |x| <= 128 and |w| <= 127: every product fits int16 exactly.
                        auto add = [&](__m256i xv, const std::int8_t* wp) {
                            const __m256i p = _mm256_mullo_epi16(xv, load16(wp));
                            a0 = _mm256_add_epi32(a0, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(p)));
                            a1 = _mm256_add_epi32(a1, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(p, 1)));
                        };
                        for (std::size_t t = 0; t < n; ++t) add(load16(xb + pix[t] * C + c), s.qw.data() + tap[t] * C + c);
                        for (std::size_t t = 0; t < npad; ++t) add(vzin, s.qw.data() + pad[t] * C + c);
                        const std::size_t blk = c / simd::nr;
                        const simd::Rq8 q0 = simd::load_rq(s.qpack32.data() + blk * 32 + 16, s.qpack64.data() + blk * 32);
                        const simd::Rq8 q1 = simd::load_rq(s.qpack32.data() + blk * 32 + 24, s.qpack64.data() + blk * 32 + 16);
                        _mm_storeu_si128(reinterpret_cast<__m128i*>(yp + c),
                                         simd::pack16(simd::requant8(a0, q0, vzp, vlo, vhi), simd::requant8(a1, q1, vzp, vlo, vhi)));
                    }
                    for (std::size_t c = full; c < C; ++c) {
                        std::int32_t acc = s.qb[c];
                        for (std::size_t t = 0; t < n; ++t) acc += std::int32_t{xb[pix[t] * C + c]} * s.qw[tap[t] * C + c];
                        for (std::size_t t = 0; t < npad; ++t) acc += s.zp_in * s.qw[pad[t] * C + c];
                        yp[c] = quant::requantize(acc, s.rq[c], s.zp_out, s.lo, s.hi);
                    }
                }
    }
};

#else // no AVX2+FMA at compile time: the portable fallback is the Reference loops

struct SimdKernels : ReferenceKernels {
    static constexpr const char* name = "simd";
};

#endif

} // namespace edgestack::backend::detail
