// Op unit: conv2d. Weights [out][kh][kw][in], bias [out]; any kernel, stride and explicit
// padding (top, left, bottom, right); padding reads real zero (the input zero point in
// int8). Dilation is part of the shape rule and the ONNX form; the engines refuse it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"
#include "edgestack/compile/ops/weighted.hpp"
#include "edgestack/core/aligned.hpp"

namespace edgestack::compile::ops {

/// Convolution of an H x W x C value.
struct Conv2d : UnitBase {
    static constexpr Op op = Op::conv2d;                      ///< its enumerator
    using State = Weighted;                                   ///< weights, bias, int8 form
    static constexpr Int8Role int8_role = Int8Role::weights;  ///< see Int8Role
    static constexpr std::string_view kernel = "igemm";       ///< XNNPACK's kernel family

    /// The window rule with the output's own channel count.
    static std::string check(const Node& n, const Io& io) {
        return check_window(n, io, io.out.empty() ? 0 : io.out.back());
    }
    /// [out][kh][kw][in] weights, `out` biases.
    static Tensors tensors(const Node& n, const Io& io) {
        const std::size_t oc = io.out.back();
        return {oc * n.kernel[0] * n.kernel[1] * io.in.back(), oc, 0, oc};
    }
    /// Every output element: kh x kw x in.
    static std::size_t macs(const Node& n, const Io& io) {
        return volume(io.out) * n.kernel[0] * n.kernel[1] * io.in.back();
    }
    /// The weights, and scratch for a padded copy of the input.
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        prepare_weighted(s, st, n, p, s.out.c, s.kh * s.kw * s.in.c, false);
        pad_scratch(s, p);
    }
    /// Scratch for the padded copy of one image, when the window pads.
    template <class S>
    static void pad_scratch(S& s, const Prep& p) {
        if (s.pt + s.pb + s.pl + s.pr != 0)
            s.scratch_bytes = align_up((s.in.h + s.pt + s.pb) * (s.in.w + s.pl + s.pr) * s.in.c * p.elem);
    }

    /// The definition (depthwise: one filter per channel, weights [kh][kw][C]).
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        run(s, st, x, y, batch, false);
    }
    /// The loops conv2d and depthwise_conv2d share.
    template <class S, class T>
    static void run(const S& s, const Weighted& st, const T* x, T* y, std::size_t batch, bool depthwise) noexcept {
        constexpr bool f32 = std::is_same_v<T, float>;
        using Acc = std::conditional_t<f32, float, std::int32_t>;
        const std::size_t C = s.in.c, OC = s.out.c;
        for (std::size_t b = 0; b < batch; ++b) {
            const T* xb = x + b * s.in.size();
            T* yb = y + b * s.out.size();
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow)
                    for (std::size_t o = 0; o < OC; ++o) {
                        Acc acc;
                        if constexpr (f32) acc = st.b[o];
                        else acc = st.qb[o];
                        // qb holds -zp_in * sum(w), so a padded tap adds zp_in * w in int8.
                        const Acc pad_value = f32 ? Acc{0} : static_cast<Acc>(s.zp_in);
                        for (std::size_t i = 0; i < s.kh; ++i)
                            for (std::size_t j = 0; j < s.kw; ++j) {
                                const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * s.sh + i) - static_cast<std::ptrdiff_t>(s.pt);
                                const std::ptrdiff_t iw = static_cast<std::ptrdiff_t>(ow * s.sw + j) - static_cast<std::ptrdiff_t>(s.pl);
                                const bool pad = ih < 0 || iw < 0 || ih >= static_cast<std::ptrdiff_t>(s.in.h) ||
                                                 iw >= static_cast<std::ptrdiff_t>(s.in.w);
                                if (pad && f32) continue;
                                const T* px = pad ? nullptr
                                                  : xb + (static_cast<std::size_t>(ih) * s.in.w + static_cast<std::size_t>(iw)) * C;
                                if (depthwise) {
                                    const std::size_t wi = (i * s.kw + j) * OC + o;
                                    const Acc v = pad ? pad_value : static_cast<Acc>(px[o]);
                                    if constexpr (f32) acc += v * st.w[wi];
                                    else acc += v * st.qw[wi];
                                } else {
                                    const std::size_t wo = ((o * s.kh + i) * s.kw + j) * C;
                                    for (std::size_t c = 0; c < C; ++c) {
                                        const Acc v = pad ? pad_value : static_cast<Acc>(px[c]);
                                        if constexpr (f32) acc += v * st.w[wo + c];
                                        else acc += v * std::int32_t{st.qw[wo + c]};
                                    }
                                }
                            }
                        if constexpr (f32) yb[(oh * s.out.w + ow) * OC + o] = apply_activation(acc, s.act);
                        else yb[(oh * s.out.w + ow) * OC + o] = quant::requantize(acc, st.rq[o], s.zp_out, st.lo, st.hi);
                    }
        }
    }

    /// Where ONNX's weight element (o, i, r, c) of an OIHW tensor ([C][1][kh][kw] for a
    /// depthwise one) sits in ours: [out][kh][kw][in], depthwise [kh][kw][C].
    static constexpr std::size_t weight_index(std::size_t o, std::size_t i, std::size_t r, std::size_t c,
                                              std::size_t kh, std::size_t kw, std::size_t ci, std::size_t co,
                                              bool dw) noexcept {
        return dw ? (r * kw + c) * co + o : ((o * kh + r) * kw + c) * ci + i;
    }
    /// Our weights from ONNX's OIHW ones: `co` outputs, `ci` inputs (1 for depthwise).
    template <class V>
    static std::vector<float> weights_from_onnx(const V& oihw, std::size_t co, std::size_t ci, std::size_t kh,
                                                std::size_t kw, bool dw) {
        std::vector<float> w(co * ci * kh * kw);
        for (std::size_t o = 0; o < co; ++o)
            for (std::size_t i = 0; i < ci; ++i)
                for (std::size_t r = 0; r < kh; ++r)
                    for (std::size_t c = 0; c < kw; ++c)
                        w[weight_index(o, i, r, c, kh, kw, dw ? 1 : ci, co, dw)] =
                            static_cast<float>(oihw[((o * ci + i) * kh + r) * kw + c]);
        return w;
    }

    /// Conv with weights re-laid out to OIHW.
    template <class E>
    static void to_onnx(E& e, const Node& n) { conv_to_onnx(e, n, false); }
    /// Conv or depthwise conv (group = channels, weights [C][1][kh][kw]); over a T x C
    /// value the 1-D Conv of N x C x T (weights [O][I][k]) between two Transposes.
    template <class E>
    static void conv_to_onnx(E& e, const Node& n, bool dw) {
        const std::string x = e.window_input(n);
        const bool one_d = e.in().size() == 2; // T x C: Conv over N x C x T, weights [O][I][k]
        const std::size_t kh = n.kernel[0], kw = n.kernel[1], ci = e.in().back(), co = e.out().back();
        const std::size_t per_out = dw ? 1 : ci;
        std::vector<std::size_t> order(co * per_out * kh * kw);
        std::size_t k = 0;
        for (std::size_t o = 0; o < co; ++o)
            for (std::size_t i = 0; i < per_out; ++i)
                for (std::size_t r = 0; r < kh; ++r)
                    for (std::size_t c = 0; c < kw; ++c)
                        order[k++] = weight_index(o, i, r, c, kh, kw, ci, co, dw);
        std::vector<std::int64_t> dims{static_cast<std::int64_t>(co), static_cast<std::int64_t>(per_out),
                                       static_cast<std::int64_t>(kh), static_cast<std::int64_t>(kw)};
        if (one_d) dims.erase(dims.begin() + 2);
        const auto w = e.weight(n, dims, order);
        const auto b = e.bias(n, co);
        std::vector<std::string> ins{x, w};
        if (!b.empty()) ins.push_back(b);
        auto& p = e.node("Conv", n.name, ins, {e.y});
        e.window_attrs(p, n, true);
        e.attr(p, "group", dw ? static_cast<std::int64_t>(co) : std::int64_t{1});
        e.window_output(n, e.fused(n, e.y));
    }
};

} // namespace edgestack::compile::ops
