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
#include <type_traits>
#include <utility>
#include <vector>

// <sys/mman.h> (io/model_file.hpp) defines MAP_TYPE, which ONNX's parser.h uses as an
// enumerator: hide the macro while the ONNX headers are read, in either include order.
#pragma push_macro("MAP_TYPE")
#undef MAP_TYPE
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#pragma pop_macro("MAP_TYPE")

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/ops.hpp"
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

    // --- what op units' to_onnx() call (compile/ops/<name>.hpp) -------------------------
    const compile::Dims& in() const { return g_.values[static_cast<std::size_t>(cur_->inputs[0])]; } ///< first input's shape
    const compile::Dims& out() const { return g_.values[static_cast<std::size_t>(cur_->output)]; }  ///< output's shape
    const std::string& x() const { return tensor_[static_cast<std::size_t>(cur_->inputs[0])]; }     ///< first input's tensor
    const std::string& x2() const { return tensor_[static_cast<std::size_t>(cur_->inputs[1])]; }    ///< second input's tensor
    bool spatial2() const { return spatial_[static_cast<std::size_t>(cur_->inputs[1])]; }           ///< second input is NCHW
    std::string y;        ///< the tensor holding the node's result (a unit may rename it)
    bool spatial = false; ///< whether that tensor is NCHW (a unit may change it)

    /// An attribute on node p: integer, float, string or list of integers.
    template <class V>
    void attr(onnx::NodeProto& p, const std::string& name, const V& v) {
        if constexpr (std::is_integral_v<V>) p.add_attribute()->CopyFrom(int_attr(name, static_cast<std::int64_t>(v)));
        else if constexpr (std::is_floating_point_v<V>) p.add_attribute()->CopyFrom(float_attr(name, static_cast<float>(v)));
        else if constexpr (std::is_convertible_v<V, std::string>) {
            auto* a = p.add_attribute();
            a->set_name(name);
            a->set_type(onnx::AttributeProto::STRING);
            a->set_s(std::string(v));
        } else p.add_attribute()->CopyFrom(ints_attr(name, v));
    }
    /// A float initializer.
    void initializer(const std::string& name, std::vector<std::int64_t> dims, const std::vector<float>& data) {
        initializer(name, onnx::TensorProto::FLOAT, std::move(dims), data);
    }
    /// An int64 initializer.
    void initializer_i64(const std::string& name, std::vector<std::int64_t> dims, const std::vector<std::int64_t>& data) {
        initializer(name, onnx::TensorProto::INT64, std::move(dims), data);
    }
    /// Refuses a node whose input is not an H x W x C (NCHW) tensor.
    void require_spatial(const compile::Node& n) {
        if (!spatial_[static_cast<std::size_t>(n.inputs[0])])
            unsupported(n, "needs an H x W x C input, got " + compile::to_string(in()));
    }

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
    /// The tensor a window op (Conv, MaxPool, AveragePool) reads: the NCHW tensor of an
    /// H x W x C value, or a T x C sequence (N x T x C) transposed to N x C x T for the 1-D
    /// form of the op.
    std::string window_input(const compile::Node& n) {
        if (in().size() == 2 && !spatial) return transpose(x(), n.name + "_to_nct", {0, 2, 1});
        require_spatial(n);
        return x();
    }
    /// After a window op wrote `t`: the node's result, a 1-D op's N x C x T transposed back
    /// to N x T x C.
    void window_output(const compile::Node& n, const std::string& t) {
        y = in().size() == 2 && !spatial ? transpose(t, n.name + "_to_ntc", {0, 2, 1}) : t;
    }
    void window_attrs(onnx::NodeProto& p, const compile::Node& n, bool dilations) {
        if (in().size() == 2 && !spatial) { // 1-D: the 1 x k window's k
            auto one = [](std::size_t v) { return std::vector<std::int64_t>{static_cast<std::int64_t>(v)}; };
            p.add_attribute()->CopyFrom(ints_attr("kernel_shape", one(n.kernel[1])));
            p.add_attribute()->CopyFrom(ints_attr("strides", one(n.stride[1])));
            p.add_attribute()->CopyFrom(ints_attr(
                "pads", {static_cast<std::int64_t>(n.pad[1]), static_cast<std::int64_t>(n.pad[3])}));
            if (dilations) p.add_attribute()->CopyFrom(ints_attr("dilations", one(n.dilation[1])));
            return;
        }
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
        cur_ = &n;
        const auto out_v = static_cast<std::size_t>(n.output);
        y = n.name;
        spatial = spatial_[static_cast<std::size_t>(n.inputs[0])];
        compile::ops::visit(n.op, [&]<class U>() { U::to_onnx(*this, n); });
        if (out().size() == 3 && !spatial)
            unsupported(n, "produces an H x W x C value from a flat one, which the exporter "
                           "does not lay out");
        spatial_[out_v] = spatial;
        tensor_[out_v] = quantize_value(out_v, y);
    }

    const compile::Graph& g_;
    onnx::GraphProto& gp_;
    std::vector<std::string> tensor_; // ONNX tensor holding each value (float)
    std::vector<bool> spatial_;       // that tensor is NCHW
    const compile::Node* cur_ = nullptr; // the node being emitted
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
