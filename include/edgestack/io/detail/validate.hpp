// Structural checks on a graph that came from outside (a model file, an ONNX file): value
// ids in range and in topological order, tensor sizes that match the shapes, sane
// quantization parameters. An engine compiled from a graph that passes cannot index past a
// buffer because of what the file said.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/core/error.hpp"

namespace edgestack::io::detail {

/// Largest per-sample value (elements) a loaded graph may declare: 2^30.
inline constexpr std::size_t max_value_elements = std::size_t{1} << 30;

inline void validate_quant(const compile::QuantParams& q, std::size_t channels,
                           const std::string& where) {
    if (q.empty()) {
        if (!q.zero_point.empty())
            throw format_error(where + ": zero points without scales");
        return;
    }
    if (q.zero_point.size() != q.scale.size())
        throw format_error(where + ": " + std::to_string(q.scale.size()) + " scales but " +
                           std::to_string(q.zero_point.size()) + " zero points");
    if (q.scale.size() != 1 && q.scale.size() != channels)
        throw format_error(where + ": " + std::to_string(q.scale.size()) +
                           " scales, expected 1 or " + std::to_string(channels));
    if (q.axis < -1 || q.axis > 3) throw format_error(where + ": axis " + std::to_string(q.axis));
    for (std::size_t i = 0; i < q.scale.size(); ++i) {
        if (!(q.scale[i] > 0.0f) || !std::isfinite(q.scale[i]))
            throw format_error(where + ": scale " + std::to_string(i) + " is " +
                               std::to_string(q.scale[i]) + " (must be finite and > 0)");
        if (q.zero_point[i] < -128 || q.zero_point[i] > 127)
            throw format_error(where + ": zero point " + std::to_string(q.zero_point[i]) +
                               " is outside int8");
    }
}

/// Element counts of a node's tensors; a mapped model keeps them outside the node.
struct TensorCounts {
    std::size_t weights = 0, bias = 0, extra = 0, qweights = 0, qbias = 0;
};

inline TensorCounts counts_of(const compile::Node& n) noexcept {
    return {n.weights.size(), n.bias.size(), n.extra.size(), n.qweights.size(), n.qbias.size()};
}

/// Throws format_error naming `file` and the first node or value that is inconsistent.
/// `counts(i)` gives node i's tensor sizes.
template <class Counts>
void validate_graph(const compile::Graph& g, const std::string& file, Counts counts) {
    if (g.values.empty()) throw format_error(file + ": graph has no input value");
    for (std::size_t v = 0; v < g.values.size(); ++v) {
        const auto& d = g.values[v];
        if (d.empty() || d.size() > 4)
            throw format_error(file + ": value " + std::to_string(v) + " has rank " +
                               std::to_string(d.size()) + " (1 to 4 supported)");
        std::size_t n = 1;
        for (auto x : d) {
            if (x == 0 || x > max_value_elements / n)
                throw format_error(file + ": value " + std::to_string(v) + " has shape " +
                                   compile::to_string(d) + " (zero or larger than 2^30)");
            n *= x;
        }
    }
    if (!g.value_quant.empty()) {
        if (g.value_quant.size() != g.values.size())
            throw format_error(file + ": " + std::to_string(g.value_quant.size()) +
                               " value quantization entries for " +
                               std::to_string(g.values.size()) + " values");
        for (std::size_t v = 0; v < g.value_quant.size(); ++v)
            validate_quant(g.value_quant[v], 1, file + ": value " + std::to_string(v));
    }
    std::vector<bool> defined(g.values.size(), false);
    defined[0] = true;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const auto& n = g.nodes[i];
        const TensorCounts c = counts(i);
        const std::string where = file + ": node " + std::to_string(i) + " '" + n.name + "' (" +
                                  std::string(compile::op_name(n.op)) + ")";
        const std::size_t want_inputs = compile::ops::arity(n.op);
        if (n.inputs.size() != want_inputs)
            throw format_error(where + ": " + std::to_string(n.inputs.size()) +
                               " inputs, expected " + std::to_string(want_inputs));
        for (int v : n.inputs)
            if (v < 0 || static_cast<std::size_t>(v) >= g.values.size() ||
                !defined[static_cast<std::size_t>(v)])
                throw format_error(where + ": reads value " + std::to_string(v) +
                                   ", which no earlier node defines");
        if (n.output <= 0 || static_cast<std::size_t>(n.output) >= g.values.size() ||
            defined[static_cast<std::size_t>(n.output)])
            throw format_error(where + ": output value " + std::to_string(n.output) +
                               " is out of range or defined twice");
        defined[static_cast<std::size_t>(n.output)] = true;
        for (auto k : n.kernel)
            if (k == 0 || k > 1024) throw format_error(where + ": kernel size " + std::to_string(k));
        for (auto s : n.stride)
            if (s == 0 || s > 1024) throw format_error(where + ": stride " + std::to_string(s));
        for (auto s : n.dilation)
            if (s == 0 || s > 1024) throw format_error(where + ": dilation " + std::to_string(s));
        for (auto p : n.pad)
            if (p > 1024) throw format_error(where + ": padding " + std::to_string(p));
        if (static_cast<int>(n.fused) > 2)
            throw format_error(where + ": unknown fused activation " +
                               std::to_string(static_cast<int>(n.fused)));

        const auto& in = g.values[static_cast<std::size_t>(n.inputs[0])];
        const auto& out = g.values[static_cast<std::size_t>(n.output)];
        auto expect = [&](const char* field, std::size_t got, std::size_t want, bool may_be_empty) {
            if (got == want || (may_be_empty && got == 0)) return;
            throw format_error(where + ": " + field + " has " + std::to_string(got) +
                               " elements, expected " + std::to_string(want) +
                               " for input " + compile::to_string(in) + " and output " +
                               compile::to_string(out));
        };
        if (const std::string why = compile::ops::check(g, n); !why.empty())
            throw format_error(where + ": " + why);
        const compile::ops::Tensors t = compile::ops::tensors(g, n);
        const std::size_t weight_n = t.weights, channels = t.channels, bias_n = t.bias;
        if (t.extra != 0) expect("normalisation parameters", c.extra, t.extra, false);
        if (t.extra == 0 && c.extra != 0)
            throw format_error(where + ": carries normalisation parameters on another op");
        if (weight_n != 0) {
            const bool q = c.qweights != 0;
            expect("weights", c.weights, weight_n, q);
            expect("qweights", c.qweights, weight_n, true);
            if (c.weights == 0 && c.qweights == 0)
                throw format_error(where + ": has neither fp32 nor int8 weights");
            expect("bias", c.bias, bias_n, true);
            expect("qbias", c.qbias, bias_n, true);
            validate_quant(n.weight_quant, channels, where + ": weight quantization");
            if (q && n.weight_quant.empty())
                throw format_error(where + ": int8 weights without scales");
        } else if (c.weights != 0 || c.qweights != 0 || c.bias != 0 || c.qbias != 0) {
            throw format_error(where + ": carries weights, which this op does not take");
        }
    }
    if (g.output < 0 || static_cast<std::size_t>(g.output) >= g.values.size() ||
        !defined[static_cast<std::size_t>(g.output)])
        throw format_error(file + ": graph output " + std::to_string(g.output) +
                           " is not a defined value");
}

inline void validate_graph(const compile::Graph& g, const std::string& file) {
    validate_graph(g, file, [&](std::size_t i) { return counts_of(g.nodes[i]); });
}

} // namespace edgestack::io::detail
