// Register-blocked micro-kernels (AVX2+FMA): an MR x 16 tile of fp32 FMAs, the same tile of
// exact int8 (or int16) products summed by vpmaddwd, and the vectorized fixed-point
// requantization. Shared by backend::Simd's direct and Winograd convolutions and by the
// Winograd path of training (nn::Conv2D). Defines EDGESTACK_SIMD_AVX2 when they are built.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#if defined(__AVX2__) && defined(__FMA__)
#define EDGESTACK_SIMD_AVX2 1
#include "edgestack/core/detail/intrinsics.hpp"
#include <immintrin.h>
#include <xsimd/xsimd.hpp>
#endif

namespace edgestack::kernels {

#if defined(EDGESTACK_SIMD_AVX2)

namespace simd {

using F = xsimd::batch<float, xsimd::avx2>;
inline constexpr std::size_t nr = 16; // output channels per micro-kernel tile
inline constexpr std::size_t max_mr = 6;
/// int8 tiles need one more register than fp32 ones (vpmaddwd's product is added after,
/// where an FMA accumulates in place): 6 x 2 accumulators + 2 weights + 1 input + 1
/// product would fill all 16 ymm registers and spill, so int8 tiles stop at 5 pixels.
inline constexpr std::size_t max_mr_int8 = 4;

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

/// 16 signed 16-bit weights: int8 sign-extended, or int16 as they are.
template <class WT>
inline __m256i load_w16(const WT* w) noexcept {
    if constexpr (std::is_same_v<WT, std::int8_t>)
        return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
    else
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
}

/// acc[p] += the products of pixel p's input pairs with 16 channels of weight pairs, each
/// pair summed exactly in int32 by vpmaddwd. Weights: per pair, 32 values (channel j at
/// (j / 8) * 16 + (j % 8) * 2 + k % 2).
template <std::size_t MR, class WT>
inline void madd_tile(const std::int16_t* x, const Tile& t, std::size_t pairs, const WT* w,
                      __m256i (&acc)[MR][2]) noexcept {
    static_assert(MR <= max_mr_int8, "more accumulators than registers");
    for (std::size_t r = 0; r < t.rows; ++r) {
        const std::int16_t* xr = x + r * t.row;
        for (std::size_t k = 0; k < pairs; ++k, w += 32) {
            const __m256i w0 = load_w16(w), w1 = load_w16(w + 16);
            for (std::size_t p = 0; p < MR; ++p) {
                std::int32_t pair;
                std::memcpy(&pair, xr + p * t.pix + 2 * k, sizeof pair);
                const __m256i xv = _mm256_set1_epi32(pair);
                acc[p][0] = _mm256_add_epi32(acc[p][0], _mm256_madd_epi16(xv, w0));
                acc[p][1] = _mm256_add_epi32(acc[p][1], _mm256_madd_epi16(xv, w1));
            }
        }
    }
}

/// The int32 sums of an MR x 16 tile of int16 x int16 products, stored as they are.
template <std::size_t MR>
inline void s16_tile(const std::int16_t* x, const Tile& t, std::size_t pairs, const std::int16_t* w,
                     std::int32_t* y, std::size_t ystride, std::size_t nvalid) noexcept {
    __m256i acc[MR][2];
    for (std::size_t p = 0; p < MR; ++p) acc[p][0] = acc[p][1] = _mm256_setzero_si256();
    madd_tile<MR>(x, t, pairs, w, acc);
    for (std::size_t p = 0; p < MR; ++p) {
        std::int32_t* yp = y + p * ystride;
        if (nvalid == nr) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(yp), acc[p][0]);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(yp + 8), acc[p][1]);
        } else {
            alignas(32) std::int32_t tmp[nr];
            _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), acc[p][0]);
            _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 8), acc[p][1]);
            std::copy_n(tmp, nvalid, yp);
        }
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
    madd_tile<MR>(x, t, pairs, w, acc);
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
/// ceil(w / most) tiles as equal as possible (14 = 5 + 5 + 4, not 6 + 6 + 2), because a
/// narrow tile has too few independent accumulators to hide the FMA latency.
inline std::size_t tile_width(std::size_t w, std::size_t ow, std::size_t most = max_mr) noexcept {
    const std::size_t tiles = (w + most - 1) / most, base = w / tiles, wide = w % tiles;
    const std::size_t t = ow < wide * (base + 1) ? ow / (base + 1) : wide + (ow - wide * (base + 1)) / base;
    return t < wide ? base + 1 : base;
}

/// Calls f with the tile width as a constant: mr itself, or Most when mr is larger.
template <std::size_t Most = max_mr, class F>
inline void dispatch_mr(std::size_t mr, F&& f) noexcept {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (void)((mr == I + 1 || I + 1 == Most ? (f(std::integral_constant<std::size_t, I + 1>{}), true) : false) || ...);
    }(std::make_index_sequence<Most>{});
}

} // namespace simd

#endif

} // namespace edgestack::kernels
