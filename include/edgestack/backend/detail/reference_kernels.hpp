// Plain-loop kernels of the Reference backend: the oracle every other backend is tested
// against, fp32 and int8. Each is a static member of ReferenceKernels, so another backend
// derives from it and replaces only the kernels it does better (customization by name
// hiding, no if-chains). Names follow <dtype>_<op>.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::backend::detail {

inline float apply_activation(float v, compile::Activation a) noexcept {
    switch (a) {
    case compile::Activation::relu: return v > 0.0f ? v : 0.0f;
    case compile::Activation::relu6: return std::clamp(v, 0.0f, 6.0f);
    case compile::Activation::none: break;
    }
    return v;
}

struct ReferenceKernels {
    static constexpr const char* name = "reference";

    /// Called once per step at compile time: pack weights for this backend's kernels.
    static void pack(Step&) {}

    // ---- fp32 -------------------------------------------------------------------------
    static void f32_dense(const Step& s, const float* x, float* y, std::size_t batch,
                          std::byte*) noexcept {
        const std::size_t in = s.in.c, out = s.out.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t o = 0; o < out; ++o) {
                float acc = s.b[o];
                for (std::size_t i = 0; i < in; ++i) acc += x[b * in + i] * s.w[o * in + i];
                y[b * out + o] = apply_activation(acc, s.act);
            }
    }

    /// conv2d (depthwise = false) or depthwise conv; padding reads zeros.
    static void f32_conv(const Step& s, const float* x, float* y, std::size_t batch,
                         bool depthwise) noexcept {
        const std::size_t C = s.in.c, OC = s.out.c;
        for (std::size_t b = 0; b < batch; ++b) {
            const float* xb = x + b * s.in.size();
            float* yb = y + b * s.out.size();
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow)
                    for (std::size_t o = 0; o < OC; ++o) {
                        float acc = s.b[o];
                        for (std::size_t i = 0; i < s.kh; ++i)
                            for (std::size_t j = 0; j < s.kw; ++j) {
                                const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * s.sh + i) -
                                                          static_cast<std::ptrdiff_t>(s.pt);
                                const std::ptrdiff_t iw = static_cast<std::ptrdiff_t>(ow * s.sw + j) -
                                                          static_cast<std::ptrdiff_t>(s.pl);
                                if (ih < 0 || iw < 0 || ih >= static_cast<std::ptrdiff_t>(s.in.h) ||
                                    iw >= static_cast<std::ptrdiff_t>(s.in.w))
                                    continue;
                                const float* px = xb + (static_cast<std::size_t>(ih) * s.in.w +
                                                        static_cast<std::size_t>(iw)) * C;
                                if (depthwise) {
                                    acc += px[o] * s.w[(i * s.kw + j) * OC + o];
                                } else {
                                    const float* pw = s.w.data() + ((o * s.kh + i) * s.kw + j) * C;
                                    for (std::size_t c = 0; c < C; ++c) acc += px[c] * pw[c];
                                }
                            }
                        yb[(oh * s.out.w + ow) * OC + o] = apply_activation(acc, s.act);
                    }
        }
    }
    static void f32_conv2d(const Step& s, const float* x, float* y, std::size_t batch,
                           std::byte*) noexcept {
        f32_conv(s, x, y, batch, false);
    }
    static void f32_depthwise_conv2d(const Step& s, const float* x, float* y, std::size_t batch,
                                     std::byte*) noexcept {
        f32_conv(s, x, y, batch, true);
    }

    /// Max or average pool; padded positions never win a max and are not counted in an
    /// average.
    static void f32_pool(const Step& s, const float* x, float* y, std::size_t batch,
                         bool max) noexcept {
        const std::size_t C = s.in.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow)
                    for (std::size_t c = 0; c < C; ++c) {
                        float acc = max ? -std::numeric_limits<float>::infinity() : 0.0f;
                        std::size_t n = 0;
                        for_window(s, oh, ow, [&](std::size_t ih, std::size_t iw) {
                            const float v = x[b * s.in.size() + (ih * s.in.w + iw) * C + c];
                            acc = max ? std::max(acc, v) : acc + v;
                            ++n;
                        });
                        y[b * s.out.size() + (oh * s.out.w + ow) * C + c] =
                            max ? acc : acc / static_cast<float>(n);
                    }
    }
    static void f32_max_pool2d(const Step& s, const float* x, float* y, std::size_t batch,
                               std::byte*) noexcept {
        f32_pool(s, x, y, batch, true);
    }
    static void f32_avg_pool2d(const Step& s, const float* x, float* y, std::size_t batch,
                               std::byte*) noexcept {
        f32_pool(s, x, y, batch, false);
    }
    static void f32_global_avg_pool(const Step& s, const float* x, float* y, std::size_t batch,
                                    std::byte*) noexcept {
        const std::size_t hw = s.in.h * s.in.w, C = s.in.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t c = 0; c < C; ++c) {
                float acc = 0.0f;
                for (std::size_t i = 0; i < hw; ++i) acc += x[b * s.in.size() + i * C + c];
                y[b * C + c] = acc / static_cast<float>(hw);
            }
    }
    static void f32_unary(const Step& s, const float* x, float* y, std::size_t n) noexcept {
        for (std::size_t i = 0; i < n; ++i) {
            const float v = x[i];
            switch (s.op) {
            case compile::Op::relu: y[i] = v > 0.0f ? v : 0.0f; break;
            case compile::Op::relu6: y[i] = std::clamp(v, 0.0f, 6.0f); break;
            default: y[i] = table_fn(s.op, v, s.alpha); break;
            }
        }
    }
    static void f32_batch_norm(const Step& s, const float* x, float* y, std::size_t n) noexcept {
        const std::size_t C = s.in.c;
        for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * s.w[i % C] + s.b[i % C];
    }
    static void f32_softmax(const Step& s, const float* x, float* y, std::size_t batch) noexcept {
        const std::size_t C = s.in.c, rows = batch * s.in.h * s.in.w;
        for (std::size_t r = 0; r < rows; ++r) {
            const float* xr = x + r * C;
            float* yr = y + r * C;
            const float m = *std::max_element(xr, xr + C);
            float sum = 0.0f;
            for (std::size_t c = 0; c < C; ++c) sum += (yr[c] = std::exp(xr[c] - m));
            for (std::size_t c = 0; c < C; ++c) yr[c] /= sum;
        }
    }
    static void f32_add(const Step&, const float* a, const float* b, float* y,
                        std::size_t n) noexcept {
        for (std::size_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
    }
    static void f32_concat(const Step& s, const float* a, const float* b, float* y,
                           std::size_t batch) noexcept {
        concat_rows(s, a, b, y, batch, [](float v, bool) { return v; });
    }

    // ---- int8 (docs/engine.md: the int8 contract) -------------------------------------
    static void qs8_dense(const Step& s, const std::int8_t* x, std::int8_t* y, std::size_t batch,
                          std::byte*) noexcept {
        const std::size_t in = s.in.c, out = s.out.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t o = 0; o < out; ++o) {
                std::int32_t acc = s.qb[o];
                for (std::size_t i = 0; i < in; ++i)
                    acc += std::int32_t{x[b * in + i]} * std::int32_t{s.qw[o * in + i]};
                y[b * out + o] = quant::requantize(acc, s.rq[o], s.zp_out, s.lo, s.hi);
            }
    }

    /// Padding reads zp_in (real zero); qb already holds -zp_in * sum(w), so every tap is
    /// x * w with x the raw code.
    static void qs8_conv(const Step& s, const std::int8_t* x, std::int8_t* y, std::size_t batch,
                         bool depthwise) noexcept {
        const std::size_t C = s.in.c, OC = s.out.c;
        for (std::size_t b = 0; b < batch; ++b) {
            const std::int8_t* xb = x + b * s.in.size();
            std::int8_t* yb = y + b * s.out.size();
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow)
                    for (std::size_t o = 0; o < OC; ++o) {
                        std::int32_t acc = s.qb[o];
                        for (std::size_t i = 0; i < s.kh; ++i)
                            for (std::size_t j = 0; j < s.kw; ++j) {
                                const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * s.sh + i) -
                                                          static_cast<std::ptrdiff_t>(s.pt);
                                const std::ptrdiff_t iw = static_cast<std::ptrdiff_t>(ow * s.sw + j) -
                                                          static_cast<std::ptrdiff_t>(s.pl);
                                const bool pad = ih < 0 || iw < 0 ||
                                                 ih >= static_cast<std::ptrdiff_t>(s.in.h) ||
                                                 iw >= static_cast<std::ptrdiff_t>(s.in.w);
                                const std::int8_t* px =
                                    pad ? nullptr
                                        : xb + (static_cast<std::size_t>(ih) * s.in.w +
                                                static_cast<std::size_t>(iw)) * C;
                                if (depthwise) {
                                    const std::int32_t v = pad ? s.zp_in : px[o];
                                    acc += v * s.qw[(i * s.kw + j) * OC + o];
                                } else {
                                    const std::int8_t* pw = s.qw.data() + ((o * s.kh + i) * s.kw + j) * C;
                                    for (std::size_t c = 0; c < C; ++c)
                                        acc += (pad ? s.zp_in : std::int32_t{px[c]}) * std::int32_t{pw[c]};
                                }
                            }
                        yb[(oh * s.out.w + ow) * OC + o] = quant::requantize(acc, s.rq[o], s.zp_out, s.lo, s.hi);
                    }
        }
    }
    static void qs8_conv2d(const Step& s, const std::int8_t* x, std::int8_t* y, std::size_t batch,
                           std::byte*) noexcept {
        qs8_conv(s, x, y, batch, false);
    }
    static void qs8_depthwise_conv2d(const Step& s, const std::int8_t* x, std::int8_t* y,
                                     std::size_t batch, std::byte*) noexcept {
        qs8_conv(s, x, y, batch, true);
    }
    static void qs8_pool(const Step& s, const std::int8_t* x, std::int8_t* y, std::size_t batch,
                         bool max) noexcept {
        const std::size_t C = s.in.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow)
                    for (std::size_t c = 0; c < C; ++c) {
                        std::int32_t acc = max ? -128 : 0;
                        std::size_t n = 0;
                        for_window(s, oh, ow, [&](std::size_t ih, std::size_t iw) {
                            const std::int32_t v = x[b * s.in.size() + (ih * s.in.w + iw) * C + c];
                            acc = max ? std::max(acc, v) : acc + (v - s.zp_in);
                            ++n;
                        });
                        y[b * s.out.size() + (oh * s.out.w + ow) * C + c] =
                            max ? static_cast<std::int8_t>(acc)
                                : quant::requantize(acc, s.count_rq[n], s.zp_out);
                    }
    }
    static void qs8_max_pool2d(const Step& s, const std::int8_t* x, std::int8_t* y,
                               std::size_t batch, std::byte*) noexcept {
        qs8_pool(s, x, y, batch, true);
    }
    static void qs8_avg_pool2d(const Step& s, const std::int8_t* x, std::int8_t* y,
                               std::size_t batch, std::byte*) noexcept {
        qs8_pool(s, x, y, batch, false);
    }
    static void qs8_global_avg_pool(const Step& s, const std::int8_t* x, std::int8_t* y,
                                    std::size_t batch, std::byte*) noexcept {
        const std::size_t hw = s.in.h * s.in.w, C = s.in.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t c = 0; c < C; ++c) {
                std::int32_t acc = 0;
                for (std::size_t i = 0; i < hw; ++i)
                    acc += std::int32_t{x[b * s.in.size() + i * C + c]} - s.zp_in;
                y[b * C + c] = quant::requantize(acc, s.count_rq[0], s.zp_out);
            }
    }
    static void qs8_unary(const Step& s, const std::int8_t* x, std::int8_t* y,
                          std::size_t n) noexcept {
        if (!s.table.empty()) {
            for (std::size_t i = 0; i < n; ++i)
                y[i] = s.table[static_cast<std::size_t>(std::int32_t{x[i]} + 128)];
            return;
        }
        for (std::size_t i = 0; i < n; ++i)
            y[i] = static_cast<std::int8_t>(std::clamp<std::int32_t>(x[i], s.lo, s.hi));
    }
    static void qs8_softmax(const Step& s, const std::int8_t* x, std::int8_t* y,
                            std::size_t batch) noexcept {
        const std::size_t C = s.in.c, rows = batch * s.in.h * s.in.w;
        for (std::size_t r = 0; r < rows; ++r) {
            const std::int8_t* xr = x + r * C;
            std::int8_t* yr = y + r * C;
            const std::int8_t m = *std::max_element(xr, xr + C);
            float sum = 0.0f;
            for (std::size_t c = 0; c < C; ++c)
                sum += std::exp(s.s_in * static_cast<float>(std::int32_t{xr[c]} - m));
            for (std::size_t c = 0; c < C; ++c)
                yr[c] = quant::quantize(std::exp(s.s_in * static_cast<float>(std::int32_t{xr[c]} - m)) / sum,
                                        s.s_out, s.zp_out);
        }
    }
    static void qs8_add(const Step& s, const std::int8_t* a, const std::int8_t* b, std::int8_t* y,
                        std::size_t n) noexcept {
        constexpr int k = 20;
        const quant::Requant down{1 << 30, k - 1}; // 2^30 * 2^-(31 + k - 1) = 2^-k
        for (std::size_t i = 0; i < n; ++i) {
            const std::int32_t ea = quant::multiply_by_quantized((std::int32_t{a[i]} - s.zp_in) * (1 << k), s.add_a);
            const std::int32_t eb = quant::multiply_by_quantized((std::int32_t{b[i]} - s.zp_in2) * (1 << k), s.add_b);
            y[i] = quant::requantize(ea + eb, down, s.zp_out);
        }
    }

    static void qs8_concat(const Step& s, const std::int8_t* a, const std::int8_t* b,
                           std::int8_t* y, std::size_t batch) noexcept {
        concat_rows(s, a, b, y, batch, [&s](std::int8_t v, bool first) {
            return first ? quant::requantize(std::int32_t{v} - s.zp_in, s.add_a, s.zp_out)
                         : quant::requantize(std::int32_t{v} - s.zp_in2, s.add_b, s.zp_out);
        });
    }

private:
    /// Per position, the first input's channels then the second's, each through `f`.
    template <class T, class F>
    static void concat_rows(const Step& s, const T* a, const T* b, T* y, std::size_t batch,
                            F&& f) noexcept {
        const std::size_t ca = s.in.c, cb = s.out.c - s.in.c, rows = batch * s.out.h * s.out.w;
        for (std::size_t r = 0; r < rows; ++r) {
            for (std::size_t c = 0; c < ca; ++c) *y++ = f(a[r * ca + c], true);
            for (std::size_t c = 0; c < cb; ++c) *y++ = f(b[r * cb + c], false);
        }
    }

    template <class F>
    static void for_window(const Step& s, std::size_t oh, std::size_t ow, F&& f) noexcept {
        for (std::size_t i = 0; i < s.kh; ++i)
            for (std::size_t j = 0; j < s.kw; ++j) {
                const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * s.sh + i) - static_cast<std::ptrdiff_t>(s.pt);
                const std::ptrdiff_t iw = static_cast<std::ptrdiff_t>(ow * s.sw + j) - static_cast<std::ptrdiff_t>(s.pl);
                if (ih < 0 || iw < 0 || ih >= static_cast<std::ptrdiff_t>(s.in.h) ||
                    iw >= static_cast<std::ptrdiff_t>(s.in.w))
                    continue;
                f(static_cast<std::size_t>(ih), static_cast<std::size_t>(iw));
            }
    }
};

} // namespace edgestack::backend::detail
