// ONNX import into a graph (stage 3, compile): any ONNX model whose operators the engine has
// (as PyTorch, TensorFlow converters or our own exporter write them) becomes a
// compile::Graph that every backend compiles; no declared model type is needed. Link
// edgestack::onnx. docs/interop.md lists the operators, their limits and what is refused.
//
// Layout: ONNX activations are NCHW, ours NHWC (H x W x C per sample). Convolution weights
// are re-laid out from OIHW to [out][kh][kw][in] (depthwise [kh][kw][C]); a Flatten of an
// NCHW tensor orders features (c, h, w), ours (h, w, c), so the Gemm/MatMul that reads it
// has its columns permuted (a batch norm over it, its parameters). A spatial graph output
// comes out NHWC. A file that transposes its input from NHWC (as our exporter does) keeps
// that NHWC input.
//
// QDQ int8: a QuantizeLinear/DequantizeLinear pair on a tensor sets its value_quant; int8
// weights behind a DequantizeLinear become qweights, biases qbias at s_in * s_w; the graph
// is canonicalized (relu fused) and must then quantize every value.
//
// Refused, with a format_error naming the node and its operator: every operator outside the
// list below, and every use of a listed one that the graph cannot express exactly.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/io/detail/onnx_attention.hpp"
#include "edgestack/io/detail/onnx_1d.hpp"
#include "edgestack/io/detail/onnx_model.hpp"
#include "edgestack/io/detail/onnx_recurrent.hpp"
#include "edgestack/io/detail/validate.hpp"

namespace edgestack::io {

/// The ONNX operators import_onnx_graph reads itself, for messages and docs; besides these
/// it reads every operator an op unit names as its ONNX form (`compile/ops/<name>.hpp`:
/// Relu, LeakyRelu, Sigmoid, Tanh, HardSwish, Add of two tensors).
inline constexpr const char* onnx_graph_supported_ops =
    "Conv, Gemm, MatMul (+ Add of a constant), BatchNormalization, Clip (0..6 or 0..inf), "
    "Conv, MaxPool, AveragePool and Pad over N x C x T (1-D), ReduceMean (over time), "
    "HardSigmoid + Mul (as HardSwish), Softmax, MaxPool, "
    "AveragePool, GlobalAveragePool, Add (of a constant per channel), Mul (by "
    "a constant per channel), Concat (along the channels), Flatten, Reshape (to N x features), "
    "Pad (constant 0, "
    "folded into the next Conv or pool), Transpose (NCHW <-> NHWC, N x C x T <-> N x T x C), "
    "Squeeze (of one time step), Identity, Dropout, "
    "Constant, QuantizeLinear + DequantizeLinear pairs (QDQ int8), and on constants only Shape, "
    "Gather, Unsqueeze, Squeeze, Concat, Cast, DequantizeLinear; "
    "GRU and LSTM as PyTorch writes nn.GRU / nn.LSTM (io/detail/onnx_recurrent.hpp)";

namespace detail {

/// A constant tensor (initializer, Constant node, or folded shape arithmetic). In a shape
/// computed from an activation the batch dimension is the marker `batch_dim`.
struct OnnxConst {
    std::vector<std::int64_t> dims;
    std::vector<double> data;
};
inline constexpr double batch_dim = -1.0e18;

class OnnxGraphImporter {
public:
    OnnxGraphImporter(const onnx::ModelProto& m, std::string file) : m_(m), file_(std::move(file)) {}

    compile::Graph run() {
        const auto& gp = m_.graph();
        opset_ = 0;
        for (const auto& o : m_.opset_import())
            if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
        if (opset_ == 0) throw format_error(file_ + ": the model imports no version of the default ONNX operator set");
        for (const auto& t : gp.initializer()) {
            OnnxConst c;
            c.dims.assign(t.dims().begin(), t.dims().end());
            c.data = tensor_values(t, file_ + ": initializer '" + t.name() + "'");
            budget_ += 2 * c.data.size();
            consts_[t.name()] = std::move(c);
        }
        for (const auto& n : gp.node())
            for (const auto& i : n.input()) ++uses_[i];
        for (const auto& o : gp.output()) ++uses_[o.name()];
        read_input();
        if (gp.node_size() == 0) throw format_error(file_ + ": the graph has no operators");
        for (int i = 0; i < gp.node_size(); ++i) node(gp.node(i), i);
        if (gp.output_size() != 1)
            throw format_error(file_ + ": the graph has " + std::to_string(gp.output_size()) +
                               " outputs; one is supported");
        const auto& out = gp.output(0).name();
        const Entry& e = activation(out, file_ + ": graph output '" + out + "'");
        if (!e.chw.empty())
            throw format_error(file_ + ": graph output '" + out + "' is an NCHW tensor flattened in (c, h, w) "
                               "order, which the NHWC graph cannot produce; end the model with a Gemm, or "
                               "transpose to NHWC before flattening");
        if (e.value == 0) throw format_error(file_ + ": graph output '" + out + "' is the input itself");
        g_.output = e.value;
        if (!g_.value_quant.empty()) finish_int8();
        validate_graph(g_, file_);
        return std::move(g_);
    }

private:
    friend class OnnxRecurrentGraph; // GRU / LSTM and the pattern around them (onnx_recurrent.hpp)
    OnnxRecurrentGraph rnn_;
    enum class Kind { activation, constant, padded, hard_sigmoid, quantized };
    // nct: a T x C value that ONNX holds as N x C x T (1-D convolutions, see one_d()).
    enum class Layout { flat, nchw, nhwc, nct };
    struct Entry {
        Kind kind = Kind::activation;
        int value = -1;          // graph value id (activation, padded, hard_sigmoid: its source)
        Layout layout = Layout::flat;
        compile::Dims chw;       // flat value whose features are in (c, h, w) order of these H x W x C
        bool nonneg = false;     // every element >= 0 (after Relu, Clip(0, .), Sigmoid)
        int producer = -1;       // graph node defining `value`
        std::array<std::size_t, 4> pads{0, 0, 0, 0}; // padded: top, left, bottom, right
        compile::QuantParams quant; // quantized: the QuantizeLinear's scale and zero point
    };
    /// A weight that came from DequantizeLinear of an int8 constant: its scales, and the
    /// ONNX axis they run along.
    struct WeightQuant {
        std::vector<float> scale;
        std::int64_t axis = 0;
    };

    // --- lookups -----------------------------------------------------------------------
    std::string where(const onnx::NodeProto& n, int i) const { return file_ + ": " + describe(n, i); }

    [[noreturn]] void refuse(const std::string& w, const std::string& why) const {
        throw format_error(w + ": " + why);
    }

    const OnnxConst* find_const(const std::string& name) const {
        if (auto it = consts_.find(name); it != consts_.end()) return &it->second;
        return nullptr;
    }
    bool is_const(const std::string& name) const { return find_const(name) != nullptr; }

    const OnnxConst& constant(const onnx::NodeProto& n, int k, const std::string& w, const char* what) const {
        if (n.input_size() <= k || n.input(k).empty()) refuse(w, std::string("missing ") + what + " input");
        const auto* c = find_const(n.input(k));
        if (!c) refuse(w, std::string(what) + " '" + n.input(k) + "' is not a constant (initializer or Constant node)");
        return *c;
    }

    const Entry& activation(const std::string& name, const std::string& w) const {
        auto it = entries_.find(name);
        if (it == entries_.end()) {
            if (is_const(name)) refuse(w, "input '" + name + "' is a constant where a computed tensor is expected");
            refuse(w, "input '" + name + "' is not defined by any earlier node or graph input");
        }
        const Entry& e = it->second;
        if (e.kind == Kind::padded)
            refuse(w, "reads the output of a Pad, which only a Conv, MaxPool or AveragePool can absorb");
        if (e.kind == Kind::hard_sigmoid)
            refuse(w, "reads the output of a HardSigmoid, which is read only as HardSigmoid(x) * x (HardSwish)");
        if (e.kind == Kind::quantized)
            refuse(w, "reads the int8 output of a QuantizeLinear; only a DequantizeLinear with the same "
                      "scale and zero point may follow it");
        return e;
    }
    const Entry& input_act(const onnx::NodeProto& n, int k, const std::string& w) const {
        if (n.input_size() <= k || n.input(k).empty()) refuse(w, "missing input " + std::to_string(k));
        return activation(n.input(k), w);
    }
    const Entry& spatial_act(const Entry& e, const std::string& w) const {
        if (e.layout != Layout::nchw)
            refuse(w, std::string("needs an N x C x H x W input, got ") +
                          (e.layout == Layout::nhwc ? "an NHWC-transposed tensor" : "a flat N x features tensor"));
        return e;
    }
    const compile::Dims& dims(const Entry& e) const { return g_.values[static_cast<std::size_t>(e.value)]; }

    void set_output(const onnx::NodeProto& n, Entry e) {
        if (n.output_size() < 1 || n.output(0).empty()) return;
        entries_[n.output(0)] = std::move(e);
    }
    void only_first_output(const onnx::NodeProto& n, const std::string& w) const {
        for (int k = 1; k < n.output_size(); ++k)
            if (!n.output(k).empty() && uses_.count(n.output(k)))
                refuse(w, "output " + std::to_string(k) + " ('" + n.output(k) + "') is used; only the first output is read");
    }

    /// Appends a node; the new value's entry inherits nothing but what is given.
    Entry append(compile::Node node, std::vector<int> ins, compile::Dims out, Layout layout,
                 const std::string& w) {
        std::size_t v = 1;
        for (auto d : out) {
            if (d == 0 || d > max_value_elements / v)
                refuse(w, "output shape " + compile::to_string(out) + " is empty or larger than 2^30 elements");
            v *= d;
        }
        charge(node.weights.size() + node.bias.size() + node.extra.size(), w);
        // fresh_name() scans every node: a counter per op keeps a huge file linear.
        node.name = std::string(compile::op_name(node.op)) + "_" + std::to_string(names_[node.op]++);
        Entry e;
        e.value = g_.append(std::move(node), std::move(ins), std::move(out));
        e.producer = static_cast<int>(g_.nodes.size()) - 1;
        e.layout = layout;
        return e;
    }

    static std::size_t to_size(std::int64_t x) { return static_cast<std::size_t>(x); }

    // --- the graph input -----------------------------------------------------------------
    void read_input() {
        const auto& gp = m_.graph();
        const onnx::ValueInfoProto* in = nullptr;
        for (const auto& i : gp.input()) {
            if (is_const(i.name())) continue; // older exporters list initializers as inputs
            if (in) throw format_error(file_ + ": the graph has more than one input ('" + in->name() + "', '" +
                                       i.name() + "'); one is supported" + rnn_extra_input_note(gp, i.name()) +
                                       rnn_extra_input_note(gp, in->name()));
            in = &i;
        }
        if (!in) throw format_error(file_ + ": the graph has no input");
        const std::string w = file_ + ": graph input '" + in->name() + "'";
        if (!in->type().has_tensor_type() || !in->type().tensor_type().has_shape())
            throw format_error(w + ": no tensor shape is given");
        const auto& t = in->type().tensor_type();
        if (t.elem_type() != onnx::TensorProto::FLOAT)
            throw format_error(w + ": element type " + std::to_string(t.elem_type()) + " (float is read)");
        std::vector<std::size_t> d;
        for (int k = 1; k < t.shape().dim_size(); ++k) {
            const auto& dim = t.shape().dim(k);
            if (!dim.has_dim_value() || dim.dim_value() <= 0 ||
                dim.dim_value() > static_cast<std::int64_t>(max_value_elements))
                throw format_error(w + ": dimension " + std::to_string(k) +
                                   " must be a fixed positive size (only the batch may vary)");
            d.push_back(to_size(dim.dim_value()));
        }
        const auto& b = t.shape().dim_size() > 0 ? t.shape().dim(0) : onnx::TensorShapeProto::Dimension{};
        static_batch_ = b.has_dim_value() ? b.dim_value() : -1;
        Entry e;
        e.value = 0;
        if (d.size() == 1) {
            g_ = compile::Graph::with_input({d[0]});
            e.layout = Layout::flat;
        } else if (d.size() == 3) {
            // NHWC when every reader transposes it to NCHW (as our exporter writes it).
            bool nhwc = uses_[in->name()] > 0;
            std::vector<std::string> names{in->name()}; // the input, and its Q/DQ outputs
            for (std::size_t k = 0; k < names.size() && k < 3; ++k)
                for (const auto& n : gp.node())
                    for (const auto& i : n.input())
                        if (i == names[k] && n.output_size() > 0) {
                            if ((n.op_type() == "QuantizeLinear" && k == 0) ||
                                (n.op_type() == "DequantizeLinear" && k == 1))
                                names.push_back(n.output(0));
                            else if (n.op_type() != "Transpose" ||
                                     attr_ints(n, "perm", {}) != std::vector<std::int64_t>{0, 3, 1, 2})
                                nhwc = false;
                        }
            g_ = compile::Graph::with_input(nhwc ? compile::Dims{d[0], d[1], d[2]} : compile::Dims{d[1], d[2], d[0]});
            e.layout = nhwc ? Layout::nhwc : Layout::nchw;
        } else if (d.size() == 2 && rnn_sequence_input(gp, in->name())) { // N x T x F into a GRU / LSTM
            g_ = compile::Graph::with_input({d[0], d[1]});
            e.layout = Layout::flat;
        } else if (d.size() == 2 && sequence_input(*in, d, e)) {
            // N x C x T read by 1-D windows, or N x T x C transposed to them
        } else {
            throw format_error(w + ": rank " + std::to_string(d.size() + 1) +
                               " (N x features, N x C x H x W, or N x C x T read by a 1-D Conv or pool are read)");
        }
        std::size_t v = 1;
        for (auto x : d) {
            if (x > max_value_elements / v) throw format_error(w + ": larger than 2^30 elements per sample");
            v *= x;
        }
        entries_[in->name()] = e;
    }

    // --- spatial attributes --------------------------------------------------------------
    struct Window {
        std::array<std::size_t, 2> kernel{1, 1}, stride{1, 1}, dilation{1, 1};
        std::array<std::size_t, 4> pad{0, 0, 0, 0};
        std::array<std::size_t, 2> out{1, 1};
    };
    static std::size_t checked_attr(std::int64_t x, std::int64_t lo, const std::string& what, const std::string& w) {
        if (x < lo || x > 1024) throw format_error(w + ": " + what + " " + std::to_string(x) + " is out of range");
        return to_size(x);
    }
    /// Kernel, stride, dilation and padding of a Conv or pool over an H x W input (plus
    /// `extra` padding from a Pad before it); explicit pads or auto_pad.
    Window window(const onnx::NodeProto& n, const std::string& w, std::size_t H, std::size_t W,
                  std::array<std::int64_t, 2> kernel_from_weight, bool pool,
                  const std::array<std::size_t, 4>& extra, bool check_span = true) const {
        Window r;
        auto ks = attr_ints(n, "kernel_shape", {});
        if (ks.empty()) {
            if (kernel_from_weight[0] < 0) refuse(w, "kernel_shape is missing");
            ks = {kernel_from_weight[0], kernel_from_weight[1]};
        }
        const auto st = attr_ints(n, "strides", {1, 1});
        const auto di = attr_ints(n, "dilations", {1, 1});
        const auto pads = attr_ints(n, "pads", {0, 0, 0, 0});
        if (ks.size() != 2 || st.size() != 2 || di.size() != 2 || pads.size() != 4)
            refuse(w, "only 2-D windows are read (kernel_shape, strides, dilations of 2, pads of 4)");
        if (kernel_from_weight[0] >= 0 && (ks[0] != kernel_from_weight[0] || ks[1] != kernel_from_weight[1]))
            refuse(w, "kernel_shape differs from the weight's shape");
        for (int a = 0; a < 2; ++a) {
            r.kernel[a] = checked_attr(ks[a], 1, "kernel size", w);
            r.stride[a] = checked_attr(st[a], 1, "stride", w);
            r.dilation[a] = checked_attr(di[a], 1, "dilation", w);
        }
        if (pool && (r.dilation[0] != 1 || r.dilation[1] != 1)) refuse(w, "dilated pooling is not supported");
        const std::string ap = find_attr(n, "auto_pad") ? find_attr(n, "auto_pad")->s() : "NOTSET";
        const std::size_t in[2] = {H + extra[0] + extra[2], W + extra[1] + extra[3]};
        for (int a = 0; a < 2; ++a) {
            const std::size_t reach = r.dilation[a] * (r.kernel[a] - 1) + 1;
            std::size_t b = 0, e = 0;
            if (ap == "NOTSET") {
                b = checked_attr(pads[static_cast<std::size_t>(a)], 0, "padding", w);
                e = checked_attr(pads[static_cast<std::size_t>(a + 2)], 0, "padding", w);
            } else if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
                const std::size_t out = (in[a] + r.stride[a] - 1) / r.stride[a];
                const std::size_t need = (out - 1) * r.stride[a] + reach;
                const std::size_t total = need > in[a] ? need - in[a] : 0;
                b = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
                e = total - b;
            } else if (ap != "VALID") {
                refuse(w, "auto_pad '" + ap + "' is not an ONNX value");
            }
            r.pad[static_cast<std::size_t>(a)] = b + extra[static_cast<std::size_t>(a)];
            r.pad[static_cast<std::size_t>(a + 2)] = e + extra[static_cast<std::size_t>(a + 2)];
            const std::size_t span = (a == 0 ? H : W) + r.pad[static_cast<std::size_t>(a)] +
                                     r.pad[static_cast<std::size_t>(a + 2)];
            if (!check_span) continue;
            if (reach > span)
                refuse(w, "the window (" + std::to_string(reach) + ") is larger than the padded input (" +
                              std::to_string(span) + ")");
            r.out[static_cast<std::size_t>(a)] = (span - reach) / r.stride[static_cast<std::size_t>(a)] + 1;
            if (pool && attr_i(n, "ceil_mode", 0) != 0 &&
                (span - reach) % r.stride[static_cast<std::size_t>(a)] != 0)
                refuse(w, "ceil_mode = 1 gives a partial last window here, which the graph's pools do not have");
        }
        return r;
    }

    // --- operators ---------------------------------------------------------------------------
    void node(const onnx::NodeProto& n, int i) {
        const std::string w = where(n, i);
        const std::string& t = n.op_type();
        if (!n.domain().empty() && n.domain() != "ai.onnx")
            refuse(w, "operator domain '" + n.domain() + "' is not read; supported: " + supported_ops());
        if (n.output_size() < 1 || n.output(0).empty()) refuse(w, "has no output");
        if (t == "Constant") return constant_node(n, w);
        if (rnn_.node(*this, n, w)) return;
        if (t == "Identity" || t == "Dropout") {
            only_first_output(n, w);
            if (n.input_size() < 1) refuse(w, "has no input");
            if (const auto* c = find_const(n.input(0))) { store(n.output(0), *c, w); return; }
            auto it = entries_.find(n.input(0));
            if (it == entries_.end()) refuse(w, "input '" + n.input(0) + "' is not defined");
            return set_output(n, it->second);
        }
        // Nodes reading only constants are folded (shape arithmetic, dequantized weights).
        bool all_const = n.input_size() > 0;
        for (const auto& in : n.input()) all_const = all_const && (in.empty() || is_const(in));
        if (t == "Shape") return shape_node(n, w);
        if (all_const) return fold(n, w);
        if (one_d(n, w)) return;
        if (t == "Conv") return conv(n, w);
        if (t == "Gemm" || t == "MatMul") return dense(n, w);
        if (t == "Add") return add(n, w);
        if (t == "BatchNormalization") return batch_norm(n, w);
        if (t == "Clip") return clip(n, w);
        if (t == "HardSigmoid") return hard_sigmoid(n, w);
        if (t == "Mul") return mul(n, w);
        if (t == "Concat") return concat(n, w);
        if (t == "Softmax") return softmax(n, w);
        if (t == "MaxPool" || t == "AveragePool") return pool(n, w);
        if (t == "GlobalAveragePool") {
            const Entry& x = spatial_act(input_act(n, 0, w), w);
            compile::Node g;
            g.op = compile::Op::global_avg_pool;
            return set_output(n, append(std::move(g), {x.value}, {1, 1, dims(x)[2]}, Layout::nchw, w));
        }
        if (t == "Flatten") {
            const auto axis = attr_i(n, "axis", 1);
            if (axis != 1) refuse(w, "axis " + std::to_string(axis) + " (only 1, N x features, is read)");
            return set_output(n, flatten(input_act(n, 0, w), w, n.input(0)));
        }
        if (t == "Reshape") return reshape(n, w);
        if (t == "Pad") return pad(n, w);
        if (t == "Transpose") return transpose(n, w);
        if (t == "QuantizeLinear") return quantize(n, w);
        if (t == "DequantizeLinear") return dequantize(n, w);
        if (by_unit(n, w)) return;
        refuse(w, "operator " + t + " has no counterpart in the graph; supported: " + supported_ops());
    }

    void constant_node(const onnx::NodeProto& n, const std::string& w) {
        OnnxConst c;
        if (const auto* a = find_attr(n, "value")) {
            c.dims.assign(a->t().dims().begin(), a->t().dims().end());
            c.data = tensor_values(a->t(), w);
        } else if (const auto* f = find_attr(n, "value_float")) {
            c.data = {f->f()};
        } else if (const auto* fs = find_attr(n, "value_floats")) {
            c.data.assign(fs->floats().begin(), fs->floats().end());
            c.dims = {static_cast<std::int64_t>(c.data.size())};
        } else if (const auto* i1 = find_attr(n, "value_int")) {
            c.data = {static_cast<double>(i1->i())};
        } else if (const auto* is = find_attr(n, "value_ints")) {
            for (auto x : is->ints()) c.data.push_back(static_cast<double>(x));
            c.dims = {static_cast<std::int64_t>(c.data.size())};
        } else {
            refuse(w, "only value, value_float(s) and value_int(s) constants are read");
        }
        store(n.output(0), std::move(c), w);
    }

    /// The ONNX shape of an activation, batch first.
    std::vector<double> onnx_shape(const Entry& e) const {
        const auto& d = dims(e);
        std::vector<double> s{batch_dim};
        if (e.layout == Layout::nchw) s.insert(s.end(), {double(d[2]), double(d[0]), double(d[1])});
        else if (e.layout == Layout::nct) s.insert(s.end(), {double(d[1]), double(d[0])});
        else for (auto x : d) s.push_back(static_cast<double>(x));
        return s;
    }

    void shape_node(const onnx::NodeProto& n, const std::string& w) {
        std::vector<double> s;
        if (n.input_size() < 1) refuse(w, "has no input");
        if (const auto* c = find_const(n.input(0))) {
            for (auto d : c->dims) s.push_back(static_cast<double>(d));
        } else {
            s = onnx_shape(input_act(n, 0, w));
        }
        const auto r = static_cast<std::int64_t>(s.size());
        auto clampi = [&](std::int64_t x) { return std::clamp<std::int64_t>(x < 0 ? x + r : x, 0, r); };
        const auto b = clampi(attr_i(n, "start", 0)), e = clampi(attr_i(n, "end", r));
        OnnxConst c;
        if (b < e) c.data.assign(s.begin() + b, s.begin() + e);
        c.dims = {static_cast<std::int64_t>(c.data.size())};
        store(n.output(0), std::move(c), w);
    }

    /// An integer held in a constant (shapes, axes, indices); NaN or huge values are refused.
    std::int64_t to_int(double x, const std::string& w) const {
        if (!(std::abs(x) <= 9.0e15) && x != batch_dim) refuse(w, "a shape, axis or index value is not an integer");
        return static_cast<std::int64_t>(x);
    }
    std::vector<std::int64_t> int_list(const OnnxConst& c, const std::string& w) const {
        std::vector<std::int64_t> v;
        for (double x : c.data) v.push_back(to_int(x, w));
        return v;
    }

    /// Tensors the import creates (node weights, folded constants) are charged against a
    /// budget of twice the file's own initializers plus 2^24 elements, so a small file that
    /// reuses one weight a million times, or doubles a constant by Concat, is refused
    /// instead of exhausting memory.
    void charge(std::size_t elements, const std::string& w) {
        if (elements > budget_ - used_)
            refuse(w, "the model would need more tensor data than its file holds (" + std::to_string(budget_) +
                          " elements at most); weights shared by many nodes or growing constants are refused");
        used_ += elements;
    }
    void store(const std::string& name, OnnxConst c, const std::string& w) {
        charge(c.data.size(), w);
        consts_[name] = std::move(c);
    }

    /// Constant folding of the small set of operators shape arithmetic and QDQ weights use.
    void fold(const onnx::NodeProto& n, const std::string& w) {
        const std::string& t = n.op_type();
        only_first_output(n, w);
        OnnxConst r;
        const OnnxConst& x = constant(n, 0, w, "data");
        if (t == "Cast") {
            r = x;
        } else if (t == "Unsqueeze" || t == "Squeeze") {
            std::vector<std::int64_t> axes = opset_ < 13 ? attr_ints(n, "axes", {})
                                             : (n.input_size() > 1 && !n.input(1).empty()
                                                    ? int_list(constant(n, 1, w, "axes"), w) : std::vector<std::int64_t>{});
            r = x;
            if (t == "Unsqueeze") {
                const auto rank = static_cast<std::int64_t>(x.dims.size() + axes.size());
                for (auto& a : axes) a = a < 0 ? a + rank : a;
                std::sort(axes.begin(), axes.end());
                for (auto a : axes) {
                    if (a < 0 || a > static_cast<std::int64_t>(r.dims.size())) refuse(w, "axis out of range");
                    r.dims.insert(r.dims.begin() + a, 1);
                }
            } else {
                std::vector<std::int64_t> d;
                const auto rank = static_cast<std::int64_t>(x.dims.size());
                for (std::int64_t k = 0; k < rank; ++k) {
                    bool drop = axes.empty() ? x.dims[to_size(k)] == 1
                                             : std::count(axes.begin(), axes.end(), k) + std::count(axes.begin(), axes.end(), k - rank) > 0;
                    if (!drop) d.push_back(x.dims[to_size(k)]);
                }
                r.dims = d;
            }
        } else if (t == "Gather") {
            const OnnxConst& idx = constant(n, 1, w, "indices");
            if (x.dims.size() != 1 || attr_i(n, "axis", 0) != 0) refuse(w, "only gathers from a 1-D constant are folded");
            const auto len = static_cast<std::int64_t>(x.data.size());
            for (double d : idx.data) {
                auto k = to_int(d, w);
                if (k < 0) k += len;
                if (k < 0 || k >= len) refuse(w, "index " + std::to_string(to_int(d, w)) + " out of range");
                r.data.push_back(x.data[to_size(k)]);
            }
            r.dims = idx.dims;
        } else if (t == "Concat") {
            for (int k = 0; k < n.input_size(); ++k) {
                const OnnxConst& c = constant(n, k, w, "input");
                if (c.dims.size() > 1) refuse(w, "only 1-D constants are concatenated");
                r.data.insert(r.data.end(), c.data.begin(), c.data.end());
            }
            r.dims = {static_cast<std::int64_t>(r.data.size())};
        } else if (t == "DequantizeLinear") {
            const OnnxConst& s = constant(n, 1, w, "scale");
            const OnnxConst* zp = n.input_size() > 2 && !n.input(2).empty() ? &constant(n, 2, w, "zero point") : nullptr;
            if (zp && zp->data.size() != s.data.size()) refuse(w, "zero point count differs from scale count");
            if (s.data.empty()) refuse(w, "no scale");
            std::size_t inner = 1;
            if (s.data.size() > 1) {
                auto axis = attr_i(n, "axis", 1);
                if (axis < 0) axis += static_cast<std::int64_t>(x.dims.size());
                if (axis < 0 || axis >= static_cast<std::int64_t>(x.dims.size()) ||
                    x.dims[to_size(axis)] != static_cast<std::int64_t>(s.data.size()))
                    refuse(w, std::to_string(s.data.size()) + " scales do not match axis " + std::to_string(axis));
                for (std::size_t d = to_size(axis) + 1; d < x.dims.size(); ++d) inner *= to_size(x.dims[d]);
            }
            r = x;
            for (std::size_t k = 0; k < x.data.size(); ++k) {
                const std::size_t c = s.data.size() > 1 ? (k / inner) % s.data.size() : 0;
                r.data[k] = static_cast<float>((x.data[k] - (zp ? zp->data[c] : 0.0)) * s.data[c]);
            }
            // Symmetric int8 weights keep their codes: a node reading them becomes int8.
            bool symmetric = x.dims.size() >= 1;
            if (zp) for (double z : zp->data) symmetric = symmetric && z == 0.0;
            for (double v : x.data) symmetric = symmetric && v >= -127.0 && v <= 127.0;
            if (symmetric) {
                WeightQuant q;
                for (double v : s.data) q.scale.push_back(static_cast<float>(v));
                q.axis = s.data.size() > 1 ? attr_i(n, "axis", 1) : -1;
                if (q.axis < -1) q.axis += static_cast<std::int64_t>(x.dims.size());
                wquant_[n.output(0)] = std::move(q);
            }
        } else {
            refuse(w, "operator " + t + " over constants is not folded; supported: " + onnx_graph_supported_ops);
        }
        store(n.output(0), std::move(r), w);
    }

    void conv(const onnx::NodeProto& n, const std::string& w) {
        only_first_output(n, w);
        if (n.input_size() < 1) refuse(w, "has no input");
        auto it = entries_.find(n.input(0));
        std::array<std::size_t, 4> extra{0, 0, 0, 0};
        const Entry* xp = nullptr;
        if (it != entries_.end() && it->second.kind == Kind::padded) {
            extra = it->second.pads;
            xp = &it->second;
        } else {
            xp = &input_act(n, 0, w);
        }
        const Entry& x = *xp;
        spatial_act(x, w);
        const auto& wt = constant(n, 1, w, "weight");
        if (wt.dims.size() != 4) refuse(w, "weight has rank " + std::to_string(wt.dims.size()) + ", 4 expected");
        const auto& in = dims(x);
        const std::size_t H = in[0], W = in[1], C = in[2];
        const std::size_t O = to_size(wt.dims[0]), I = to_size(wt.dims[1]), kh = to_size(wt.dims[2]), kw = to_size(wt.dims[3]);
        const auto group = attr_i(n, "group", 1);
        const bool dw = group != 1;
        if (!dw && I != C) refuse(w, "weight expects " + std::to_string(I) + " input channels, the input has " + std::to_string(C));
        if (dw && (group != static_cast<std::int64_t>(C) || I != 1 || O != C))
            refuse(w, "group " + std::to_string(group) + " is neither 1 nor depthwise (group = channels in = channels out)");
        const Window win = window(n, w, H, W, {wt.dims[2], wt.dims[3]}, false, extra);
        compile::Node c;
        c.op = dw ? compile::Op::depthwise_conv2d : compile::Op::conv2d;
        c.kernel = win.kernel;
        c.stride = win.stride;
        c.dilation = win.dilation;
        c.pad = win.pad;
        c.weights = compile::ops::Conv2d::weights_from_onnx(wt.data, O, I, kh, kw, dw);
        if (n.input_size() > 2 && !n.input(2).empty()) {
            const auto& b = constant(n, 2, w, "bias");
            if (b.data.size() != O) refuse(w, "bias has " + std::to_string(b.data.size()) + " values, " + std::to_string(O) + " channels");
            c.bias.assign(b.data.begin(), b.data.end());
        }
        int8_weights(c, n.input(1), O, 0, w);
        set_output(n, append(std::move(c), {x.value}, {win.out[0], win.out[1], O}, Layout::nchw, w));
    }

    /// Our index (h, w, c) -> the ONNX feature index (c, h, w) of a flattened H x W x C value.
    static std::vector<std::size_t> chw_order(const compile::Dims& d, std::size_t features) {
        std::vector<std::size_t> order(features);
        for (std::size_t i = 0; i < features; ++i) order[i] = i;
        if (d.size() != 3) return order;
        const std::size_t H = d[0], W = d[1], C = d[2];
        for (std::size_t h = 0; h < H; ++h)
            for (std::size_t x = 0; x < W; ++x)
                for (std::size_t c = 0; c < C; ++c) order[(h * W + x) * C + c] = (c * H + h) * W + x;
        return order;
    }

    void dense(const onnx::NodeProto& n, const std::string& w) {
        const bool gemm = n.op_type() == "Gemm";
        const Entry& x = input_act(n, 0, w);
        if (x.layout != Layout::flat)
            refuse(w, "reads a 4-D tensor; flatten it first (only N x features inputs are read)");
        const auto& b = constant(n, 1, w, "weight");
        if (b.dims.size() != 2) refuse(w, "weight has rank " + std::to_string(b.dims.size()) + ", 2 expected");
        if (gemm && attr_i(n, "transA", 0) != 0) refuse(w, "transA = 1 is not read (the activation is not transposed)");
        const bool trans_b = gemm && attr_i(n, "transB", 0) != 0;
        const float alpha = gemm ? attr_f(n, "alpha", 1.0f) : 1.0f;
        const float beta = gemm ? attr_f(n, "beta", 1.0f) : 1.0f;
        const std::size_t in_n = to_size(trans_b ? b.dims[1] : b.dims[0]);
        const std::size_t out_n = to_size(trans_b ? b.dims[0] : b.dims[1]);
        const std::size_t have = compile::volume(dims(x));
        if (in_n != have)
            refuse(w, "weight expects " + std::to_string(in_n) + " features, the input has " + std::to_string(have));
        const auto order = chw_order(x.chw, in_n);
        compile::Node d;
        d.op = compile::Op::dense;
        d.weights.resize(b.data.size());
        for (std::size_t o = 0; o < out_n; ++o)
            for (std::size_t i = 0; i < in_n; ++i) {
                const std::size_t j = order[i];
                d.weights[o * in_n + i] = alpha * static_cast<float>(trans_b ? b.data[o * in_n + j] : b.data[j * out_n + o]);
            }
        if (gemm && n.input_size() > 2 && !n.input(2).empty()) {
            const auto& c = constant(n, 2, w, "bias C");
            d.bias = broadcast_bias(c, out_n, false, w);
            for (auto& v : d.bias) v *= beta;
        }
        only_first_output(n, w);
        int8_weights(d, n.input(1), out_n, trans_b ? 0 : 1, w);
        set_output(n, append(std::move(d), {x.value}, {out_n}, Layout::flat, w));
    }

    /// A constant added per channel: one value, or `channels` values laid out as [C], [1, C]
    /// (flat) or [C, 1, 1], [1, C, 1, 1] (spatial).
    std::vector<float> broadcast_bias(const OnnxConst& c, std::size_t channels, bool spatial, const std::string& w) const {
        if (c.data.size() == 1) return std::vector<float>(channels, static_cast<float>(c.data[0]));
        std::vector<std::int64_t> d = c.dims;
        while (!d.empty() && d.front() == 1 && d.size() > (spatial ? 3u : 1u)) d.erase(d.begin());
        const bool ok = c.data.size() == channels &&
                        (spatial ? (d.size() == 3 && d[1] == 1 && d[2] == 1) : d.size() == 1);
        if (!ok) refuse(w, "a constant of shape " + shape_text(c.dims) + " is not one value per channel (" +
                               std::to_string(channels) + ")");
        return std::vector<float>(c.data.begin(), c.data.end());
    }
    static std::string shape_text(const std::vector<std::int64_t>& d) {
        std::string s = "[";
        for (std::size_t i = 0; i < d.size(); ++i) {
            if (i != 0) s += ',';
            s += std::to_string(d[i]);
        }
        s += ']';
        return s;
    }

    void add(const onnx::NodeProto& n, const std::string& w) {
        if (n.input_size() != 2) refuse(w, "needs two inputs");
        const bool c0 = is_const(n.input(0)), c1 = is_const(n.input(1));
        if (c0 || c1) {
            // A bias added after a MatMul (or a Conv without bias): folded into that node.
            const Entry& x = input_act(n, c0 ? 1 : 0, w);
            const auto& c = *find_const(n.input(c0 ? 0 : 1));
            const bool owned = x.producer >= 0 && uses_[n.input(c0 ? 1 : 0)] == 1;
            compile::Node* p = owned ? &g_.nodes[static_cast<std::size_t>(x.producer)] : nullptr;
            if (!p || (p->op != compile::Op::dense && p->op != compile::Op::conv2d &&
                       p->op != compile::Op::depthwise_conv2d))
                return per_channel_affine(n, x, nullptr, &c, w);
            const std::size_t ch = dims(x).back();
            const auto bias = broadcast_bias(c, ch, x.layout == Layout::nchw, w);
            if (p->bias.empty()) p->bias.assign(ch, 0.0f);
            for (std::size_t k = 0; k < ch; ++k) p->bias[k] += bias[k];
            return set_output(n, x);
        }
        by_unit(n, w); // two tensors: the add unit's own form
    }

    /// The ONNX attributes of one node, for an op unit's from_onnx().
    struct UnitAttrs {
        const onnx::NodeProto& n; ///< the node
        /// A float attribute, or `def`.
        float f(const std::string& name, float def) const { return attr_f(n, name, def); }
        /// An integer attribute, or `def`.
        std::int64_t i(const std::string& name, std::int64_t def) const { return attr_i(n, name, def); }
    };

    /// A node whose op unit names its ONNX operator (`onnx_op`): one or two activations of
    /// one shape in, the same shape out, attributes read by the unit. False when no unit
    /// names the operator.
    bool by_unit(const onnx::NodeProto& n, const std::string& w) {
        bool done = false;
        compile::ops::for_each([&]<class U>() {
            if constexpr (requires { U::onnx_op; }) {
                if (done || n.op_type() != U::onnx_op) return;
                done = true;
                only_first_output(n, w);
                if (n.input_size() != static_cast<int>(U::arity))
                    refuse(w, "needs " + std::to_string(U::arity) + " input(s), has " + std::to_string(n.input_size()));
                const Entry a = input_act(n, 0, w);
                if (a.layout == Layout::nhwc) spatial_act(a, w);
                std::vector<int> ins{a.value};
                for (int k = 1; k < static_cast<int>(U::arity); ++k) {
                    const Entry& b = input_act(n, k, w);
                    if (dims(a) != dims(b) || a.layout != b.layout || a.chw != b.chw)
                        refuse(w, "reads tensors of different shapes or layouts (" + compile::to_string(dims(a)) +
                                      " and " + compile::to_string(dims(b)) + "); broadcasting is not supported");
                    ins.push_back(b.value);
                }
                compile::Node u;
                u.op = U::op;
                if constexpr (requires { U::from_onnx(UnitAttrs{n}, u); }) U::from_onnx(UnitAttrs{n}, u);
                Entry e = append(std::move(u), std::move(ins), dims(a), a.layout, w);
                e.chw = a.chw;
                e.nonneg = U::nonnegative;
                set_output(n, e);
            }
        });
        return done;
    }

    /// The supported operators: those read here and those op units name.
    static std::string supported_ops() {
        std::string s = onnx_graph_supported_ops;
        compile::ops::for_each([&]<class U>() {
            if constexpr (requires { U::onnx_op; }) s += ", " + std::string(U::onnx_op);
        });
        return s;
    }

    void batch_norm(const onnx::NodeProto& n, const std::string& w) {
        only_first_output(n, w);
        if (attr_i(n, "training_mode", 0) != 0) refuse(w, "training_mode = 1 (batch statistics) is not read");
        const Entry& x = input_act(n, 0, w);
        if (x.layout == Layout::nhwc) spatial_act(x, w);
        const std::size_t ch = x.layout == Layout::nchw || x.layout == Layout::nct ? dims(x).back()
                                                                                   : compile::volume(dims(x));
        const auto order = chw_order(x.chw, ch);
        compile::Node b;
        b.op = compile::Op::batch_norm;
        b.alpha = attr_f(n, "epsilon", 1e-5f);
        const char* what[] = {"scale", "bias", "mean", "variance"};
        for (int k = 1; k <= 4; ++k) {
            const auto& c = constant(n, k, w, what[k - 1]);
            if (c.data.size() != ch)
                refuse(w, std::string(what[k - 1]) + " has " + std::to_string(c.data.size()) + " values, the input has " +
                              std::to_string(ch) + " channels");
            for (std::size_t i = 0; i < ch; ++i) b.extra.push_back(static_cast<float>(c.data[order[i]]));
        }
        Entry e = append(std::move(b), {x.value}, dims(x), x.layout, w);
        e.chw = x.chw;
        set_output(n, e);
    }

    float clip_bound(const onnx::NodeProto& n, int k, const char* attr, float def, const std::string& w) const {
        if (opset_ < 11) return attr_f(n, attr, def);
        if (n.input_size() <= k || n.input(k).empty()) return def;
        const auto& c = constant(n, k, w, attr);
        if (c.data.size() != 1) refuse(w, std::string(attr) + " is not a scalar");
        return static_cast<float>(c.data[0]);
    }

    /// Clip(0, 6) as relu6, Clip(0, inf) as relu.
    void clip(const onnx::NodeProto& n, const std::string& w) {
        const Entry& x = input_act(n, 0, w);
        if (x.layout == Layout::nhwc) spatial_act(x, w);
        compile::Node u;
        const float lo = clip_bound(n, 1, "min", -std::numeric_limits<float>::infinity(), w);
        const float hi = clip_bound(n, 2, "max", std::numeric_limits<float>::infinity(), w);
        if (lo == 0.0f && hi == 6.0f) u.op = compile::Op::relu6;
        else if (lo == 0.0f && hi == std::numeric_limits<float>::infinity()) u.op = compile::Op::relu;
        else refuse(w, "Clip(" + std::to_string(lo) + ", " + std::to_string(hi) + "): only Clip(0, 6) (ReLU6) and "
                       "Clip(0, inf) (ReLU) have graph ops");
        Entry e = append(std::move(u), {x.value}, dims(x), x.layout, w);
        e.chw = x.chw;
        e.nonneg = true;
        set_output(n, e);
    }

    void hard_sigmoid(const onnx::NodeProto& n, const std::string& w) {
        const Entry& x = input_act(n, 0, w);
        if (std::abs(attr_f(n, "alpha", 0.2f) - 1.0f / 6.0f) > 1e-6f || std::abs(attr_f(n, "beta", 0.5f) - 0.5f) > 1e-6f)
            refuse(w, "only HardSigmoid(alpha = 1/6, beta = 0.5) times its input (HardSwish) is read");
        Entry e = x;
        e.kind = Kind::hard_sigmoid;
        e.producer = -1;
        set_output(n, e);
        hs_source_[n.output(0)] = n.input(0);
    }

    void mul(const onnx::NodeProto& n, const std::string& w) {
        if (n.input_size() == 2) {
            for (int k = 0; k < 2; ++k) {
                auto it = hs_source_.find(n.input(k));
                if (it != hs_source_.end() && it->second == n.input(1 - k)) {
                    const Entry& x = input_act(n, 1 - k, w);
                    compile::Node u;
                    u.op = compile::Op::hard_swish;
                    Entry e = append(std::move(u), {x.value}, dims(x), x.layout, w);
                    e.chw = x.chw;
                    return set_output(n, e);
                }
            }
        }
        if (n.input_size() == 2 && is_const(n.input(0)) != is_const(n.input(1))) {
            const int k = is_const(n.input(0)) ? 0 : 1;
            return per_channel_affine(n, input_act(n, 1 - k, w), find_const(n.input(k)), nullptr, w);
        }
        if (by_unit(n, w)) return; // two tensors, when a unit reads Mul
        refuse(w, "operator Mul has no counterpart in the graph (only a constant per channel, or "
                  "HardSigmoid(x) * x, read as HardSwish); supported: " + supported_ops());
    }

    /// x * scale + shift with one constant per channel (either may be absent): a batch norm
    /// with mean 0, variance 1 and epsilon 0, which canonicalize folds into a conv or dense
    /// before it and which otherwise runs as a per-channel affine map.
    void per_channel_affine(const onnx::NodeProto& n, const Entry& x, const OnnxConst* scale,
                            const OnnxConst* shift, const std::string& w) {
        if (x.layout == Layout::nhwc) spatial_act(x, w);
        const bool spatial = x.layout == Layout::nchw;
        const std::size_t ch = spatial ? dims(x)[2] : compile::volume(dims(x));
        const auto order = chw_order(x.chw, ch);
        const auto k = scale ? broadcast_bias(*scale, ch, spatial, w) : std::vector<float>(ch, 1.0f);
        const auto b = shift ? broadcast_bias(*shift, ch, spatial, w) : std::vector<float>(ch, 0.0f);
        compile::Node a;
        a.op = compile::Op::batch_norm;
        a.alpha = 0.0f;
        a.extra.resize(4 * ch, 0.0f);
        for (std::size_t i = 0; i < ch; ++i) {
            a.extra[i] = k[order[i]];
            a.extra[ch + i] = b[order[i]];
            a.extra[3 * ch + i] = 1.0f;
        }
        Entry e = append(std::move(a), {x.value}, dims(x), x.layout, w);
        e.chw = x.chw;
        set_output(n, e);
    }

    /// Concat along the channels (axis 1 of N x C x H x W or of N x features, the last axis
    /// of an NHWC-transposed tensor), as a chain of two-input concats.
    void concat(const onnx::NodeProto& n, const std::string& w) {
        if (n.input_size() < 1) refuse(w, "has no input");
        Entry acc = input_act(n, 0, w);
        const auto rank = static_cast<std::int64_t>(acc.layout == Layout::nchw ? 4 : dims(acc).size() + 1);
        const auto* axis_attr = find_attr(n, "axis");
        if (!axis_attr) refuse(w, "has no axis");
        const std::int64_t axis = axis_attr->i() < 0 ? axis_attr->i() + rank : axis_attr->i();
        const std::int64_t channels = acc.layout == Layout::nchw ? 1 : rank - 1;
        if (axis != channels)
            refuse(w, "axis " + std::to_string(axis_attr->i()) + ": only a concat along the channels (axis " +
                          std::to_string(channels) + " here) is read");
        for (int k = 1; k < n.input_size(); ++k) {
            const Entry b = input_act(n, k, w);
            const compile::Dims& da = dims(acc);
            const compile::Dims& db = dims(b);
            if (b.layout != acc.layout || !b.chw.empty() || !acc.chw.empty() || da.size() != db.size() ||
                !std::equal(da.begin(), da.end() - 1, db.begin()))
                refuse(w, "joins tensors whose shapes or layouts differ outside the channel axis (" +
                              compile::to_string(da) + " and " + compile::to_string(db) + ")");
            compile::Dims out = da;
            out.back() += db.back();
            compile::Node c;
            c.op = compile::Op::concat;
            Entry e = append(std::move(c), {acc.value, b.value}, std::move(out), acc.layout, w);
            e.nonneg = acc.nonneg && b.nonneg;
            acc = e;
        }
        set_output(n, acc);
    }

    void softmax(const onnx::NodeProto& n, const std::string& w) {
        const Entry& x = input_act(n, 0, w);
        const auto axis = attr_i(n, "axis", opset_ < 13 ? 1 : -1);
        const auto& d = dims(x);
        bool ok = false;
        if (x.layout == Layout::flat) ok = axis == 1 || axis == -1;
        else if (x.layout == Layout::nchw)
            ok = (opset_ >= 13 && axis == 1) || (d[0] == 1 && d[1] == 1 && (axis == 1 || axis == -3));
        if (!ok) refuse(w, "axis " + std::to_string(axis) + ": only a softmax over the features (flat) or the channels "
                           "(N x C x H x W, axis 1) is read");
        compile::Node s;
        s.op = compile::Op::softmax;
        Entry e = append(std::move(s), {x.value}, d, x.layout, w);
        e.chw = x.chw;
        set_output(n, e);
    }

    void pool(const onnx::NodeProto& n, const std::string& w) {
        only_first_output(n, w);
        const bool max = n.op_type() == "MaxPool";
        if (n.input_size() < 1) refuse(w, "has no input");
        auto it = entries_.find(n.input(0));
        std::array<std::size_t, 4> extra{0, 0, 0, 0};
        bool padded = false;
        const Entry* xp = nullptr;
        if (it != entries_.end() && it->second.kind == Kind::padded) {
            extra = it->second.pads;
            padded = true;
            xp = &it->second;
        } else {
            xp = &input_act(n, 0, w);
        }
        const Entry& x = *xp;
        spatial_act(x, w);
        if (max && attr_i(n, "storage_order", 0) != 0) refuse(w, "storage_order = 1 is not read");
        const auto& in = dims(x);
        const std::size_t C = in[2];
        if (max && padded && !x.nonneg)
            refuse(w, "a MaxPool after a zero Pad lets the padding win over negative values, which the graph's "
                      "max pool (padding never wins) cannot express; the input is not known to be >= 0");
        const Window own = window(n, w, in[0], in[1], {-1, -1}, true, {0, 0, 0, 0}, false);
        const Window win = window(n, w, in[0], in[1], {-1, -1}, true, extra);
        const bool own_pads = own.pad != std::array<std::size_t, 4>{0, 0, 0, 0};
        const bool include = !max && attr_i(n, "count_include_pad", 0) != 0;
        compile::Node p;
        p.kernel = win.kernel;
        p.stride = win.stride;
        p.pad = win.pad;
        Entry e;
        if (max || (!padded && (!include || !own_pads))) {
            p.op = max ? compile::Op::max_pool2d : compile::Op::avg_pool2d;
            e = append(std::move(p), {x.value}, {win.out[0], win.out[1], C}, Layout::nchw, w);
            e.nonneg = x.nonneg;
        } else {
            // The padding counts (count_include_pad = 1, or a Pad before the pool): an average
            // over the whole window with zeros for padding is a depthwise convolution with
            // weights 1 / (kh * kw). Padding the pool itself does not count cannot mix with it.
            if (own_pads && !include)
                refuse(w, "an AveragePool that does not count its own padding after a Pad whose padding counts "
                          "has no graph form");
            const std::size_t taps = win.kernel[0] * win.kernel[1];
            if (taps * C > (std::size_t{1} << 26)) refuse(w, "window x channels is too large");
            p.op = compile::Op::depthwise_conv2d;
            p.weights.assign(taps * C, 1.0f / static_cast<float>(taps));
            e = append(std::move(p), {x.value}, {win.out[0], win.out[1], C}, Layout::nchw, w);
        }
        set_output(n, e);
    }

    // --- QDQ int8 ---------------------------------------------------------------------------
    /// Scale and zero point of a QuantizeLinear/DequantizeLinear, per tensor; a uint8 zero
    /// point z becomes the int8 z - 128 (the same real grid).
    compile::QuantParams qdq_params(const onnx::NodeProto& n, const std::string& w) const {
        const auto& sc = constant(n, 1, w, "scale");
        if (sc.data.size() != 1) refuse(w, "a computed tensor must be quantized per tensor (one scale)");
        compile::QuantParams q;
        q.scale = {static_cast<float>(sc.data[0])};
        std::int32_t zp = 0;
        if (n.input_size() > 2 && !n.input(2).empty()) {
            const auto& z = constant(n, 2, w, "zero point");
            if (z.data.size() != 1) refuse(w, "one zero point expected");
            const int init = zero_point_type(n.input(2));
            const bool u8 = init == onnx::TensorProto::UINT8;
            if (init != onnx::TensorProto::INT8 && !u8)
                refuse(w, "only int8 and uint8 activations are read");
            zp = static_cast<std::int32_t>(z.data[0]) - (u8 ? 128 : 0);
        } else {
            zp = -128; // no zero point: uint8 with zero point 0
        }
        q.zero_point = {zp};
        if (!(q.scale[0] > 0.0f) || !std::isfinite(q.scale[0])) refuse(w, "scale must be finite and > 0");
        return q;
    }
    int zero_point_type(const std::string& name) const {
        for (const auto& t : m_.graph().initializer())
            if (t.name() == name) return t.data_type();
        for (const auto& n : m_.graph().node())
            if (n.op_type() == "Constant" && n.output_size() > 0 && n.output(0) == name)
                if (const auto* a = find_attr(n, "value")) return a->t().data_type();
        return -1;
    }
    void quantize(const onnx::NodeProto& n, const std::string& w) {
        const Entry& x = input_act(n, 0, w);
        if (attr_i(n, "saturate", 1) != 1) refuse(w, "saturate = 0 is not read");
        Entry e = x;
        e.kind = Kind::quantized;
        e.quant = qdq_params(n, w);
        set_output(n, e);
    }
    void dequantize(const onnx::NodeProto& n, const std::string& w) {
        auto it = entries_.find(n.input_size() > 0 ? n.input(0) : std::string());
        if (it == entries_.end() || it->second.kind != Kind::quantized)
            refuse(w, "dequantizes a tensor that no QuantizeLinear produced");
        Entry e = it->second;
        const auto q = qdq_params(n, w);
        if (q.scale != e.quant.scale || q.zero_point != e.quant.zero_point)
            refuse(w, "scale or zero point differ from the QuantizeLinear's");
        if (g_.value_quant.empty()) g_.value_quant.resize(g_.values.size());
        auto& vq = g_.value_quant[static_cast<std::size_t>(e.value)];
        if (!vq.empty() && (vq.scale != q.scale || vq.zero_point != q.zero_point))
            refuse(w, "the tensor is quantized twice with different parameters");
        vq = q;
        e.kind = Kind::activation;
        set_output(n, e);
    }
    /// A node whose weight came from int8 codes gets them back (weights were dequantized
    /// exactly, so dividing by the scale recovers the code).
    void int8_weights(compile::Node& node, const std::string& weight, std::size_t channels,
                      std::int64_t out_axis, const std::string& w) {
        auto it = wquant_.find(weight);
        if (it == wquant_.end()) return;
        const auto& q = it->second;
        if (q.scale.size() != 1 && (q.scale.size() != channels || q.axis != out_axis))
            refuse(w, "int8 weight scales must be one, or one per output channel along its axis");
        const bool dw = node.op == compile::Op::depthwise_conv2d;
        const std::size_t per = node.weights.size() / channels;
        node.qweights.resize(node.weights.size());
        for (std::size_t i = 0; i < node.weights.size(); ++i) {
            const std::size_t c = q.scale.size() == 1 ? 0 : (dw ? i % channels : i / per);
            const float code = std::round(node.weights[i] / q.scale[c]);
            node.qweights[i] = static_cast<std::int8_t>(std::clamp(code, -127.0f, 127.0f));
        }
        node.weight_quant.scale = q.scale;
        node.weight_quant.zero_point.assign(q.scale.size(), 0);
        node.weight_quant.axis = q.scale.size() == 1 ? -1 : 0;
    }
    /// After the last node: relu/relu6 fused as the int8 contract wants, every value
    /// quantized, int32 biases at scale s_in * s_w[c], avg-pool-as-depthwise nodes refused.
    void finish_int8() {
        g_.value_quant.resize(g_.values.size());
        compile::canonicalize(g_);
        for (std::size_t v = 0; v < g_.values.size(); ++v)
            if (g_.value_quant[v].empty())
                throw format_error(file_ + ": QDQ model: value " + std::to_string(v) + " (" +
                                   compile::to_string(g_.values[v]) +
                                   ") has no QuantizeLinear/DequantizeLinear pair; an int8 graph quantizes every tensor");
        for (auto& node : g_.nodes) {
            const bool weighted = node.op == compile::Op::dense || node.op == compile::Op::conv2d ||
                                  node.op == compile::Op::depthwise_conv2d;
            if (!weighted) continue;
            if (node.qweights.empty())
                throw format_error(file_ + ": QDQ model: node '" + node.name + "' (" +
                                   std::string(compile::op_name(node.op)) + ") has float weights; an int8 graph needs "
                                   "symmetric int8 weights behind a DequantizeLinear");
            if (node.bias.empty()) continue;
            const float s_in = g_.value_quant[static_cast<std::size_t>(node.inputs[0])].scale[0];
            node.qbias.resize(node.bias.size());
            for (std::size_t c = 0; c < node.bias.size(); ++c) {
                const double s = static_cast<double>(s_in) *
                                 node.weight_quant.scale[node.weight_quant.scale.size() == 1 ? 0 : c];
                const double code = std::round(static_cast<double>(node.bias[c]) / s);
                if (!(std::abs(code) <= 2147483647.0))
                    throw format_error(file_ + ": QDQ model: node '" + node.name + "': bias out of int32 range");
                node.qbias[c] = static_cast<std::int32_t>(code);
            }
        }
    }

    Entry flatten(const Entry& x, const std::string& w, const std::string& name) {
        if (x.layout == Layout::flat) return x;
        const auto d = dims(x);
        // A global average pool read only by this flatten gives the C values itself (so a
        // QDQ model needs no parameters for the 1 x 1 x C value in between).
        if (x.producer >= 0 && uses_[name] == 1 &&
            g_.nodes[static_cast<std::size_t>(x.producer)].op == compile::Op::global_avg_pool &&
            g_.nodes[static_cast<std::size_t>(x.producer)].output == x.value) {
            g_.values[static_cast<std::size_t>(x.value)] = {d.back()};
            Entry e = x;
            e.layout = Layout::flat;
            return e;
        }
        compile::Node f;
        f.op = compile::Op::flatten;
        Entry e = append(std::move(f), {x.value}, {compile::volume(d)}, Layout::flat, w);
        if (x.layout == Layout::nchw && d[2] != 1 && d[0] * d[1] != 1) e.chw = d;
        if (x.layout == Layout::nct && d[0] != 1 && d[1] != 1) e.chw = {1, d[0], d[1]}; // ONNX order (c, t)
        return e;
    }

    void reshape(const onnx::NodeProto& n, const std::string& w) {
        const Entry& x = input_act(n, 0, w);
        const auto& s = constant(n, 1, w, "shape");
        if (attr_i(n, "allowzero", 0) != 0) refuse(w, "allowzero = 1 is not read");
        const auto cur = onnx_shape(x);
        std::vector<double> want = s.data;
        const std::size_t per_sample = compile::volume(dims(x));
        if (want.empty()) refuse(w, "reshape to a scalar");
        // The batch: copied (0), the batch marker, the file's fixed batch size, or -1 when the
        // other dimensions are fixed.
        const double b = want[0];
        const bool batch_ok = b == 0.0 || b == batch_dim || (static_batch_ > 0 && b == static_cast<double>(static_batch_)) ||
                              b == -1.0;
        double known = 1;
        int infer = 0;
        for (std::size_t k = 1; k < want.size(); ++k) {
            if (want[k] == -1.0) ++infer;
            else if (want[k] == 0.0 && k < cur.size()) want[k] = cur[k];
            else if (want[k] <= 0.0) refuse(w, "shape entry " + std::to_string(want[k]) + " is not read");
            if (want[k] > 0) known *= want[k];
        }
        if (!batch_ok || infer > 1 || (b == -1.0 && infer != 0))
            refuse(w, "only reshapes that keep the batch first are read");
        if (infer == 0 && known != static_cast<double>(per_sample))
            refuse(w, "the target shape holds " + std::to_string(known) + " elements per sample, the input " +
                          std::to_string(per_sample));
        bool same = want.size() == cur.size();
        for (std::size_t k = 1; same && k < want.size(); ++k) same = want[k] == cur[k] || (want[k] == -1.0 && infer == 1);
        if (same) return set_output(n, x);
        if (want.size() != 2) refuse(w, "only a reshape to N x features (or to the same shape) is read");
        set_output(n, flatten(x, w, n.input(0)));
    }

    void pad(const onnx::NodeProto& n, const std::string& w) {
        auto it = entries_.find(n.input_size() > 0 ? n.input(0) : std::string());
        Entry x;
        if (it != entries_.end() && it->second.kind == Kind::padded) x = it->second;
        else { x = input_act(n, 0, w); x.kind = Kind::padded; }
        if (x.layout != Layout::nchw) refuse(w, "needs an N x C x H x W input");
        const std::string mode = find_attr(n, "mode") ? find_attr(n, "mode")->s() : "constant";
        if (mode != "constant") refuse(w, "mode '" + mode + "': only constant (zero) padding is read");
        std::vector<std::int64_t> p;
        double value = 0;
        if (opset_ < 11) {
            p = attr_ints(n, "pads", {});
            value = attr_f(n, "value", 0.0f);
        } else {
            p = int_list(constant(n, 1, w, "pads"), w);
            if (n.input_size() > 2 && !n.input(2).empty()) {
                const auto& v = constant(n, 2, w, "constant_value");
                if (v.data.size() != 1) refuse(w, "constant_value is not a scalar");
                value = v.data[0];
            }
            if (n.input_size() > 3 && !n.input(3).empty()) refuse(w, "the axes input is not read");
        }
        if (value != 0.0) refuse(w, "padding value " + std::to_string(value) + ": only 0 is read");
        if (p.size() != 8) refuse(w, std::to_string(p.size()) + " pads for a 4-D tensor (8 expected)");
        if (p[0] != 0 || p[1] != 0 || p[4] != 0 || p[5] != 0) refuse(w, "pads the batch or the channels");
        const std::int64_t ours[4] = {p[2], p[3], p[6], p[7]};
        for (int k = 0; k < 4; ++k) {
            if (ours[k] < 0 || ours[k] > 1024) refuse(w, "pad " + std::to_string(ours[k]) + " is out of range (0 to 1024)");
            x.pads[static_cast<std::size_t>(k)] += to_size(ours[k]);
        }
        x.kind = x.pads == std::array<std::size_t, 4>{0, 0, 0, 0} ? Kind::activation : Kind::padded;
        set_output(n, x);
    }

    void transpose(const onnx::NodeProto& n, const std::string& w) {
        const Entry& x = input_act(n, 0, w);
        const auto perm = attr_ints(n, "perm", {});
        Entry e = x;
        if (x.layout == Layout::nchw && perm == std::vector<std::int64_t>{0, 2, 3, 1}) e.layout = Layout::nhwc;
        else if (x.layout == Layout::nhwc && perm == std::vector<std::int64_t>{0, 3, 1, 2}) e.layout = Layout::nchw;
        else refuse(w, "only NCHW <-> NHWC transposes of a 4-D tensor are read");
        // NHWC data is in our order already: a later Flatten keeps (h, w, c).
        set_output(n, e);
    }

    // --- 1-D: N x C x T tensors (PyTorch's Conv1d, MaxPool1d, AvgPool1d) -----------------
    // A T x C value that ONNX holds as N x C x T has layout nct. Its 1-D Conv, MaxPool and
    // AveragePool nodes are read as their 2-D form over the 1 x T x C map the graph runs it
    // as (io/detail/onnx_1d.hpp); pooling over time is a global_avg_pool.

    /// The rank-3 graph input N x A x B: N x C x T (nct) when 1-D windows read it, N x T x C
    /// (a flat T x C sequence) when Transposes (0, 2, 1) do; false when neither.
    bool sequence_input(const onnx::ValueInfoProto& in, const std::vector<std::size_t>& d, Entry& e) {
        bool window = false, transposed = false, other = false;
        std::vector<std::string> names{in.name()}; // the input, and its Q/DQ outputs
        for (std::size_t k = 0; k < names.size() && k < 3; ++k)
            for (const auto& n : m_.graph().node())
                for (const auto& i : n.input())
                    if (i == names[k] && n.output_size() > 0) {
                        const std::string& t = n.op_type();
                        if ((t == "QuantizeLinear" && k == 0) || (t == "DequantizeLinear" && k == 1))
                            names.push_back(n.output(0));
                        else if ((t == "Conv" || t == "MaxPool" || t == "AveragePool") && i == n.input(0))
                            window = true;
                        else if (t == "Transpose" && attr_ints(n, "perm", {}) == std::vector<std::int64_t>{0, 2, 1})
                            transposed = true;
                        else
                            other = true;
                    }
        if (other || window == transposed) return false;
        g_ = compile::Graph::with_input(window ? compile::Dims{d[1], d[0]} : compile::Dims{d[0], d[1]});
        e.layout = window ? Layout::nct : Layout::flat;
        return true;
    }

    /// The nodes of the 1-D case (true when `n` was one): a Conv with a rank-3 weight or a
    /// MaxPool, AveragePool, GlobalAveragePool, ReduceMean (over time), Squeeze (of a
    /// single step) or Transpose (0, 2, 1) of an N x C x T tensor; ReduceMean over the steps
    /// and Transpose (0, 2, 1) of a T x C sequence; what cannot be read of an N x C x T
    /// tensor is refused here by name.
    bool one_d(const onnx::NodeProto& n, const std::string& w) {
        const std::string& t = n.op_type();
        const auto it = n.input_size() > 0 ? entries_.find(n.input(0)) : entries_.end();
        const bool nct = it != entries_.end() && it->second.layout == Layout::nct;
        const bool seq = it != entries_.end() && it->second.layout == Layout::flat &&
                         it->second.kind == Kind::activation && dims(it->second).size() == 2;
        if (t == "Conv") {
            const OnnxConst* wt = n.input_size() > 1 ? find_const(n.input(1)) : nullptr;
            const bool rank3 = wt != nullptr && wt->dims.size() == 3;
            if (!nct && !rank3) return false;
            if (!nct) {
                input_act(n, 0, w);
                refuse(w, "weight has rank 3 (a 1-D Conv), which needs an N x C x T input");
            }
            if (!rank3)
                refuse(w, "weight has rank " + std::to_string(wt ? wt->dims.size() : 0) +
                              "; a Conv of an N x C x T input needs a rank-3 weight (out x in x k)");
            window_2d(n, w, true);
            return true;
        }
        if (t == "Pad" && nct) {
            pad_2d(n, w);
            return true;
        }
        if (t == "MaxPool" || t == "AveragePool") {
            if (!nct) return false;
            if (!is_1d_window(n)) refuse(w, "a pool of an N x C x T input needs a kernel_shape of one size");
            window_2d(n, w, false);
            return true;
        }
        if (t == "GlobalAveragePool" && nct) {
            const Entry& x = input_act(n, 0, w);
            set_output(n, global_pool(x, {1, dims(x)[1]}, Layout::nct, w));
            return true;
        }
        if (t == "ReduceMean" && (nct || seq)) {
            only_first_output(n, w);
            const Entry& x = input_act(n, 0, w);
            std::vector<std::int64_t> axes = attr_ints(n, "axes", {});
            if (n.input_size() > 1 && !n.input(1).empty()) axes = int_list(constant(n, 1, w, "axes"), w);
            const std::int64_t time = nct ? 2 : 1; // N x C x T or N x T x C
            if (axes.size() != 1 || (axes[0] != time && axes[0] != time - 3))
                refuse(w, "only a mean over the time axis (" + std::to_string(time) + ") of an " +
                              (nct ? "N x C x T" : "N x T x C") + " tensor is read");
            const std::size_t c = dims(x)[1];
            if (attr_i(n, "keepdims", 1) == 0) set_output(n, global_pool(x, {c}, Layout::flat, w));
            else set_output(n, global_pool(x, {1, c}, nct ? Layout::nct : Layout::flat, w));
            return true;
        }
        if (t == "Squeeze" && nct) {
            only_first_output(n, w);
            const Entry& x = input_act(n, 0, w);
            std::vector<std::int64_t> axes = attr_ints(n, "axes", {});
            if (n.input_size() > 1 && !n.input(1).empty()) axes = int_list(constant(n, 1, w, "axes"), w);
            const bool time = axes.empty() || (axes.size() == 1 && (axes[0] == 2 || axes[0] == -1));
            if (!time || dims(x)[0] != 1 || dims(x)[1] == 1)
                refuse(w, "only a Squeeze of the single time step of an N x C x 1 tensor is read");
            set_output(n, flatten(x, w, n.input(0)));
            return true;
        }
        if (t == "Transpose" && (nct || seq)) {
            Entry e = input_act(n, 0, w);
            if (attr_ints(n, "perm", {}) != std::vector<std::int64_t>{0, 2, 1})
                refuse(w, "only the transpose (0, 2, 1) between N x C x T and N x T x C is read of a rank-3 tensor");
            e.layout = nct ? Layout::flat : Layout::nct; // the same T x C value either way
            set_output(n, e);
            return true;
        }
        if (nct && (t == "Concat" || ((t == "Add" || t == "Mul") && n.input_size() == 2 &&
                                      (is_const(n.input(0)) || is_const(n.input(1))))))
            refuse(w, "operator " + t + " of an N x C x T tensor with " +
                          (t == "Concat" ? std::string("a concatenation axis") : std::string("a constant")) +
                          " is not read (1-D Conv, MaxPool, AveragePool, GlobalAveragePool, ReduceMean over time, "
                          "element-wise operators, Transpose, Flatten are)");
        return false;
    }

    /// A global_avg_pool of x with output `out` in `layout`.
    Entry global_pool(const Entry& x, compile::Dims out, Layout layout, const std::string& w) {
        compile::Node g;
        g.op = compile::Op::global_avg_pool;
        return append(std::move(g), {x.value}, std::move(out), layout, w);
    }

    /// A 1-D Conv (`conv`) or pool of an N x C x T tensor, read by the 2-D reader as its 2-D
    /// form over the 1 x T x C map; the output is T' x C' again.
    void window_2d(const onnx::NodeProto& n, const std::string& w, bool conv_node) {
        const auto it = entries_.find(n.input(0));
        const Entry x = it != entries_.end() && it->second.kind == Kind::padded ? it->second : input_act(n, 0, w);
        std::string weight;
        if (conv_node) { // [O][I][k] is [O][I][1][k]: the same data
            const OnnxConst& wt = constant(n, 1, w, "weight");
            weight = n.input(1) + "/as_2d";
            OnnxConst w4 = wt;
            w4.dims.insert(w4.dims.begin() + 2, 1);
            consts_[weight] = std::move(w4);
            if (auto q = wquant_.find(n.input(1)); q != wquant_.end()) wquant_[weight] = q->second;
        }
        const onnx::NodeProto n2 = window_as_2d(n, weight);
        // The 2-D reader sees the input as a 1 x T x C map in NCHW; both are put back after.
        auto& in = g_.values[static_cast<std::size_t>(x.value)];
        const compile::Dims seq = in;
        in = {1, seq[0], seq[1]};
        Entry map = x;
        map.layout = Layout::nchw;
        entries_[n.input(0)] = map;
        if (conv_node) conv(n2, w);
        else pool(n2, w);
        g_.values[static_cast<std::size_t>(x.value)] = seq;
        entries_[n.input(0)] = x;
        Entry& out = entries_.at(n.output(0));
        auto& od = g_.values[static_cast<std::size_t>(out.value)];
        od = {od[1], od[2]};
        out.layout = Layout::nct;
    }

    /// A Pad of an N x C x T tensor, read by the 2-D reader as the Pad of N x C x 1 x T: its
    /// padding goes to the 1-D Conv or pool after it.
    void pad_2d(const onnx::NodeProto& n, const std::string& w) {
        onnx::NodeProto n2 = n;
        auto widen = [&](std::vector<std::int64_t> p) { // [n, c, t] begins then ends
            if (p.size() != 6) refuse(w, std::to_string(p.size()) + " pads for an N x C x T tensor (6 expected)");
            return std::vector<std::int64_t>{p[0], p[1], 0, p[2], p[3], p[4], 0, p[5]};
        };
        if (opset_ < 11) {
            const auto p = widen(attr_ints(n, "pads", {}));
            for (auto& a : *n2.mutable_attribute())
                if (a.name() == "pads") {
                    a.clear_ints();
                    for (auto v : p) a.add_ints(v);
                }
        } else {
            const auto p = widen(int_list(constant(n, 1, w, "pads"), w));
            OnnxConst c;
            c.dims = {8};
            c.data.assign(p.begin(), p.end());
            consts_[n.input(1) + "/as_2d"] = std::move(c);
            n2.set_input(1, n.input(1) + "/as_2d");
        }
        Entry& x = entries_.at(n.input(0));
        x.layout = Layout::nchw;
        pad(n2, w);
        entries_.at(n.input(0)).layout = Layout::nct;
        entries_.at(n.output(0)).layout = Layout::nct;
    }

    const onnx::ModelProto& m_;
    std::string file_;
    std::int64_t opset_ = 0;
    std::int64_t static_batch_ = -1;
    compile::Graph g_;
    std::map<std::string, OnnxConst> consts_;
    std::map<std::string, Entry> entries_;
    std::map<std::string, std::string> hs_source_;
    std::map<std::string, WeightQuant> wquant_;
    std::map<std::string, int> uses_;
    std::map<compile::Op, std::size_t> names_;
    std::size_t budget_ = std::size_t{1} << 24, used_ = 0;
};

} // namespace detail

/// The graph of an ONNX model held in `bytes` (`name` is used in messages). Throws
/// format_error naming the node for anything the graph cannot express.
inline compile::Graph import_onnx_graph_bytes(std::span<const std::byte> bytes, const std::string& name) {
    const onnx::ModelProto m = detail::parse_onnx(bytes, name);
    if (detail::onnx_is_attention_model(m)) return detail::OnnxAttentionImporter(m, name).run(); // transformers
    return detail::OnnxGraphImporter(m, name).run();
}

/// The graph of the ONNX file at `path`.
inline compile::Graph import_onnx_graph(const std::string& path) {
    const std::string bytes = detail::read_onnx_file(path);
    return import_onnx_graph_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), path);
}

} // namespace edgestack::io
