// Winograd F(2x2, 3x3) convolution for backend::Simd: the fp32 kernel of
// kernels/winograd.hpp run on a step, and the int8 form.
//
// int8: the same transforms with 2G in place of G, so that every transformed weight is an
// integer (|U| <= 9 * 127 = 1143, int16) and every transformed input too (|V| <= 4 * 128 =
// 512). Products are summed exactly in int32 by vpmaddwd; A^T M A is then exactly 4 times
// the direct convolution's sum, and an arithmetic shift by 2 recovers it: the int8 result is
// identical to the direct kernel's, bit for bit. Exact while 9 * C * 1143 * 512 < 2^31,
// i.e. up to 407 input channels; wider layers keep the direct kernel.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/backend/detail/simd_tiles.hpp"
#include "edgestack/kernels/winograd.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::backend::detail::winograd {

using kernels::winograd::max_int8_channels;
using kernels::winograd::min_channels;
using kernels::winograd::shape_eligible;

#if defined(EDGESTACK_SIMD_AVX2)

using kernels::winograd::each_output;
using kernels::winograd::Geometry;
using kernels::winograd::kernel_of;
using kernels::winograd::output_transform;
using kernels::winograd::pack_f32;
using kernels::winograd::scratch_bytes;
using kernels::winograd::transform_inputs;
using kernels::winograd::transform_kernel;
namespace vec = kernels::winograd::vec;

inline bool eligible(const Step& s) noexcept {
    return s.op == compile::Op::conv2d &&
           shape_eligible(s.kh, s.kw, s.sh, s.sw, s.in.c, s.out.c, s.out.h, s.out.w) &&
           (!s.int8 || s.in.c <= max_int8_channels);
}

inline Geometry geometry(const Step& s) noexcept { return kernels::winograd::geometry(s, s.int8); }

/// Packs U for the GEMM tiles and sizes the scratch: fp32 as kernels::winograd::pack_f32
/// does, int8 as madd_tile reads int16 pairs, with the requantization data of the direct
/// kernel.
inline void pack(Step& s) {
    const std::size_t C = s.in.c, OC = s.out.c, nb = (OC + simd::nr - 1) / simd::nr;
    if (!s.int8) {
        pack_f32(s, s.weighted().w, s.pack().packed);
    } else {
        const std::size_t pairs = geometry(s).cp / 2, blk = pairs * 32;
        s.pack().qpack16.assign(16 * nb * blk, 0);
        for (std::size_t o = 0; o < OC; ++o)
            for (std::size_t c = 0; c < C; ++c) {
                const auto u = transform_kernel(kernel_of(s.weighted().qw, o, c, C), 4.0);
                const std::size_t j = o % simd::nr;
                for (std::size_t xi = 0; xi < 16; ++xi)
                    s.pack().qpack16[(xi * nb + o / simd::nr) * blk + (c / 2) * 32 + (j / 8) * 16 + (j % 8) * 2 + c % 2] =
                        static_cast<std::int16_t>(u[xi]);
            }
        s.pack().qpack32.assign(nb * 32, 0);
        s.pack().qpack64.assign(nb * 32, 0);
        for (std::size_t b = 0; b < nb; ++b) {
            simd::pack_rq(s, b * simd::nr, s.pack().qpack32.data() + b * 32 + 16, s.pack().qpack64.data() + b * 32);
            simd::pack_rq(s, b * simd::nr + 8, s.pack().qpack32.data() + b * 32 + 24, s.pack().qpack64.data() + b * 32 + 16);
        }
    }
    s.pack().winograd = true;
    s.scratch_bytes = scratch_bytes(s, s.int8);
}

inline void f32_conv(const Step& s, const float* x, float* y, std::size_t batch, std::byte* scratch,
                     float lo, float hi) noexcept {
    kernels::winograd::f32_conv(s, s.pack().packed.data(), s.weighted().b.data(), x, y, batch, scratch, lo, hi);
}

inline void qs8_conv(const Step& s, const std::int8_t* x, std::int8_t* y, std::size_t batch,
                     std::byte* scratch) noexcept {
    const Geometry g = geometry(s);
    const std::size_t OC = s.out.c, nb = (OC + simd::nr - 1) / simd::nr, pairs = g.cp / 2;
    const std::size_t full = OC / 8 * 8;
    auto* pad = reinterpret_cast<std::int16_t*>(scratch);
    auto* V = reinterpret_cast<std::int16_t*>(scratch + g.pad_bytes);
    auto* M = reinterpret_cast<std::int32_t*>(scratch + g.pad_bytes + g.v_bytes);
    const simd::Tile tile{g.cp, 0, 1, g.cp};
    const __m256i vzp = _mm256_set1_epi32(s.zp_out), vlo = _mm256_set1_epi32(s.weighted().lo), vhi = _mm256_set1_epi32(s.weighted().hi);
    for (std::size_t b = 0; b < batch; ++b) {
        pad_image(s, x + b * s.in.size(), pad, g.ph, g.pw, static_cast<std::int16_t>(s.zp_in));
        std::int8_t* dst = y + b * s.out.size();
        for (std::size_t t0 = 0; t0 < g.tiles; t0 += g.chunk) {
            const std::size_t n = std::min(g.chunk, g.tiles - t0);
            transform_inputs<vec::I16>(s, g, pad, t0, n, V);
            for (std::size_t xi = 0; xi < 16; ++xi)
                for (std::size_t blk = 0; blk < nb; ++blk) {
                    const std::int16_t* w = s.pack().qpack16.data() + (xi * nb + blk) * pairs * 32;
                    const std::size_t nvalid = std::min(simd::nr, OC - blk * simd::nr);
                    for (std::size_t i = 0, mr = 0; i < n; i += mr) {
                        mr = simd::tile_width(n, i, simd::max_mr_int8);
                        simd::dispatch_mr<simd::max_mr_int8>(mr, [&](auto MR) {
                            simd::s16_tile<MR>(V + (xi * n + i) * g.cp, tile, pairs, w,
                                               M + (xi * n + i) * OC + blk * simd::nr, OC, nvalid);
                        });
                    }
                }
            for (std::size_t i = 0; i < n; ++i) {
                const std::int32_t* m = M + i * OC;
                for (std::size_t c = 0; c < full; c += 8) {
                    vec::I32 r[2][2];
                    output_transform(m + c, n * OC, r);
                    const std::size_t blk = c / simd::nr, half = (c % simd::nr) / 8;
                    const simd::Rq8 q = simd::load_rq(s.pack().qpack32.data() + blk * 32 + 16 + half * 8,
                                                      s.pack().qpack64.data() + blk * 32 + half * 16);
                    const auto bias = vec::I32::load_unaligned(s.weighted().qb.data() + c);
                    each_output(s, g, t0 + i, [&](std::size_t at, std::size_t dy, std::size_t dx) {
                        // (A^T M A) is 4x the direct sum, exactly: shift it back.
                        const __m256i acc = _mm256_add_epi32(_mm256_srai_epi32(r[dy][dx], 2), bias);
                        const __m256i v = simd::requant8(acc, q, vzp, vlo, vhi);
                        _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + at + c), simd::pack16(v, v));
                    });
                }
                for (std::size_t c = full; c < OC; ++c) {
                    std::int32_t r[2][2];
                    output_transform(m + c, n * OC, r);
                    each_output(s, g, t0 + i, [&](std::size_t at, std::size_t dy, std::size_t dx) {
                        dst[at + c] = quant::requantize((r[dy][dx] >> 2) + s.weighted().qb[c], s.weighted().rq[c], s.zp_out, s.weighted().lo, s.weighted().hi);
                    });
                }
            }
        }
    }
}

#endif // EDGESTACK_SIMD_AVX2

} // namespace edgestack::backend::detail::winograd
