// Structural checks on a graph that came from outside (a model file, an ONNX file): value
// ids in range and in topological order, tensor sizes that match the shapes, sane
// quantization parameters. An engine compiled from a graph that passes cannot index past a
// buffer because of what the file said.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include "edgestack/compile/graph.hpp"
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
    using compile::Op;
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
        const std::size_t want_inputs = n.op == Op::add || n.op == Op::concat ? 2 : 1;
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
        const std::size_t in_n = compile::volume(in), out_n = compile::volume(out);
        auto expect = [&](const char* field, std::size_t got, std::size_t want, bool may_be_empty) {
            if (got == want || (may_be_empty && got == 0)) return;
            throw format_error(where + ": " + field + " has " + std::to_string(got) +
                               " elements, expected " + std::to_string(want) +
                               " for input " + compile::to_string(in) + " and output " +
                               compile::to_string(out));
        };
        auto spatial = [&](std::size_t out_c) {
            if (in.size() != 3 || out.size() != 3)
                throw format_error(where + ": needs HxWxC input and output, got " +
                                   compile::to_string(in) + " -> " + compile::to_string(out));
            for (int a = 0; a < 2; ++a) {
                const std::size_t span = in[a] + n.pad[a] + n.pad[a + 2];
                const std::size_t reach = n.dilation[a] * (n.kernel[a] - 1) + 1;
                if (reach > span || (span - reach) / n.stride[a] + 1 != out[a])
                    throw format_error(where + ": output " + compile::to_string(out) +
                                       " does not follow from input " + compile::to_string(in) +
                                       ", kernel, stride and padding");
            }
            if (out[2] != out_c)
                throw format_error(where + ": output has " + std::to_string(out[2]) +
                                   " channels, expected " + std::to_string(out_c));
        };
        std::size_t weight_n = 0, channels = 0, bias_n = static_cast<std::size_t>(-1);
        switch (n.op) {
        case Op::dense:
            weight_n = in_n * out_n;
            channels = out_n;
            break;
        case Op::conv2d:
            channels = out.back();
            spatial(channels);
            weight_n = channels * n.kernel[0] * n.kernel[1] * in.back();
            break;
        case Op::depthwise_conv2d:
            channels = in.back();
            spatial(channels);
            weight_n = n.kernel[0] * n.kernel[1] * channels;
            break;
        case Op::max_pool2d:
        case Op::avg_pool2d: spatial(in.back()); break;
        case Op::batch_norm:
            if (in != out) throw format_error(where + ": input and output shapes differ");
            expect("batch norm parameters", c.extra, 4 * in.back(), false);
            break;
        case Op::global_avg_pool:
            if (in.size() != 3 || out_n != in.back())
                throw format_error(where + ": " + compile::to_string(in) + " -> " +
                                   compile::to_string(out));
            break;
        case Op::flatten:
        case Op::dropout:
        case Op::relu:
        case Op::relu6:
        case Op::leaky_relu:
        case Op::sigmoid:
        case Op::tanh:
        case Op::hard_swish:
        case Op::softmax:
            if (in_n != out_n)
                throw format_error(where + ": changes the element count " +
                                   compile::to_string(in) + " -> " + compile::to_string(out));
            break;
        case Op::add: {
            const auto& b = g.values[static_cast<std::size_t>(n.inputs[1])];
            if (b != in || out != in)
                throw format_error(where + ": shapes " + compile::to_string(in) + " + " +
                                   compile::to_string(b) + " -> " + compile::to_string(out));
            break;
        }
        case Op::concat: {
            const auto& b = g.values[static_cast<std::size_t>(n.inputs[1])];
            const bool ok = !in.empty() && b.size() == in.size() && out.size() == in.size() &&
                            std::equal(in.begin(), in.end() - 1, b.begin()) &&
                            std::equal(in.begin(), in.end() - 1, out.begin()) &&
                            out.back() == in.back() + b.back();
            if (!ok)
                throw format_error(where + ": shapes " + compile::to_string(in) + " and " +
                                   compile::to_string(b) + " do not concatenate to " +
                                   compile::to_string(out));
            break;
        }
        case Op::lstm:
        case Op::gru: {
            const std::size_t gates = n.op == Op::lstm ? 4 : 3;
            if (in.size() != 2 || out.size() > 2 || (out.size() == 2 && out[0] != in[0]))
                throw format_error(where + ": needs a T x F input and a U or T x U output, got " +
                                   compile::to_string(in) + " -> " + compile::to_string(out));
            const std::size_t u = out.back();
            channels = u;
            weight_n = gates * u * (in[1] + u);
            bias_n = n.op == Op::lstm ? 4 * u : 6 * u;
            break;
        }
        case Op::layer_norm:
            if (in != out) throw format_error(where + ": input and output shapes differ");
            expect("layer norm parameters", c.extra, 2 * in.back(), false);
            break;
        case Op::attention: {
            if (in.size() != 2 || out != in)
                throw format_error(where + ": needs equal T x D input and output, got " +
                                   compile::to_string(in) + " -> " + compile::to_string(out));
            const std::size_t d = in[1];
            if (d % n.kernel[0] != 0)
                throw format_error(where + ": " + std::to_string(n.kernel[0]) +
                                   " heads do not divide the width " + std::to_string(d));
            channels = d;
            weight_n = 4 * d * d;
            bias_n = 4 * d;
            break;
        }
        case Op::positional_embedding:
            if (in.size() != 2 || out != in)
                throw format_error(where + ": needs equal T x D input and output");
            channels = in[1];
            weight_n = in_n;
            bias_n = 0;
            break;
        default:
            // Ops whose tensor sizes this checker does not know cannot be trusted from a file.
            throw format_error(where + ": this reader cannot check the op's tensors, so it "
                                       "does not accept it");
        }
        if (n.op != Op::batch_norm && n.op != Op::layer_norm && c.extra != 0)
            throw format_error(where + ": carries normalisation parameters on another op");
        if (bias_n == static_cast<std::size_t>(-1)) bias_n = channels;
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
