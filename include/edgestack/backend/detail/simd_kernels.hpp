// Kernels of backend::Simd. 3x3 stride-1 convolutions run as Winograd F(2x2, 3x3)
// (winograd.hpp); other convolutions and dense layers run one register-blocked
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
#include <utility>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/backend/detail/reference_kernels.hpp"
#include "edgestack/backend/detail/simd_tiles.hpp"
#include "edgestack/backend/detail/winograd.hpp"

namespace edgestack::backend::detail {

#if defined(EDGESTACK_SIMD_AVX2)


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
        if (winograd::eligible(s)) return winograd::pack(s);
        pack_direct(s);
    }

    /// As pack, but every convolution runs the direct kernel (for comparisons).
    static void pack_direct(Step& s) {
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
            // Taps in pairs, as int16, laid out as _mm256_unpack{lo,hi}_epi16 interleaves two
            // taps' inputs: per 128-bit lane, channels (lane * 8 + i) for lo, + 4 for hi.
            const std::size_t C = s.in.c, taps = s.kh * s.kw, tpairs = (taps + 1) / 2, full = C / simd::nr;
            s.qpack16.assign(full * tpairs * 32, 0);
            for (std::size_t b = 0; b < full; ++b)
                for (std::size_t pr = 0; pr < tpairs; ++pr) {
                    std::int16_t* dst = s.qpack16.data() + (b * tpairs + pr) * 32;
                    for (std::size_t half = 0; half < 2; ++half)
                        for (std::size_t lane = 0; lane < 2; ++lane)
                            for (std::size_t i = 0; i < 4; ++i)
                                for (std::size_t k = 0; k < 2; ++k) {
                                    const std::size_t t = 2 * pr + k, c = b * simd::nr + lane * 8 + half * 4 + i;
                                    dst[half * 16 + lane * 8 + 2 * i + k] = t < taps ? s.qw[t * C + c] : 0;
                                }
                }
            s.scratch_bytes = padded_bytes(s, sizeof(std::int8_t));
        } else if (s.op == compile::Op::depthwise_conv2d) {
            s.scratch_bytes = padded_bytes(s, sizeof(float));
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

    /// Output rows and row length the tiles walk: a 1x1 stride-1 unpadded (pointwise)
    /// convolution's pixels are contiguous, so they form one long row and every tile is
    /// full width, not only those that fit in one image row.
    static std::pair<std::size_t, std::size_t> out_rows(const Step& s) noexcept {
        const bool flat = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 &&
                          s.pt + s.pb + s.pl + s.pr == 0;
        return flat ? std::pair{std::size_t{1}, s.out.h * s.out.w} : std::pair{s.out.h, s.out.w};
    }

    static void f32_conv2d(const Step& s, const float* x, float* y, std::size_t batch,
                           std::byte* scratch) noexcept {
        float lo, hi;
        act_bounds(s, lo, hi);
        if (s.winograd) return winograd::f32_conv(s, x, y, batch, scratch, lo, hi);
        const std::size_t C = s.in.c, OC = s.out.c, K = s.kh * s.kw * C;
        const bool padded = s.pt + s.pb + s.pl + s.pr != 0;
        const std::size_t PH = s.in.h + s.pt + s.pb, PW = s.in.w + s.pl + s.pr;
        const simd::Tile t{s.sw * C, PW * C, s.kh, s.kw * C};
        for (std::size_t b = 0; b < batch; ++b) {
            const float* src = x + b * s.in.size();
            if (padded) {
                float* p = reinterpret_cast<float*>(scratch);
                pad_image(s, src, p, PH, PW, 0.0f);
                src = p;
            }
            float* dst = y + b * s.out.size();
            const auto [OH, OW] = out_rows(s);
            for (std::size_t blk = 0; blk < blocks(OC); ++blk) {
                const float* w = s.packed.data() + blk * simd::nr * (K + 1);
                const std::size_t nvalid = std::min(simd::nr, OC - blk * simd::nr);
                for (std::size_t oh = 0; oh < OH; ++oh)
                    for (std::size_t ow = 0, mr = 0; ow < OW; ow += mr) {
                        mr = simd::tile_width(OW, ow);
                        const float* xb = src + (oh * s.sh * PW + ow * s.sw) * C;
                        float* yb = dst + (oh * OW + ow) * OC + blk * simd::nr;
                        simd::dispatch_mr(mr, [&](auto MR) { simd::f32_tile<MR>(xb, t, w, yb, OC, nvalid, lo, hi); });
                    }
            }
        }
    }

    static constexpr std::size_t max_taps = 64; // larger depthwise kernels use Reference

    /// Offsets (in elements) of a depthwise kernel's taps from its top-left input pixel, in
    /// a padded buffer `pw` pixels wide; returns how many taps.
    static std::size_t tap_offsets(const Step& s, std::size_t pw, std::size_t* off) noexcept {
        for (std::size_t i = 0; i < s.kh; ++i)
            for (std::size_t j = 0; j < s.kw; ++j) off[i * s.kw + j] = (i * pw + j) * s.in.c;
        return s.kh * s.kw;
    }

    /// NV x 8 channels of one depthwise output pixel, one accumulator per vector.
    template <std::size_t NV>
    static void f32_dw_block(const Step& s, const float* xb, const std::size_t* off, std::size_t taps,
                             std::size_t c, float* yp, simd::F vlo, simd::F vhi) noexcept {
        const std::size_t C = s.in.c;
        simd::F a[NV];
        for (std::size_t v = 0; v < NV; ++v) a[v] = simd::F::load_unaligned(s.b.data() + c + 8 * v);
        for (std::size_t t = 0; t < taps; ++t) {
            const float* xp = xb + off[t];
            const float* wp = s.w.data() + t * C + c;
            for (std::size_t v = 0; v < NV; ++v)
                a[v] = xsimd::fma(simd::F::load_unaligned(xp + 8 * v), simd::F::load_unaligned(wp + 8 * v), a[v]);
        }
        for (std::size_t v = 0; v < NV; ++v) xsimd::min(xsimd::max(a[v], vlo), vhi).store_unaligned(yp + 8 * v);
    }

    /// fp32 depthwise over a zero-padded copy of the input, so every pixel's taps sit at
    /// fixed offsets (the int8 kernel below does the same with the zero point).
    static void f32_depthwise_conv2d(const Step& s, const float* x, float* y, std::size_t batch,
                                     std::byte* scratch) noexcept {
        if (s.kh * s.kw > max_taps) return ReferenceKernels::f32_depthwise_conv2d(s, x, y, batch, scratch);
        const std::size_t C = s.in.c, PH = s.in.h + s.pt + s.pb, PW = s.in.w + s.pl + s.pr;
        float lo, hi;
        act_bounds(s, lo, hi);
        const simd::F vlo(lo), vhi(hi);
        std::size_t off[max_taps];
        const std::size_t taps = tap_offsets(s, PW, off);
        auto* pad = reinterpret_cast<float*>(scratch);
        for (std::size_t b = 0; b < batch; ++b) {
            pad_image(s, x + b * s.in.size(), pad, PH, PW, 0.0f);
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow) {
                    const float* xb = pad + (oh * s.sh * PW + ow * s.sw) * C;
                    float* yp = y + b * s.out.size() + (oh * s.out.w + ow) * C;
                    std::size_t c = 0;
                    // Independent accumulators cover the FMA latency: 8 (64 channels) at a time.
                    for (; c + 64 <= C; c += 64) f32_dw_block<8>(s, xb + c, off, taps, c, yp + c, vlo, vhi);
                    for (; c + 32 <= C; c += 32) f32_dw_block<4>(s, xb + c, off, taps, c, yp + c, vlo, vhi);
                    for (; c + 8 <= C; c += 8) f32_dw_block<1>(s, xb + c, off, taps, c, yp + c, vlo, vhi);
                    for (; c < C; ++c) {
                        float acc = s.b[c];
                        for (std::size_t t = 0; t < taps; ++t) acc += xb[off[t] + c] * s.w[t * C + c];
                        yp[c] = std::min(std::max(acc, lo), hi);
                    }
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
        if (s.winograd) return winograd::qs8_conv(s, x, y, batch, scratch);
        const std::size_t C = s.in.c, OC = s.out.c, seg = s.kw * C, pairs = (seg + 1) / 2;
        const std::size_t PH = s.in.h + s.pt + s.pb, PW = s.in.w + s.pl + s.pr;
        const simd::Tile t{s.sw * C, PW * C, s.kh, seg};
        auto* p = reinterpret_cast<std::int16_t*>(scratch);
        for (std::size_t b = 0; b < batch; ++b) {
            const std::int8_t* src = x + b * s.in.size();
            pad_image(s, src, p, PH, PW, static_cast<std::int16_t>(s.zp_in));
            p[PH * PW * C] = p[PH * PW * C + 1] = static_cast<std::int16_t>(s.zp_in); // pair slack
            std::int8_t* dst = y + b * s.out.size();
            const auto [OH, OW] = out_rows(s);
            for (std::size_t blk = 0; blk < blocks(OC); ++blk) {
                const std::int8_t* w = s.qpacked.data() + blk * s.kh * pairs * 32;
                const std::size_t nvalid = std::min(simd::nr, OC - blk * simd::nr);
                for (std::size_t oh = 0; oh < OH; ++oh)
                    for (std::size_t ow = 0, mr = 0; ow < OW; ow += mr) {
                        mr = simd::tile_width(OW, ow, simd::max_mr_int8);
                        const std::int16_t* xb = p + (oh * s.sh * PW + ow * s.sw) * C;
                        std::int8_t* yb = dst + (oh * OW + ow) * OC + blk * simd::nr;
                        simd::dispatch_mr<simd::max_mr_int8>(mr, [&](auto MR) {
                            simd::qs8_tile<MR>(xb, t, pairs, w, s.qpack32.data() + blk * 32,
                                               s.qpack64.data() + blk * 32, yb, OC, nvalid, s.zp_out, s.lo, s.hi);
                        });
                    }
            }
        }
    }

    /// int8 depthwise: over a copy of the input padded with the input zero point (so every
    /// pixel has all its taps at fixed offsets), two taps at a time: their 16-bit inputs
    /// interleaved and summed with the paired weights by one vpmaddwd, exactly in int32.
    static void qs8_depthwise_conv2d(const Step& s, const std::int8_t* x, std::int8_t* y,
                                     std::size_t batch, std::byte* scratch) noexcept {
        if (s.kh * s.kw > max_taps) return ReferenceKernels::qs8_depthwise_conv2d(s, x, y, batch, scratch);
        const std::size_t C = s.in.c, full = C / simd::nr * simd::nr, taps = s.kh * s.kw, tpairs = (taps + 1) / 2;
        const std::size_t PH = s.in.h + s.pt + s.pb, PW = s.in.w + s.pl + s.pr;
        const __m256i vzp = _mm256_set1_epi32(s.zp_out), vlo = _mm256_set1_epi32(s.lo), vhi = _mm256_set1_epi32(s.hi);
        std::size_t off[max_taps + 1];
        tap_offsets(s, PW, off);
        off[taps] = off[0]; // the odd tap's partner: any readable input, its weight is 0
        auto load16 = [](const std::int8_t* p) {
            return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        };
        auto* pad = reinterpret_cast<std::int8_t*>(scratch);
        for (std::size_t b = 0; b < batch; ++b) {
            pad_image(s, x + b * s.in.size(), pad, PH, PW, static_cast<std::int8_t>(s.zp_in));
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow) {
                    const std::int8_t* xb = pad + (oh * s.sh * PW + ow * s.sw) * C;
                    std::int8_t* yp = y + b * s.out.size() + (oh * s.out.w + ow) * C;
                    for (std::size_t c = 0; c < full; c += simd::nr) {
                        const std::size_t blk = c / simd::nr;
                        const std::int16_t* w = s.qpack16.data() + blk * tpairs * 32;
                        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
                        for (std::size_t pr = 0; pr < tpairs; ++pr, w += 32) {
                            const __m256i x0 = load16(xb + off[2 * pr] + c), x1 = load16(xb + off[2 * pr + 1] + c);
                            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1),
                                                                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w))));
                            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1),
                                                                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16))));
                        }
                        // lo holds channels 0-3 | 8-11, hi 4-7 | 12-15: back to 0-7 and 8-15.
                        const __m256i a0 = _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x20),
                                                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.qb.data() + c)));
                        const __m256i a1 = _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x31),
                                                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.qb.data() + c + 8)));
                        const simd::Rq8 q0 = simd::load_rq(s.qpack32.data() + blk * 32 + 16, s.qpack64.data() + blk * 32);
                        const simd::Rq8 q1 = simd::load_rq(s.qpack32.data() + blk * 32 + 24, s.qpack64.data() + blk * 32 + 16);
                        _mm_storeu_si128(reinterpret_cast<__m128i*>(yp + c),
                                         simd::pack16(simd::requant8(a0, q0, vzp, vlo, vhi), simd::requant8(a1, q1, vzp, vlo, vhi)));
                    }
                    for (std::size_t c = full; c < C; ++c) {
                        std::int32_t acc = s.qb[c];
                        for (std::size_t t = 0; t < taps; ++t) acc += std::int32_t{xb[off[t] + c]} * s.qw[t * C + c];
                        yp[c] = quant::requantize(acc, s.rq[c], s.zp_out, s.lo, s.hi);
                    }
                }
        }
    }
};

#else // no AVX2+FMA at compile time: the portable fallback is the Reference loops

struct SimdKernels : ReferenceKernels {
    static constexpr const char* name = "simd";
    static void pack_direct(Step& s) { pack(s); }
};

#endif

} // namespace edgestack::backend::detail
