// Conv2D's fast path in training for 3x3 stride-1 layers of 16+ channels (AVX2+FMA builds):
// the forward pass runs on the inference engine's Winograd F(2x2, 3x3) kernels
// (backend/detail/winograd.hpp), with 2.25x fewer multiplications than im2col + GEMM and no
// im2col matrix. The input gradient of a stride-1 convolution is itself a 3x3 convolution
// (of the output gradient, with the kernel flipped in space, its input and output channels
// swapped, and 2 - pad of padding on each side), so it runs as Winograd too.
// (The engine's direct kernel is not used for other shapes: on a 3x3 single-channel input its
// per-tile overhead made the forward pass slower than im2col + Eigen.)
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>

#include "edgestack/backend/detail/winograd.hpp"

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
    using backend::detail::winograd::shape_eligible;
    return winograd_available && dilation == 1 &&
           shape_eligible(kernel, kernel, stride, stride, c, oc, oh, ow) &&
           shape_eligible(kernel, kernel, stride, stride, oc, c, h, w);
}

#if defined(EDGESTACK_SIMD_AVX2)

/// The two Winograd convolutions of one Conv2D layer, in the layer's weight layout
/// [out][ky][kx][in]. Weights change every step, so each pass packs them again (C x OC 4x4
/// transforms, small next to a batch's convolutions).
class WinogradConv {
public:
    using Step = backend::detail::Step;
    using Hwc = backend::detail::Hwc;

    /// pad = {top, left, bottom, right} of the forward convolution.
    WinogradConv(Hwc in, Hwc out, std::array<std::size_t, 4> pad)
        : fwd_(step(in, out, pad)),
          bwd_(step(out, in, {2 - pad[0], 2 - pad[1], 2 - pad[2], 2 - pad[3]})) {}

    /// Scratch one worker needs for either pass, in floats.
    std::size_t scratch_floats() const noexcept {
        const std::size_t bytes = std::max(fwd_.scratch_bytes, bwd_.scratch_bytes);
        return (bytes + sizeof(float) - 1) / sizeof(float);
    }

    void set_weights(std::span<const float> w, std::span<const float> bias) {
        fwd_.w.assign(w.begin(), w.end());
        fwd_.b.assign(bias.begin(), bias.end());
        backend::detail::winograd::pack(fwd_);
    }
    /// The input-gradient kernel: w'[c][ky][kx][o] = w[o][2 - ky][2 - kx][c].
    void set_weights_transposed(std::span<const float> w) {
        const std::size_t C = fwd_.in.c, OC = fwd_.out.c;
        bwd_.w.resize(w.size());
        for (std::size_t o = 0; o < OC; ++o)
            for (std::size_t t = 0; t < 9; ++t)
                for (std::size_t c = 0; c < C; ++c)
                    bwd_.w[(c * 9 + (8 - t)) * OC + o] = w[(o * 9 + t) * C + c];
        backend::detail::winograd::pack(bwd_);
    }

    /// y = conv(x) + bias for `n` samples.
    void forward(const float* x, float* y, std::size_t n, float* scratch) const noexcept {
        run(fwd_, x, y, n, scratch);
    }
    /// dx = the input gradient of `n` samples from their output gradient dy (overwrites dx).
    void input_grad(const float* dy, float* dx, std::size_t n, float* scratch) const noexcept {
        run(bwd_, dy, dx, n, scratch);
    }

private:
    static Step step(Hwc in, Hwc out, std::array<std::size_t, 4> pad) {
        Step s;
        s.op = compile::Op::conv2d;
        s.in = in;
        s.out = out;
        s.kh = s.kw = 3;
        s.pt = pad[0];
        s.pl = pad[1];
        s.pb = pad[2];
        s.pr = pad[3];
        s.w.assign(in.c * out.c * 9, 0.0f);
        s.b.assign(out.c, 0.0f);
        backend::detail::winograd::pack(s); // sizes the scratch
        return s;
    }
    static void run(const Step& s, const float* x, float* y, std::size_t n, float* scratch) noexcept {
        const float inf = std::numeric_limits<float>::infinity();
        backend::detail::winograd::f32_conv(s, x, y, n, reinterpret_cast<std::byte*>(scratch), -inf, inf);
    }

    Step fwd_, bwd_;
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
