// The compiled form every backend runs: one Step per graph node with its geometry, its
// fp32 or int8 parameters already in the shape kernels want (zero points folded into the
// bias, requantization multipliers precomputed), and its place in the memory plan.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/memory_plan.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/cpu.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/kernels/window.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::backend::detail {

using kernels::Hwc;
using kernels::pad_image;

inline Hwc hwc_of(const compile::Dims& d) {
    if (d.size() == 3) return {d[0], d[1], d[2]};
    if (d.size() == 2) return {1, d[0], d[1]};
    return {1, 1, compile::volume(d)};
}

/// One step: its geometry (in, out, kernel, stride, padding: what the kernels read) and the
/// rest.
struct Step : kernels::Window {
    compile::Op op{};
    std::string name;
    bool int8 = false;
    std::array<std::size_t, 2> in_off{0, 0}; // bytes per sample into the value area
    std::size_t out_off = 0;
    compile::Activation act = compile::Activation::none;
    float alpha = 0.0f;
    bool alias = false; // output shares the input's storage: nothing to do

    // fp32 parameters (weights in graph layout) and the backend's packed copy.
    std::vector<float> w, b, packed;
    // int8: weights, bias with -zp_in * sum(w) folded in, per-channel requantization.
    std::vector<std::int8_t> qw, qpacked;
    std::vector<std::int32_t> qpack32; // backend-packed int32 data (bias, multipliers)
    std::vector<std::int64_t> qpack64; // backend-packed shifts and rounding terms
    std::vector<std::int16_t> qpack16; // backend-packed int16 weights (Winograd-transformed)
    bool winograd = false;             // the backend runs this conv as Winograd F(2x2, 3x3)
    Isa level = Isa::scalar;           // the instruction-set level of the kernel it runs
    std::string kernel;                // that kernel's name, <dtype>-<op>-<tile>-<isa> (empty: unnamed)
    std::vector<std::int32_t> qb;
    std::vector<quant::Requant> rq;
    std::vector<float> wscale; // int8 weight scales as given (1 or one per channel)
    std::int32_t zp_in = 0, zp_in2 = 0, zp_out = 0, lo = -128, hi = 127;
    float s_in = 1.0f, s_in2 = 1.0f, s_out = 1.0f;
    std::vector<std::int8_t> table; // 256 entries, indexed by q + 128
    std::vector<quant::Requant> count_rq; // avg pools: by number of real positions (index n)
    quant::Requant add_a, add_b;
    std::size_t scratch_bytes = 0; // per step, not per sample
    std::shared_ptr<void> handle;  // a backend's own per-step state (an XNNPACK operator)
};

struct Program {
    std::vector<Step> steps;
    bool int8 = false;
    std::size_t input_size = 0, output_size = 0;
    std::size_t input_off = 0, output_off = 0;
    float in_scale = 1.0f, out_scale = 1.0f;
    std::int32_t in_zp = 0, out_zp = 0;
    std::size_t value_bytes_per_sample = 0;
    std::size_t scratch_bytes = 0;
    std::size_t params = 0, macs = 0, weight_bytes = 0;
};

inline const compile::QuantParams& qp(const compile::Graph& g, int v, const compile::Node& n) {
    const auto& q = g.value_quant[static_cast<std::size_t>(v)];
    if (q.scale.size() != 1 || q.zero_point.size() != 1)
        throw config_error("int8 graph: value " + std::to_string(v) + " (read or written by node '" +
                           n.name + "') needs one scale and one zero point, has " +
                           std::to_string(q.scale.size()) + " and " +
                           std::to_string(q.zero_point.size()));
    if (!(q.scale[0] > 0.0f))
        throw config_error("int8 graph: value " + std::to_string(v) + " of node '" + n.name +
                           "' has a non-positive scale");
    return q;
}

inline std::size_t padded_bytes(const Step& s, std::size_t elem) {
    return compile::align_up((s.in.h + s.pt + s.pb) * (s.in.w + s.pl + s.pr) * s.in.c * elem);
}

inline void prepare_int8_weights(Step& s, const compile::Node& n, std::size_t oc,
                                 std::size_t per_channel_taps, bool channel_last) {
    if (n.qweights.size() != n.weights.size() && !n.weights.empty())
        throw shape_error("int8 graph: node '" + n.name + "' has " + std::to_string(n.qweights.size()) +
                          " int8 weights, its fp32 weights have " + std::to_string(n.weights.size()));
    if (n.qweights.size() != oc * per_channel_taps)
        throw shape_error("int8 graph: node '" + n.name + "' has " + std::to_string(n.qweights.size()) +
                          " int8 weights, expected " + std::to_string(oc * per_channel_taps));
    const auto& wq = n.weight_quant;
    if (wq.scale.size() != 1 && wq.scale.size() != oc)
        throw config_error("int8 graph: node '" + n.name + "' weight_quant has " +
                           std::to_string(wq.scale.size()) + " scales; expected 1 or " +
                           std::to_string(oc) + " (one per output channel)");
    for (auto z : wq.zero_point)
        if (z != 0)
            throw config_error("int8 graph: node '" + n.name +
                               "' weight zero points must be 0 (symmetric weights)");
    for (auto q : n.qweights)
        if (q == -128)
            throw config_error("int8 graph: node '" + n.name +
                               "' has a weight of -128; symmetric weights lie in [-127, 127]");
    if (!n.qbias.empty() && n.qbias.size() != oc)
        throw shape_error("int8 graph: node '" + n.name + "' has " + std::to_string(n.qbias.size()) +
                          " int32 biases, expected " + std::to_string(oc));
    s.qw = n.qweights;
    s.wscale = n.weight_quant.scale;
    s.qb.assign(oc, 0);
    s.rq.resize(oc);
    for (std::size_t c = 0; c < oc; ++c) {
        std::int64_t sum = 0;
        for (std::size_t t = 0; t < per_channel_taps; ++t)
            sum += channel_last ? n.qweights[t * oc + c] : n.qweights[c * per_channel_taps + t];
        s.qb[c] = static_cast<std::int32_t>((n.qbias.empty() ? 0 : n.qbias[c]) - s.zp_in * sum);
        const double ws = wq.scale.size() == 1 ? wq.scale[0] : wq.scale[c];
        s.rq[c] = quant::quantize_multiplier(static_cast<double>(s.s_in) * ws / s.s_out);
    }
    s.lo = -128;
    s.hi = 127;
    if (s.act != compile::Activation::none) s.lo = std::max(-128, s.zp_out);
    if (s.act == compile::Activation::relu6)
        s.hi = std::min<std::int32_t>(127, quant::quantize(6.0f, s.s_out, s.zp_out));
}

inline float table_fn(compile::Op op, float x, float alpha) {
    switch (op) {
    case compile::Op::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case compile::Op::tanh: return std::tanh(x);
    case compile::Op::hard_swish: return x * std::clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    case compile::Op::leaky_relu: return x > 0.0f ? x : alpha * x;
    default: return x;
    }
}

/// Validate and lower a canonical graph. `elem` is 4 for fp32 graphs, 1 for int8 ones.
inline Program build_program(const compile::Graph& g, const char* backend) {
    using compile::Op;
    Program p;
    p.int8 = !g.value_quant.empty();
    if (p.int8 && g.value_quant.size() != g.values.size())
        throw config_error(std::string("backend::") + backend + ": value_quant has " +
                           std::to_string(g.value_quant.size()) + " entries for " +
                           std::to_string(g.values.size()) + " values");
    const std::size_t elem = p.int8 ? 1 : sizeof(float);
    auto is_alias = [](const compile::Node& n) { return n.op == Op::flatten || n.op == Op::dropout; };
    const auto plan = compile::plan_memory(g, [&](int) { return elem; }, is_alias);
    p.value_bytes_per_sample = plan.bytes_per_sample;
    p.input_size = g.input_size();
    p.output_size = g.output_size();
    p.input_off = plan.offset[0];
    p.output_off = plan.offset[static_cast<std::size_t>(g.output)];
    if (p.int8) {
        compile::Node in_node;
        in_node.name = "<graph input or output>";
        const auto& qi = qp(g, 0, in_node);
        const auto& qo = qp(g, g.output, in_node);
        p.in_scale = qi.scale[0];
        p.in_zp = qi.zero_point[0];
        p.out_scale = qo.scale[0];
        p.out_zp = qo.zero_point[0];
    }
    for (const auto& n : g.nodes) {
        auto bad = [&](const std::string& why) {
            return config_error(std::string("backend::") + backend + ": node '" + n.name + "' (" +
                                std::string(compile::op_name(n.op)) + "): " + why);
        };
        Step s;
        s.op = n.op;
        s.name = n.name;
        s.int8 = p.int8;
        const std::size_t need_inputs = n.op == Op::add || n.op == Op::concat ? 2 : 1;
        if (n.inputs.size() != need_inputs)
            throw bad("expects " + std::to_string(need_inputs) + " input(s), has " +
                      std::to_string(n.inputs.size()));
        for (std::size_t i = 0; i < need_inputs; ++i)
            s.in_off[i] = plan.offset[static_cast<std::size_t>(n.inputs[i])];
        s.out_off = plan.offset[static_cast<std::size_t>(n.output)];
        s.in = hwc_of(g.values[static_cast<std::size_t>(n.inputs[0])]);
        s.out = hwc_of(g.values[static_cast<std::size_t>(n.output)]);
        s.kh = n.kernel[0];
        s.kw = n.kernel[1];
        s.sh = n.stride[0];
        s.sw = n.stride[1];
        s.pt = n.pad[0];
        s.pl = n.pad[1];
        s.pb = n.pad[2];
        s.pr = n.pad[3];
        s.act = n.fused;
        s.alpha = n.alpha;
        s.alias = is_alias(n);
        if (n.dilation[0] != 1 || n.dilation[1] != 1) throw bad("dilation is not supported");
        if (p.int8) {
            const auto& qi = qp(g, n.inputs[0], n);
            const auto& qo = qp(g, n.output, n);
            s.s_in = qi.scale[0];
            s.zp_in = qi.zero_point[0];
            s.s_out = qo.scale[0];
            s.zp_out = qo.zero_point[0];
            if (need_inputs == 2) {
                const auto& q2 = qp(g, n.inputs[1], n);
                s.s_in2 = q2.scale[0];
                s.zp_in2 = q2.zero_point[0];
            }
        }
        const std::size_t in_n = s.in.size(), out_n = s.out.size();
        auto check_spatial = [&](std::size_t oc) {
            if (s.kh == 0 || s.kw == 0 || s.sh == 0 || s.sw == 0) throw bad("zero kernel or stride");
            const std::size_t ph = s.in.h + s.pt + s.pb, pw = s.in.w + s.pl + s.pr;
            if (ph < s.kh || pw < s.kw) throw bad("kernel larger than the padded input");
            const std::size_t oh = (ph - s.kh) / s.sh + 1, ow = (pw - s.kw) / s.sw + 1;
            if (s.out.h != oh || s.out.w != ow || s.out.c != oc)
                throw shape_error(std::string("backend::") + backend + ": node '" + n.name +
                                  "' output shape " + std::to_string(s.out.h) + "x" +
                                  std::to_string(s.out.w) + "x" + std::to_string(s.out.c) +
                                  " does not match its geometry (" + std::to_string(oh) + "x" +
                                  std::to_string(ow) + "x" + std::to_string(oc) + ")");
        };
        switch (n.op) {
        case Op::dense:
        case Op::conv2d:
        case Op::depthwise_conv2d: {
            const std::size_t oc = s.out.c;
            std::size_t taps = 0;
            if (n.op == Op::dense) {
                s.in = {1, 1, in_n};
                s.out = {1, 1, out_n};
                taps = in_n;
            } else if (n.op == Op::conv2d) {
                check_spatial(oc);
                taps = s.kh * s.kw * s.in.c;
            } else {
                if (s.in.c != oc) throw bad("depthwise input and output channels differ");
                check_spatial(oc);
                taps = s.kh * s.kw;
            }
            p.macs += taps * (n.op == Op::dense ? out_n : s.out.size());
            p.params += oc * taps + oc;
            if (!p.int8) {
                if (n.weights.size() != oc * taps)
                    throw shape_error(std::string("backend::") + backend + ": node '" + n.name +
                                      "' has " + std::to_string(n.weights.size()) +
                                      " weights, expected " + std::to_string(oc * taps));
                if (!n.bias.empty() && n.bias.size() != oc)
                    throw shape_error(std::string("backend::") + backend + ": node '" + n.name +
                                      "' has " + std::to_string(n.bias.size()) +
                                      " biases, expected " + std::to_string(oc));
                s.w = n.weights;
                s.b = n.bias.empty() ? std::vector<float>(oc, 0.0f) : n.bias;
                p.weight_bytes += (s.w.size() + s.b.size()) * sizeof(float);
            } else {
                prepare_int8_weights(s, n, oc, taps, n.op == Op::depthwise_conv2d);
                p.weight_bytes += s.qw.size() + s.qb.size() * sizeof(std::int32_t);
            }
            if (n.op != Op::dense && (s.pt + s.pb + s.pl + s.pr) != 0)
                s.scratch_bytes = padded_bytes(s, elem);
            break;
        }
        case Op::max_pool2d:
        case Op::avg_pool2d:
            check_spatial(s.in.c);
            if (n.op == Op::max_pool2d && p.int8 && (s.s_in != s.s_out || s.zp_in != s.zp_out))
                throw bad("max_pool2d must keep its input's scale and zero point");
            if (n.op == Op::avg_pool2d && p.int8) {
                s.count_rq.resize(s.kh * s.kw + 1);
                for (std::size_t c = 1; c <= s.kh * s.kw; ++c)
                    s.count_rq[c] = quant::quantize_multiplier(
                        static_cast<double>(s.s_in) / (static_cast<double>(s.s_out) * c));
            }
            break;
        case Op::global_avg_pool:
            if (s.out.size() != s.in.c) throw bad("output must have one value per channel");
            s.out = {1, 1, s.in.c};
            if (p.int8) {
                s.count_rq.resize(1);
                s.count_rq[0] = quant::quantize_multiplier(
                    static_cast<double>(s.s_in) / (static_cast<double>(s.s_out) * s.in.h * s.in.w));
            }
            break;
        case Op::relu:
        case Op::relu6:
        case Op::flatten:
        case Op::dropout:
            if (in_n != out_n) throw bad("input and output sizes differ");
            if (p.int8 && (s.s_in != s.s_out || s.zp_in != s.zp_out))
                throw bad("must keep its input's scale and zero point");
            if (p.int8) {
                s.lo = s.zp_in;
                s.hi = n.op == Op::relu6 ? std::min<std::int32_t>(127, quant::quantize(6.0f, s.s_out, s.zp_out)) : 127;
            }
            break;
        case Op::sigmoid:
        case Op::tanh:
        case Op::hard_swish:
        case Op::leaky_relu:
            if (in_n != out_n) throw bad("input and output sizes differ");
            if (p.int8) {
                s.table.resize(256);
                for (int q = -128; q <= 127; ++q)
                    s.table[static_cast<std::size_t>(q + 128)] = quant::quantize(
                        table_fn(n.op, quant::dequantize(static_cast<std::int8_t>(q), s.s_in, s.zp_in), n.alpha),
                        s.s_out, s.zp_out);
            }
            break;
        case Op::softmax:
            if (in_n != out_n) throw bad("input and output sizes differ");
            s.in = {1, in_n / s.in.c, s.in.c};
            break;
        case Op::add:
            if (compile::volume(g.values[static_cast<std::size_t>(n.inputs[1])]) != in_n || out_n != in_n)
                throw bad("both inputs and the output must have the same size");
            if (p.int8) {
                if (s.s_in / s.s_out >= 4.0f || s.s_in2 / s.s_out >= 4.0f)
                    throw bad("an input scale is 4x the output scale or more");
                s.add_a = quant::quantize_multiplier(static_cast<double>(s.s_in) / s.s_out);
                s.add_b = quant::quantize_multiplier(static_cast<double>(s.s_in2) / s.s_out);
            }
            break;
        case Op::concat: {
            const Hwc b = hwc_of(g.values[static_cast<std::size_t>(n.inputs[1])]);
            if (b.h != s.in.h || b.w != s.in.w || s.out.h != s.in.h || s.out.w != s.in.w ||
                s.out.c != s.in.c + b.c || s.in.c == 0 || b.c == 0)
                throw bad("the inputs must differ only in their last axis, and the output be "
                          "the two side by side");
            if (p.int8) { // each input brought onto the output's grid
                s.add_a = quant::quantize_multiplier(static_cast<double>(s.s_in) / s.s_out);
                s.add_b = quant::quantize_multiplier(static_cast<double>(s.s_in2) / s.s_out);
            }
            break;
        }
        case Op::batch_norm:
            if (p.int8)
                throw bad("batch norm must be folded before quantization (compile::canonicalize)");
            if (n.extra.size() != 4 * s.in.c)
                throw shape_error(std::string("backend::") + backend + ": node '" + n.name +
                                  "' has " + std::to_string(n.extra.size()) +
                                  " parameters, expected 4 x " + std::to_string(s.in.c));
            // Standalone (unfoldable) batch norm runs as a per-channel affine map.
            s.w.resize(s.in.c);
            s.b.resize(s.in.c);
            for (std::size_t c = 0; c < s.in.c; ++c) {
                const std::size_t C = s.in.c;
                const float k = n.extra[c] / std::sqrt(n.extra[3 * C + c] + n.alpha);
                s.w[c] = k;
                s.b[c] = n.extra[C + c] - n.extra[2 * C + c] * k;
            }
            break;
        default: throw bad("op not supported");
        }
        p.scratch_bytes = std::max(p.scratch_bytes, s.scratch_bytes);
        p.steps.push_back(std::move(s));
    }
    return p;
}

} // namespace edgestack::backend::detail
