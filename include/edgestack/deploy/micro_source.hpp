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
#include <type_traits>
#include <utility>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/ops.hpp"
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

    // Every node checked and prepared once, by its op unit (compile/ops/<name>.hpp): the
    // Reference engine's steps hold the folded biases, multipliers, clamps and tables.
    for (const auto& n : g.nodes)
        if (!compile::ops::alias(n.op) && detail::micro_kernel(n.op).fn == nullptr)
            throw config_error("lower_micro: node '" + n.name + "' (" + std::string(compile::op_name(n.op)) +
                               "): the micro engine does not run this op");
    const backend::ReferenceEngine ref = [&] {
        try {
            return backend::ReferenceEngine(g);
        } catch (const shape_error& e) {
            throw shape_error(std::string("lower_micro: ") + e.what());
        } catch (const config_error& e) {
            throw config_error(std::string("lower_micro: ") + e.what());
        }
    }();
    const auto& steps = ref.program().steps;
    for (std::size_t i = 0; i < nn; ++i) {
        const compile::Node& n = g.nodes[i];
        const backend::detail::Step& ps = steps[i];
        const std::string who = "node '" + n.name + "' (" + std::string(compile::op_name(n.op)) + ")";
        auto bad = [&](const std::string& why) { return config_error("lower_micro: " + who + ": " + why); };
        if (ps.alias) continue; // flatten, dropout: no step
        if (ps.rows != 1) throw bad("a dense over the rows of a sequence is not in the micro engine");
        const auto kernel = detail::micro_kernel(n.op);
        if (kernel.fn == nullptr) throw bad("the micro engine does not run this op");
        MicroLayer ml;
        ml.kernel = kernel.name;
        ml.node = n.name;
        auto& L = ml.layer;
        L.run = kernel.fn;
        L.in = static_cast<std::uint32_t>(offset[static_cast<std::size_t>(n.inputs[0])]);
        L.out = static_cast<std::uint32_t>(offset[static_cast<std::size_t>(n.output)]);
        auto i32 = [](std::size_t x) { return static_cast<std::int32_t>(x); };
        L.in_h = i32(ps.in.h);
        L.in_w = i32(ps.in.w);
        L.in_c = i32(ps.in.c);
        L.out_h = i32(ps.out.h);
        L.out_w = i32(ps.out.w);
        L.out_c = i32(ps.out.c);
        L.kh = i32(ps.kh);
        L.kw = i32(ps.kw);
        L.sh = i32(ps.sh);
        L.sw = i32(ps.sw);
        L.pt = i32(ps.pt);
        L.pl = i32(ps.pl);
        L.zp_in = ps.zp_in;
        L.zp_in2 = ps.zp_in2;
        L.zp_out = ps.zp_out;
        L.lo = -128;
        L.hi = 127;
        if (n.inputs.size() == 2) L.in2 = static_cast<std::uint32_t>(offset[static_cast<std::size_t>(n.inputs[1])]);
        auto requant = [&](const quant::Requant& r) {
            if (31 + r.shift > 62) throw bad("a requantization multiplier is below 2^-32");
            return micro::Requant{r.multiplier, r.shift};
        };
        auto requants = [&](const std::vector<quant::Requant>& rq) {
            for (const auto& r : rq) ml.rq.push_back(r.multiplier == 0 ? micro::Requant{0, 0} : requant(r));
        };
        compile::ops::visit(n.op, [&]<class U>() {
            using St = typename U::State;
            if constexpr (std::is_same_v<St, compile::ops::Weighted>) {
                const auto& w = ps.get<St>();
                ml.w = w.qw;
                ml.b = w.qb;
                requants(w.rq);
                L.lo = w.lo;
                L.hi = w.hi;
            } else if constexpr (std::is_same_v<St, compile::ops::Clamp>) {
                L.lo = ps.get<St>().lo;
                L.hi = ps.get<St>().hi;
            } else if constexpr (std::is_same_v<St, compile::ops::Table>) {
                ml.w = ps.get<St>().table;
            } else if constexpr (std::is_same_v<St, compile::ops::CountRequant>) {
                requants(ps.get<St>().count_rq);
            } else if constexpr (std::is_same_v<St, compile::ops::Rescale>) {
                ml.rq = {requant(ps.get<St>().a), requant(ps.get<St>().b)};
                L.lo = ps.get<St>().lo; // add: its fused activation
                L.hi = ps.get<St>().hi;
            }
        });
        if (n.op == compile::Op::softmax) {
            L.s_in = ps.s_in;
            L.s_out = ps.s_out;
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
