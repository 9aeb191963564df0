// A small integer-only interpreter of canonical int8 graphs (dense, conv2d, depthwise,
// max pool, flatten, relu), written from the contract in docs/engine.md: the check that a
// lowered graph means what the fake-quantized forward pass computed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace quant_test {

namespace eq = edgestack::quant;
namespace ec = edgestack::compile;

inline std::int32_t clamp_lo(const ec::Node& n, std::int32_t zp) {
    return n.fused == ec::Activation::none ? -128 : std::max(-128, zp);
}
inline std::int32_t clamp_hi(const ec::Node& n, float s, std::int32_t zp) {
    if (n.fused != ec::Activation::relu6) return 127;
    return std::min<std::int32_t>(127, eq::quantize(6.0f, s, zp));
}

/// Run an int8 graph on one batch of int8 inputs; returns the int8 output.
inline std::vector<std::int8_t> run_int8(const ec::Graph& g, const std::vector<std::int8_t>& in,
                                         std::size_t batch) {
    std::vector<std::vector<std::int8_t>> val(g.values.size());
    val[0] = in;
    for (const auto& n : g.nodes) {
        const auto iv = static_cast<std::size_t>(n.inputs.at(0));
        const auto ov = static_cast<std::size_t>(n.output);
        const auto& qi = g.value_quant.at(iv);
        const auto& qo = g.value_quant.at(ov);
        const std::int32_t zi = qi.zero_point.at(0), zo = qo.zero_point.at(0);
        const float si = qi.scale.at(0), so = qo.scale.at(0);
        const auto& x = val[iv];
        auto& y = val[ov];
        const std::size_t in_n = ec::volume(g.values[iv]), out_n = ec::volume(g.values[ov]);
        y.assign(batch * out_n, 0);
        auto requant = [&](std::int32_t acc, std::size_t c) {
            const float sw = n.weight_quant.scale.size() == 1 ? n.weight_quant.scale[0]
                                                               : n.weight_quant.scale.at(c);
            return eq::requantize(acc, eq::output_multiplier(si, sw, so), zo, clamp_lo(n, zo),
                                  clamp_hi(n, so, zo));
        };
        auto bias = [&](std::size_t c) { return n.qbias.empty() ? 0 : n.qbias.at(c); };
        switch (n.op) {
        case ec::Op::dense:
            for (std::size_t b = 0; b < batch; ++b)
                for (std::size_t o = 0; o < out_n; ++o) {
                    std::int32_t acc = bias(o);
                    for (std::size_t i = 0; i < in_n; ++i)
                        acc += (x[b * in_n + i] - zi) * n.qweights[o * in_n + i];
                    y[b * out_n + o] = requant(acc, o);
                }
            break;
        case ec::Op::conv2d:
        case ec::Op::depthwise_conv2d:
        case ec::Op::max_pool2d: {
            const auto& id = g.values[iv];
            const auto& od = g.values[ov];
            const std::size_t H = id[0], W = id[1], C = id[2], OH = od[0], OW = od[1], OC = od[2];
            const std::size_t KH = n.kernel[0], KW = n.kernel[1];
            for (std::size_t b = 0; b < batch; ++b)
                for (std::size_t oy = 0; oy < OH; ++oy)
                    for (std::size_t ox = 0; ox < OW; ++ox)
                        for (std::size_t oc = 0; oc < OC; ++oc) {
                            std::int32_t acc = n.op == ec::Op::max_pool2d ? -1000 : bias(oc);
                            for (std::size_t ky = 0; ky < KH; ++ky)
                                for (std::size_t kx = 0; kx < KW; ++kx) {
                                    const long iy = static_cast<long>(oy * n.stride[0] + ky * n.dilation[0]) -
                                                    static_cast<long>(n.pad[0]);
                                    const long ix = static_cast<long>(ox * n.stride[1] + kx * n.dilation[1]) -
                                                    static_cast<long>(n.pad[1]);
                                    const bool inside = iy >= 0 && ix >= 0 && iy < static_cast<long>(H) &&
                                                        ix < static_cast<long>(W);
                                    const std::size_t base =
                                        b * in_n + (static_cast<std::size_t>(iy) * W + static_cast<std::size_t>(ix)) * C;
                                    if (n.op == ec::Op::max_pool2d) {
                                        if (inside) acc = std::max<std::int32_t>(acc, x[base + oc]);
                                    } else if (n.op == ec::Op::depthwise_conv2d) {
                                        const std::int32_t xv = inside ? x[base + oc] - zi : 0;
                                        acc += xv * n.qweights[(ky * KW + kx) * C + oc];
                                    } else {
                                        for (std::size_t c = 0; c < C; ++c) {
                                            const std::int32_t xv = inside ? x[base + c] - zi : 0;
                                            acc += xv * n.qweights[((oc * KH + ky) * KW + kx) * C + c];
                                        }
                                    }
                                }
                            auto& dst = y[b * out_n + (oy * OW + ox) * OC + oc];
                            dst = n.op == ec::Op::max_pool2d ? static_cast<std::int8_t>(acc)
                                                             : requant(acc, oc);
                        }
            break;
        }
        case ec::Op::flatten: y = x; break;
        case ec::Op::relu:
            for (std::size_t i = 0; i < y.size(); ++i)
                y[i] = static_cast<std::int8_t>(std::max<std::int32_t>(x[i], zi));
            break;
        default:
            throw std::runtime_error("int8_ref: op " + std::string(ec::op_name(n.op)) +
                                     " is not in this test interpreter");
        }
    }
    return val[static_cast<std::size_t>(g.output)];
}

/// Quantize float inputs with the graph input's parameters, run, and dequantize the output.
inline std::vector<float> run_float(const ec::Graph& g, const float* in, std::size_t batch) {
    const auto& q0 = g.value_quant.at(0);
    const std::size_t n = batch * g.input_size();
    std::vector<std::int8_t> qin(n);
    for (std::size_t i = 0; i < n; ++i) qin[i] = eq::quantize(in[i], q0.scale[0], q0.zero_point[0]);
    const auto qout = run_int8(g, qin, batch);
    const auto& qo = g.value_quant.at(static_cast<std::size_t>(g.output));
    std::vector<float> out(qout.size());
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = eq::dequantize(qout[i], qo.scale[0], qo.zero_point[0]);
    return out;
}

} // namespace quant_test
