// ONNX import (stage 3, compile): load the weights of a model trained elsewhere (PyTorch,
// our own exporter, ...) into a matching static nn::Sequential type. The ONNX file's chain
// of operators must match the layers the type lowers to, node for node; the first node that
// differs is named in the error. Link edgestack::onnx.
//
// Read: Conv (group 1 or depthwise; 2-D, or 1-D over N x C x T), Gemm, MatMul (+ Add of a bias), BatchNormalization,
// Relu, Clip(0, 6), LeakyRelu, Sigmoid, Tanh, HardSwish, Softmax, MaxPool, AveragePool
// (counting its padding or not: AvgPool2D's CountPad / ExcludePad; 1-D ones too),
// GlobalAveragePool, ReduceMean over time, Flatten/Reshape/Squeeze, Add; a zero Pad is absorbed by the Conv or AveragePool after it.
// Skipped: Identity, Dropout, Transpose (tracked for layout), QuantizeLinear/
// DequantizeLinear on activations, and shape arithmetic (Shape, Constant and every node
// that reads no activation, as PyTorch writes x.view(x.size(0), -1)); DequantizeLinear of
// an initializer is folded into float weights (a QDQ file imports as fp32).
//
// Layout: ONNX convolution weights are OIHW, ours OHWI; a Flatten of an NCHW tensor orders
// features (c, h, w), ours (h, w, c): the Gemm after it has its columns permuted, unless
// the file transposed to NHWC before flattening (as our exporter does).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/io/detail/onnx_1d.hpp"
#include "edgestack/io/detail/onnx_model.hpp"
#include "edgestack/io/detail/onnx_recurrent.hpp"
#include "edgestack/io/detail/param_markers.hpp"

namespace edgestack::io {

namespace detail {

/// One operator of the file that corresponds to one node of our graph.
struct OnnxStep {
    compile::Op op{};
    int index = 0;            // position in the file's node list
    const onnx::NodeProto* node = nullptr;
    FloatTensor weight, bias; // in ONNX layout
    std::vector<FloatTensor> extra;
    bool flatten_chw = false; // a Flatten of an NCHW tensor (feature order c, h, w)
    // Conv and AveragePool: the zero padding (top, left, bottom, right) of a Pad node
    // before it, added to its own pads; `counts_pad`: an AveragePool whose padding cells
    // count in the mean (count_include_pad = 1, or the cells a Pad added).
    std::array<std::size_t, 4> pad_before{0, 0, 0, 0};
    bool counts_pad = false;
    // GRU / LSTM (weight and bias already in our layout, detail/onnx_recurrent.hpp): the
    // directions, units per direction, and whether Y (every step) is read rather than Y_h.
    std::size_t directions = 1, units = 0;
    bool every_step = false;
    // A 1-D Conv or pool (over N x C x T): its 2-D form over N x C x 1 x T, which `node`
    // then points at (io/detail/onnx_1d.hpp); a Flatten of an N x C x T tensor (feature
    // order c, t).
    std::shared_ptr<const onnx::NodeProto> as_2d;
    bool flatten_ct = false;
};

class OnnxReader {
public:
    OnnxReader(const onnx::ModelProto& m, std::string file) : m_(m), file_(std::move(file)) {
        for (const auto& t : m.graph().initializer()) {
            const auto where = file_ + ": initializer '" + t.name() + "'";
            FloatTensor f;
            f.dims.assign(t.dims().begin(), t.dims().end());
            const auto v = tensor_values(t, where);
            f.data.assign(v.begin(), v.end());
            init_[t.name()] = std::move(f);
        }
    }

    std::vector<OnnxStep> steps() {
        std::vector<OnnxStep> out;
        bool nchw = true;     // the current activation's layout, when spatial
        bool nct = false;     // the current activation is N x C x T (after a 1-D Conv or pool)
        int index = -1;
        // Activations: the graph inputs, then every output of a node that reads one. A node
        // that reads none (Shape arithmetic feeding a Reshape, Constant) is no step.
        std::set<std::string> act;
        for (const auto& in : m_.graph().input())
            if (!init_.count(in.name())) act.insert(in.name());
        std::map<std::string, std::array<std::size_t, 4>> pads; // Pad outputs -> their padding
        OnnxRecurrentChain rnn(m_, [this](const std::string& k) -> std::optional<FloatTensor> {
            auto it = init_.find(resolve(k));
            if (it == init_.end()) return std::nullopt;
            return it->second;
        });
        const auto& nodes = m_.graph().node();
        for (int i = 0; i < nodes.size(); ++i) {
            const auto& n = nodes[i];
            ++index;
            const std::string& t = n.op_type();
            const std::string where = file_ + ": " + describe(n, i);
            if (!n.domain().empty() && n.domain() != "ai.onnx")
                throw format_error(where + ": operator domain '" + n.domain() + "' is not read");
            if (t == "Constant") {
                read_constant(n, where);
                continue;
            }
            bool reads_act = false;
            for (const auto& in : n.input()) reads_act = reads_act || act.count(in) != 0;
            if (t == "DequantizeLinear" && !reads_act) {
                if (n.input_size() >= 2 && init_.count(n.input(0)) && n.output_size() == 1) {
                    fold_dequantize(n, where);
                }
                continue;
            }
            if (!reads_act || t == "Shape") continue; // shape arithmetic
            for (const auto& o : n.output()) act.insert(o);
            if (rnn.skip(n, where)) continue; // the layout operators around a GRU / LSTM
            if (t == "QuantizeLinear" || t == "DequantizeLinear" || t == "Identity" || t == "Dropout" ||
                t == "Cast")
                continue;
            if (t == "Transpose") {
                const auto perm = attr_ints(n, "perm", {});
                if (perm == std::vector<std::int64_t>{0, 3, 1, 2}) nchw = true;
                else if (perm == std::vector<std::int64_t>{0, 2, 3, 1}) nchw = false;
                else if (perm == std::vector<std::int64_t>{0, 2, 1}) nct = !nct; // N x C x T <-> N x T x C
                else throw format_error(where + ": only NHWC <-> NCHW and N x C x T <-> N x T x C transposes are read");
                continue;
            }
            if (t == "Pad") {
                if (n.output_size() != 1) throw format_error(where + ": only one output is read");
                pads[n.output(0)] = read_pad(n, where, nchw);
                continue;
            }
            for (const auto& in : n.input())
                if (pads.count(in) && !(in == n.input(0) && (t == "Conv" || t == "AveragePool")))
                    throw format_error(where + ": reads the output of a Pad, which only a Conv or an AveragePool "
                                       "can absorb");
            OnnxStep s;
            s.index = i;
            s.node = &n;
            if (n.input_size() > 0 && pads.count(n.input(0))) s.pad_before = pads[n.input(0)];
            // A 1-D window is read as its 2-D form over the 1 x T map.
            auto one_d = [&] {
                s.as_2d = std::make_shared<const onnx::NodeProto>(window_as_2d(n));
                s.node = s.as_2d.get();
                nct = true;
            };
            if ((t == "MaxPool" || t == "AveragePool") && is_1d_window(n)) one_d();
            if (t == "Conv") {
                s.op = compile::Op::conv2d;
                s.weight = init(n, 1, where, "weight");
                if (n.input_size() > 2 && !n.input(2).empty()) s.bias = init(n, 2, where, "bias");
                if (is_1d_window(n, s.weight.dims.size()) && s.weight.dims.size() != 3)
                    throw format_error(where + ": weight has rank " + std::to_string(s.weight.dims.size()) +
                                       "; a 1-D Conv (kernel_shape of one size) needs rank 3 (O x I x k)");
                if (s.weight.dims.size() == 3 && is_1d_window(n, 3)) { // [O][I][k] is [O][I][1][k]
                    s.weight.dims.insert(s.weight.dims.begin() + 2, 1);
                    one_d();
                }
                if (s.weight.dims.size() != 4)
                    throw format_error(where + ": weight has rank " + std::to_string(s.weight.dims.size()) +
                                       "; 4 (2-D, O x I x kh x kw) or 3 (1-D, O x I x k) is read");
                const auto group = attr_i(n, "group", 1);
                if (group != 1) {
                    if (s.weight.dims[1] != 1 || group != s.weight.dims[0])
                        throw format_error(where + ": group " + std::to_string(group) +
                                           " is neither 1 nor depthwise");
                    s.op = compile::Op::depthwise_conv2d;
                }
                nchw = true;
            } else if (t == "Gemm") {
                s.op = compile::Op::dense;
                if (attr_f(n, "alpha", 1.0f) != 1.0f || attr_f(n, "beta", 1.0f) != 1.0f ||
                    attr_i(n, "transA", 0) != 0)
                    throw format_error(where + ": only alpha = beta = 1, transA = 0 are read");
                auto w = init(n, 1, where, "weight");
                if (w.dims.size() != 2) throw format_error(where + ": weight is not 2-d");
                s.weight = attr_i(n, "transB", 0) ? w : transposed(w);
                if (n.input_size() > 2 && !n.input(2).empty()) s.bias = init(n, 2, where, "bias");
            } else if (t == "MatMul") {
                s.op = compile::Op::dense;
                auto w = init(n, 1, where, "weight");
                if (w.dims.size() != 2) throw format_error(where + ": weight is not 2-d");
                s.weight = transposed(w);
                // A bias Add right after it belongs to this step.
                if (i + 1 < nodes.size() && nodes[i + 1].op_type() == "Add" && nodes[i + 1].input_size() == 2 &&
                    n.output_size() == 1 && nodes[i + 1].input(0) == n.output(0) &&
                    init_.count(resolve(nodes[i + 1].input(1)))) {
                    s.bias = init(nodes[i + 1], 1, where, "bias");
                    ++i;
                    for (const auto& o : nodes[i].output()) act.insert(o);
                }
            } else if (t == "BatchNormalization") {
                s.op = compile::Op::batch_norm;
                for (int k = 1; k <= 4; ++k) s.extra.push_back(init(n, k, where, "statistics"));
            } else if (t == "Relu") {
                s.op = compile::Op::relu;
            } else if (t == "Clip") {
                s.op = compile::Op::relu6;
                check_relu6(n, where);
            } else if (t == "LeakyRelu") {
                s.op = compile::Op::leaky_relu;
            } else if (t == "Sigmoid") {
                s.op = compile::Op::sigmoid;
            } else if (t == "Tanh") {
                s.op = compile::Op::tanh;
            } else if (t == "HardSwish") {
                s.op = compile::Op::hard_swish;
            } else if (t == "Softmax") {
                s.op = compile::Op::softmax;
            } else if (t == "MaxPool") {
                s.op = compile::Op::max_pool2d;
            } else if (t == "AveragePool") {
                s.op = compile::Op::avg_pool2d;
                const bool own = attr_ints(*s.node, "pads", {0, 0, 0, 0}) != std::vector<std::int64_t>{0, 0, 0, 0};
                const bool include = attr_i(*s.node, "count_include_pad", 0) != 0;
                const bool extra = s.pad_before != std::array<std::size_t, 4>{0, 0, 0, 0};
                if (extra && own && !include)
                    throw format_error(where + ": an AveragePool that does not count its own padding after a Pad "
                                       "whose padding counts has no layer form");
                s.counts_pad = extra || (own && include);
            } else if (t == "GlobalAveragePool") {
                s.op = compile::Op::global_avg_pool;
            } else if (t == "ReduceMean") { // over time: PyTorch's x.mean(-1) after 1-D layers
                std::vector<std::int64_t> axes = attr_ints(n, "axes", {});
                if (n.input_size() > 1 && !n.input(1).empty()) {
                    const auto a = init(n, 1, where, "axes");
                    axes.assign(a.data.begin(), a.data.end());
                }
                if (axes.size() != 1 || axes[0] == 0)
                    throw format_error(where + ": only a ReduceMean over one axis, the time steps, is read");
                s.op = compile::Op::global_avg_pool;
            } else if (t == "Flatten" || t == "Reshape" || t == "Squeeze") {
                s.op = compile::Op::flatten;
                s.flatten_chw = nchw;
                s.flatten_ct = nct;
            } else if (t == "Add") {
                s.op = compile::Op::add;
            } else if (t == "GRU" || t == "LSTM") {
                RnnNode r = rnn.read(n, where, s.every_step);
                if (r.reset_before)
                    throw shape_error(where + ": linear_before_reset = 0 (ONNX's default GRU); the GRU layer is "
                                      "PyTorch's linear_before_reset = 1: import this file with import_onnx_graph");
                s.op = r.op;
                s.directions = r.directions;
                s.units = r.units;
                s.weight.data = std::move(r.weights);
                s.bias.data = std::move(r.bias);
            } else {
                throw format_error(where + ": operator " + t +
                                   " is not read by the importer (a model this node-for-node reader cannot "
                                   "follow, such as a transformer, may import with import_onnx_graph_into)");
            }
            out.push_back(std::move(s));
        }
        return out;
    }

private:
    /// A Constant node's tensor, kept as an initializer under its output's name.
    void read_constant(const onnx::NodeProto& n, const std::string& where) {
        if (n.output_size() != 1) return;
        const auto* a = find_attr(n, "value");
        if (a == nullptr || !a->has_t()) return; // other forms are never a weight or a pad
        FloatTensor f;
        f.dims.assign(a->t().dims().begin(), a->t().dims().end());
        const auto v = tensor_values(a->t(), where);
        f.data.assign(v.begin(), v.end());
        init_[n.output(0)] = std::move(f);
    }
    /// The spatial padding (top, left, bottom, right) of a constant-zero Pad of an NCHW
    /// (or, after a transpose, NHWC) activation.
    std::array<std::size_t, 4> read_pad(const onnx::NodeProto& n, const std::string& where, bool nchw) const {
        const auto* mode = find_attr(n, "mode");
        if (mode != nullptr && mode->s() != "constant")
            throw format_error(where + ": only constant padding is read, not '" + mode->s() + "'");
        std::vector<std::int64_t> p = attr_ints(n, "pads", {});
        if (n.input_size() > 1 && !n.input(1).empty()) {
            const auto v = init(n, 1, where, "pads");
            p.assign(v.data.begin(), v.data.end());
        }
        float value = attr_f(n, "value", 0.0f);
        if (n.input_size() > 2 && !n.input(2).empty()) {
            const auto v = init(n, 2, where, "constant value");
            if (v.data.size() != 1) throw format_error(where + ": the constant value is not a scalar");
            value = v.data[0];
        }
        if (value != 0.0f) throw format_error(where + ": only zero padding is read");
        auto u = [&](std::size_t k) { return static_cast<std::size_t>(p[k]); };
        if (p.size() == 6) { // N x C x T: the time steps are the width of the 1 x T map
            for (auto v : p)
                if (v < 0) throw format_error(where + ": negative padding (cropping) is not read");
            if (p[0] != 0 || p[1] != 0 || p[3] != 0 || p[4] != 0)
                throw format_error(where + ": only the time steps are padded by the layers");
            return {0, u(2), 0, u(5)};
        }
        if (p.size() != 8) throw format_error(where + ": only the padding of a 4-d activation is read");
        for (auto v : p)
            if (v < 0) throw format_error(where + ": negative padding (cropping) is not read");
        const std::size_t h = nchw ? 2 : 1, w = nchw ? 3 : 2, c = nchw ? 1 : 3;
        if (p[0] != 0 || p[4] != 0 || p[c] != 0 || p[c + 4] != 0)
            throw format_error(where + ": only height and width are padded by the layers");
        return {u(h), u(w), u(h + 4), u(w + 4)};
    }
    /// A Clip is ReLU6 only between 0 and 6.
    void check_relu6(const onnx::NodeProto& n, const std::string& where) const {
        float lo = attr_f(n, "min", -3.4e38f), hi = attr_f(n, "max", 3.4e38f);
        if (n.input_size() > 1 && !n.input(1).empty()) lo = init(n, 1, where, "min").data.at(0);
        if (n.input_size() > 2 && !n.input(2).empty()) hi = init(n, 2, where, "max").data.at(0);
        if (lo != 0.0f || hi != 6.0f)
            throw format_error(where + ": a Clip to [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               "] is not ReLU6, the only clip the layers have");
    }

    std::string resolve(const std::string& name) const {
        auto it = alias_.find(name);
        return it == alias_.end() ? name : it->second;
    }
    FloatTensor init(const onnx::NodeProto& n, int k, const std::string& where, const char* what) const {
        if (n.input_size() <= k) throw format_error(where + ": missing " + what + " input");
        auto it = init_.find(resolve(n.input(k)));
        if (it == init_.end())
            throw format_error(where + ": " + what + " '" + n.input(k) + "' is not an initializer");
        return it->second;
    }
    static FloatTensor transposed(const FloatTensor& w) {
        FloatTensor t;
        const auto r = static_cast<std::size_t>(w.dims[0]), c = static_cast<std::size_t>(w.dims[1]);
        t.dims = {w.dims[1], w.dims[0]};
        t.data.resize(w.data.size());
        for (std::size_t i = 0; i < r; ++i)
            for (std::size_t j = 0; j < c; ++j) t.data[j * r + i] = w.data[i * c + j];
        return t;
    }
    void fold_dequantize(const onnx::NodeProto& n, const std::string& where) {
        const auto& x = init_.at(n.input(0));
        const auto scale = init(n, 1, where, "scale");
        FloatTensor zp;
        if (n.input_size() > 2 && !n.input(2).empty()) zp = init(n, 2, where, "zero point");
        const std::size_t channels = scale.data.size();
        FloatTensor out;
        out.dims = x.dims;
        out.data.resize(x.data.size());
        std::size_t inner = 1;
        if (channels > 1) {
            auto axis = attr_i(n, "axis", 1);
            if (axis < 0) axis += static_cast<std::int64_t>(x.dims.size());
            if (axis < 0 || axis >= static_cast<std::int64_t>(x.dims.size()) ||
                x.dims[static_cast<std::size_t>(axis)] != static_cast<std::int64_t>(channels))
                throw format_error(where + ": " + std::to_string(channels) + " scales do not match axis " +
                                   std::to_string(axis));
            for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < x.dims.size(); ++d)
                inner *= static_cast<std::size_t>(x.dims[d]);
        }
        if (!zp.data.empty() && zp.data.size() != channels)
            throw format_error(where + ": zero point count differs from scale count");
        for (std::size_t i = 0; i < x.data.size(); ++i) {
            const std::size_t c = channels > 1 ? (i / inner) % channels : 0;
            out.data[i] = (x.data[i] - (zp.data.empty() ? 0.0f : zp.data[c])) * scale.data[c];
        }
        init_[n.output(0)] = std::move(out);
    }

    const onnx::ModelProto& m_;
    std::string file_;
    std::map<std::string, FloatTensor> init_;
    std::map<std::string, std::string> alias_;
};

} // namespace detail

/// Load the weights of `bytes` (an ONNX model; `name` is used in messages) into `model`.
/// Throws format_error for unreadable files and shape_error naming the first ONNX node
/// that does not match the model's structure; `model` is unchanged when it throws.
template <class Model>
void import_onnx_bytes(std::span<const std::byte> bytes, const std::string& name, Model& model) {
    const onnx::ModelProto m = detail::parse_onnx(bytes, name);
    detail::OnnxReader reader(m, name);
    const auto steps = reader.steps();

    // Which parameter (>= 0) or state slot (< 0) each lowered tensor element comes from.
    const compile::Graph g = detail::lower_with_markers(model, name);
    // Weights that are no parameter (an average pool that counts its padding lowers to a
    // depthwise convolution of constant weights): what stays finite with NaN parameters.
    std::vector<bool> constant_weights(g.nodes.size(), false);
    {
        const compile::Graph gn = detail::lower_with_nans(model);
        for (std::size_t i = 0; i < gn.nodes.size() && i < constant_weights.size(); ++i)
            constant_weights[i] = !gn.nodes[i].weights.empty() &&
                                  std::ranges::all_of(gn.nodes[i].weights, [](float v) { return std::isfinite(v); });
    }
    detail::ParamSink<Model> sink(model);
    auto assign = [&](const std::vector<float>& markers, const std::vector<float>& values) {
        sink.assign(markers, values);
    };

    std::size_t k = 0;
    bool pending_chw = false;
    compile::Dims flatten_in;
    auto geometry = [](const std::vector<std::int64_t>& ks, const std::vector<std::int64_t>& st,
                       const std::vector<std::int64_t>& pads, const std::vector<std::int64_t>& di, bool dil) {
        auto list = [](const std::vector<std::int64_t>& v, const char* sep) {
            std::string r;
            for (std::size_t i = 0; i < v.size(); ++i) r += (i ? sep : "") + std::to_string(v[i]);
            return r;
        };
        std::string r = "kernel " + (ks.empty() ? std::string("from the weights") : list(ks, "x")) + ", stride " +
                        list(st, "x") + ", pads (" + list(pads, ", ") + ")";
        if (dil) r += ", dilation " + list(di, "x");
        return r;
    };
    for (std::size_t ni = 0; ni < g.nodes.size(); ++ni) {
        const auto& ours = g.nodes[ni];
        if (ours.op == compile::Op::dropout) continue;
        const auto& in = g.values[static_cast<std::size_t>(ours.inputs[0])];
        const auto& out = g.values[static_cast<std::size_t>(ours.output)];
        // An average pool that counts its padding is our depthwise convolution of constant
        // weights 1 / (kh * kw).
        const bool counting_pool = ours.op == compile::Op::depthwise_conv2d && ours.bias.empty() &&
                                   constant_weights[ni];
        const std::string our_name = "layer node " + std::to_string(ni) + " '" + ours.name + "' (" +
                                     (counting_pool ? std::string("average pool counting its padding")
                                                    : std::string(compile::op_name(ours.op))) + ")";
        // A Flatten or Reshape of what is already a feature vector (N x C, or N x C x 1 x 1
        // after a global pool) is no layer on either side.
        const bool flat_in = in.size() == 1 || (in.size() == 3 && in[0] == 1 && in[1] == 1);
        if (ours.op != compile::Op::flatten && flat_in)
            while (k < steps.size() && steps[k].op == compile::Op::flatten) ++k;
        if (ours.op == compile::Op::flatten && flat_in && (k >= steps.size() || steps[k].op != compile::Op::flatten))
            continue;
        if (k >= steps.size())
            throw shape_error(name + ": the file ends after " + std::to_string(steps.size()) +
                              " operators, the model still expects " + our_name);
        const auto& s = steps[k++];
        const std::string theirs = name + ": " + detail::describe(*s.node, s.index);
        const compile::Op our_op = counting_pool ? compile::Op::avg_pool2d : ours.op;
        if (s.op != our_op)
            throw shape_error(theirs + " is the first node that differs: the model expects " + our_name);
        auto need = [&](const detail::FloatTensor& t, std::size_t n, const char* what) {
            if (t.data.size() != n)
                throw shape_error(theirs + ": " + what + " has " + std::to_string(t.data.size()) +
                                  " elements, " + our_name + " needs " + std::to_string(n));
        };
        auto check_spatial = [&](bool dil) {
            const auto ks = detail::attr_ints(*s.node, "kernel_shape", {});
            const auto st = detail::attr_ints(*s.node, "strides", {1, 1});
            auto pads = detail::attr_ints(*s.node, "pads", {0, 0, 0, 0});
            const auto di = detail::attr_ints(*s.node, "dilations", {1, 1});
            if (detail::find_attr(*s.node, "auto_pad") != nullptr &&
                detail::find_attr(*s.node, "auto_pad")->s() != "NOTSET")
                throw shape_error(theirs + ": auto_pad is not read; export with explicit pads");
            if (detail::attr_i(*s.node, "ceil_mode", 0) != 0)
                throw shape_error(theirs + ": ceil_mode = 1 (output size rounded up) has no layer form");
            if (pads.size() == 4)
                for (std::size_t i = 0; i < 4; ++i) pads[i] += static_cast<std::int64_t>(s.pad_before[i]);
            auto eq = [](const std::vector<std::int64_t>& a, std::initializer_list<std::size_t> b) {
                return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                                  [](std::int64_t x, std::size_t y) { return x >= 0 && static_cast<std::size_t>(x) == y; });
            };
            if ((!ks.empty() && !eq(ks, {ours.kernel[0], ours.kernel[1]})) ||
                !eq(st, {ours.stride[0], ours.stride[1]}) ||
                !eq(pads, {ours.pad[0], ours.pad[1], ours.pad[2], ours.pad[3]}) ||
                (dil && !eq(di, {ours.dilation[0], ours.dilation[1]}))) {
                auto v = [](auto... x) { return std::vector<std::int64_t>{static_cast<std::int64_t>(x)...}; };
                throw shape_error(theirs + " has " + geometry(ks, st, pads, di, dil) + "; " + our_name + " has " +
                                  geometry(v(ours.kernel[0], ours.kernel[1]), v(ours.stride[0], ours.stride[1]),
                                           v(ours.pad[0], ours.pad[1], ours.pad[2], ours.pad[3]),
                                           v(ours.dilation[0], ours.dilation[1]), dil) +
                                  " (pads are top, left, bottom, right)");
            }
        };
        switch (ours.op) {
        case compile::Op::conv2d: {
            check_spatial(true);
            const std::size_t co = out.back(), ci = in.back(), kh = ours.kernel[0], kw = ours.kernel[1];
            need(s.weight, co * ci * kh * kw, "weight");
            assign(ours.weights, compile::ops::Conv2d::weights_from_onnx(s.weight.data, co, ci, kh, kw, false));
            if (!ours.bias.empty()) {
                std::vector<float> b(co, 0.0f);
                if (!s.bias.data.empty()) { need(s.bias, co, "bias"); b = s.bias.data; }
                assign(ours.bias, b);
            }
            break;
        }
        case compile::Op::depthwise_conv2d: {
            if (counting_pool) {
                check_spatial(false);
                if (!s.counts_pad)
                    throw shape_error(theirs + " does not count its padding cells in the mean; " + our_name +
                                      " does: declare the layer's AvgPool2D without CountPad");
                break;
            }
            check_spatial(true);
            const std::size_t c_n = out.back(), kh = ours.kernel[0], kw = ours.kernel[1];
            need(s.weight, c_n * kh * kw, "weight");
            assign(ours.weights, compile::ops::Conv2d::weights_from_onnx(s.weight.data, c_n, 1, kh, kw, true));
            if (!ours.bias.empty()) {
                std::vector<float> b(c_n, 0.0f);
                if (!s.bias.data.empty()) { need(s.bias, c_n, "bias"); b = s.bias.data; }
                assign(ours.bias, b);
            }
            break;
        }
        case compile::Op::dense: {
            const std::size_t o_n = compile::volume(out), i_n = compile::volume(in);
            need(s.weight, o_n * i_n, "weight");
            std::vector<float> w = s.weight.data; // [out][in]
            if (pending_chw && flatten_in.size() == 3) {
                const std::size_t H = flatten_in[0], W = flatten_in[1], C = flatten_in[2];
                for (std::size_t o = 0; o < o_n; ++o)
                    for (std::size_t h = 0; h < H; ++h)
                        for (std::size_t x = 0; x < W; ++x)
                            for (std::size_t c = 0; c < C; ++c)
                                w[o * i_n + (h * W + x) * C + c] = s.weight.data[o * i_n + (c * H + h) * W + x];
            }
            pending_chw = false;
            assign(ours.weights, w);
            if (!ours.bias.empty()) {
                std::vector<float> b(o_n, 0.0f);
                if (!s.bias.data.empty()) { need(s.bias, o_n, "bias"); b = s.bias.data; }
                assign(ours.bias, b);
            }
            break;
        }
        case compile::Op::batch_norm: {
            const std::size_t c_n = in.back();
            std::vector<float> e;
            for (const auto& t : s.extra) {
                need(t, c_n, "batch norm statistics");
                e.insert(e.end(), t.data.begin(), t.data.end());
            }
            const float eps = detail::attr_f(*s.node, "epsilon", 1e-5f);
            if (std::abs(eps - ours.alpha) > 1e-3f * ours.alpha)
                throw shape_error(theirs + ": epsilon " + std::to_string(eps) + " differs from " + our_name +
                                  "'s " + std::to_string(ours.alpha));
            assign(ours.extra, e);
            break;
        }
        case compile::Op::max_pool2d: check_spatial(false); break;
        case compile::Op::avg_pool2d: {
            check_spatial(false);
            const auto& p = ours.pad;
            const bool padded = p[0] + p[1] + p[2] + p[3] > 0;
            if (padded && s.counts_pad)
                throw shape_error(theirs + " counts its padding cells in the mean; " + our_name +
                                  " does not: declare the layer's AvgPool2D with the CountPad policy");
            break;
        }
        case compile::Op::flatten:
            pending_chw = (s.flatten_chw && in.size() == 3 && !(in[0] == 1 && in[1] == 1)) ||
                          (s.flatten_ct && in.size() == 2 && in[0] != 1 && in[1] != 1);
            flatten_in = in.size() == 2 ? compile::Dims{1, in[0], in[1]} : in; // T x C: 1 x T x C
            break;
        case compile::Op::gru:
        case compile::Op::lstm: {
            const compile::ops::Io io{in, nullptr, out};
            const std::size_t D = ours.op == compile::Op::gru ? compile::ops::Gru::directions(ours, io)
                                                              : compile::ops::Lstm::directions(ours, io);
            const std::size_t U = out.back() / D;
            const bool every = out.size() == 2;
            if (s.directions != D || s.units != U || s.every_step != every)
                throw shape_error(theirs + " has " + std::to_string(s.directions) + " direction(s) of " +
                                  std::to_string(s.units) + " units and gives " +
                                  (s.every_step ? "every step" : "the last step") + "; " + our_name + " has " +
                                  std::to_string(D) + " of " + std::to_string(U) + " and gives " +
                                  (every ? "every step" : "the last step"));
            need(s.weight, ours.weights.size(), "weight (W and R)");
            need(s.bias, ours.bias.size(), "bias");
            assign(ours.weights, s.weight.data);
            assign(ours.bias, s.bias.data);
            break;
        }
        case compile::Op::leaky_relu:
            if (std::abs(detail::attr_f(*s.node, "alpha", 0.01f) - ours.alpha) > 1e-6f)
                throw shape_error(theirs + ": alpha differs from " + our_name);
            break;
        default: break;
        }
    }
    if (k != steps.size())
        throw shape_error(name + ": " + detail::describe(*steps[k].node, steps[k].index) +
                          " is the first node that differs: the model has no layer left for it");
    sink.commit(model);
}

/// import_onnx_bytes() of the file at `path`.
template <class Model>
void import_onnx(const std::string& path, Model& model) {
    const std::string bytes = detail::read_onnx_file(path);
    import_onnx_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), path, model);
}

} // namespace edgestack::io
