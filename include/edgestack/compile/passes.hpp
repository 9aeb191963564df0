// Deploy-time graph passes, run between model.lower() and backend.compile(): batch-norm
// folding, dropout removal, activation fusion. canonicalize() runs them all; a quantizer
// calls it before choosing parameters, and every backend calls it again (a no-op then).
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"

namespace edgestack::compile {

namespace detail {

inline std::vector<int> use_counts(const Graph& g) {
    std::vector<int> uses(g.values.size(), 0);
    for (const auto& n : g.nodes)
        for (int v : n.inputs) ++uses[static_cast<std::size_t>(v)];
    ++uses[static_cast<std::size_t>(g.output)];
    return uses;
}

/// Every reader of value `from` reads `to` instead (and the graph output follows).
inline void redirect(Graph& g, int from, int to) {
    for (auto& n : g.nodes)
        for (int& v : n.inputs)
            if (v == from) v = to;
    if (g.output == from) g.output = to;
}

inline int producer(const Graph& g, int value) {
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].output == value) return static_cast<int>(i);
    return -1;
}

inline std::size_t channels_of(const Graph& g, int value) {
    return g.values[static_cast<std::size_t>(value)].back();
}

/// Rewrites the weights and bias of conv/dense/depthwise node `prev` (with `c` output
/// channels) so that it computes batch norm `bn` applied to its old output. The one
/// batch-norm folding of the tree: fold_batch_norm and the quantizers use it.
inline void fold_into(Node& prev, const Node& bn, std::size_t c) {
    if (c == 0 || bn.extra.size() != 4 * c || prev.weights.size() % c != 0)
        throw shape_error("fold_batch_norm: node '" + bn.name + "' has " +
                          std::to_string(bn.extra.size()) + " parameters, expected 4 x " +
                          std::to_string(c) + " channels of '" + prev.name + "'");
    if (prev.bias.empty()) prev.bias.assign(c, 0.0f);
    if (prev.bias.size() != c)
        throw shape_error("fold_batch_norm: node '" + prev.name + "' has " +
                          std::to_string(prev.bias.size()) + " biases for " + std::to_string(c) +
                          " channels");
    const std::size_t per = prev.weights.size() / c; // weights per output channel
    for (std::size_t ch = 0; ch < c; ++ch) {
        const float gamma = bn.extra[ch], beta = bn.extra[c + ch];
        const float mean = bn.extra[2 * c + ch], var = bn.extra[3 * c + ch];
        const float k = gamma / std::sqrt(var + bn.alpha);
        if (prev.op == Op::depthwise_conv2d) { // [kh][kw][c]: channel is the last axis
            for (std::size_t t = 0; t < per; ++t) prev.weights[t * c + ch] *= k;
        } else { // [out][...]: channel is the first axis
            for (std::size_t t = 0; t < per; ++t) prev.weights[ch * per + t] *= k;
        }
        prev.bias[ch] = (prev.bias[ch] - mean) * k + beta;
    }
}

} // namespace detail

/// Drop values no node defines or reads (left behind by the other passes) and renumber the
/// rest in order; value 0 stays the input.
inline void compact(Graph& g) {
    std::vector<char> live(g.values.size(), 0);
    live[0] = 1;
    live[static_cast<std::size_t>(g.output)] = 1;
    for (const auto& n : g.nodes) {
        live[static_cast<std::size_t>(n.output)] = 1;
        for (int v : n.inputs) live[static_cast<std::size_t>(v)] = 1;
    }
    std::vector<int> remap(g.values.size(), -1);
    std::vector<Dims> values;
    std::vector<QuantParams> quant;
    for (std::size_t v = 0; v < g.values.size(); ++v) {
        if (!live[v]) continue;
        remap[v] = static_cast<int>(values.size());
        values.push_back(g.values[v]);
        if (!g.value_quant.empty()) quant.push_back(g.value_quant[v]);
    }
    for (auto& n : g.nodes) {
        n.output = remap[static_cast<std::size_t>(n.output)];
        for (int& v : n.inputs) v = remap[static_cast<std::size_t>(v)];
    }
    g.output = remap[static_cast<std::size_t>(g.output)];
    g.values = std::move(values);
    g.value_quant = std::move(quant);
}

/// Dropout is the identity at inference: its readers read its input.
inline std::size_t remove_dropout(Graph& g) {
    std::size_t removed = 0;
    for (std::size_t i = 0; i < g.nodes.size();) {
        if (g.nodes[i].op == Op::dropout) {
            detail::redirect(g, g.nodes[i].output, g.nodes[i].inputs.at(0));
            g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
            ++removed;
        } else {
            ++i;
        }
    }
    if (removed != 0) compact(g);
    return removed;
}

/// y = gamma (x - mean) / sqrt(var + eps) + beta folded into the conv/dense/depthwise that
/// produces x, when x has no other reader and that node has no fused activation yet.
/// Only fp32 graphs: folding changes weights, so it must run before quantization.
inline std::size_t fold_batch_norm(Graph& g) {
    std::size_t folded = 0;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        Node& bn = g.nodes[i];
        if (bn.op != Op::batch_norm) continue;
        const int x = bn.inputs.at(0);
        const int p = detail::producer(g, x);
        if (p < 0) continue;
        Node& prev = g.nodes[static_cast<std::size_t>(p)];
        if (prev.op != Op::dense && prev.op != Op::conv2d && prev.op != Op::depthwise_conv2d)
            continue;
        if (prev.fused != Activation::none || prev.quantized()) continue;
        if (detail::use_counts(g)[static_cast<std::size_t>(x)] != 1) continue;
        detail::fold_into(prev, bn, detail::channels_of(g, x));
        const int y = bn.output;
        prev.output = y;
        g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        --i;
        ++folded;
    }
    if (folded != 0) compact(g);
    return folded;
}

/// relu / relu6 right after a conv, depthwise conv, dense or add (its only reader) become
/// that node's `fused` activation: a residual block's add -> relu then runs as one step, and
/// in int8 as one clamp of the add's codes instead of a second pass over the map. The fused
/// node defines the activation's output value, so a quantized graph keeps the
/// post-activation parameters.
inline std::size_t fuse_activations(Graph& g) {
    std::size_t fused = 0;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& act = g.nodes[i];
        if (act.op != Op::relu && act.op != Op::relu6) continue;
        const int x = act.inputs.at(0);
        const int p = detail::producer(g, x);
        if (p < 0) continue;
        Node& prev = g.nodes[static_cast<std::size_t>(p)];
        if (prev.op != Op::dense && prev.op != Op::conv2d && prev.op != Op::depthwise_conv2d &&
            prev.op != Op::add)
            continue;
        if (prev.fused != Activation::none) continue;
        if (detail::use_counts(g)[static_cast<std::size_t>(x)] != 1) continue;
        prev.fused = act.op == Op::relu ? Activation::relu : Activation::relu6;
        prev.output = act.output;
        g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        --i;
        ++fused;
    }
    if (fused != 0) compact(g);
    return fused;
}

/// What canonicalize() changed, for logs and the device report.
struct PassReport {
    std::size_t dropout_removed = 0;   ///< dropout nodes removed
    std::size_t batch_norm_folded = 0; ///< batch norms folded into the op before them
    std::size_t activations_fused = 0; ///< relu/relu6 fused into the conv, dense or add before them
};

/// Every pass, in the order that lets each enable the next. Idempotent.
inline PassReport canonicalize(Graph& g) {
    PassReport r;
    r.dropout_removed = remove_dropout(g);
    if (g.value_quant.empty()) r.batch_norm_folded = fold_batch_norm(g);
    r.activations_fused = fuse_activations(g);
    return r;
}

} // namespace edgestack::compile
