// Op unit: dense (fully connected). Weights [out][in], bias [out]; reads the whole input
// value in its (h, w, c) or (t, f) order. int8: per-tensor or per-channel weight scales.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"
#include "edgestack/compile/ops/weighted.hpp"

namespace edgestack::compile::ops {

/// out = W x + b, then the fused activation.
struct Dense : UnitBase {
    static constexpr Op op = Op::dense;                       ///< its enumerator
    using State = Weighted;                                   ///< weights, bias, int8 form
    static constexpr Int8Role int8_role = Int8Role::weights;  ///< see Int8Role
    static constexpr std::string_view kernel = "gemm";        ///< XNNPACK's kernel family

    /// Any shapes: every input element feeds every output.
    static std::string check(const Node&, const Io&) { return {}; }
    /// [out][in] weights and `out` biases.
    static Tensors tensors(const Node&, const Io& io) {
        const std::size_t i = volume(io.in), o = volume(io.out);
        return {i * o, o, 0, o};
    }
    /// in x out.
    static std::size_t macs(const Node&, const Io& io) { return volume(io.in) * volume(io.out); }

    /// Flat geometry and the weights.
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        const std::size_t in = s.in.size(), out = s.out.size();
        s.in = {1, 1, in};
        s.out = {1, 1, out};
        prepare_weighted(s, st, n, p, out, in, false);
    }

    /// The definition.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        const std::size_t in = s.in.c, out = s.out.c;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t o = 0; o < out; ++o) {
                if constexpr (std::is_same_v<T, float>) {
                    float acc = st.b[o];
                    for (std::size_t i = 0; i < in; ++i) acc += x[b * in + i] * st.w[o * in + i];
                    y[b * out + o] = apply_activation(acc, s.act);
                } else {
                    std::int32_t acc = st.qb[o];
                    for (std::size_t i = 0; i < in; ++i)
                        acc += std::int32_t{x[b * in + i]} * std::int32_t{st.qw[o * in + i]};
                    y[b * out + o] = quant::requantize(acc, st.rq[o], s.zp_out, st.lo, st.hi);
                }
            }
    }

    /// Gemm (transB = 1), after a Flatten (and a transpose to NHWC order) of a wider input.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        const std::size_t oi = volume(e.out()), ii = volume(e.in());
        std::vector<std::size_t> order(oi * ii);
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        const auto w = e.weight(n, {static_cast<std::int64_t>(oi), static_cast<std::int64_t>(ii)}, order);
        const auto b = e.bias(n, oi);
        std::string src = e.x();
        if (e.spatial) src = e.transpose(src, n.name + "_to_nhwc", {0, 2, 3, 1});
        if (e.in().size() != 1) {
            e.attr(e.node("Flatten", n.name + "_flatten", {src}, {n.name + "_flatten"}), "axis", 1);
            src = n.name + "_flatten";
        }
        std::vector<std::string> ins{src, w};
        if (!b.empty()) ins.push_back(b);
        e.attr(e.node("Gemm", n.name, ins, {e.y}), "transB", 1);
        e.y = e.fused(n, e.y);
        e.spatial = false;
    }
};

} // namespace edgestack::compile::ops
