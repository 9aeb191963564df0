// The graph a trained model is lowered into before it becomes an engine. Passes (folding,
// fusion, quantization) rewrite it; backends compile it; model files and ONNX serialize it.
// Shapes are per sample (NHWC without N); the batch size is chosen when an engine runs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edgestack/compile/ops/list.hpp"
#include "edgestack/core/error.hpp"

namespace edgestack::compile {

/// Every operation a graph can hold, generated from compile/ops/list.hpp. Each op's unit
/// header (`compile/ops/<name>.hpp`) says what its fields and weights mean.
enum class Op : std::uint8_t {
#define EDGESTACK_OP_ENUM(name, Unit) name,
    EDGESTACK_COMPILE_OPS(EDGESTACK_OP_ENUM)
#undef EDGESTACK_OP_ENUM
};

/// The op's name in snake case, as in node names and reports ("conv2d").
constexpr std::string_view op_name(Op op) noexcept {
    switch (op) {
#define EDGESTACK_OP_NAME(name, Unit)                                                          \
    case Op::name: return #name;
        EDGESTACK_COMPILE_OPS(EDGESTACK_OP_NAME)
#undef EDGESTACK_OP_NAME
    }
    return "unknown";
}

/// An activation fused into the op before it (set by the fusion pass).
enum class Activation : std::uint8_t { none, relu, relu6 };

/// A per-sample shape, NHWC without the N.
using Dims = std::vector<std::size_t>;

/// Affine int8 quantization: real = scale * (q - zero_point). One entry per tensor, or one per
/// channel along `axis` (weights: axis 0, the output channel). Empty means not quantized.
struct QuantParams {
    std::vector<float> scale;             ///< real value of one step, per tensor or per channel
    std::vector<std::int32_t> zero_point; ///< the code of real 0, same count as scale
    int axis = -1;                        ///< -1: per tensor

    bool empty() const noexcept { return scale.empty(); }   ///< not quantized
    bool per_channel() const noexcept { return axis >= 0; } ///< one entry per channel
};

/// Elements in a shape (1 for rank 0).
inline std::size_t volume(const Dims& d) noexcept {
    std::size_t n = 1;
    for (auto x : d) n *= x;
    return n;
}

/// "28x28x1".
inline std::string to_string(const Dims& d) {
    std::string s;
    for (std::size_t i = 0; i < d.size(); ++i) {
        if (i != 0) s += 'x';
        s += std::to_string(d[i]);
    }
    return s;
}

/// One operation. Which fields mean something depends on `op`; its unit header says.
struct Node {
    Op op{};                 ///< what the node does
    std::string name;        ///< stable, unique: "dense_0", "conv2d_1", ...
    std::vector<int> inputs; ///< value ids; value 0 is the graph input
    int output = -1;         ///< value id this node defines

    // Spatial attributes (conv and pool ops).
    std::array<std::size_t, 2> kernel{1, 1};    ///< window height, width (conv and pool ops)
    std::array<std::size_t, 2> stride{1, 1};    ///< step height, width
    std::array<std::size_t, 2> dilation{1, 1};  ///< gap between taps (1: none)
    std::array<std::size_t, 4> pad{0, 0, 0, 0}; ///< top, left, bottom, right
    float alpha = 0.0f;                         ///< leaky_relu's slope, batch/layer norm's eps; gru: 1 for ONNX's linear_before_reset = 0
    Activation fused = Activation::none;        ///< applied to the output (set by fusion: dense, convs, add)

    std::vector<float> weights; ///< fp32 weights, layout per Op
    std::vector<float> bias;    ///< fp32 bias
    std::vector<float> extra;   ///< batch norm: gamma | beta | mean | var, each `channels` long

    // Int8 form, set by a Quantizer (empty for fp32 nodes). Weights are symmetric int8 in
    // the fp32 layout above; the bias is int32 with scale input_scale * weight_scale[c].
    std::vector<std::int8_t> qweights; ///< int8 weights (same layout), when quantized
    std::vector<std::int32_t> qbias;   ///< int32 bias, when quantized
    QuantParams weight_quant;          ///< scales of qweights

    /// Whether a quantizer gave the node an int8 form.
    bool quantized() const noexcept { return !weight_quant.empty() || !qweights.empty(); }
};

// The int8 contract (docs/engine.md has the full text; backend::Reference is its definition):
// - value_quant is empty (fp32 graph) or holds one per-tensor asymmetric (scale, zero point)
//   for every value, input and output included. Quantize a graph after
//   compile::canonicalize (batch norm folded, dropout removed, relu/relu6 fused); a fused
//   node's output value is the activation's output, so it carries post-activation params.
// - dense/conv2d/depthwise_conv2d: qweights symmetric int8 in [-127, 127], zero points 0,
//   weight_quant.scale of size 1 or one per output channel (depthwise: per channel); qbias
//   int32 at scale s_in * s_w[c] (empty = zero). acc = qbias[c] + sum (x - zp_in) * w in
//   exact int32 (padding reads zp_in); y = quant::requantize(acc,
//   quantize_multiplier(s_in * s_w[c] / s_out), zp_out, lo, hi), the fused activation
//   clamping [lo, hi] in the int8 domain (relu: lo = zp_out; relu6: hi = quantize(6)).
// - max_pool2d, flatten, relu, relu6, dropout keep their input's params (must be equal).
// - avg_pool2d / global_avg_pool: sum (x - zp_in) over real (unpadded) positions, then
//   requantize by s_in / (s_out * count). add: both inputs rescaled with 20 fractional bits,
//   summed, rounding-shifted, clamped to [lo, hi] as a weighted op's fused activation is.
//   softmax: dequantize, fp32 softmax, quantize.
//   sigmoid/tanh/hard_swish/leaky_relu: 256-entry table of quantize(f(dequantize(q))).
/// A model as the engines see it: per-sample value shapes and nodes in topological order,
/// fp32, or int8 when every value carries quantization parameters. Lowered from a model
/// (Sequential::lower), read from a model file or imported from ONNX.
struct Graph {
    std::vector<Dims> values; ///< per-sample shape of every value; values[0] is the input
    /// Per value: its int8 activation parameters (per tensor), or empty for fp32. A graph
    /// whose values all carry parameters runs integer-only from input to output.
    std::vector<QuantParams> value_quant;
    std::vector<Node> nodes; ///< in topological order
    int output = 0;          ///< id of the output value

    const Dims& input_shape() const { return values.at(0); } ///< per sample
    /// Per sample.
    const Dims& output_shape() const { return values.at(static_cast<std::size_t>(output)); }
    std::size_t input_size() const { return volume(input_shape()); }   ///< floats per input sample
    std::size_t output_size() const { return volume(output_shape()); } ///< floats per output sample

    /// Start a graph whose input has the given per-sample shape.
    static Graph with_input(Dims input) {
        Graph g;
        g.values.push_back(std::move(input));
        return g;
    }

    /// Append `node` reading `inputs`, defining a new value of shape `out`; returns its id.
    int append(Node node, std::vector<int> inputs, Dims out) {
        for (int v : inputs) {
            if (v < 0 || static_cast<std::size_t>(v) >= values.size())
                throw config_error("graph: node '" + node.name + "' reads undefined value " +
                                   std::to_string(v));
        }
        const int id = static_cast<int>(values.size());
        values.push_back(std::move(out));
        if (!value_quant.empty()) value_quant.resize(values.size());
        node.inputs = std::move(inputs);
        node.output = id;
        nodes.push_back(std::move(node));
        output = id;
        return id;
    }

    /// A name not used by any node yet: "<op>_<k>".
    std::string fresh_name(Op op) const {
        std::size_t k = 0;
        for (const auto& n : nodes)
            if (n.op == op) ++k;
        return std::string(op_name(op)) + "_" + std::to_string(k);
    }
};

} // namespace edgestack::compile
