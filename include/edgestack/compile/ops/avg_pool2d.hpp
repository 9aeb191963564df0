// Op unit: avg_pool2d. Any window, stride and padding; the mean is over the real (unpadded)
// positions (ONNX count_include_pad = 0; an importer turns count_include_pad = 1 into an
// explicit zero pad). int8: the sum of (x - zp_in) requantized by s_in / (s_out * count).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// The mean under each window position, per channel.
struct AvgPool2d : UnitBase {
    static constexpr Op op = Op::avg_pool2d; ///< its enumerator
    using State = CountRequant; ///< what an engine keeps per step

    /// The window rule, keeping the channels.
    static std::string check(const Node& n, const Io& io) {
        return check_window(n, io, io.in.empty() ? 0 : io.in.back());
    }
    /// int8: one multiplier per possible count of real positions.
    template <class S>
    static void prepare(S& s, State& st, const Node&, Prep& p) {
        if (!p.int8) return;
        st.count_rq.resize(s.kh * s.kw + 1);
        for (std::size_t c = 1; c <= s.kh * s.kw; ++c)
            st.count_rq[c] = quant::quantize_multiplier(static_cast<double>(s.s_in) /
                                                       (static_cast<double>(s.s_out) * static_cast<double>(c)));
    }
    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        constexpr bool f32 = std::is_same_v<T, float>;
        const std::size_t C = s.in.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow)
                    for (std::size_t c = 0; c < C; ++c) {
                        std::conditional_t<f32, float, std::int32_t> acc = 0;
                        std::size_t count = 0;
                        for_window(s, oh, ow, [&](std::size_t ih, std::size_t iw) {
                            const T v = x[b * s.in.size() + (ih * s.in.w + iw) * C + c];
                            if constexpr (f32) acc += v;
                            else acc += std::int32_t{v} - s.zp_in;
                            ++count;
                        });
                        T& out = y[b * s.out.size() + (oh * s.out.w + ow) * C + c];
                        if constexpr (f32) out = acc / static_cast<float>(count);
                        else out = quant::requantize(acc, st.count_rq[count], s.zp_out);
                    }
    }
    /// AveragePool with count_include_pad = 0 (1-D over a T x C value, between two
    /// Transposes).
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        const std::string x = e.window_input(n);
        auto& p = e.node("AveragePool", n.name, {x}, {e.y});
        e.window_attrs(p, n, false);
        e.attr(p, "count_include_pad", 0);
        e.window_output(n, e.y);
    }
};

} // namespace edgestack::compile::ops
