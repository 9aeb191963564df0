// Winograd F(2x2, 3x3) convolution: 3x3, stride-1 convolutions computed as 16 small GEMMs
// on 4x4 input tiles (2.25x fewer multiplications than the direct convolution), on the
// register-blocked tiles of kernels/simd_tiles.hpp. The fp32 convolution, the geometry and
// the transforms live here, below both users: backend::Simd (which adds the int8 form,
// backend/detail/winograd.hpp) and the training path of nn::Conv2D.
//
// fp32: U = G g G^T, V = B^T d B, Y = A^T (U . V) A (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016); the transforms only add, subtract and halve, so
// the result stays within the Simd backend's 1e-5 of Reference.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "edgestack/core/aligned.hpp"
#include "edgestack/kernels/simd_tiles.hpp"
#include "edgestack/kernels/window.hpp"

namespace edgestack::kernels::winograd {

/// Widest int8 input whose transformed sums are exact in int32 (see
/// backend/detail/winograd.hpp, which holds the int8 form).
inline constexpr std::size_t max_int8_channels = 400;
/// Narrower layers make GEMMs too short to pay for the transforms.
inline constexpr std::size_t min_channels = 16;

/// Whether an fp32 convolution of this geometry runs as Winograd (int8 also needs at most
/// max_int8_channels inputs).
constexpr bool shape_eligible(std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw,
                              std::size_t c, std::size_t oc, std::size_t oh, std::size_t ow) noexcept {
    return kh == 3 && kw == 3 && sh == 1 && sw == 1 && c >= min_channels && oc >= min_channels &&
           oh >= 2 && ow >= 2;
}

#if defined(EDGESTACK_SIMD_AVX2)

/// How one image is cut: th x tw tiles of 2x2 outputs over a zero- (int8: zero-point-)
/// padded input of ph x pw pixels; tiles are transformed and multiplied `chunk` at a time so
/// that the transformed inputs V and products M stay in cache.
struct Geometry {
    std::size_t th = 0, tw = 0, tiles = 0, ph = 0, pw = 0, chunk = 0, cp = 0;
    std::size_t pad_bytes = 0, v_bytes = 0, m_bytes = 0;
};

/// The cut of one image for a convolution `s`, fp32 or int8.
inline Geometry geometry(const Window& s, bool int8) noexcept {
    Geometry g;
    g.th = (s.out.h + 1) / 2;
    g.tw = (s.out.w + 1) / 2;
    g.tiles = g.th * g.tw;
    g.ph = 2 * g.th + 2;
    g.pw = 2 * g.tw + 2;
    const std::size_t elem = int8 ? sizeof(std::int16_t) : sizeof(float);
    g.cp = int8 ? (s.in.c + 1) / 2 * 2 : s.in.c; // vpmaddwd reads channel pairs
    constexpr std::size_t budget = 256 * 1024;
    const std::size_t per_tile = 16 * (g.cp * elem + s.out.c * 4);
    const std::size_t most = std::max<std::size_t>(simd::max_mr, budget / per_tile);
    const std::size_t n = (g.tiles + most - 1) / most;
    g.chunk = (g.tiles + n - 1) / n;
    g.pad_bytes = align_up(g.ph * g.pw * s.in.c * elem);
    g.v_bytes = align_up(16 * g.chunk * g.cp * elem);
    g.m_bytes = align_up(16 * g.chunk * s.out.c * 4);
    return g;
}

/// The 4x4 weight transform of one 3x3 kernel: G g G^T, scaled by `k` (1 for fp32; 4 for
/// int8, i.e. (2G) g (2G)^T, all integers).
inline std::array<double, 16> transform_kernel(const std::array<double, 9>& g, double k) {
    std::array<double, 12> t{}; // G g: 4 x 3
    for (std::size_t j = 0; j < 3; ++j) {
        t[0 * 3 + j] = g[0 * 3 + j];
        t[1 * 3 + j] = 0.5 * (g[0 * 3 + j] + g[1 * 3 + j] + g[2 * 3 + j]);
        t[2 * 3 + j] = 0.5 * (g[0 * 3 + j] - g[1 * 3 + j] + g[2 * 3 + j]);
        t[3 * 3 + j] = g[2 * 3 + j];
    }
    std::array<double, 16> u{}; // (G g) G^T: 4 x 4
    for (std::size_t i = 0; i < 4; ++i) {
        const double* r = &t[i * 3];
        u[i * 4 + 0] = k * r[0];
        u[i * 4 + 1] = k * 0.5 * (r[0] + r[1] + r[2]);
        u[i * 4 + 2] = k * 0.5 * (r[0] - r[1] + r[2]);
        u[i * 4 + 3] = k * r[2];
    }
    return u;
}

/// The 3x3 kernel of output channel o, input channel c (weights in OHWI order).
template <class W>
std::array<double, 9> kernel_of(const std::vector<W>& w, std::size_t o, std::size_t c, std::size_t C) {
    std::array<double, 9> g{};
    for (std::size_t t = 0; t < 9; ++t) g[t] = static_cast<double>(w[(o * 9 + t) * C + c]);
    return g;
}

/// Packs U for f32_conv's GEMM tiles: 16 zero "biases", then C x 16 per block of 16
/// channels, per transform position. `w` holds the 3x3 weights in OHWI order.
inline void pack_f32(const Window& s, const std::vector<float>& w, std::vector<float>& packed) {
    const std::size_t C = s.in.c, OC = s.out.c, nb = (OC + simd::nr - 1) / simd::nr;
    const std::size_t blk = simd::nr * (C + 1);
    packed.assign(16 * nb * blk, 0.0f);
    for (std::size_t o = 0; o < OC; ++o)
        for (std::size_t c = 0; c < C; ++c) {
            const auto u = transform_kernel(kernel_of(w, o, c, C), 1.0);
            for (std::size_t xi = 0; xi < 16; ++xi)
                packed[(xi * nb + o / simd::nr) * blk + simd::nr + c * simd::nr + o % simd::nr] =
                    static_cast<float>(u[xi]);
        }
}

/// Scratch bytes of one convolution call (fp32, or the backend's int8 form), any batch.
inline std::size_t scratch_bytes(const Window& s, bool int8) noexcept {
    const Geometry g = geometry(s, int8);
    return g.pad_bytes + g.v_bytes + g.m_bytes;
}

namespace vec {
using F = xsimd::batch<float, xsimd::avx2>;
using I16 = xsimd::batch<std::int16_t, xsimd::avx2>;
using I32 = xsimd::batch<std::int32_t, xsimd::avx2>;
template <class T, class E>
T load(const E* p) noexcept {
    if constexpr (std::is_arithmetic_v<T>) return *p;
    else return T::load_unaligned(p);
}
template <class T, class E>
void store(const T& v, E* p) noexcept {
    if constexpr (std::is_arithmetic_v<T>) *p = v;
    else v.store_unaligned(p);
}
} // namespace vec

/// V = B^T d B for one lane group of one tile: d is 4x4 pixels `row` and `pix` elements
/// apart in the padded input; V's 16 positions go `vstride` elements apart.
template <class T, class E>
inline void input_transform(const E* d, std::size_t row, std::size_t pix, E* v, std::size_t vstride) noexcept {
    T t[4][4];
    for (std::size_t j = 0; j < 4; ++j) {
        const T d0 = vec::load<T>(d + j * pix), d1 = vec::load<T>(d + row + j * pix);
        const T d2 = vec::load<T>(d + 2 * row + j * pix), d3 = vec::load<T>(d + 3 * row + j * pix);
        t[0][j] = d0 - d2;
        t[1][j] = d1 + d2;
        t[2][j] = d2 - d1;
        t[3][j] = d1 - d3;
    }
    for (std::size_t i = 0; i < 4; ++i) {
        vec::store<T>(t[i][0] - t[i][2], v + (i * 4 + 0) * vstride);
        vec::store<T>(t[i][1] + t[i][2], v + (i * 4 + 1) * vstride);
        vec::store<T>(t[i][2] - t[i][1], v + (i * 4 + 2) * vstride);
        vec::store<T>(t[i][1] - t[i][3], v + (i * 4 + 3) * vstride);
    }
}

/// Y = A^T m A: the 2x2 outputs of one tile from its 16 products `mstride` elements apart.
template <class T, class E>
inline void output_transform(const E* m, std::size_t mstride, T (&y)[2][2]) noexcept {
    T s[4][2];
    for (std::size_t i = 0; i < 4; ++i) {
        const T m0 = vec::load<T>(m + (i * 4 + 0) * mstride), m1 = vec::load<T>(m + (i * 4 + 1) * mstride);
        const T m2 = vec::load<T>(m + (i * 4 + 2) * mstride), m3 = vec::load<T>(m + (i * 4 + 3) * mstride);
        s[i][0] = m0 + m1 + m2;
        s[i][1] = m1 - m2 - m3;
    }
    for (std::size_t j = 0; j < 2; ++j) {
        y[0][j] = s[0][j] + s[1][j] + s[2][j];
        y[1][j] = s[1][j] - s[2][j] - s[3][j];
    }
}

/// V for tiles [t0, t0 + n): lanes of `VT` (E elements each) over the channels, then one
/// channel at a time; channels C..cp-1 (int8 pair padding) are zero. Transform position xi
/// of tile i goes to V[xi * vstride + i * cp] (vstride 0: n * cp, the tiles packed).
template <class VT, class E>
inline void transform_inputs(const Window& s, const Geometry& g, const E* pad, std::size_t t0,
                             std::size_t n, E* V, std::size_t vstride = 0) noexcept {
    const std::size_t C = s.in.c, lanes = VT::size, full = C / lanes * lanes;
    const std::size_t row = g.pw * C;
    if (vstride == 0) vstride = n * g.cp;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t t = t0 + i, ty = t / g.tw, tx = t % g.tw;
        const E* d = pad + (2 * ty * g.pw + 2 * tx) * C;
        E* v = V + i * g.cp;
        for (std::size_t c = 0; c < full; c += lanes) input_transform<VT>(d + c, row, C, v + c, vstride);
        for (std::size_t c = full; c < C; ++c) input_transform<E>(d + c, row, C, v + c, vstride);
        for (std::size_t c = C; c < g.cp; ++c)
            for (std::size_t xi = 0; xi < 16; ++xi) v[xi * vstride + c] = 0;
    }
}

/// Calls out(pixel offset, dy, dx) for each of a tile's outputs inside the image.
template <class Out>
inline void each_output(const Window& s, const Geometry& g, std::size_t t, Out&& out) noexcept {
    const std::size_t ty = t / g.tw, tx = t % g.tw;
    for (std::size_t dy = 0; dy < 2; ++dy)
        for (std::size_t dx = 0; dx < 2; ++dx) {
            const std::size_t oh = 2 * ty + dy, ow = 2 * tx + dx;
            if (oh < s.out.h && ow < s.out.w) out((oh * s.out.w + ow) * s.out.c, dy, dx);
        }
}

/// y = clamp(conv(x) + bias, lo, hi) for `batch` images, the weights packed by pack_f32;
/// `scratch` holds scratch_bytes(s, false) bytes.
inline void f32_conv(const Window& s, const float* packed, const float* bias, const float* x,
                     float* y, std::size_t batch, std::byte* scratch, float lo, float hi) noexcept {
    const Geometry g = geometry(s, false);
    const std::size_t C = s.in.c, OC = s.out.c, nb = (OC + simd::nr - 1) / simd::nr;
    const std::size_t lanes = vec::F::size, full = OC / lanes * lanes;
    auto* pad = reinterpret_cast<float*>(scratch);
    auto* V = reinterpret_cast<float*>(scratch + g.pad_bytes);
    auto* M = reinterpret_cast<float*>(scratch + g.pad_bytes + g.v_bytes);
    const simd::Tile tile{C, 0, 1, C};
    const float inf = std::numeric_limits<float>::infinity();
    const vec::F vlo(lo), vhi(hi);
    for (std::size_t b = 0; b < batch; ++b) {
        pad_image(s, x + b * s.in.size(), pad, g.ph, g.pw, 0.0f);
        float* dst = y + b * s.out.size();
        for (std::size_t t0 = 0; t0 < g.tiles; t0 += g.chunk) {
            const std::size_t n = std::min(g.chunk, g.tiles - t0);
            transform_inputs<vec::F>(s, g, pad, t0, n, V);
            for (std::size_t xi = 0; xi < 16; ++xi)
                for (std::size_t blk = 0; blk < nb; ++blk) {
                    const float* w = packed + (xi * nb + blk) * simd::nr * (C + 1);
                    const std::size_t nvalid = std::min(simd::nr, OC - blk * simd::nr);
                    for (std::size_t i = 0, mr = 0; i < n; i += mr) {
                        mr = simd::tile_width(n, i);
                        simd::dispatch_mr(mr, [&](auto MR) {
                            simd::f32_tile<MR>(V + (xi * n + i) * C, tile, w, M + (xi * n + i) * OC + blk * simd::nr,
                                               OC, nvalid, -inf, inf);
                        });
                    }
                }
            for (std::size_t i = 0; i < n; ++i) {
                const float* m = M + i * OC;
                for (std::size_t c = 0; c < full; c += lanes) {
                    vec::F r[2][2];
                    output_transform(m + c, n * OC, r);
                    const auto vb = vec::F::load_unaligned(bias + c);
                    each_output(s, g, t0 + i, [&](std::size_t at, std::size_t dy, std::size_t dx) {
                        xsimd::min(xsimd::max(r[dy][dx] + vb, vlo), vhi).store_unaligned(dst + at + c);
                    });
                }
                for (std::size_t c = full; c < OC; ++c) {
                    float r[2][2];
                    output_transform(m + c, n * OC, r);
                    each_output(s, g, t0 + i, [&](std::size_t at, std::size_t dy, std::size_t dx) {
                        dst[at + c] = std::min(std::max(r[dy][dx] + bias[c], lo), hi);
                    });
                }
            }
        }
    }
}

#endif // EDGESTACK_SIMD_AVX2

} // namespace edgestack::kernels::winograd
