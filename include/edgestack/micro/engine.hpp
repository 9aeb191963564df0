// The int8 engine for microcontrollers: a declared network as constant tables (weights,
// folded biases, requantization multipliers and the layer list, generated on the host by
// deploy::micro_source) and plain-loop kernels that follow the int8 contract of
// docs/engine.md bit for bit. Freestanding: no heap, no exceptions, no RTTI, no standard
// containers; every activation lives in one caller-provided arena. It includes only the C
// headers <stdint.h> and <stddef.h> (and core/round.hpp, which includes nothing), so a
// bare-metal toolchain without a C++ library (arm-none-eabi-g++ with newlib alone)
// compiles it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "edgestack/core/round.hpp"

namespace edgestack::micro {

/// A real multiplier M as multiplier * 2^-(31 + shift), as quant::Requant.
struct Requant {
    int32_t multiplier; ///< Q31 mantissa, in [2^30, 2^31)
    int32_t shift;      ///< right shift after the Q31 product (31 + shift in [1, 62])
};

/// round(acc * r.multiplier / 2^(31 + r.shift)), ties away from zero, in 64-bit integers:
/// quant::multiply_by_quantized, restated without the standard library.
constexpr int32_t multiply_by_quantized(int32_t acc, Requant r) noexcept {
    const int64_t p = static_cast<int64_t>(acc) * r.multiplier;
    const int total = 31 + r.shift;
    if (total <= 0) return static_cast<int32_t>(p << (-total));
    const int64_t half = int64_t{1} << (total - 1);
    const int64_t nudge = p >= 0 ? half : half - 1;
    return static_cast<int32_t>((p + nudge) >> total);
}

/// Requantize an int32 accumulator to int8: zero point added, clamped to [lo, hi].
constexpr int8_t requantize(int32_t acc, Requant r, int32_t zero_point,
                                 int32_t lo, int32_t hi) noexcept {
    int32_t v = multiply_by_quantized(acc, r) + zero_point;
    v = v < lo ? lo : v;
    return static_cast<int8_t>(v > hi ? hi : v);
}

/// quant::quantize: clamp(round_half_even(x / scale) + zero_point, -128, 127).
constexpr int8_t quantize(float x, float scale, int32_t zero_point) noexcept {
    float q = round_half_even(x / scale) + static_cast<float>(zero_point);
    q = q < -128.0f ? -128.0f : q;
    return static_cast<int8_t>(q > 127.0f ? 127.0f : q);
}

/// The real value of code `q`: scale * (q - zero_point).
constexpr float dequantize(int8_t q, float scale, int32_t zero_point) noexcept {
    return scale * static_cast<float>(static_cast<int32_t>(q) - zero_point);
}

struct Layer;
/// A kernel: reads its inputs from and writes its output into `arena`, at the layer's
/// offsets.
using Kernel = void (*)(const Layer&, int8_t* arena) noexcept;

/// One step of a network, as constant data (it lives in flash). Which fields a kernel reads
/// depends on the kernel; the generator fills the rest with zeros.
struct Layer {
    Kernel run;               ///< the kernel that runs it
    uint32_t in;         ///< byte offset of the (first) input in the arena
    uint32_t in2;        ///< byte offset of the second input (add, concat)
    uint32_t out;        ///< byte offset of the output
    int32_t in_h;        ///< input height (1 for vectors)
    int32_t in_w;        ///< input width
    int32_t in_c;        ///< input channels (dense: input length)
    int32_t out_h;       ///< output height
    int32_t out_w;       ///< output width
    int32_t out_c;       ///< output channels (dense: output length)
    int32_t kh;          ///< window height
    int32_t kw;          ///< window width
    int32_t sh;          ///< stride along the height
    int32_t sw;          ///< stride along the width
    int32_t pt;          ///< padding on top
    int32_t pl;          ///< padding on the left
    int32_t zp_in;       ///< zero point of the (first) input
    int32_t zp_in2;      ///< zero point of the second input
    int32_t zp_out;      ///< zero point of the output
    int32_t lo;          ///< lowest output code (a fused ReLU raises it)
    int32_t hi;          ///< highest output code (a fused ReLU6 lowers it)
    const int8_t* w;     ///< weights in the graph's layout, or a 256-entry table
    const int32_t* b;    ///< int32 bias per output channel, -zp_in * sum(w) folded in
    const Requant* rq;        ///< per output channel; avg pools: by count; add, concat: a, b
    float s_in;               ///< input scale (softmax only)
    float s_out;              ///< output scale (softmax only)
};

/// A whole network: its layers in order and where its input and output sit in the arena.
struct Network {
    const Layer* layers;           ///< in execution order
    size_t count;             ///< number of layers
    size_t arena_bytes;       ///< bytes the arena needs (every activation, one sample)
    uint32_t input;           ///< byte offset of the input codes in the arena
    uint32_t output;          ///< byte offset of the output codes
    size_t input_size;        ///< input codes per sample
    size_t output_size;       ///< output codes per sample
    float input_scale;             ///< the input's quantization scale
    int32_t input_zero_point; ///< the input's zero point
    float output_scale;            ///< the output's quantization scale
    int32_t output_zero_point; ///< the output's zero point
};

/// Runs every layer; the input codes must be at arena + net.input, and the output codes are
/// then at arena + net.output. The arena holds net.arena_bytes bytes.
inline void run(const Network& net, int8_t* arena) noexcept {
    for (size_t i = 0; i < net.count; ++i) net.layers[i].run(net.layers[i], arena);
}

// ---- kernels (names as the Reference backend's int8 kernels) -----------------------------

/// Fully connected: y[o] = requantize(b[o] + sum x[i] w[o][i]).
inline void qs8_dense(const Layer& l, int8_t* arena) noexcept {
    const int8_t* x = arena + l.in;
    int8_t* y = arena + l.out;
    for (int32_t o = 0; o < l.out_c; ++o) {
        const int8_t* w = l.w + o * l.in_c;
        int32_t acc = l.b[o];
        for (int32_t i = 0; i < l.in_c; ++i)
            acc += static_cast<int32_t>(x[i]) * static_cast<int32_t>(w[i]);
        y[o] = requantize(acc, l.rq[o], l.zp_out, l.lo, l.hi);
    }
}

namespace detail {
/// Whether input row/column (ih, iw) lies in the padding.
constexpr bool padded(const Layer& l, int32_t ih, int32_t iw) noexcept {
    return ih < 0 || iw < 0 || ih >= l.in_h || iw >= l.in_w;
}
} // namespace detail

/// Convolution, weights [out][kh][kw][in]; a padded tap reads zp_in (real zero), which the
/// folded bias cancels.
inline void qs8_conv2d(const Layer& l, int8_t* arena) noexcept {
    const int8_t* x = arena + l.in;
    int8_t* y = arena + l.out;
    const int32_t C = l.in_c, taps = l.kh * l.kw * C;
    for (int32_t oh = 0; oh < l.out_h; ++oh)
        for (int32_t ow = 0; ow < l.out_w; ++ow) {
            const int32_t ih0 = oh * l.sh - l.pt, iw0 = ow * l.sw - l.pl;
            for (int32_t o = 0; o < l.out_c; ++o) {
                const int8_t* w = l.w + o * taps;
                int32_t acc = l.b[o];
                for (int32_t i = 0; i < l.kh; ++i)
                    for (int32_t j = 0; j < l.kw; ++j, w += C) {
                        const int32_t ih = ih0 + i, iw = iw0 + j;
                        if (detail::padded(l, ih, iw)) {
                            for (int32_t c = 0; c < C; ++c)
                                acc += l.zp_in * static_cast<int32_t>(w[c]);
                            continue;
                        }
                        const int8_t* px = x + (ih * l.in_w + iw) * C;
                        for (int32_t c = 0; c < C; ++c)
                            acc += static_cast<int32_t>(px[c]) * static_cast<int32_t>(w[c]);
                    }
                y[(oh * l.out_w + ow) * l.out_c + o] = requantize(acc, l.rq[o], l.zp_out, l.lo, l.hi);
            }
        }
}

/// Depthwise convolution, weights [kh][kw][channels]; padded taps read zp_in.
inline void qs8_depthwise_conv2d(const Layer& l, int8_t* arena) noexcept {
    const int8_t* x = arena + l.in;
    int8_t* y = arena + l.out;
    const int32_t C = l.out_c;
    for (int32_t oh = 0; oh < l.out_h; ++oh)
        for (int32_t ow = 0; ow < l.out_w; ++ow)
            for (int32_t c = 0; c < C; ++c) {
                int32_t acc = l.b[c];
                for (int32_t i = 0; i < l.kh; ++i)
                    for (int32_t j = 0; j < l.kw; ++j) {
                        const int32_t ih = oh * l.sh - l.pt + i, iw = ow * l.sw - l.pl + j;
                        const int32_t v = detail::padded(l, ih, iw)
                                                   ? l.zp_in
                                                   : static_cast<int32_t>(x[(ih * l.in_w + iw) * C + c]);
                        acc += v * static_cast<int32_t>(l.w[(i * l.kw + j) * C + c]);
                    }
                y[(oh * l.out_w + ow) * C + c] = requantize(acc, l.rq[c], l.zp_out, l.lo, l.hi);
            }
}

namespace detail {
/// Max (padding never wins) or average over the real positions of each window.
inline void pool(const Layer& l, int8_t* arena, bool max) noexcept {
    const int8_t* x = arena + l.in;
    int8_t* y = arena + l.out;
    const int32_t C = l.in_c;
    for (int32_t oh = 0; oh < l.out_h; ++oh)
        for (int32_t ow = 0; ow < l.out_w; ++ow)
            for (int32_t c = 0; c < C; ++c) {
                int32_t acc = max ? -128 : 0, n = 0;
                for (int32_t i = 0; i < l.kh; ++i)
                    for (int32_t j = 0; j < l.kw; ++j) {
                        const int32_t ih = oh * l.sh - l.pt + i, iw = ow * l.sw - l.pl + j;
                        if (padded(l, ih, iw)) continue;
                        const int32_t v = x[(ih * l.in_w + iw) * C + c];
                        if (max)
                            acc = v > acc ? v : acc;
                        else
                            acc += v - l.zp_in;
                        ++n;
                    }
                y[(oh * l.out_w + ow) * C + c] =
                    max ? static_cast<int8_t>(acc) : requantize(acc, l.rq[n], l.zp_out, l.lo, l.hi);
            }
}
} // namespace detail

/// Max pool; keeps the input's quantization.
inline void qs8_max_pool2d(const Layer& l, int8_t* arena) noexcept { detail::pool(l, arena, true); }
/// Average pool: the sum of (x - zp_in) over the real positions, requantized by rq[count].
inline void qs8_avg_pool2d(const Layer& l, int8_t* arena) noexcept { detail::pool(l, arena, false); }

/// Average over height and width per channel, requantized by rq[0].
inline void qs8_global_avg_pool(const Layer& l, int8_t* arena) noexcept {
    const int8_t* x = arena + l.in;
    int8_t* y = arena + l.out;
    const int32_t hw = l.in_h * l.in_w, C = l.in_c;
    for (int32_t c = 0; c < C; ++c) {
        int32_t acc = 0;
        for (int32_t i = 0; i < hw; ++i) acc += static_cast<int32_t>(x[i * C + c]) - l.zp_in;
        y[c] = requantize(acc, l.rq[0], l.zp_out, l.lo, l.hi);
    }
}

/// ReLU / ReLU6 on codes: clamp to [lo, hi] (lo = zp, hi = 127 or the code of 6).
inline void qs8_clamp(const Layer& l, int8_t* arena) noexcept {
    const int8_t* x = arena + l.in;
    int8_t* y = arena + l.out;
    const int32_t n = l.out_h * l.out_w * l.out_c;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t v = x[i];
        y[i] = static_cast<int8_t>(v < l.lo ? l.lo : (v > l.hi ? l.hi : v));
    }
}

/// sigmoid, tanh, hard_swish, leaky_relu: a 256-entry table (w) indexed by code + 128.
inline void qs8_lookup(const Layer& l, int8_t* arena) noexcept {
    const int8_t* x = arena + l.in;
    int8_t* y = arena + l.out;
    const int32_t n = l.out_h * l.out_w * l.out_c;
    for (int32_t i = 0; i < n; ++i) y[i] = l.w[static_cast<int32_t>(x[i]) + 128];
}

/// Residual add: each input rescaled with 20 fractional bits (rq[0], rq[1]), summed,
/// rounding-shifted back.
inline void qs8_add(const Layer& l, int8_t* arena) noexcept {
    constexpr int k = 20;
    constexpr Requant down{1 << 30, k - 1}; // 2^30 * 2^-(31 + k - 1) = 2^-k
    const int8_t* a = arena + l.in;
    const int8_t* b = arena + l.in2;
    int8_t* y = arena + l.out;
    const int32_t n = l.out_h * l.out_w * l.out_c;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t ea = multiply_by_quantized((static_cast<int32_t>(a[i]) - l.zp_in) * (1 << k), l.rq[0]);
        const int32_t eb = multiply_by_quantized((static_cast<int32_t>(b[i]) - l.zp_in2) * (1 << k), l.rq[1]);
        y[i] = requantize(ea + eb, down, l.zp_out, l.lo, l.hi);
    }
}

/// Two inputs side by side along the channels (in_c of the first), each brought onto the
/// output's grid by rq[0] / rq[1].
inline void qs8_concat(const Layer& l, int8_t* arena) noexcept {
    const int8_t* a = arena + l.in;
    const int8_t* b = arena + l.in2;
    int8_t* y = arena + l.out;
    const int32_t ca = l.in_c, cb = l.out_c - l.in_c, rows = l.out_h * l.out_w;
    for (int32_t r = 0; r < rows; ++r) {
        for (int32_t c = 0; c < ca; ++c)
            *y++ = requantize(static_cast<int32_t>(a[r * ca + c]) - l.zp_in, l.rq[0], l.zp_out, l.lo, l.hi);
        for (int32_t c = 0; c < cb; ++c)
            *y++ = requantize(static_cast<int32_t>(b[r * cb + c]) - l.zp_in2, l.rq[1], l.zp_out, l.lo, l.hi);
    }
}

/// Softmax over the channels: the one float step of the int8 contract (dequantize, fp32
/// softmax, quantize). It calls the C library's expf, so it matches the host bit for bit
/// where both libraries compute expf the same way (glibc and newlib share one expf).
inline void qs8_softmax(const Layer& l, int8_t* arena) noexcept {
    const int8_t* x = arena + l.in;
    int8_t* y = arena + l.out;
    const int32_t C = l.in_c, rows = l.in_h * l.in_w;
    for (int32_t r = 0; r < rows; ++r, x += C, y += C) {
        int32_t m = -128;
        for (int32_t c = 0; c < C; ++c) m = x[c] > m ? x[c] : m;
        float sum = 0.0f;
        for (int32_t c = 0; c < C; ++c)
            sum += __builtin_expf(l.s_in * static_cast<float>(static_cast<int32_t>(x[c]) - m));
        for (int32_t c = 0; c < C; ++c)
            y[c] = quantize(__builtin_expf(l.s_in * static_cast<float>(static_cast<int32_t>(x[c]) - m)) / sum,
                            l.s_out, l.zp_out);
    }
}

} // namespace edgestack::micro
