// Op unit: max_pool2d. Any window, stride and padding; padded positions never win. int8
// keeps its input's scale and zero point, so it compares codes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// The largest value under each window position, per channel.
struct MaxPool2d : UnitBase {
    static constexpr Op op = Op::max_pool2d;                  ///< its enumerator
    static constexpr Int8Role int8_role = Int8Role::inherit;  ///< see Int8Role

    /// The window rule, keeping the channels.
    static std::string check(const Node& n, const Io& io) {
        return check_window(n, io, io.in.empty() ? 0 : io.in.back());
    }
    /// int8: the same scale and zero point in and out.
    template <class S>
    static void prepare(S& s, State&, const Node&, Prep& p) {
        if (p.int8 && (s.s_in != s.s_out || s.zp_in != s.zp_out))
            throw p.bad("max_pool2d must keep its input's scale and zero point");
    }
    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State&, const T* x, const T*, T* y, std::size_t batch) noexcept {
        const std::size_t C = s.in.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t oh = 0; oh < s.out.h; ++oh)
                for (std::size_t ow = 0; ow < s.out.w; ++ow)
                    for (std::size_t c = 0; c < C; ++c) {
                        T acc = std::numeric_limits<T>::lowest();
                        if constexpr (std::is_same_v<T, float>) acc = -std::numeric_limits<float>::infinity();
                        for_window(s, oh, ow, [&](std::size_t ih, std::size_t iw) {
                            acc = std::max(acc, x[b * s.in.size() + (ih * s.in.w + iw) * C + c]);
                        });
                        y[b * s.out.size() + (oh * s.out.w + ow) * C + c] = acc;
                    }
    }
    /// MaxPool (1-D over a T x C value, between two Transposes).
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        const std::string x = e.window_input(n);
        e.window_attrs(e.node("MaxPool", n.name, {x}, {e.y}), n, false);
        e.window_output(n, e.y);
    }
};

} // namespace edgestack::compile::ops
