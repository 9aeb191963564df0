// Op unit: concat. Two values side by side along the last axis (the channels), the other
// axes equal; wider concats are chains of these. int8: each input requantized onto the
// output's scale and zero point.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// [a | b] along the last axis.
struct Concat : UnitBase {
    static constexpr Op op = Op::concat;       ///< its enumerator
    using State = Rescale; ///< what an engine keeps per step
    static constexpr std::size_t arity = 2;    ///< two inputs

    /// The inputs differ only in their last axis; the output is both side by side.
    static std::string check(const Node&, const Io& io) {
        const Dims &in = io.in, &b = *io.in2, &out = io.out;
        const bool ok = !in.empty() && b.size() == in.size() && out.size() == in.size() &&
                        std::equal(in.begin(), in.end() - 1, b.begin()) &&
                        std::equal(in.begin(), in.end() - 1, out.begin()) && in.back() != 0 && b.back() != 0 &&
                        out.back() == in.back() + b.back();
        if (!ok)
            return "shapes " + to_string(in) + " and " + to_string(b) + " do not concatenate to " + to_string(out) +
                   " (the inputs must differ only in their last axis)";
        return {};
    }
    /// int8: each input's multiplier onto the output's grid.
    template <class S>
    static void prepare(S& s, State& st, const Node&, Prep& p) {
        if (!p.int8) return;
        st.a = quant::quantize_multiplier(static_cast<double>(s.s_in) / s.s_out);
        st.b = quant::quantize_multiplier(static_cast<double>(s.s_in2) / s.s_out);
    }
    /// The definition: per position, the first input's channels, then the second's.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* a, const T* b, T* y, std::size_t batch) noexcept {
        const std::size_t ca = s.in.c, cb = s.out.c - s.in.c, rows = batch * s.out.h * s.out.w;
        for (std::size_t r = 0; r < rows; ++r) {
            for (std::size_t c = 0; c < ca; ++c) *y++ = onto(s, st, a[r * ca + c], true);
            for (std::size_t c = 0; c < cb; ++c) *y++ = onto(s, st, b[r * cb + c], false);
        }
    }
    /// One element onto the output's grid.
    template <class S, class T>
    static T onto(const S& s, const State& st, T v, bool first) noexcept {
        if constexpr (std::is_same_v<T, float>) return v;
        else
            return first ? quant::requantize(std::int32_t{v} - s.zp_in, st.a, s.zp_out)
                         : quant::requantize(std::int32_t{v} - s.zp_in2, st.b, s.zp_out);
    }
    /// Concat along axis 1 in NCHW, the last axis otherwise.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        if (e.spatial2() != e.spatial) e.unsupported(n, "joins values of different layouts");
        e.attr(e.node("Concat", n.name, {e.x(), e.x2()}, {e.y}), "axis", e.spatial ? 1 : -1);
    }
};

} // namespace edgestack::compile::ops
