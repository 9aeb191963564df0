// Kernels of backend::Simd. Dense layers, convolutions and depthwise convolutions run the
// register-blocked micro-kernels of simd_isa.hpp over weights packed here, compiled for
// every x86 level (SSE2, AVX2+FMA, AVX-VNNI, AVX-512, AVX-512 VNNI) and chosen per engine
// from the CPU (core/cpu.hpp; EDGESTACK_ISA caps it). 3x3 stride-1 convolutions run as
// Winograd F(2x2, 3x3) (winograd.hpp) when the including code is compiled with AVX2+FMA.
// int8 add, average pool and global average pool run 16 values at a time at AVX2 and
// above; fp32 add, average, max and global average pools a vector at a time at every
// level. Every other op, and every op at the scalar level, runs the Reference loops.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/backend/detail/reference_kernels.hpp"
#include "edgestack/backend/detail/simd_attention.hpp"
#include "edgestack/backend/detail/simd_isa.hpp"
#include "edgestack/backend/detail/simd_sequence.hpp"
#include "edgestack/backend/detail/simd_sequence_int8.hpp"
#include "edgestack/backend/detail/simd_tiles.hpp"
#include "edgestack/backend/detail/winograd.hpp"
#include "edgestack/core/cpu.hpp"

namespace edgestack::backend::detail {

struct SimdKernels : ReferenceKernels, SimdSequence, SimdSequenceInt8, SimdAttention {
    static constexpr const char* name = "simd";
    using ReferenceKernels::kernel; // the ops below without a vector kernel
    using SimdSequence::kernel;     // gru, lstm (simd_sequence.hpp)
    using SimdSequenceInt8::kernel; // gru, lstm in int8 (simd_sequence_int8.hpp)
    using SimdAttention::kernel;    // attention, layer_norm (simd_attention.hpp)

    static bool gemm_like(const Step& s) noexcept {
        return s.op == compile::Op::dense || s.op == compile::Op::conv2d;
    }
    static std::size_t rows_of(const Step& s) noexcept { return s.op == compile::Op::dense ? 1 : s.kh; }
    static std::size_t seg_of(const Step& s) noexcept {
        return s.op == compile::Op::dense ? s.in.c : s.kw * s.in.c;
    }
    static constexpr std::size_t nr = simd_isa::nr;
    static std::size_t blocks(std::size_t oc) noexcept { return simd_isa::blocks(oc); }

    /// The level this build can run kernels of: `want` where the vector kernels were
    /// compiled in (x86-64 with GCC), the scalar level otherwise.
    static Isa usable(Isa want) noexcept {
#if defined(EDGESTACK_SIMD_DISPATCH)
        return want;
#else
        (void)want;
        return Isa::scalar;
#endif
    }

    /// Picks the step's kernels from the CPU (capped by EDGESTACK_ISA) and packs its
    /// weights for them.
    static void pack(Step& s) {
        SimdAttention::grow_scratch(s);
        if (SimdSequence::pack(s)) return;
        const Isa want = selected_isa();
#if defined(EDGESTACK_SIMD_AVX2)
        if (want >= Isa::avx2 && winograd::eligible(s)) {
            winograd::pack(s);
            s.level = Isa::avx2;
            s.kernel = simd_isa::kernel_prefix(s) + "-winograd-3x3-avx2";
            return;
        }
#endif
        pack_direct(s, usable(want));
    }

    /// As pack, but every convolution runs the direct kernel (for comparisons).
    static void pack_direct(Step& s) { pack_direct(s, usable(selected_isa())); }

    /// fp32: per block of 16 channels, 16 biases then K x 16 weights (zero past the last
    /// channel). int8: per block, K/2 rounded up pairs per kernel row x 32 weights (VNNI
    /// levels: K/4 quads x 64), with bias and requantization data beside. Every level of
    /// one kind reads the same layout.
    static void pack_direct(Step& s, Isa level) {
        s.level = level;
        s.kernel = name_of(s);
        if (level == Isa::scalar || s.kernel.empty()) {
            s.level = Isa::scalar;
            if (!s.alias) s.kernel = simd_isa::kernel_prefix(s) + "-scalar";
            return;
        }
        if (gemm_like(s)) {
            const std::size_t oc = s.out.c, rows = rows_of(s), seg = seg_of(s), K = rows * seg;
            const std::size_t nb = blocks(oc);
            if (!s.int8) {
                s.pack().packed.assign(nb * nr * (K + 1), 0.0f);
                for (std::size_t b = 0; b < nb; ++b) {
                    float* dst = s.pack().packed.data() + b * nr * (K + 1);
                    for (std::size_t j = 0; j < nr && b * nr + j < oc; ++j) {
                        const std::size_t o = b * nr + j;
                        dst[j] = s.weighted().b[o];
                        for (std::size_t k = 0; k < K; ++k) dst[nr + k * nr + j] = s.weighted().w[o * K + k];
                    }
                }
                if (s.op == compile::Op::conv2d && s.pt + s.pb + s.pl + s.pr != 0) // border windows, or a padded copy
                    s.scratch_bytes = simd_isa::reads_unpadded(s) ? compile::align_up(simd_isa::max_f_mr * K * sizeof(float))
                                                                  : padded_bytes(s, sizeof(float));
            } else {
                // Pairs of int16 products, or at the VNNI levels quads of unsigned-by-signed
                // byte products, whose inputs come shifted by 128 (simd_isa_body.inc, Madd):
                // the bias takes 128 x the weights' sum off again.
                const bool quads = level == Isa::avxvnni || level == Isa::avx512vnni;
                const std::size_t g = quads ? 4 : 2, steps = (seg + g - 1) / g, bytes = 16 * g;
                s.pack().qpacked.assign(nb * rows * steps * bytes, 0);
                s.pack().qpack32.assign(nb * 32, 0);
                s.pack().qpack64.assign(nb * 32, 0);
                for (std::size_t b = 0; b < nb; ++b) {
                    std::int8_t* dst = s.pack().qpacked.data() + b * rows * steps * bytes;
                    for (std::size_t j = 0; j < nr; ++j) {
                        const std::size_t o = b * nr + j;
                        if (o >= oc) break;
                        std::int32_t sum = 0;
                        for (std::size_t r = 0; r < rows; ++r)
                            for (std::size_t k = 0; k < seg; ++k) {
                                const std::int8_t w = s.weighted().qw[o * rows * seg + r * seg + k];
                                sum += w;
                                const std::size_t at = quads ? (r * steps + k / 4) * bytes + j * 4 + k % 4
                                                             : (r * steps + k / 2) * bytes + (j / 8) * 16 + (j % 8) * 2 + k % 2;
                                dst[at] = w;
                            }
                        s.pack().qpack32[b * 32 + j] = s.weighted().qb[o] - (quads ? 128 * sum : 0);
                    }
                    simd::pack_rq(s, b * nr, s.pack().qpack32.data() + b * 32 + 16, s.pack().qpack64.data() + b * 32);
                    simd::pack_rq(s, b * nr + 8, s.pack().qpack32.data() + b * 32 + 24, s.pack().qpack64.data() + b * 32 + 16);
                }
                // int16 copy of the (padded) input, plus slack for the pair read past a row.
                const std::size_t elems = s.op == compile::Op::dense
                                              ? s.in.c
                                              : (s.in.h + s.pt + s.pb) * (s.in.w + s.pl + s.pr) * s.in.c;
                s.scratch_bytes = compile::align_up((elems + 2) * sizeof(std::int16_t));
            }
        } else if (s.op == compile::Op::depthwise_conv2d && s.int8) {
            const std::size_t nb = blocks(s.out.c);
            s.pack().qpack32.assign(nb * 32, 0);
            s.pack().qpack64.assign(nb * 32, 0);
            for (std::size_t b = 0; b < nb; ++b) {
                simd::pack_rq(s, b * nr, s.pack().qpack32.data() + b * 32 + 16, s.pack().qpack64.data() + b * 32);
                simd::pack_rq(s, b * nr + 8, s.pack().qpack32.data() + b * 32 + 24, s.pack().qpack64.data() + b * 32 + 16);
            }
            // Taps in pairs, as int16, laid out as _mm256_unpack{lo,hi}_epi16 interleaves two
            // taps' inputs: per 128-bit lane, channels (lane * 8 + i) for lo, + 4 for hi.
            const std::size_t C = s.in.c, taps = s.kh * s.kw, tpairs = (taps + 1) / 2, full = C / nr;
            // Past the full blocks, 8 channels (when there are) for dw8x2: one 8-channel
            // pattern in both lanes, as _mm256_unpack{lo,hi}_epi16 interleaves two taps of
            // two pixels: channels i for lo, 4 + i for hi.
            const bool tail8 = C - full * nr >= 8;
            s.pack().qpack16.assign((full + (tail8 ? 1 : 0)) * tpairs * 32, 0);
            if (tail8)
                for (std::size_t pr = 0; pr < tpairs; ++pr) {
                    std::int16_t* dst = s.pack().qpack16.data() + (full * tpairs + pr) * 32;
                    for (std::size_t half = 0; half < 2; ++half)
                        for (std::size_t lane = 0; lane < 2; ++lane)
                            for (std::size_t i = 0; i < 4; ++i)
                                for (std::size_t k = 0; k < 2; ++k) {
                                    const std::size_t t = 2 * pr + k, c = full * nr + half * 4 + i;
                                    dst[half * 16 + lane * 8 + 2 * i + k] = t < taps ? s.weighted().qw[t * C + c] : 0;
                                }
                }
            for (std::size_t b = 0; b < full; ++b)
                for (std::size_t pr = 0; pr < tpairs; ++pr) {
                    std::int16_t* dst = s.pack().qpack16.data() + (b * tpairs + pr) * 32;
                    for (std::size_t half = 0; half < 2; ++half)
                        for (std::size_t lane = 0; lane < 2; ++lane)
                            for (std::size_t i = 0; i < 4; ++i)
                                for (std::size_t k = 0; k < 2; ++k) {
                                    const std::size_t t = 2 * pr + k, c = b * nr + lane * 8 + half * 4 + i;
                                    dst[half * 16 + lane * 8 + 2 * i + k] = t < taps ? s.weighted().qw[t * C + c] : 0;
                                }
                }
            s.scratch_bytes = padded_bytes(s, sizeof(std::int8_t));
        } else if (s.op == compile::Op::depthwise_conv2d) { // a padded copy, or a row of zeros
            const bool zero_row = s.kh == 3 && s.kw == 3 && simd_isa::reads_unpadded(s);
            s.scratch_bytes = zero_row ? compile::align_up(s.in.w * s.in.c * sizeof(float)) : padded_bytes(s, sizeof(float));
        }
    }

    /// The name of the kernel step `s` runs at its level (empty: none of the vector ones).
    static std::string name_of(const Step& s) {
        EDGESTACK_SIMD_ISA_NAME(s.level, s)
    }

    // ---- fp32 -------------------------------------------------------------------------
    static void kernel(compile::ops::Dense, const Step& s, const float* x, const float*, float* y, std::size_t batch, std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL(s.level, f32_dense, s, x, y, batch, scratch)
    }

    static void kernel(compile::ops::Conv2d, const Step& s, const float* x, const float*, float* y, std::size_t batch,
                           std::byte* scratch) noexcept {
#if defined(EDGESTACK_SIMD_AVX2)
        if (s.pack().winograd) {
            float lo, hi;
            simd_isa::act_bounds(s, lo, hi);
            return winograd::f32_conv(s, x, y, batch, scratch, lo, hi);
        }
#endif
        EDGESTACK_SIMD_ISA_CALL(s.level, f32_conv2d, s, x, y, batch, scratch)
    }

    static void kernel(compile::ops::DepthwiseConv2d, const Step& s, const float* x, const float*, float* y, std::size_t batch,
                                     std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL(s.level, f32_depthwise_conv2d, s, x, y, batch, scratch)
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
    static void kernel(compile::ops::MaxPool2d, const Step& s, const float* x, const float*, float* y, std::size_t batch,
                               std::byte*) noexcept {
        EDGESTACK_SIMD_ISA_CALL_OR(s.level, f32_pool2d<false>, max_pool(s, x, y, batch), s, x, y, batch)
    }
    static void kernel(compile::ops::AvgPool2d u, const Step& s, const float* x, const float* x2, float* y,
                       std::size_t batch, std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL_OR(s.level, f32_pool2d<true>, ReferenceKernels::kernel(u, s, x, x2, y, batch, scratch), s, x, y, batch)
    }
    static void kernel(compile::ops::Add u, const Step& s, const float* a, const float* b, float* y, std::size_t batch,
                       std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL_OR(s.level, f32_add, ReferenceKernels::kernel(u, s, a, b, y, batch, scratch), s, a, b, y, batch)
    }
    static void kernel(compile::ops::GlobalAvgPool u, const Step& s, const float* x, const float* x2, float* y,
                       std::size_t batch, std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL_OR(s.level, f32_global_avg_pool, ReferenceKernels::kernel(u, s, x, x2, y, batch, scratch), s, x, y, batch)
    }
    static void kernel(compile::ops::MaxPool2d, const Step& s, const std::int8_t* x, const std::int8_t*, std::int8_t* y, std::size_t batch, std::byte*) noexcept {
        if (s.kh * s.kw > simd_isa::max_window) return max_pool(s, x, y, batch);
        EDGESTACK_SIMD_ISA_CALL_OR(s.level, qs8_max_pool2d, max_pool(s, x, y, batch), s, x, y, batch)
    }

    // ---- int8 -------------------------------------------------------------------------
    static void quantize(const float* x, std::int8_t* y, std::size_t n, float scale, std::int32_t zp, Isa level) noexcept {
        EDGESTACK_SIMD_ISA_CALL_OR(level, quantize_n, ReferenceKernels::quantize(x, y, n, scale, zp, level), x, y, n, scale, zp)
    }
    static void dequantize(const std::int8_t* x, float* y, std::size_t n, float scale, std::int32_t zp, Isa level) noexcept {
        EDGESTACK_SIMD_ISA_CALL_OR(level, dequantize_n, ReferenceKernels::dequantize(x, y, n, scale, zp, level), x, y, n, scale, zp)
    }

    static void kernel(compile::ops::Dense, const Step& s, const std::int8_t* x, const std::int8_t*, std::int8_t* y, std::size_t batch,
                          std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL(s.level, qs8_dense, s, x, y, batch, scratch)
    }

    static void kernel(compile::ops::Conv2d, const Step& s, const std::int8_t* x, const std::int8_t*, std::int8_t* y, std::size_t batch,
                           std::byte* scratch) noexcept {
#if defined(EDGESTACK_SIMD_AVX2)
        if (s.pack().winograd) return winograd::qs8_conv(s, x, y, batch, scratch);
#endif
        EDGESTACK_SIMD_ISA_CALL(s.level, qs8_conv2d, s, x, y, batch, scratch)
    }

    static void kernel(compile::ops::DepthwiseConv2d, const Step& s, const std::int8_t* x, const std::int8_t*, std::int8_t* y, std::size_t batch, std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL(s.level, qs8_depthwise_conv2d, s, x, y, batch, scratch)
    }

    static void kernel(compile::ops::Add u, const Step& s, const std::int8_t* a, const std::int8_t* b, std::int8_t* y,
                       std::size_t batch, std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL_OR(s.level, qs8_add, ReferenceKernels::kernel(u, s, a, b, y, batch, scratch), s, a, b, y, batch)
    }

    static void kernel(compile::ops::GlobalAvgPool u, const Step& s, const std::int8_t* x, const std::int8_t* x2,
                       std::int8_t* y, std::size_t batch, std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL_OR(s.level, qs8_global_avg_pool, ReferenceKernels::kernel(u, s, x, x2, y, batch, scratch), s, x, y, batch)
    }

    static void kernel(compile::ops::AvgPool2d u, const Step& s, const std::int8_t* x, const std::int8_t* x2,
                       std::int8_t* y, std::size_t batch, std::byte* scratch) noexcept {
        EDGESTACK_SIMD_ISA_CALL_OR(s.level, qs8_avg_pool2d, ReferenceKernels::kernel(u, s, x, x2, y, batch, scratch), s, x, y, batch)
    }
};

} // namespace edgestack::backend::detail
