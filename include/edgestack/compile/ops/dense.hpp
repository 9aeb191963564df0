// Op unit: dense (fully connected). Weights [out][in], bias [out]. It reads the whole input
// value in its (h, w, c) or (t, f) order, except that a T x F input with a T x U output is
// T rows, each through the same weights (TimeDense: weights [U][F]). int8: per-tensor or
// per-channel weight scales.
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

    /// Rows each sample holds: T for a T x F input with a T x U output, else 1.
    static std::size_t rows(const Io& io) noexcept {
        return io.in.size() == 2 && io.out.size() == 2 && io.in[0] == io.out[0] ? io.in[0] : 1;
    }
    /// Any shapes: every input element of a row feeds every output of that row.
    static std::string check(const Node&, const Io&) { return {}; }
    /// [out][in] weights and `out` biases, per row.
    static Tensors tensors(const Node&, const Io& io) {
        const std::size_t r = rows(io), i = volume(io.in) / r, o = volume(io.out) / r;
        return {i * o, o, 0, o};
    }
    /// rows x in x out.
    static std::size_t macs(const Node&, const Io& io) { return volume(io.in) * volume(io.out) / rows(io); }

    /// Flat geometry per row (the engine runs batch x rows rows) and the weights.
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        const Io io{p.graph.values[static_cast<std::size_t>(n.inputs[0])], nullptr,
                    p.graph.values[static_cast<std::size_t>(n.output)]};
        const std::size_t r = rows(io), in = s.in.size() / r, out = s.out.size() / r;
        s.rows = r;
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

    /// Gemm (transB = 1), after a Flatten (and a transpose to NHWC order) of a wider input;
    /// per row: Reshape to (N * T) x F, Gemm, Reshape back to N x T x U.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        const Io io{e.in(), nullptr, e.out()};
        if (const std::size_t r = rows(io); r != 1) {
            const std::size_t f = e.in()[1], u = e.out()[1];
            std::vector<std::size_t> order(u * f);
            for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
            const auto w = e.weight(n, {static_cast<std::int64_t>(u), static_cast<std::int64_t>(f)}, order);
            const auto b = e.bias(n, u);
            e.initializer_i64(n.name + ".rows_shape", {2}, {-1, static_cast<std::int64_t>(f)});
            e.initializer_i64(n.name + ".out_shape", {3}, {-1, static_cast<std::int64_t>(r), static_cast<std::int64_t>(u)});
            e.node("Reshape", n.name + "_rows", {e.x(), n.name + ".rows_shape"}, {n.name + "_rows"});
            std::vector<std::string> ins{n.name + "_rows", w};
            if (!b.empty()) ins.push_back(b);
            e.attr(e.node("Gemm", n.name + "_gemm", ins, {n.name + "_gemm"}), "transB", 1);
            e.node("Reshape", n.name, {n.name + "_gemm", n.name + ".out_shape"}, {e.y});
            e.y = e.fused(n, e.y);
            e.spatial = false;
            return;
        }
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
