// A small evaluator of graphs for the io tests: the fp32 and the int8 (docs/engine.md
// contract) meaning of dense, conv2d, relu, max_pool2d and flatten in NHWC. It is the
// "ours" side of the ONNX Runtime comparisons while the backends grow; it follows the
// contract literally (quant::requantize), as the Reference backend does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace iotest {

using edgestack::compile::Graph;
using edgestack::compile::Node;
using edgestack::compile::Op;

/// One sample through the fp32 graph. Also records each value's (min, max) in `ranges`.
inline std::vector<float> eval_f32(const Graph& g, const float* x,
                                   std::vector<std::pair<float, float>>* ranges = nullptr) {
    std::vector<std::vector<float>> val(g.values.size());
    val[0].assign(x, x + edgestack::compile::volume(g.values[0]));
    for (const auto& n : g.nodes) {
        const auto& in = val[static_cast<std::size_t>(n.inputs[0])];
        const auto& id = g.values[static_cast<std::size_t>(n.inputs[0])];
        const auto& od = g.values[static_cast<std::size_t>(n.output)];
        std::vector<float> out(edgestack::compile::volume(od));
        switch (n.op) {
        case Op::dense:
            for (std::size_t o = 0; o < out.size(); ++o) {
                double acc = n.bias.empty() ? 0.0 : n.bias[o];
                for (std::size_t i = 0; i < in.size(); ++i) acc += double(in[i]) * n.weights[o * in.size() + i];
                out[o] = static_cast<float>(acc);
            }
            break;
        case Op::conv2d:
        case Op::max_pool2d: {
            const bool conv = n.op == Op::conv2d;
            const std::size_t H = id[0], W = id[1], C = id[2], Ho = od[0], Wo = od[1], Co = od[2];
            for (std::size_t oy = 0; oy < Ho; ++oy)
                for (std::size_t ox = 0; ox < Wo; ++ox)
                    for (std::size_t co = 0; co < Co; ++co) {
                        double acc = conv ? (n.bias.empty() ? 0.0 : n.bias[co])
                                          : -std::numeric_limits<double>::infinity();
                        for (std::size_t ky = 0; ky < n.kernel[0]; ++ky)
                            for (std::size_t kx = 0; kx < n.kernel[1]; ++kx) {
                                const long iy = long(oy * n.stride[0] + ky * n.dilation[0]) - long(n.pad[0]);
                                const long ix = long(ox * n.stride[1] + kx * n.dilation[1]) - long(n.pad[1]);
                                if (iy < 0 || ix < 0 || iy >= long(H) || ix >= long(W)) continue;
                                const float* px = &in[(std::size_t(iy) * W + std::size_t(ix)) * C];
                                if (conv) {
                                    for (std::size_t ci = 0; ci < C; ++ci)
                                        acc += double(px[ci]) *
                                               n.weights[((co * n.kernel[0] + ky) * n.kernel[1] + kx) * C + ci];
                                } else {
                                    acc = std::max(acc, double(px[co]));
                                }
                            }
                        out[(oy * Wo + ox) * Co + co] = static_cast<float>(acc);
                    }
            break;
        }
        case Op::relu:
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::max(in[i], 0.0f);
            break;
        case Op::flatten:
        case Op::dropout: out = in; break;
        default: throw std::logic_error("eval_f32: op not in the test evaluator");
        }
        if (n.fused == edgestack::compile::Activation::relu)
            for (auto& v : out) v = std::max(v, 0.0f);
        val[static_cast<std::size_t>(n.output)] = std::move(out);
    }
    if (ranges) {
        ranges->resize(g.values.size());
        for (std::size_t v = 0; v < val.size(); ++v) {
            auto [lo, hi] = std::minmax_element(val[v].begin(), val[v].end());
            (*ranges)[v] = {*lo, *hi};
        }
    }
    return val[static_cast<std::size_t>(g.output)];
}

/// One sample through the int8 graph: quantize the input, integer kernels, dequantize.
/// Returns the int8 output codes.
inline std::vector<std::int8_t> eval_int8(const Graph& g, const float* x) {
    namespace q = edgestack::quant;
    std::vector<std::vector<std::int8_t>> val(g.values.size());
    const auto& q0 = g.value_quant[0];
    val[0].resize(edgestack::compile::volume(g.values[0]));
    for (std::size_t i = 0; i < val[0].size(); ++i) val[0][i] = q::quantize(x[i], q0.scale[0], q0.zero_point[0]);
    for (const auto& n : g.nodes) {
        const auto iv = static_cast<std::size_t>(n.inputs[0]), ov = static_cast<std::size_t>(n.output);
        const auto& in = val[iv];
        const auto& id = g.values[iv];
        const auto& od = g.values[ov];
        const float s_in = g.value_quant[iv].scale[0], s_out = g.value_quant[ov].scale[0];
        const int zi = g.value_quant[iv].zero_point[0], zo = g.value_quant[ov].zero_point[0];
        std::vector<std::int8_t> out(edgestack::compile::volume(od));
        const int lo = n.fused == edgestack::compile::Activation::relu ? std::max(-128, zo) : -128;
        auto req = [&](std::int32_t acc, std::size_t c) {
            const float sw = n.weight_quant.scale[n.weight_quant.scale.size() > 1 ? c : 0];
            const auto r = q::quantize_multiplier(double(s_in) * double(sw) / double(s_out));
            return q::requantize(acc, r, zo, lo, 127);
        };
        switch (n.op) {
        case Op::dense:
            for (std::size_t o = 0; o < out.size(); ++o) {
                std::int32_t acc = n.qbias.empty() ? 0 : n.qbias[o];
                for (std::size_t i = 0; i < in.size(); ++i)
                    acc += (std::int32_t(in[i]) - zi) * n.qweights[o * in.size() + i];
                out[o] = req(acc, o);
            }
            break;
        case Op::conv2d:
        case Op::max_pool2d: {
            const bool conv = n.op == Op::conv2d;
            const std::size_t H = id[0], W = id[1], C = id[2], Ho = od[0], Wo = od[1], Co = od[2];
            for (std::size_t oy = 0; oy < Ho; ++oy)
                for (std::size_t ox = 0; ox < Wo; ++ox)
                    for (std::size_t co = 0; co < Co; ++co) {
                        std::int32_t acc = conv ? (n.qbias.empty() ? 0 : n.qbias[co]) : -128;
                        for (std::size_t ky = 0; ky < n.kernel[0]; ++ky)
                            for (std::size_t kx = 0; kx < n.kernel[1]; ++kx) {
                                const long iy = long(oy * n.stride[0] + ky * n.dilation[0]) - long(n.pad[0]);
                                const long ix = long(ox * n.stride[1] + kx * n.dilation[1]) - long(n.pad[1]);
                                if (iy < 0 || ix < 0 || iy >= long(H) || ix >= long(W)) continue;
                                const std::int8_t* px = &in[(std::size_t(iy) * W + std::size_t(ix)) * C];
                                if (conv) {
                                    for (std::size_t ci = 0; ci < C; ++ci)
                                        acc += (std::int32_t(px[ci]) - zi) *
                                               n.qweights[((co * n.kernel[0] + ky) * n.kernel[1] + kx) * C + ci];
                                } else {
                                    acc = std::max<std::int32_t>(acc, px[co]);
                                }
                            }
                        out[(oy * Wo + ox) * Co + co] = conv ? req(acc, co) : static_cast<std::int8_t>(acc);
                    }
            break;
        }
        case Op::relu:
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::int8_t>(std::max<int>(in[i], zi));
            break;
        case Op::flatten:
        case Op::dropout: out = in; break;
        default: throw std::logic_error("eval_int8: op not in the test evaluator");
        }
        val[ov] = std::move(out);
    }
    return val[static_cast<std::size_t>(g.output)];
}

} // namespace iotest
