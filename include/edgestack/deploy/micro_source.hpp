// Deploying an int8 graph to a microcontroller: lower_micro() turns a quantized
// compile::Graph into the constant tables of the freestanding engine in micro/engine.hpp
// (weights, biases with the input zero point folded in, requantization multipliers, a
// static arena plan), and micro_source() writes them as a C++ header whose arrays are
// constexpr, so that the weights stay in flash. The arithmetic is the int8 contract of
// docs/engine.md; backend::Reference runs the same graph to the same codes.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/micro/engine.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::deploy {

/// One layer of a MicroModel: the engine's Layer (its table pointers still empty) with the
/// tables it points to and the names the generated source uses.
struct MicroLayer {
    micro::Layer layer{};              ///< geometry, offsets, zero points; w, b, rq unset
    std::string kernel;                ///< the kernel's name in micro/engine.hpp ("qs8_conv2d")
    std::string node;                  ///< the graph node it comes from
    std::vector<std::int8_t> w;        ///< weights, or the 256-entry lookup table
    std::vector<std::int32_t> b;       ///< bias per output channel, zero point folded in
    std::vector<micro::Requant> rq;    ///< requantization multipliers
};

/// A quantized graph lowered for micro/engine.hpp: what the generated source declares.
struct MicroModel {
    std::vector<MicroLayer> layers; ///< in execution order (flatten and dropout vanish)
    micro::Network network{};       ///< sizes, offsets, parameters; layers/count unset
    /// Flash taken by the weights, biases, multipliers and lookup tables, in bytes (the
    /// layer list adds about 100 bytes per layer on a 32-bit target).
    std::size_t table_bytes() const noexcept {
        std::size_t n = 0;
        for (const auto& l : layers)
            n += l.w.size() + l.b.size() * sizeof(std::int32_t) + l.rq.size() * sizeof(micro::Requant);
        return n;
    }
    /// The engine's layers pointing into this model's tables (valid while it is unchanged).
    std::vector<micro::Layer> bind() const {
        std::vector<micro::Layer> out;
        for (const auto& l : layers) {
            micro::Layer x = l.layer;
            x.w = l.w.empty() ? nullptr : l.w.data();
            x.b = l.b.empty() ? nullptr : l.b.data();
            x.rq = l.rq.empty() ? nullptr : l.rq.data();
            out.push_back(x);
        }
        return out;
    }
    /// Runs the micro kernels on the host, one sample: codes in, codes out. False (nothing
    /// written) when the sizes do not match.
    bool run(std::span<const std::int8_t> in, std::span<std::int8_t> out) const {
        if (in.size() != network.input_size || out.size() != network.output_size) return false;
        const auto bound = bind();
        micro::Network net = network;
        net.layers = bound.data();
        net.count = bound.size();
        std::vector<std::int8_t> arena(std::max<std::size_t>(net.arena_bytes, 1));
        std::copy(in.begin(), in.end(), arena.begin() + net.input);
        micro::run(net, arena.data());
        std::copy_n(arena.begin() + net.output, out.size(), out.begin());
        return true;
    }
};

namespace detail {

struct MicroKernel {
    micro::Kernel fn;
    const char* name;
};

inline MicroKernel micro_kernel(compile::Op op) {
    using compile::Op;
    switch (op) {
    case Op::dense: return {&micro::qs8_dense, "qs8_dense"};
    case Op::conv2d: return {&micro::qs8_conv2d, "qs8_conv2d"};
    case Op::depthwise_conv2d: return {&micro::qs8_depthwise_conv2d, "qs8_depthwise_conv2d"};
    case Op::max_pool2d: return {&micro::qs8_max_pool2d, "qs8_max_pool2d"};
    case Op::avg_pool2d: return {&micro::qs8_avg_pool2d, "qs8_avg_pool2d"};
    case Op::global_avg_pool: return {&micro::qs8_global_avg_pool, "qs8_global_avg_pool"};
    case Op::relu:
    case Op::relu6: return {&micro::qs8_clamp, "qs8_clamp"};
    case Op::sigmoid:
    case Op::tanh:
    case Op::hard_swish:
    case Op::leaky_relu: return {&micro::qs8_lookup, "qs8_lookup"};
    case Op::add: return {&micro::qs8_add, "qs8_add"};
    case Op::concat: return {&micro::qs8_concat, "qs8_concat"};
    case Op::softmax: return {&micro::qs8_softmax, "qs8_softmax"};
    default: return {nullptr, nullptr};
    }
}

/// The element-wise functions the lookup tables hold (the int8 contract's formulas).
inline float micro_table_fn(compile::Op op, float x, float alpha) {
    switch (op) {
    case compile::Op::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case compile::Op::tanh: return std::tanh(x);
    case compile::Op::hard_swish: return x * std::clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    case compile::Op::leaky_relu: return x > 0.0f ? x : alpha * x;
    default: return x;
    }
}

/// height, width, channels of a per-sample shape (vectors: 1 x 1 x n; rank 2: 1 x h x w).
inline std::array<std::size_t, 3> micro_hwc(const compile::Dims& d) {
    if (d.size() == 3) return {d[0], d[1], d[2]};
    if (d.size() == 2) return {1, d[0], d[1]};
    return {1, 1, compile::volume(d)};
}

} // namespace detail

/// Lowers an int8 graph (every value quantized per tensor, as quant::quantize_graph leaves
/// it) for micro/engine.hpp; the graph is canonicalized first. Throws config_error or
/// shape_error naming the node for what the micro engine cannot run: an fp32 graph,
/// batch norm left unfolded, recurrent or attention layers, dilation, inconsistent
/// quantization.
inline MicroModel lower_micro(compile::Graph g) {
    using compile::Op;
    compile::canonicalize(g);
    if (g.value_quant.empty())
        throw config_error("lower_micro: the graph is fp32; quantize it first (quant::quantize_graph)");
    if (g.value_quant.size() != g.values.size())
        throw config_error("lower_micro: value_quant has " + std::to_string(g.value_quant.size()) +
                           " entries for " + std::to_string(g.values.size()) + " values");
    auto qp = [&](int v, const std::string& who) -> std::pair<float, std::int32_t> {
        const auto& q = g.value_quant.at(static_cast<std::size_t>(v));
        if (q.scale.size() != 1 || q.zero_point.size() != 1 || !(q.scale[0] > 0.0f))
            throw config_error("lower_micro: value " + std::to_string(v) + " (of " + who +
                               ") needs one positive scale and one zero point");
        return {q.scale[0], q.zero_point[0]};
    };

    // Memory plan: every value lives from the step that writes it to the last step that
    // reads it (the output to the end); flatten and dropout alias their input. Largest
    // first, each at the lowest 4-byte aligned offset free for its whole life.
    const std::size_t nv = g.values.size(), nn = g.nodes.size();
    std::vector<int> root(nv), def(nv, -1), last(nv, -1);
    for (std::size_t v = 0; v < nv; ++v) root[v] = static_cast<int>(v);
    for (std::size_t i = 0; i < nn; ++i) {
        const auto& n = g.nodes[i];
        if (n.output < 0 || static_cast<std::size_t>(n.output) >= nv)
            throw config_error("lower_micro: node '" + n.name + "' writes undefined value " +
                               std::to_string(n.output));
        for (int v : n.inputs)
            if (v < 0 || static_cast<std::size_t>(v) >= nv)
                throw config_error("lower_micro: node '" + n.name + "' reads undefined value " +
                                   std::to_string(v));
        const auto out = static_cast<std::size_t>(n.output);
        def[out] = static_cast<int>(i);
        if ((n.op == Op::flatten || n.op == Op::dropout) && n.inputs.size() == 1)
            root[out] = root[static_cast<std::size_t>(n.inputs[0])];
    }
    for (std::size_t i = 0; i < nn; ++i)
        for (int v : g.nodes[i].inputs) {
            auto& l = last[static_cast<std::size_t>(root[static_cast<std::size_t>(v)])];
            l = std::max(l, static_cast<int>(i));
        }
    last[static_cast<std::size_t>(root[static_cast<std::size_t>(g.output)])] = static_cast<int>(nn);
    for (std::size_t v = 0; v < nv; ++v) last[v] = std::max(last[v], def[v]); // written, never read
    std::vector<std::size_t> offset(nv, 0);
    auto bytes = [&](std::size_t v) { return (compile::volume(g.values[v]) + 3) / 4 * 4; };
    std::vector<std::size_t> order;
    for (std::size_t v = 0; v < nv; ++v)
        if (root[v] == static_cast<int>(v)) order.push_back(v);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return bytes(a) > bytes(b); });
    std::vector<std::size_t> placed; // roots, in placement order
    std::size_t arena = 0;
    for (std::size_t v : order) {
        const std::size_t size = bytes(v);
        std::vector<std::pair<std::size_t, std::size_t>> busy; // [begin, end) of live values
        for (std::size_t u : placed)
            if (!(last[u] < def[v] || last[v] < def[u]))
                busy.emplace_back(offset[u], offset[u] + bytes(u));
        std::sort(busy.begin(), busy.end());
        std::size_t at = 0;
        for (const auto& [b, e] : busy) {
            if (at + size <= b) break;
            at = std::max(at, e);
        }
        offset[v] = at;
        arena = std::max(arena, at + size);
        placed.push_back(v);
    }
    for (std::size_t v = 0; v < nv; ++v) offset[v] = offset[static_cast<std::size_t>(root[v])];

    MicroModel m;
    auto& net = m.network;
    net.arena_bytes = arena;
    net.input = static_cast<std::uint32_t>(offset[0]);
    net.output = static_cast<std::uint32_t>(offset[static_cast<std::size_t>(g.output)]);
    net.input_size = g.input_size();
    net.output_size = g.output_size();
    std::tie(net.input_scale, net.input_zero_point) = qp(0, "the graph input");
    std::tie(net.output_scale, net.output_zero_point) = qp(g.output, "the graph output");

    for (const auto& n : g.nodes) {
        const std::string who = "node '" + n.name + "' (" + std::string(compile::op_name(n.op)) + ")";
        auto bad = [&](const std::string& why) { return config_error("lower_micro: " + who + ": " + why); };
        const std::size_t need = n.op == Op::add || n.op == Op::concat ? 2 : 1;
        if (n.inputs.size() != need)
            throw bad("expects " + std::to_string(need) + " input(s), has " + std::to_string(n.inputs.size()));
        if (n.dilation[0] != 1 || n.dilation[1] != 1) throw bad("dilation is not supported");
        const auto [s_in, zp_in] = qp(n.inputs[0], who);
        const auto [s_out, zp_out] = qp(n.output, who);
        const auto& in_dims = g.values[static_cast<std::size_t>(n.inputs[0])];
        const auto& out_dims = g.values[static_cast<std::size_t>(n.output)];
        const std::size_t in_n = compile::volume(in_dims), out_n = compile::volume(out_dims);
        if (n.op == Op::flatten || n.op == Op::dropout) {
            if (in_n != out_n) throw bad("input and output sizes differ");
            if (s_in != s_out || zp_in != zp_out) throw bad("must keep its input's scale and zero point");
            continue; // an alias: no step
        }
        const auto kernel = detail::micro_kernel(n.op);
        if (kernel.fn == nullptr) throw bad("the micro engine does not run this op");
        MicroLayer ml;
        ml.kernel = kernel.name;
        ml.node = n.name;
        auto& L = ml.layer;
        L.run = kernel.fn;
        L.in = static_cast<std::uint32_t>(offset[static_cast<std::size_t>(n.inputs[0])]);
        L.out = static_cast<std::uint32_t>(offset[static_cast<std::size_t>(n.output)]);
        auto hwc_in = detail::micro_hwc(in_dims), hwc_out = detail::micro_hwc(out_dims);
        auto i32 = [](std::size_t x) { return static_cast<std::int32_t>(x); };
        auto set_geometry = [&] {
            L.in_h = i32(hwc_in[0]);
            L.in_w = i32(hwc_in[1]);
            L.in_c = i32(hwc_in[2]);
            L.out_h = i32(hwc_out[0]);
            L.out_w = i32(hwc_out[1]);
            L.out_c = i32(hwc_out[2]);
        };
        set_geometry();
        L.kh = i32(n.kernel[0]);
        L.kw = i32(n.kernel[1]);
        L.sh = i32(n.stride[0]);
        L.sw = i32(n.stride[1]);
        L.pt = i32(n.pad[0]);
        L.pl = i32(n.pad[1]);
        L.zp_in = zp_in;
        L.zp_out = zp_out;
        L.lo = -128;
        L.hi = 127;
        if (need == 2) {
            L.in2 = static_cast<std::uint32_t>(offset[static_cast<std::size_t>(n.inputs[1])]);
            L.zp_in2 = qp(n.inputs[1], who).second;
        }
        auto requant = [&](double real) {
            const auto r = quant::quantize_multiplier(real);
            if (31 + r.shift > 62) throw bad("a requantization multiplier is below 2^-32");
            return micro::Requant{r.multiplier, r.shift};
        };
        auto check_spatial = [&](std::size_t oc) {
            if (n.kernel[0] == 0 || n.kernel[1] == 0 || n.stride[0] == 0 || n.stride[1] == 0)
                throw bad("zero kernel or stride");
            const std::size_t ph = hwc_in[0] + n.pad[0] + n.pad[2], pw = hwc_in[1] + n.pad[1] + n.pad[3];
            if (ph < n.kernel[0] || pw < n.kernel[1]) throw bad("kernel larger than the padded input");
            const std::size_t oh = (ph - n.kernel[0]) / n.stride[0] + 1, ow = (pw - n.kernel[1]) / n.stride[1] + 1;
            if (hwc_out[0] != oh || hwc_out[1] != ow || hwc_out[2] != oc)
                throw shape_error("lower_micro: " + who + ": output shape " + compile::to_string(out_dims) +
                                  " does not match its geometry (" + std::to_string(oh) + "x" +
                                  std::to_string(ow) + "x" + std::to_string(oc) + ")");
        };
        auto same_params = [&] {
            if (s_in != s_out || zp_in != zp_out) throw bad("must keep its input's scale and zero point");
        };
        auto code_of_six = [&] {
            return std::min<std::int32_t>(127, quant::quantize(6.0f, s_out, zp_out));
        };
        switch (n.op) {
        case Op::dense:
        case Op::conv2d:
        case Op::depthwise_conv2d: {
            std::size_t oc = hwc_out[2], taps = 0;
            if (n.op == Op::dense) {
                hwc_in = {1, 1, in_n};
                hwc_out = {1, 1, out_n};
                set_geometry();
                oc = out_n;
                taps = in_n;
            } else if (n.op == Op::conv2d) {
                check_spatial(oc);
                taps = n.kernel[0] * n.kernel[1] * hwc_in[2];
            } else {
                if (hwc_in[2] != oc) throw bad("depthwise input and output channels differ");
                check_spatial(oc);
                taps = n.kernel[0] * n.kernel[1];
            }
            if (n.qweights.size() != oc * taps)
                throw shape_error("lower_micro: " + who + " has " + std::to_string(n.qweights.size()) +
                                  " int8 weights, expected " + std::to_string(oc * taps));
            const auto& wq = n.weight_quant;
            if (wq.scale.size() != 1 && wq.scale.size() != oc)
                throw bad("weight_quant has " + std::to_string(wq.scale.size()) + " scales; expected 1 or " +
                          std::to_string(oc));
            for (auto z : wq.zero_point)
                if (z != 0) throw bad("weight zero points must be 0 (symmetric weights)");
            for (auto q : n.qweights)
                if (q == -128) throw bad("has a weight of -128; symmetric weights lie in [-127, 127]");
            if (!n.qbias.empty() && n.qbias.size() != oc)
                throw shape_error("lower_micro: " + who + " has " + std::to_string(n.qbias.size()) +
                                  " int32 biases, expected " + std::to_string(oc));
            const bool channel_last = n.op == Op::depthwise_conv2d;
            ml.w = n.qweights;
            ml.b.resize(oc);
            ml.rq.resize(oc);
            for (std::size_t c = 0; c < oc; ++c) {
                std::int64_t sum = 0;
                for (std::size_t t = 0; t < taps; ++t)
                    sum += channel_last ? n.qweights[t * oc + c] : n.qweights[c * taps + t];
                ml.b[c] = static_cast<std::int32_t>((n.qbias.empty() ? 0 : n.qbias[c]) - zp_in * sum);
                const double ws = wq.scale.size() == 1 ? wq.scale[0] : wq.scale[c];
                ml.rq[c] = requant(static_cast<double>(s_in) * ws / s_out);
            }
            if (n.fused != compile::Activation::none) L.lo = std::max(-128, zp_out);
            if (n.fused == compile::Activation::relu6) L.hi = code_of_six();
            break;
        }
        case Op::max_pool2d:
            check_spatial(hwc_in[2]);
            same_params();
            break;
        case Op::avg_pool2d:
            check_spatial(hwc_in[2]);
            ml.rq.resize(n.kernel[0] * n.kernel[1] + 1, micro::Requant{0, 0});
            for (std::size_t c = 1; c < ml.rq.size(); ++c)
                ml.rq[c] = requant(static_cast<double>(s_in) / (static_cast<double>(s_out) * c));
            break;
        case Op::global_avg_pool:
            if (out_n != hwc_in[2]) throw bad("output must have one value per channel");
            hwc_out = {1, 1, hwc_in[2]};
            set_geometry();
            ml.rq = {requant(static_cast<double>(s_in) / (static_cast<double>(s_out) * hwc_in[0] * hwc_in[1]))};
            break;
        case Op::relu:
        case Op::relu6:
            if (in_n != out_n) throw bad("input and output sizes differ");
            same_params();
            L.lo = zp_in;
            if (n.op == Op::relu6) L.hi = code_of_six();
            break;
        case Op::sigmoid:
        case Op::tanh:
        case Op::hard_swish:
        case Op::leaky_relu:
            if (in_n != out_n) throw bad("input and output sizes differ");
            ml.w.resize(256);
            for (int q = -128; q <= 127; ++q)
                ml.w[static_cast<std::size_t>(q + 128)] = quant::quantize(
                    detail::micro_table_fn(n.op, quant::dequantize(static_cast<std::int8_t>(q), s_in, zp_in), n.alpha),
                    s_out, zp_out);
            break;
        case Op::softmax:
            if (in_n != out_n || hwc_in[2] == 0) throw bad("input and output sizes differ");
            hwc_in = {1, in_n / hwc_in[2], hwc_in[2]};
            hwc_out = hwc_in;
            set_geometry();
            L.s_in = s_in;
            L.s_out = s_out;
            break;
        case Op::add: {
            const float s_in2 = qp(n.inputs[1], who).first;
            if (compile::volume(g.values[static_cast<std::size_t>(n.inputs[1])]) != in_n || out_n != in_n)
                throw bad("both inputs and the output must have the same size");
            if (s_in / s_out >= 4.0f || s_in2 / s_out >= 4.0f)
                throw bad("an input scale is 4x the output scale or more");
            ml.rq = {requant(static_cast<double>(s_in) / s_out), requant(static_cast<double>(s_in2) / s_out)};
            break;
        }
        case Op::concat: {
            const float s_in2 = qp(n.inputs[1], who).first;
            const auto b = detail::micro_hwc(g.values[static_cast<std::size_t>(n.inputs[1])]);
            if (b[0] != hwc_in[0] || b[1] != hwc_in[1] || hwc_out[0] != hwc_in[0] || hwc_out[1] != hwc_in[1] ||
                hwc_out[2] != hwc_in[2] + b[2] || hwc_in[2] == 0 || b[2] == 0)
                throw bad("the inputs must differ only in their last axis, and the output be the two side by side");
            ml.rq = {requant(static_cast<double>(s_in) / s_out), requant(static_cast<double>(s_in2) / s_out)};
            break;
        }
        default: throw bad("the micro engine does not run this op");
        }
        m.layers.push_back(std::move(ml));
    }
    return m;
}

namespace detail {

template <class T, class F>
void micro_array(std::string& s, const char* type, const std::string& name, const std::vector<T>& v, F&& item) {
    s += "alignas(4) inline constexpr " + std::string(type) + " " + name + "[] = {";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i % 24 == 0) s += "\n    ";
        s += item(v[i]);
        s += ',';
    }
    s += "\n};\n";
}

inline std::string micro_float(float f) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9ef", static_cast<double>(f)); // 10 digits: exact round trip
    return buf;
}

} // namespace detail

/// The C++ header for `m`: namespace `ns` with the constant tables and
/// `inline constexpr edgestack::micro::Network network`. Include it with
/// micro/engine.hpp on the include path and call edgestack::micro::run(ns::network, arena)
/// with an arena of ns::network.arena_bytes bytes. `ns` must be a C++ identifier (or
/// several joined by ::); config_error otherwise.
inline std::string micro_source(const MicroModel& m, std::string_view ns) {
    bool ok = !ns.empty();
    for (std::size_t i = 0; ok && i < ns.size(); ++i) {
        const char c = ns[i];
        const bool start = i == 0 || (i >= 2 && ns[i - 1] == ':' && ns[i - 2] == ':');
        if (c == ':') {
            ok = i + 2 < ns.size() && ns[i + 1] == ':' && i > 0 && ns[i - 1] != ':';
            ++i;
        } else {
            ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!start && c >= '0' && c <= '9');
        }
    }
    if (!ok) throw config_error("micro_source: namespace '" + std::string(ns) + "' is not a C++ identifier");
    auto num = [](auto x) { return std::to_string(x); };
    std::string s;
    s += "// Generated by edgestack (deploy::micro_source) from an int8 graph: do not edit.\n"
         "// The weights, biases and multipliers are constexpr, so they stay in flash; run it with\n"
         "// edgestack::micro::run(network, arena) and an arena of network.arena_bytes bytes.\n"
         "#pragma once\n\n#include <stdint.h>\n\n#include \"edgestack/micro/engine.hpp\"\n\n";
    s += "namespace " + std::string(ns) + " {\n\n";
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        const auto& l = m.layers[i];
        std::string node;
        for (char c : l.node) node += (c >= ' ' && c <= '~') ? c : '?';
        s += "// layer " + num(i) + ": " + node + " (" + l.kernel + ")\n";
        const std::string p = "layer" + num(i);
        if (!l.w.empty())
            detail::micro_array(s, "int8_t", p + "_w", l.w, [&](std::int8_t v) { return num(int{v}); });
        if (!l.b.empty())
            detail::micro_array(s, "int32_t", p + "_b", l.b, [&](std::int32_t v) {
                // INT32_MIN has no literal of its own.
                return v == INT32_MIN ? std::string("(-2147483647 - 1)") : num(v);
            });
        if (!l.rq.empty())
            detail::micro_array(s, "edgestack::micro::Requant", p + "_rq", l.rq, [&](micro::Requant r) {
                std::string t(1, '{'); // appended piece by piece: GCC 12 warns on "{" + string
                t += num(r.multiplier);
                t += ", ";
                t += num(r.shift);
                t += '}';
                return t;
            });
    }
    s += "\ninline constexpr edgestack::micro::Layer layers[] = {\n";
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        const auto& l = m.layers[i];
        const auto& L = l.layer;
        const std::string p = "layer" + num(i);
        s += "    {&edgestack::micro::" + l.kernel + ", " + num(L.in) + "u, " + num(L.in2) + "u, " + num(L.out) +
             "u, " + num(L.in_h) + ", " + num(L.in_w) + ", " + num(L.in_c) + ", " + num(L.out_h) + ", " +
             num(L.out_w) + ", " + num(L.out_c) + ", " + num(L.kh) + ", " + num(L.kw) + ", " + num(L.sh) +
             ", " + num(L.sw) + ", " + num(L.pt) + ", " + num(L.pl) + ", " + num(L.zp_in) + ", " +
             num(L.zp_in2) + ", " + num(L.zp_out) + ", " + num(L.lo) + ", " + num(L.hi) + ", " +
             (l.w.empty() ? "nullptr" : p + "_w") + ", " + (l.b.empty() ? "nullptr" : p + "_b") + ", " +
             (l.rq.empty() ? "nullptr" : p + "_rq") + ", " + detail::micro_float(L.s_in) + ", " +
             detail::micro_float(L.s_out) + "},\n";
    }
    if (m.layers.empty()) s += "    {},\n"; // an array needs one element; count stays 0
    const auto& n = m.network;
    s += "};\n\n/// The network: layers, arena size, where the input and output codes sit.\n"
         "inline constexpr edgestack::micro::Network network{layers, " +
         num(m.layers.size()) + "u, " + num(n.arena_bytes) + "u, " + num(n.input) + "u, " + num(n.output) + "u, " +
         num(n.input_size) + "u, " + num(n.output_size) + "u, " + detail::micro_float(n.input_scale) + ", " +
         num(n.input_zero_point) + ", " + detail::micro_float(n.output_scale) + ", " +
         num(n.output_zero_point) + "};\n\n} // namespace " + std::string(ns) + "\n";
    return s;
}

/// micro_source(lower_micro(g), ns): the header for int8 graph `g`.
inline std::string micro_source(const compile::Graph& g, std::string_view ns) {
    return micro_source(lower_micro(g), ns);
}

} // namespace edgestack::deploy
