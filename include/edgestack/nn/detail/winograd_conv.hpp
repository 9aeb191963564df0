// Conv2D's fast path in training for 3x3 stride-1 layers of 16+ channels (AVX2+FMA builds):
// the forward pass runs on the Winograd F(2x2, 3x3) kernels the inference engine uses too
// (kernels/winograd.hpp), with 2.25x fewer multiplications than im2col + GEMM and no
// im2col matrix. The input gradient of a stride-1 convolution is itself a 3x3 convolution
// (of the output gradient, with the kernel flipped in space, its input and output channels
// swapped, and 2 - pad of padding on each side), so it runs as Winograd too, and so does the
// weight gradient (in the transformed domain, below).
// (The engine's direct kernel is not used for other shapes: on a 3x3 single-channel input its
// per-tile overhead made the forward pass slower than im2col + Eigen.)
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include "edgestack/kernels/winograd.hpp"
#include "edgestack/nn/detail/eigen.hpp"
#include "edgestack/nn/detail/gemm.hpp"

namespace edgestack::nn::detail {

#if defined(EDGESTACK_SIMD_AVX2)
inline constexpr bool winograd_available = true;
#else
inline constexpr bool winograd_available = false;
#endif

/// Whether a Conv2D trains through Winograd: both its forward convolution (h x w x c to
/// oh x ow x oc) and the transposed one of its input gradient must be eligible.
constexpr bool winograd_trainable(std::size_t kernel, std::size_t stride, std::size_t dilation,
                                  std::size_t h, std::size_t w, std::size_t c, std::size_t oh,
                                  std::size_t ow, std::size_t oc) noexcept {
    using kernels::winograd::shape_eligible;
    return winograd_available && dilation == 1 &&
           shape_eligible(kernel, kernel, stride, stride, c, oc, oh, ow) &&
           shape_eligible(kernel, kernel, stride, stride, oc, c, h, w);
}

#if defined(EDGESTACK_SIMD_AVX2)

/// The two Winograd convolutions of one Conv2D layer, in the layer's weight layout
/// [out][ky][kx][in]. Weights change every training step, so passes pack them again (C x OC
/// 4x4 transforms, small next to a batch's convolutions) unless they are unchanged.
class WinogradConv {
public:
    using Hwc = kernels::Hwc;

    /// pad = {top, left, bottom, right} of the forward convolution.
    WinogradConv(Hwc in, Hwc out, std::array<std::size_t, 4> pad)
        : fwd_(make_pass(in, out, pad)),
          bwd_(make_pass(out, in, {2 - pad[0], 2 - pad[1], 2 - pad[2], 2 - pad[3]})) {}

    /// Scratch one worker needs for either pass, in floats.
    std::size_t scratch_floats() const noexcept {
        const std::size_t bytes = std::max(fwd_.scratch_bytes, bwd_.scratch_bytes);
        return (bytes + sizeof(float) - 1) / sizeof(float);
    }

    void set_weights(std::span<const float> w, std::span<const float> bias) {
        // Unchanged weights (evaluation, inference through the training model) keep their
        // transform; after an update the first weight already differs.
        if (std::ranges::equal(w, fwd_.w) && std::ranges::equal(bias, fwd_.b)) return;
        fwd_.w.assign(w.begin(), w.end());
        fwd_.b.assign(bias.begin(), bias.end());
        kernels::winograd::pack_f32(fwd_, fwd_.w, fwd_.packed);
    }
    /// The input-gradient kernel: w'[c][ky][kx][o] = w[o][2 - ky][2 - kx][c].
    void set_weights_transposed(std::span<const float> w) {
        const std::size_t C = fwd_.in.c, OC = fwd_.out.c;
        bwd_.w.resize(w.size());
        for (std::size_t o = 0; o < OC; ++o)
            for (std::size_t t = 0; t < 9; ++t)
                for (std::size_t c = 0; c < C; ++c)
                    bwd_.w[(c * 9 + (8 - t)) * OC + o] = w[(o * 9 + t) * C + c];
        kernels::winograd::pack_f32(bwd_, bwd_.w, bwd_.packed);
    }

    /// y = conv(x) + bias for `n` samples, then ReLU if `relu`.
    void forward(const float* x, float* y, std::size_t n, float* scratch, bool relu) const noexcept {
        run(fwd_, x, y, n, scratch, relu ? 0.0f : -std::numeric_limits<float>::infinity());
    }
    /// dx = the input gradient of `n` samples from their output gradient dy (overwrites dx).
    void input_grad(const float* dy, float* dx, std::size_t n, float* scratch) const noexcept {
        run(bwd_, dy, dx, n, scratch, -std::numeric_limits<float>::infinity());
    }

    /// Scratch of weight_grad for `n` samples, in floats.
    std::size_t weight_grad_floats(std::size_t n) const noexcept {
        const auto g = kernels::winograd::geometry(fwd_, false);
        const std::size_t rows = n * g.tiles;
        return g.ph * g.pw * fwd_.in.c + 16 * rows * (fwd_.in.c + fwd_.out.c) +
               16 * fwd_.in.c * fwd_.out.c + 10 * fwd_.out.c;
    }

    /// dw (layout [o][ky][kx][c], overwritten) of `n` samples from their inputs x and output
    /// gradients dy, in the Winograd domain: with M = U . V and Y = A^T M A, the gradient of
    /// M is A dY A^T, of U is sum over tiles of V^T dM (16 GEMMs of depth n x tiles, through
    /// Eigen), and of g is G^T dU G. 2.25x fewer multiplications than dy^T x over im2col.
    void weight_grad(const float* x, const float* dy, std::size_t n, float* dw,
                     float* scratch) const {
        namespace wg = kernels::winograd;
        const auto g = wg::geometry(fwd_, false);
        const std::size_t C = fwd_.in.c, OC = fwd_.out.c, T = g.tiles, rows = n * T;
        const std::size_t OH = fwd_.out.h, OW = fwd_.out.w;
        float* pad = scratch;
        float* V = pad + g.ph * g.pw * C;  // [16][rows][C]
        float* dM = V + 16 * rows * C;     // [16][rows][OC]
        float* dU = dM + 16 * rows * OC;   // [16][C][OC], then [3][3][OC]
        const float* zeros = dU + 16 * C * OC + 9 * OC; // OC zeros
        std::fill_n(dU + 16 * C * OC + 9 * OC, OC, 0.0f);
        for (std::size_t s = 0; s < n; ++s) {
            kernels::pad_image(fwd_, x + s * fwd_.in.size(), pad, g.ph, g.pw, 0.0f);
            wg::transform_inputs<wg::vec::F>(fwd_, g, pad, 0, T, V + s * T * C, rows * C);
            const float* d = dy + s * fwd_.out.size();
            for (std::size_t t = 0; t < T; ++t) {
                const std::size_t y0 = 2 * (t / g.tw), x0 = 2 * (t % g.tw);
                // The tile's 2x2 output gradients; those past the image read zeros.
                auto at = [&](std::size_t a, std::size_t b) {
                    return y0 + a < OH && x0 + b < OW ? d + ((y0 + a) * OW + x0 + b) * OC : zeros;
                };
                const float *v00 = at(0, 0), *v01 = at(0, 1), *v10 = at(1, 0), *v11 = at(1, 1);
                float* m = dM + (s * T + t) * OC;
                const std::size_t ms = rows * OC;
                each_lane_group(OC, [&]<class V>(std::size_t o) {
                    using wg::vec::load, wg::vec::store;
                    const V a = load<V>(v00 + o), b = load<V>(v01 + o);
                    const V c = load<V>(v10 + o), e = load<V>(v11 + o);
                    // r = A dY (4 x 2), then dM = r A^T (4 x 4).
                    const V r[4][2] = {{a, b}, {a + c, b + e}, {a - c, b - e}, {V(0) - c, V(0) - e}};
                    for (std::size_t i = 0; i < 4; ++i) {
                        store<V>(r[i][0], m + (i * 4 + 0) * ms + o);
                        store<V>(r[i][0] + r[i][1], m + (i * 4 + 1) * ms + o);
                        store<V>(r[i][0] - r[i][1], m + (i * 4 + 2) * ms + o);
                        store<V>(V(0) - r[i][1], m + (i * 4 + 3) * ms + o);
                    }
                });
            }
        }
        const auto r = static_cast<Eigen::Index>(rows), c = static_cast<Eigen::Index>(C),
                   oc = static_cast<Eigen::Index>(OC);
        for (std::size_t xi = 0; xi < 16; ++xi) // dU = V^T dM, per Winograd point
            gemm(true, false, c, oc, r, V + xi * rows * C, c, dM + xi * rows * OC, oc,
                 dU + xi * C * OC, oc, false);
        // dg = G^T dU G, G = {1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1}: rows of dU combine as
        // u0 + h(u1 + u2), h(u1 - u2), h(u1 + u2) + u3 (h = 1/2), then the columns the same.
        float* g3 = dU + 16 * C * OC; // [3][3][OC] for one input channel
        for (std::size_t ci = 0; ci < C; ++ci) {
            const float* u[16];
            for (std::size_t xi = 0; xi < 16; ++xi) u[xi] = dU + (xi * C + ci) * OC;
            each_lane_group(OC, [&]<class V>(std::size_t o) {
                using wg::vec::load, wg::vec::store;
                const V h(0.5f);
                V t[3][4]; // G^T dU
                for (std::size_t j = 0; j < 4; ++j) {
                    const V u0 = load<V>(u[j] + o), u1 = load<V>(u[4 + j] + o);
                    const V u2 = load<V>(u[8 + j] + o), u3 = load<V>(u[12 + j] + o);
                    t[0][j] = u0 + h * (u1 + u2);
                    t[1][j] = h * (u1 - u2);
                    t[2][j] = h * (u1 + u2) + u3;
                }
                for (std::size_t r = 0; r < 3; ++r) { // (G^T dU) G
                    store<V>(t[r][0] + h * (t[r][1] + t[r][2]), g3 + (r * 3 + 0) * OC + o);
                    store<V>(h * (t[r][1] - t[r][2]), g3 + (r * 3 + 1) * OC + o);
                    store<V>(h * (t[r][1] + t[r][2]) + t[r][3], g3 + (r * 3 + 2) * OC + o);
                }
            });
            for (std::size_t o = 0; o < OC; ++o)
                for (std::size_t k = 0; k < 9; ++k) dw[(o * 9 + k) * C + ci] = g3[k * OC + o];
        }
    }

private:
    /// f<xsimd batch>(o) over full lane groups of [0, n), then f<float>(o) over the rest.
    template <class F>
    static void each_lane_group(std::size_t n, F&& f) {
        using V = kernels::winograd::vec::F;
        std::size_t o = 0;
        for (; o + V::size <= n; o += V::size) f.template operator()<V>(o);
        for (; o < n; ++o) f.template operator()<float>(o);
    }

    /// One of the two convolutions: its geometry, weights [out][ky][kx][in], bias and the
    /// weights' Winograd transform.
    struct Pass : kernels::Window {
        std::vector<float> w, b, packed;
        std::size_t scratch_bytes = 0;
    };

    static Pass make_pass(Hwc in, Hwc out, std::array<std::size_t, 4> pad) {
        Pass s;
        s.in = in;
        s.out = out;
        s.kh = s.kw = 3;
        s.pt = pad[0];
        s.pl = pad[1];
        s.pb = pad[2];
        s.pr = pad[3];
        s.w.assign(in.c * out.c * 9, 0.0f);
        s.b.assign(out.c, 0.0f);
        kernels::winograd::pack_f32(s, s.w, s.packed);
        s.scratch_bytes = kernels::winograd::scratch_bytes(s, false);
        return s;
    }
    static void run(const Pass& s, const float* x, float* y, std::size_t n, float* scratch,
                    float lo) noexcept {
        kernels::winograd::f32_conv(s, s.packed.data(), s.b.data(), x, y, n,
                                    reinterpret_cast<std::byte*>(scratch), lo,
                                    std::numeric_limits<float>::infinity());
    }

    Pass fwd_, bwd_;
};

#endif // EDGESTACK_SIMD_AVX2

/// A Conv2D's Winograd state: empty unless the layer trains through Winograd.
template <bool On>
struct WinogradSlot {};

#if defined(EDGESTACK_SIMD_AVX2)
template <>
struct WinogradSlot<true> {
    std::optional<WinogradConv> conv; // built on first use
};
#endif

} // namespace edgestack::nn::detail
