// What every op unit (compile/ops/<name>.hpp) provides, and the pieces several share. A unit
// is a struct of static members: the op's arity, its shape rule, its weight layout, its role
// in the int8 graph, how the engine prepares it (fp32 parameters, int8 multipliers), its
// reference kernel (the definition every backend is tested against) and its ONNX form.
// Generic code reaches a unit through compile::ops::visit (compile/ops.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::compile::ops {

/// The shapes a node reads and writes.
struct Io {
    const Dims& in;          ///< the first input
    const Dims* in2;         ///< the second input of a binary op, else nullptr
    const Dims& out;         ///< the output
};

/// Element counts a node's tensors must have: its weight layout. `channels` is the number
/// of per-channel weight scales an int8 form may carry.
struct Tensors {
    std::size_t weights = 0;  ///< fp32 weights (and int8 weights, same layout)
    std::size_t bias = 0;     ///< fp32 bias (and int32 bias)
    std::size_t extra = 0;    ///< normalisation parameters
    std::size_t channels = 0; ///< output channels of a weighted op
};

/// What an op's output becomes in the int8 graph the quantizer writes.
enum class Int8Role : unsigned char {
    weights,  ///< own parameters; a folded batch norm or a fused relu may follow it
    folds,    ///< batch norm: folded into the weighted op it follows
    fuses,    ///< relu, relu6: fused into the weighted op it follows, else as `inherit`
    inherit,  ///< keeps its input's parameters (max pool, flatten, dropout)
    observed, ///< own parameters from an observed range
    fixed,    ///< softmax: scale 1/256, zero point -128
};

// ---- the typed state an engine keeps per step, one type per kind of op --------------

/// An op with nothing to prepare.
struct NoState {};

/// dense, conv2d, depthwise_conv2d: fp32 weights and bias, or the int8 form (weights, bias
/// with -zp_in * sum(w) folded in, one requantization per output channel, the fused
/// activation as a clamp of codes [lo, hi]).
struct Weighted {
    std::vector<float> w;               ///< fp32 weights, the op's layout
    std::vector<float> b;               ///< fp32 bias (zeros when the node has none)
    std::vector<std::int8_t> qw;        ///< int8 weights, same layout
    std::vector<std::int32_t> qb;       ///< int32 bias with the input zero point folded in
    std::vector<quant::Requant> rq;     ///< per output channel: s_in * s_w[c] / s_out
    std::vector<float> wscale;          ///< int8 weight scales as given (1 or per channel)
    std::int32_t lo = -128;             ///< lowest output code (the fused activation's floor)
    std::int32_t hi = 127;              ///< highest output code
};

/// relu, relu6 in int8: a clamp of codes.
struct Clamp {
    std::int32_t lo = -128; ///< lowest code
    std::int32_t hi = 127;  ///< highest code
};

/// The codes activation `a` leaves of an output with scale `s_out` and zero point `zp_out`:
/// relu raises the floor to the code of 0, relu6 also lowers the ceiling to the code of 6.
/// One definition for the relu/relu6 nodes and for every op that fuses them, so a fused
/// and an unfused graph clamp to the same codes.
inline Clamp activation_codes(Activation a, float s_out, std::int32_t zp_out) noexcept {
    Clamp c;
    if (a != Activation::none) c.lo = std::max<std::int32_t>(-128, zp_out);
    if (a == Activation::relu6) c.hi = std::min<std::int32_t>(127, quant::quantize(6.0f, s_out, zp_out));
    return c;
}

/// sigmoid, tanh, hard_swish, leaky_relu in int8: a table indexed by code + 128.
struct Table {
    std::vector<std::int8_t> table; ///< 256 entries (empty for fp32)
};

/// avg_pool2d, global_avg_pool in int8: a requantization per count of summed positions.
struct CountRequant {
    std::vector<quant::Requant> count_rq; ///< index: number of real positions (global: [0])
};

/// add, concat, mul in int8: each input's (or the product's) multiplier onto the output,
/// and the codes it may write (add: its fused activation; concat, mul: every code).
struct Rescale {
    quant::Requant a;       ///< the first input's (mul: the product's)
    quant::Requant b;       ///< the second input's
    std::int32_t lo = -128; ///< lowest output code (add: a fused relu raises it)
    std::int32_t hi = 127;  ///< highest output code (add: a fused relu6 lowers it)
};

/// batch_norm that could not be folded: a per-channel affine map.
struct Affine {
    std::vector<float> w; ///< scale per channel
    std::vector<float> b; ///< shift per channel
};

/// What a unit's prepare() may read besides the node: the graph, and how to refuse.
struct Prep {
    const Graph& graph;     ///< the graph being compiled
    bool int8 = false;      ///< whether it is the int8 graph
    std::size_t elem = 4;   ///< bytes per activation element
    std::string where;      ///< "backend::simd: node 'conv2d_0' (conv2d)", for messages
    std::size_t weight_bytes = 0; ///< added to by prepare: the compiled parameters' bytes

    /// A config_error naming the node.
    config_error bad(const std::string& why) const { return config_error(where + ": " + why); }
};

/// Defaults every unit starts from: one input, one output of the same element count, no
/// weights, run by every engine. A unit hides what it does differently.
struct UnitBase {
    using State = NoState;                              ///< what an engine keeps per step
    static constexpr std::size_t arity = 1;            ///< inputs
    static constexpr bool alias = false;                ///< output shares the input's storage
    static constexpr bool runs = true;                  ///< the engines run it
    static constexpr Int8Role int8_role = Int8Role::observed; ///< see Int8Role
    static constexpr std::string_view kernel = "";      ///< XNNPACK's name for its kernels
    static constexpr bool nonnegative = false;          ///< its output is never below 0

    /// Why the node's shapes do not fit the op (empty: they do).
    static std::string check(const Node&, const Io& io) {
        if (volume(io.in) != volume(io.out))
            return "changes the element count " + to_string(io.in) + " -> " + to_string(io.out);
        return {};
    }
    /// Its tensors' sizes.
    static Tensors tensors(const Node&, const Io&) { return {}; }
    /// Multiply-accumulates per sample.
    static std::size_t macs(const Node&, const Io&) { return 0; }
};

/// The activation a weighted op or an add applies to its output (fp32).
inline float apply_activation(float v, Activation a) noexcept {
    switch (a) {
    case Activation::relu: return v > 0.0f ? v : 0.0f;
    case Activation::relu6: return std::clamp(v, 0.0f, 6.0f);
    case Activation::none: break;
    }
    return v;
}

/// Why a window op's (conv, pool) output does not follow from its input, kernel, stride,
/// padding and dilation, with `out_c` output channels (empty: it does). A T x C sequence in
/// and out is the 1 x T x C map the engines run it as: a 1-D window (kernel 1 x k, no rows
/// of padding).
inline std::string check_window(const Node& n, const Io& io, std::size_t out_c) {
    if (io.in.size() == 2 && io.out.size() == 2) {
        if (n.kernel[0] != 1 || n.stride[0] != 1 || n.dilation[0] != 1 || n.pad[0] != 0 || n.pad[2] != 0)
            return "a window over a T x C sequence must be 1 x k with no padding of rows, got kernel " +
                   std::to_string(n.kernel[0]) + " x " + std::to_string(n.kernel[1]);
        const Dims in{1, io.in[0], io.in[1]}, out{1, io.out[0], io.out[1]};
        return check_window(n, Io{in, io.in2, out}, out_c);
    }
    const Dims &in = io.in, &out = io.out;
    if (in.size() != 3 || out.size() != 3)
        return "needs an H x W x C (or T x C) input and output of the same rank, got " + to_string(in) + " -> " +
               to_string(out);
    for (int a = 0; a < 2; ++a) {
        if (n.kernel[a] == 0 || n.stride[a] == 0 || n.dilation[a] == 0) return "zero kernel, stride or dilation";
        const std::size_t span = in[a] + n.pad[a] + n.pad[a + 2];
        const std::size_t reach = n.dilation[a] * (n.kernel[a] - 1) + 1;
        if (reach > span || (span - reach) / n.stride[a] + 1 != out[a])
            return "output " + to_string(out) + " does not follow from input " + to_string(in) +
                   ", kernel, stride and padding";
    }
    if (out[2] != out_c)
        return "output has " + std::to_string(out[2]) + " channels, expected " + std::to_string(out_c);
    return {};
}

/// Calls f(ih, iw) for every real (unpadded) input position under output position (oh, ow).
template <class S, class F>
void for_window(const S& s, std::size_t oh, std::size_t ow, F&& f) noexcept {
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

/// An elementwise op with one input: the reference applies `F::f` (fp32) and, in int8, the
/// 256-entry table prepare() fills with quantize(f(dequantize(q))).
template <class F>
struct TableUnit : UnitBase {
    using State = Table; ///< the int8 table
    /// Fills the int8 table.
    template <class S>
    static void prepare(const S& s, State& st, const Node& n, Prep& p) {
        if (!p.int8) return;
        st.table.resize(256);
        for (int q = -128; q <= 127; ++q)
            st.table[static_cast<std::size_t>(q + 128)] = quant::quantize(
                F::f(quant::dequantize(static_cast<std::int8_t>(q), s.s_in, s.zp_in), n.alpha), s.s_out,
                s.zp_out);
    }
    /// f on every element (fp32) or the table (int8).
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch) noexcept {
        const std::size_t n = batch * s.out.size();
        for (std::size_t i = 0; i < n; ++i) {
            if constexpr (std::is_same_v<T, float>) y[i] = F::f(x[i], s.alpha);
            else y[i] = st.table[static_cast<std::size_t>(std::int32_t{x[i]} + 128)];
        }
    }
};

} // namespace edgestack::compile::ops
