// Op unit: global_avg_pool. The mean of every channel over H x W (or over the T steps of a
// T x C sequence); the output is one value per channel (rank 1, or 1 x 1 x C). int8 as
// avg_pool2d with count H x W. ONNX: GlobalAveragePool (NCHW) or ReduceMean over time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// Per-channel mean of an H x W x C value.
struct GlobalAvgPool : UnitBase {
    static constexpr Op op = Op::global_avg_pool; ///< its enumerator
    using State = CountRequant; ///< what an engine keeps per step

    /// H x W x C (or T x C) in, C out.
    static std::string check(const Node&, const Io& io) {
        if (io.in.size() < 2 || io.in.size() > 3 || volume(io.out) != io.in.back())
            return "needs an H x W x C or T x C input and one value per channel out, got " + to_string(io.in) +
                   " -> " + to_string(io.out);
        return {};
    }
    /// Flat output; int8: the multiplier for H x W positions.
    template <class S>
    static void prepare(S& s, State& st, const Node&, Prep& p) {
        s.out = {1, 1, s.in.c};
        if (!p.int8) return;
        st.count_rq.resize(1);
        st.count_rq[0] = quant::quantize_multiplier(static_cast<double>(s.s_in) /
                                                   (static_cast<double>(s.s_out) * static_cast<double>(s.in.h * s.in.w)));
    }
    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        const std::size_t hw = s.in.h * s.in.w, C = s.in.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t c = 0; c < C; ++c) {
                if constexpr (std::is_same_v<T, float>) {
                    float acc = 0.0f;
                    for (std::size_t i = 0; i < hw; ++i) acc += x[b * s.in.size() + i * C + c];
                    y[b * C + c] = acc / static_cast<float>(hw);
                } else {
                    std::int32_t acc = 0;
                    for (std::size_t i = 0; i < hw; ++i) acc += std::int32_t{x[b * s.in.size() + i * C + c]} - s.zp_in;
                    y[b * C + c] = quant::requantize(acc, st.count_rq[0], s.zp_out);
                }
            }
    }
    /// GlobalAveragePool, flattened when the output is not H x W x C.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        if (!e.spatial && e.in().size() == 2) { // N x T x C: the mean over T
            auto& p = e.node("ReduceMean", n.name, {e.x()}, {e.y});
            e.attr(p, "axes", std::vector<std::int64_t>{1});
            e.attr(p, "keepdims", 0);
            return;
        }
        e.require_spatial(n);
        e.node("GlobalAveragePool", n.name, {e.x()}, {e.y});
        if (e.out().size() != 3) {
            e.node("Flatten", n.name + "_flatten", {e.y}, {n.name + "_flatten"});
            e.y = n.name + "_flatten";
            e.spatial = false;
        }
    }
};

} // namespace edgestack::compile::ops
