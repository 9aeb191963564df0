// ONNX export of a compile::Graph (stage 3, compile): fp32 graphs as plain ONNX, int8 graphs
// as QDQ (QuantizeLinear/DequantizeLinear pairs around every tensor that is int8 in our
// engine, per-channel weight scales on axis 0), opset 13, checked with
// onnx::checker::check_model. Link edgestack::onnx.
//
// Layout: the exported model keeps our NHWC interface ("input" is N x H x W x C, "output" is
// N x our output shape), so a caller feeds it the same buffers as our engine. Inside, the
// tensors are NCHW, as ONNX operators want: one Transpose after the input, weights written
// in OIHW, and a Transpose back to NHWC before Flatten (so Gemm weights keep our [out][in]
// order) and before the output when it is spatial. A batch norm over a feature vector is a
// BatchNormalization on N x C; over a T x F sequence it is transposed so that F is axis 1.
// Layer norm (LayerNormalization is opset 17) is written with opset 13 operators.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// <sys/mman.h> (io/model_file.hpp) defines MAP_TYPE, which ONNX's parser.h uses as an
// enumerator: hide the macro while the ONNX headers are read, in either include order.
#pragma push_macro("MAP_TYPE")
#undef MAP_TYPE
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#pragma pop_macro("MAP_TYPE")

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/io/detail/mapped_file.hpp"
#include "edgestack/io/detail/validate.hpp"

namespace edgestack::io {

/// Options of to_onnx and export_onnx.
struct OnnxExportOptions {
    /// 13 is the first opset with per-channel QuantizeLinear/DequantizeLinear.
    std::int64_t opset = 13;
    std::string graph_name = "edgestack"; ///< the ONNX graph's name
    std::string producer_version = "0.1.0"; ///< written as the model's producer_version (producer_name is "edgestack")
};

namespace detail {

class OnnxBuilder {
public:
    OnnxBuilder(const compile::Graph& g, onnx::GraphProto& out) : g_(g), gp_(out) {}

    void build() {
        const bool quantized = !g_.value_quant.empty();
        tensor_.assign(g_.values.size(), {});
        spatial_.assign(g_.values.size(), false);

        // Graph input: N followed by our per-sample shape.
        auto* in = gp_.add_input();
        in->set_name("input");
        set_type(*in, onnx::TensorProto::FLOAT, g_.values[0]);
        std::string x = quantize_value(0, "input");
        if (g_.values[0].size() == 3) {
            x = transpose(x, "input_to_nchw", {0, 3, 1, 2});
            spatial_[0] = true;
        }
        tensor_[0] = x;

        for (const auto& n : g_.nodes) emit(n);

        const auto out_v = static_cast<std::size_t>(g_.output);
        const std::string last = tensor_[out_v];
        if (spatial_[out_v]) {
            node("Transpose", "output_to_nhwc", {last}, {"output"}).add_attribute()->CopyFrom(
                ints_attr("perm", {0, 2, 3, 1}));
        } else {
            node("Identity", "output", {last}, {"output"});
        }
        auto* o = gp_.add_output();
        o->set_name("output");
        set_type(*o, onnx::TensorProto::FLOAT, g_.values[out_v]);
        (void)quantized;
    }

private:
    // --- protobuf helpers --------------------------------------------------------------
    static void set_type(onnx::ValueInfoProto& vi, int elem, const compile::Dims& dims) {
        auto* t = vi.mutable_type()->mutable_tensor_type();
        t->set_elem_type(elem);
        auto* s = t->mutable_shape();
        s->add_dim()->set_dim_param("N");
        for (auto d : dims) s->add_dim()->set_dim_value(static_cast<std::int64_t>(d));
    }
    static onnx::AttributeProto ints_attr(const std::string& name, std::vector<std::int64_t> v) {
        onnx::AttributeProto a;
        a.set_name(name);
        a.set_type(onnx::AttributeProto::INTS);
        for (auto x : v) a.add_ints(x);
        return a;
    }
    static onnx::AttributeProto int_attr(const std::string& name, std::int64_t v) {
        onnx::AttributeProto a;
        a.set_name(name);
        a.set_type(onnx::AttributeProto::INT);
        a.set_i(v);
        return a;
    }
    static onnx::AttributeProto float_attr(const std::string& name, float v) {
        onnx::AttributeProto a;
        a.set_name(name);
        a.set_type(onnx::AttributeProto::FLOAT);
        a.set_f(v);
        return a;
    }
    onnx::NodeProto& node(const std::string& op, const std::string& name,
                          std::vector<std::string> inputs, std::vector<std::string> outputs) {
        auto* p = gp_.add_node();
        p->set_op_type(op);
        p->set_name(name);
        for (auto& i : inputs) p->add_input(i);
        for (auto& o : outputs) p->add_output(o);
        return *p;
    }
    template <class T>
    void initializer(const std::string& name, int elem, std::vector<std::int64_t> dims,
                     const std::vector<T>& data) {
        auto* t = gp_.add_initializer();
        t->set_name(name);
        t->set_data_type(elem);
        for (auto d : dims) t->add_dims(d);
        t->set_raw_data(std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(T)));
    }
    std::string transpose(const std::string& x, const std::string& name, std::vector<std::int64_t> perm) {
        node("Transpose", name, {x}, {name}).add_attribute()->CopyFrom(ints_attr("perm", perm));
        return name;
    }

    // --- quantization --------------------------------------------------------------------
    /// Q then DQ of value v's tensor `x` when the graph is int8; returns the float tensor
    /// downstream nodes read.
    std::string quantize_value(std::size_t v, const std::string& x) {
        if (g_.value_quant.empty() || g_.value_quant[v].empty()) return x;
        const auto& q = g_.value_quant[v];
        initializer(x + ".scale", onnx::TensorProto::FLOAT, {}, std::vector<float>{q.scale[0]});
        initializer(x + ".zero_point", onnx::TensorProto::INT8, {},
                    std::vector<std::int8_t>{static_cast<std::int8_t>(q.zero_point[0])});
        node("QuantizeLinear", x + "_quantize", {x, x + ".scale", x + ".zero_point"}, {x + "_quantized"});
        node("DequantizeLinear", x + "_dequantize",
             {x + "_quantized", x + ".scale", x + ".zero_point"}, {x + "_dequantized"});
        return x + "_dequantized";
    }

    /// A weight initializer in ONNX order: fp32, or int8 behind a per-channel DequantizeLinear.
    std::string weight(const compile::Node& n, std::vector<std::int64_t> dims,
                       const std::vector<std::size_t>& order) {
        const std::string name = n.name + ".weight";
        if (!n.qweights.empty()) {
            std::vector<std::int8_t> w(order.size());
            for (std::size_t i = 0; i < order.size(); ++i) w[i] = n.qweights[order[i]];
            initializer(name + "_quantized", onnx::TensorProto::INT8, dims, w);
            const auto& q = n.weight_quant;
            std::vector<std::int8_t> zp(q.scale.size(), 0);
            const bool per_channel = q.scale.size() > 1;
            const std::vector<std::int64_t> sdims =
                per_channel ? std::vector<std::int64_t>{static_cast<std::int64_t>(q.scale.size())}
                            : std::vector<std::int64_t>{};
            initializer(name + ".scale", onnx::TensorProto::FLOAT, sdims, q.scale);
            initializer(name + ".zero_point", onnx::TensorProto::INT8, sdims, zp);
            auto& dq = node("DequantizeLinear", name + "_dequantize",
                            {name + "_quantized", name + ".scale", name + ".zero_point"}, {name});
            if (per_channel) dq.add_attribute()->CopyFrom(int_attr("axis", 0));
            return name;
        }
        std::vector<float> w(order.size());
        for (std::size_t i = 0; i < order.size(); ++i) w[i] = n.weights[order[i]];
        initializer(name, onnx::TensorProto::FLOAT, dims, w);
        return name;
    }

    /// The bias (float, or int32 behind a DequantizeLinear at scale s_in * s_w[c]); "" when
    /// the node has none.
    std::string bias(const compile::Node& n, std::size_t channels) {
        const std::string name = n.name + ".bias";
        const auto oc = static_cast<std::int64_t>(channels);
        if (!n.qweights.empty()) {
            if (n.qbias.empty()) return "";
            const float s_in = g_.value_quant[static_cast<std::size_t>(n.inputs[0])].scale[0];
            std::vector<float> scale(channels);
            for (std::size_t c = 0; c < channels; ++c)
                scale[c] = s_in * n.weight_quant.scale[n.weight_quant.scale.size() > 1 ? c : 0];
            initializer(name + "_quantized", onnx::TensorProto::INT32, {oc}, n.qbias);
            initializer(name + ".scale", onnx::TensorProto::FLOAT, {oc}, scale);
            initializer(name + ".zero_point", onnx::TensorProto::INT32, {oc},
                        std::vector<std::int32_t>(channels, 0));
            node("DequantizeLinear", name + "_dequantize",
                 {name + "_quantized", name + ".scale", name + ".zero_point"}, {name})
                .add_attribute()->CopyFrom(int_attr("axis", 0));
            return name;
        }
        if (n.bias.empty()) return "";
        initializer(name, onnx::TensorProto::FLOAT, {oc}, n.bias);
        return name;
    }

    std::string fused(const compile::Node& n, std::string y) {
        switch (n.fused) {
        case compile::Activation::none: return y;
        case compile::Activation::relu:
            node("Relu", n.name + "_relu", {y}, {n.name + "_relu"});
            return n.name + "_relu";
        case compile::Activation::relu6: return clip6(n.name + "_relu6", y);
        }
        return y;
    }
    std::string clip6(const std::string& name, const std::string& x) {
        initializer(name + ".min", onnx::TensorProto::FLOAT, {}, std::vector<float>{0.0f});
        initializer(name + ".max", onnx::TensorProto::FLOAT, {}, std::vector<float>{6.0f});
        node("Clip", name, {x, name + ".min", name + ".max"}, {name});
        return name;
    }
    void spatial_attrs(onnx::NodeProto& p, const compile::Node& n, bool dilations) {
        p.add_attribute()->CopyFrom(ints_attr("kernel_shape", {static_cast<std::int64_t>(n.kernel[0]),
                                                               static_cast<std::int64_t>(n.kernel[1])}));
        p.add_attribute()->CopyFrom(ints_attr("strides", {static_cast<std::int64_t>(n.stride[0]),
                                                          static_cast<std::int64_t>(n.stride[1])}));
        // Ours: top, left, bottom, right; ONNX: begins (H, W) then ends (H, W): the same.
        p.add_attribute()->CopyFrom(ints_attr(
            "pads", {static_cast<std::int64_t>(n.pad[0]), static_cast<std::int64_t>(n.pad[1]),
                     static_cast<std::int64_t>(n.pad[2]), static_cast<std::int64_t>(n.pad[3])}));
        if (dilations)
            p.add_attribute()->CopyFrom(ints_attr("dilations", {static_cast<std::int64_t>(n.dilation[0]),
                                                                static_cast<std::int64_t>(n.dilation[1])}));
    }
    [[noreturn]] void unsupported(const compile::Node& n, const std::string& why) const {
        throw config_error("onnx export: node '" + n.name + "' (" + std::string(compile::op_name(n.op)) +
                           "): " + why);
    }

    void emit(const compile::Node& n) {
        using compile::Op;
        const auto in_v = static_cast<std::size_t>(n.inputs[0]);
        const auto out_v = static_cast<std::size_t>(n.output);
        const auto& in = g_.values[in_v];
        const auto& out = g_.values[out_v];
        const std::string x = tensor_[in_v];
        std::string y = n.name;
        bool spatial = spatial_[in_v];
        if ((n.op == Op::conv2d || n.op == Op::depthwise_conv2d || n.op == Op::max_pool2d ||
             n.op == Op::avg_pool2d || n.op == Op::global_avg_pool) &&
            !spatial_[in_v])
            unsupported(n, "needs an H x W x C input, got " + compile::to_string(in));
        switch (n.op) {
        case Op::dense: {
            const std::size_t oi = compile::volume(out), ii = compile::volume(in);
            std::vector<std::size_t> order(oi * ii);
            for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
            const auto w = weight(n, {static_cast<std::int64_t>(oi), static_cast<std::int64_t>(ii)}, order);
            const auto b = bias(n, oi);
            // Ours reads the whole value in (h, w, c) or (t, f) order; Gemm wants N x features.
            std::string src = x;
            if (spatial) src = transpose(x, n.name + "_to_nhwc", {0, 2, 3, 1});
            if (in.size() != 1) {
                node("Flatten", n.name + "_flatten", {src}, {n.name + "_flatten"})
                    .add_attribute()->CopyFrom(int_attr("axis", 1));
                src = n.name + "_flatten";
            }
            std::vector<std::string> ins{src, w};
            if (!b.empty()) ins.push_back(b);
            node("Gemm", n.name, ins, {y}).add_attribute()->CopyFrom(int_attr("transB", 1));
            y = fused(n, y);
            spatial = false;
            break;
        }
        case Op::conv2d:
        case Op::depthwise_conv2d: {
            const bool dw = n.op == Op::depthwise_conv2d;
            const std::size_t kh = n.kernel[0], kw = n.kernel[1], ci = in[2], co = out[2];
            // ours [O][kh][kw][I] (depthwise [kh][kw][C]) -> ONNX [O][I][kh][kw] ([C][1][kh][kw])
            const std::size_t per_out = dw ? 1 : ci;
            std::vector<std::size_t> order(co * per_out * kh * kw);
            std::size_t k = 0;
            for (std::size_t o = 0; o < co; ++o)
                for (std::size_t i = 0; i < per_out; ++i)
                    for (std::size_t r = 0; r < kh; ++r)
                        for (std::size_t c = 0; c < kw; ++c)
                            order[k++] = dw ? (r * kw + c) * co + o : ((o * kh + r) * kw + c) * ci + i;
            const auto w = weight(n, {static_cast<std::int64_t>(co), static_cast<std::int64_t>(per_out),
                                      static_cast<std::int64_t>(kh), static_cast<std::int64_t>(kw)},
                                  order);
            const auto b = bias(n, co);
            std::vector<std::string> ins{x, w};
            if (!b.empty()) ins.push_back(b);
            auto& p = node("Conv", n.name, ins, {y});
            spatial_attrs(p, n, true);
            p.add_attribute()->CopyFrom(int_attr("group", dw ? static_cast<std::int64_t>(co) : 1));
            y = fused(n, y);
            break;
        }
        case Op::max_pool2d:
            spatial_attrs(node("MaxPool", n.name, {x}, {y}), n, false);
            break;
        case Op::avg_pool2d: {
            auto& p = node("AveragePool", n.name, {x}, {y});
            spatial_attrs(p, n, false);
            p.add_attribute()->CopyFrom(int_attr("count_include_pad", 0));
            break;
        }
        case Op::global_avg_pool:
            node("GlobalAveragePool", n.name, {x}, {y});
            if (out.size() != 3) {
                node("Flatten", n.name + "_flatten", {y}, {n.name + "_flatten"});
                y = n.name + "_flatten";
                spatial = false;
            }
            break;
        case Op::batch_norm: {
            // BatchNormalization normalises axis 1: the channels of NCHW, the features of
            // N x F; a T x F value (N x T x F) is transposed so that F comes second.
            const std::size_t c = in.back();
            auto part = [&](std::size_t k) {
                return std::vector<float>(n.extra.begin() + static_cast<long>(k * c),
                                          n.extra.begin() + static_cast<long>((k + 1) * c));
            };
            const char* names[] = {".scale", ".bias", ".mean", ".var"};
            const bool sequence = !spatial && in.size() == 2;
            std::vector<std::string> ins{sequence ? transpose(x, n.name + "_to_nft", {0, 2, 1}) : x};
            for (std::size_t k = 0; k < 4; ++k) {
                initializer(n.name + names[k], onnx::TensorProto::FLOAT, {static_cast<std::int64_t>(c)}, part(k));
                ins.push_back(n.name + names[k]);
            }
            if (!spatial && in.size() > 2) unsupported(n, "batch norm over a rank " + std::to_string(in.size()) + " value");
            const std::string bn = sequence ? n.name + "_nft" : y;
            node("BatchNormalization", n.name, ins, {bn}).add_attribute()->CopyFrom(
                float_attr("epsilon", n.alpha));
            if (sequence) node("Transpose", n.name + "_to_ntf", {bn}, {y}).add_attribute()->CopyFrom(
                ints_attr("perm", {0, 2, 1}));
            break;
        }
        case Op::layer_norm: {
            // LayerNormalization arrives in opset 17; in 13 it is (x - mean) / sqrt(var + eps)
            // * gamma + beta over our last axis (the channels: axis 1 of NCHW).
            const std::size_t c = in.back();
            const std::int64_t axis = spatial ? 1 : -1;
            std::vector<std::int64_t> pdims{static_cast<std::int64_t>(c)};
            if (spatial) pdims = {static_cast<std::int64_t>(c), 1, 1};
            initializer(n.name + ".gamma", onnx::TensorProto::FLOAT, pdims,
                        std::vector<float>(n.extra.begin(), n.extra.begin() + static_cast<long>(c)));
            initializer(n.name + ".beta", onnx::TensorProto::FLOAT, pdims,
                        std::vector<float>(n.extra.begin() + static_cast<long>(c), n.extra.begin() + static_cast<long>(2 * c)));
            initializer(n.name + ".eps", onnx::TensorProto::FLOAT, {}, std::vector<float>{n.alpha});
            const std::string p = n.name + "_";
            node("ReduceMean", p + "mean", {x}, {p + "mean"}).add_attribute()->CopyFrom(ints_attr("axes", {axis}));
            node("Sub", p + "centred", {x, p + "mean"}, {p + "centred"});
            node("Mul", p + "squared", {p + "centred", p + "centred"}, {p + "squared"});
            node("ReduceMean", p + "var", {p + "squared"}, {p + "var"}).add_attribute()->CopyFrom(ints_attr("axes", {axis}));
            node("Add", p + "var_eps", {p + "var", n.name + ".eps"}, {p + "var_eps"});
            node("Sqrt", p + "std", {p + "var_eps"}, {p + "std"});
            node("Div", p + "normed", {p + "centred", p + "std"}, {p + "normed"});
            node("Mul", p + "scaled", {p + "normed", n.name + ".gamma"}, {p + "scaled"});
            node("Add", n.name, {p + "scaled", n.name + ".beta"}, {y});
            break;
        }
        case Op::lstm:
        case Op::gru: {
            // ONNX LSTM / GRU run time-major ([T, N, F]) with gates i, o, f, c (LSTM) and
            // z, r, h (GRU, linear_before_reset = 1: our n gate); ours are batch-major with
            // gates i, f, g, o and r, z, n. One bias per gate goes in W's half of B (LSTM).
            if (spatial || in.size() != 2) unsupported(n, "needs a T x F input, got " + compile::to_string(in));
            const bool lstm = n.op == Op::lstm;
            const std::size_t G = lstm ? 4 : 3, U = out.back(), F = in[1];
            const std::vector<std::size_t> gate_of = lstm ? std::vector<std::size_t>{0, 3, 1, 2}
                                                          : std::vector<std::size_t>{1, 0, 2};
            if (n.weights.size() != G * U * (F + U) || n.bias.size() != (lstm ? 4 : 6) * U)
                unsupported(n, "has weights that do not fit its shapes");
            std::vector<float> W(G * U * F), R(G * U * U), B(2 * G * U, 0.0f);
            const float* wx = n.weights.data();
            const float* wh = wx + G * U * F;
            for (std::size_t k = 0; k < G; ++k) {
                const std::size_t o = gate_of[k]; // our gate in ONNX position k
                std::copy_n(wx + o * U * F, U * F, W.begin() + static_cast<long>(k * U * F));
                std::copy_n(wh + o * U * U, U * U, R.begin() + static_cast<long>(k * U * U));
                std::copy_n(n.bias.data() + o * U, U, B.begin() + static_cast<long>(k * U));
                if (!lstm) std::copy_n(n.bias.data() + (G + o) * U, U, B.begin() + static_cast<long>((G + k) * U));
            }
            const auto g = static_cast<std::int64_t>(G * U);
            initializer(n.name + ".W", onnx::TensorProto::FLOAT, {1, g, static_cast<std::int64_t>(F)}, W);
            initializer(n.name + ".R", onnx::TensorProto::FLOAT, {1, g, static_cast<std::int64_t>(U)}, R);
            initializer(n.name + ".B", onnx::TensorProto::FLOAT, {1, 2 * g}, B);
            const std::string p = n.name + "_";
            node("Transpose", p + "time_major", {x}, {p + "time_major"}).add_attribute()->CopyFrom(
                ints_attr("perm", {1, 0, 2}));
            auto& r = node(lstm ? "LSTM" : "GRU", p + "run", {p + "time_major", n.name + ".W", n.name + ".R", n.name + ".B"},
                           {p + "all", p + "last"});
            r.add_attribute()->CopyFrom(int_attr("hidden_size", static_cast<std::int64_t>(U)));
            if (!lstm) r.add_attribute()->CopyFrom(int_attr("linear_before_reset", 1));
            if (out.size() == 1) { // the last step: Y_h is [1, N, U]
                initializer(p + "axis0", onnx::TensorProto::INT64, {1}, std::vector<std::int64_t>{0});
                node("Squeeze", n.name, {p + "last", p + "axis0"}, {y});
            } else { // every step: Y is [T, 1, N, U]
                initializer(p + "axis1", onnx::TensorProto::INT64, {1}, std::vector<std::int64_t>{1});
                node("Squeeze", p + "steps", {p + "all", p + "axis1"}, {p + "steps"});
                node("Transpose", n.name, {p + "steps"}, {y}).add_attribute()->CopyFrom(ints_attr("perm", {1, 0, 2}));
            }
            break;
        }
        case Op::positional_embedding: {
            initializer(n.name + ".table", onnx::TensorProto::FLOAT,
                        {static_cast<std::int64_t>(in[0]), static_cast<std::int64_t>(in[1])}, n.weights);
            node("Add", n.name, {x, n.name + ".table"}, {y});
            break;
        }
        case Op::relu: node("Relu", n.name, {x}, {y}); break;
        case Op::relu6: y = clip6(n.name, x); break;
        case Op::leaky_relu:
            node("LeakyRelu", n.name, {x}, {y}).add_attribute()->CopyFrom(float_attr("alpha", n.alpha));
            break;
        case Op::sigmoid: node("Sigmoid", n.name, {x}, {y}); break;
        case Op::tanh: node("Tanh", n.name, {x}, {y}); break;
        case Op::hard_swish: {
            // HardSwish arrives in opset 14; x * HardSigmoid(x) is the same function in 13.
            auto& hs = node("HardSigmoid", n.name + "_gate", {x}, {n.name + "_gate"});
            hs.add_attribute()->CopyFrom(float_attr("alpha", 1.0f / 6.0f));
            hs.add_attribute()->CopyFrom(float_attr("beta", 0.5f));
            node("Mul", n.name, {x, n.name + "_gate"}, {y});
            break;
        }
        case Op::softmax:
            // Ours normalises the last (channel) axis: axis 1 in NCHW, the last one otherwise.
            node("Softmax", n.name, {x}, {y}).add_attribute()->CopyFrom(
                int_attr("axis", spatial ? 1 : -1));
            break;
        case Op::flatten: {
            std::string src = x;
            if (spatial) src = transpose(x, n.name + "_to_nhwc", {0, 2, 3, 1});
            node("Flatten", n.name, {src}, {y}).add_attribute()->CopyFrom(int_attr("axis", 1));
            spatial = false;
            if (out.size() != 1) unsupported(n, "flatten to rank " + std::to_string(out.size()));
            break;
        }
        case Op::add: {
            const auto b_v = static_cast<std::size_t>(n.inputs[1]);
            if (spatial_[b_v] != spatial) unsupported(n, "adds values of different layouts");
            node("Add", n.name, {x, tensor_[b_v]}, {y});
            break;
        }
        case Op::concat: {
            const auto b_v = static_cast<std::size_t>(n.inputs[1]);
            if (spatial_[b_v] != spatial) unsupported(n, "joins values of different layouts");
            // NCHW: channels are axis 1; flat and sequence values keep them last.
            node("Concat", n.name, {x, tensor_[b_v]}, {y})
                .add_attribute()
                ->CopyFrom(int_attr("axis", spatial ? 1 : -1));
            break;
        }
        case Op::dropout: node("Identity", n.name, {x}, {y}); break;
        default: unsupported(n, "no ONNX mapping for this op yet");
        }
        if (out.size() == 3 && !spatial)
            unsupported(n, "produces an H x W x C value from a flat one, which the exporter "
                           "does not lay out");
        spatial_[out_v] = spatial;
        tensor_[out_v] = quantize_value(out_v, y);
    }

    const compile::Graph& g_;
    onnx::GraphProto& gp_;
    std::vector<std::string> tensor_; // ONNX tensor holding each value (float)
    std::vector<bool> spatial_;       // that tensor is NCHW
};

} // namespace detail

/// The graph as an ONNX model, checked with onnx::checker::check_model.
inline onnx::ModelProto to_onnx(const compile::Graph& g, const OnnxExportOptions& opt = {}) {
    detail::validate_graph(g, "onnx export");
    onnx::ModelProto m;
    m.set_ir_version(onnx::IR_VERSION);
    m.set_producer_name("edgestack");
    m.set_producer_version(opt.producer_version);
    auto* op = m.add_opset_import();
    op->set_domain("");
    op->set_version(opt.opset);
    auto* gp = m.mutable_graph();
    gp->set_name(opt.graph_name);
    detail::OnnxBuilder(g, *gp).build();
    try {
        onnx::checker::check_model(m);
    } catch (const std::exception& e) {
        throw format_error(std::string("onnx export: the model fails onnx::checker: ") + e.what());
    }
    return m;
}

/// Write the graph as an ONNX file (atomically, like save_model).
inline void export_onnx(const std::string& path, const compile::Graph& g,
                        const OnnxExportOptions& opt = {}) {
    const auto m = to_onnx(g, opt);
    std::string bytes;
    if (!m.SerializeToString(&bytes)) throw file_error(path + ": protobuf serialisation failed");
    detail::write_atomically(path, {std::as_bytes(std::span(bytes.data(), bytes.size()))});
}

} // namespace edgestack::io
