// ONNX import of transformer encoders (stage 3, compile), called by import_onnx_graph for a
// model whose input is N x T x F and which holds self-attention (a Softmax over the product
// of two computed tensors) or a LayerNormalization: PyTorch's export of
// nn.TransformerEncoder(Layer) and models of that shape. The multi-head attention subgraph
// (projections as one MatMul of 3D columns sliced in three, or three MatMuls; Reshape and
// Transpose to heads; scores scaled by Mul or Div on q or on the scores; Softmax; the
// product with v; Transpose and Reshape back; the output projection as MatMul or Gemm)
// becomes one attention node; LayerNormalization, or its opset-13 decomposition
// (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add), a layer_norm node; MatMul +
// Add over T x D a dense node over rows; Add of two sequences add; Relu relu; ReduceMean
// over time global_avg_pool; Gemm on N x D dense. Shape arithmetic (Shape, Gather,
// Unsqueeze, Concat, integer Mul/Div ...) is evaluated with a probe batch size.
//
// Every tensor is followed as a list of axes, each a run of atoms: N (batch), T (time), D
// (features), and once features are split into heads, H (head) and J (within a head).
// Reshape regroups the atoms, Transpose permutes the axes; an attention is recognised when
// q and k^T meet with the same batch and head axes, and refused (naming the node) when it
// does not fit the attention op: masks added to the scores, heads that differ between q, k
// and v, a scale other than 1/sqrt(D/heads), q, k, v from different tensors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/io/detail/onnx_model.hpp"
#include "edgestack/io/detail/validate.hpp"

namespace edgestack::io::detail {

/// Whether `m` is read by OnnxAttentionImporter: an N x T x F graph input and a Softmax over
/// a MatMul of two computed tensors (attention scores) or a LayerNormalization node.
inline bool onnx_is_attention_model(const onnx::ModelProto& m) {
    const auto& g = m.graph();
    std::map<std::string, int> init;
    for (const auto& t : g.initializer()) init[t.name()] = 1;
    bool rank3 = false;
    for (const auto& i : g.input())
        if (!init.count(i.name()) && i.type().has_tensor_type() && i.type().tensor_type().has_shape() &&
            i.type().tensor_type().shape().dim_size() == 3)
            rank3 = true;
    if (!rank3) return false;
    std::map<std::string, const onnx::NodeProto*> producer;
    for (const auto& n : g.node()) {
        if (n.op_type() == "Constant")
            for (const auto& o : n.output()) init[o] = 1;
        for (const auto& o : n.output()) producer[o] = &n;
    }
    for (const auto& n : g.node()) {
        if (n.op_type() == "LayerNormalization") return true;
        if (n.op_type() != "Softmax" || n.input_size() < 1) continue;
        const onnx::NodeProto* p = producer.count(n.input(0)) ? producer[n.input(0)] : nullptr;
        for (int hop = 0; hop < 3 && p && p->op_type() != "MatMul"; ++hop)
            p = p->input_size() > 0 && producer.count(p->input(0)) ? producer[p->input(0)] : nullptr;
        if (p && p->op_type() == "MatMul" && p->input_size() == 2 && !init.count(p->input(0)) &&
            !init.count(p->input(1)))
            return true;
    }
    return false;
}

/// Reads a transformer-encoder ONNX model into a compile::Graph (see the file comment).
class OnnxAttentionImporter {
public:
    /// `file` names the model in messages.
    OnnxAttentionImporter(const onnx::ModelProto& m, std::string file) : m_(m), file_(std::move(file)) {}

    /// The graph; throws format_error naming the node for anything it cannot express.
    compile::Graph run() {
        const auto& gp = m_.graph();
        for (const auto& t : gp.initializer()) {
            Const c;
            c.dims.assign(t.dims().begin(), t.dims().end());
            c.data = tensor_values(t, file_ + ": initializer '" + t.name() + "'");
            consts_[t.name()] = std::move(c);
        }
        read_input();
        for (int i = 0; i < gp.node_size(); ++i) node(gp.node(i), i);
        if (gp.output_size() != 1)
            throw format_error(file_ + ": the graph has " + std::to_string(gp.output_size()) + " outputs; one is supported");
        const std::string w = file_ + ": graph output '" + gp.output(0).name() + "'";
        const int v = seq(gp.output(0).name(), w);
        const Item& y = items_.at(gp.output(0).name());
        if (y.axes.empty() || y.axes[0] != "N")
            refuse(w, "is not batch-first (its axes are " + axes_text(y) + ")");
        if (v == 0) refuse(w, "is the input itself");
        g_.output = v;
        validate_graph(g_, file_);
        return std::move(g_);
    }

private:
    /// The probe batch size shape arithmetic runs with (a prime no model dimension shares).
    static constexpr std::int64_t probe = 1000003;

    struct Const {
        std::vector<std::int64_t> dims;
        std::vector<double> data;
    };
    /// A linear projection not yet emitted: src (a graph value, T x in or in) times W (in x
    /// out, ONNX's MatMul layout) plus b, times scale.
    struct Proj {
        int src = -1;
        std::size_t in = 0, out = 0;
        std::vector<double> w, b;
        double scale = 1.0;
    };
    enum class Kind { seq, proj, scores, probs, context, attn, ln };
    /// Stages of the opset-13 layer norm decomposition.
    enum class Ln { mean, centred, squared, var, var_eps, stdev, normed, scaled };
    struct Item {
        Kind kind = Kind::seq;
        int value = -1;                 // seq: the graph value
        std::vector<std::string> axes;  // runs of atoms N, T, D, H, J
        std::size_t width = 0;          // the D atom's size (H * J once split)
        std::size_t heads = 0;          // the H atom's size, once split
        std::size_t att_heads = 0;      // scores ... attn: the attention's head count
        Proj p;                         // proj: itself; attn: the output projection
        std::vector<Proj> qkv;          // scores: q, k; probs: q, k; context, attn: q, k, v
        double scale = 1.0;             // scores, probs, context, attn: on q . k
        std::string prefix;             // scores ...: the batch and head atoms, sorted
        Ln ln = Ln::mean;               // ln: the stage
        int ln_src = -1;                // ln: the normalised value
        double eps = 0;                 // ln: epsilon
        std::vector<double> gamma;      // ln: scale
    };

    [[noreturn]] void refuse(const std::string& w, const std::string& why) const { throw format_error(w + ": " + why); }

    static std::string axes_text(const Item& it) {
        std::string s = "[";
        for (std::size_t k = 0; k < it.axes.size(); ++k) {
            if (k) s += ',';
            s += it.axes[k];
        }
        s += ']';
        return s;
    }

    void read_input() {
        const auto& gp = m_.graph();
        const onnx::ValueInfoProto* in = nullptr;
        for (const auto& i : gp.input()) {
            if (consts_.count(i.name())) continue;
            if (in)
                throw format_error(file_ + ": the graph has a second input '" + i.name() + "' besides '" + in->name() +
                                   "': attention masks (src_mask, src_key_padding_mask) and other extra inputs are "
                                   "not read; export the encoder without a mask");
            in = &i;
        }
        if (!in) throw format_error(file_ + ": the graph has no input");
        const std::string w = file_ + ": graph input '" + in->name() + "'";
        if (!in->type().has_tensor_type() || !in->type().tensor_type().has_shape() ||
            in->type().tensor_type().shape().dim_size() != 3)
            throw format_error(w + ": an N x T x F tensor is read");
        const auto& t = in->type().tensor_type();
        if (t.elem_type() != onnx::TensorProto::FLOAT) throw format_error(w + ": element type is not float");
        std::size_t d[2];
        for (int k = 1; k < 3; ++k) {
            const auto& dim = t.shape().dim(k);
            if (!dim.has_dim_value() || dim.dim_value() <= 0 || dim.dim_value() > (1 << 20))
                throw format_error(w + ": dimension " + std::to_string(k) + " must be a fixed positive size");
            d[k - 1] = static_cast<std::size_t>(dim.dim_value());
        }
        if (d[0] * d[1] > max_value_elements) throw format_error(w + ": too large");
        const auto& b = t.shape().dim(0);
        if (b.has_dim_value() && b.dim_value() != 1)
            throw format_error(w + ": a fixed batch of " + std::to_string(b.dim_value()) + " (1 or dynamic is read)");
        t_ = d[0];
        g_ = compile::Graph::with_input({d[0], d[1]});
        Item e;
        e.value = 0;
        e.axes = {"N", "T", "D"};
        e.width = d[1];
        items_[in->name()] = e;
    }

    // --- lookups -------------------------------------------------------------------------
    const Const* find_const(const std::string& name) const {
        auto it = consts_.find(name);
        return it == consts_.end() ? nullptr : &it->second;
    }
    const Const& constant(const onnx::NodeProto& n, int k, const std::string& w, const char* what) const {
        if (n.input_size() <= k || n.input(k).empty()) refuse(w, std::string("missing ") + what + " input");
        const Const* c = find_const(n.input(k));
        if (!c) refuse(w, std::string(what) + " '" + n.input(k) + "' is not a constant");
        return *c;
    }
    Item& item(const std::string& name, const std::string& w) {
        auto it = items_.find(name);
        if (it == items_.end()) {
            if (find_const(name)) refuse(w, "input '" + name + "' is a constant where a computed tensor is expected");
            refuse(w, "input '" + name + "' is not defined by any earlier node or graph input");
        }
        return it->second;
    }
    Item& input(const onnx::NodeProto& n, int k, const std::string& w) {
        if (n.input_size() <= k || n.input(k).empty()) refuse(w, "missing input " + std::to_string(k));
        return item(n.input(k), w);
    }
    void set(const onnx::NodeProto& n, Item it) { items_[n.output(0)] = std::move(it); }

    std::size_t atom_size(char a, const Item& it) const {
        switch (a) {
        case 'N': return static_cast<std::size_t>(probe);
        case 'T': return t_;
        case 'D': return it.width;
        case 'H': return it.heads;
        default: return it.heads ? it.width / it.heads : 0;
        }
    }
    /// The ONNX shape of a tensor (the batch as `probe`); refused past 2^50 elements.
    std::vector<std::int64_t> shape_of(const Item& it, const std::string& w) const {
        std::vector<std::int64_t> s;
        double all = 1;
        for (const auto& ax : it.axes) {
            double v = 1;
            for (char a : ax) v *= static_cast<double>(atom_size(a, it));
            all *= v;
            if (!(all <= 1125899906842624.0)) refuse(w, "a tensor of more than 2^50 elements");
            s.push_back(static_cast<std::int64_t>(v));
        }
        return s;
    }
    /// The atoms of every axis but the last, sorted: "NT" for rows of a sequence.
    static std::string leading_atoms(const Item& it) {
        std::string s;
        for (std::size_t k = 0; k + 1 < it.axes.size(); ++k) s += it.axes[k];
        std::sort(s.begin(), s.end());
        return s;
    }

    compile::Node make(compile::Op op) {
        compile::Node n;
        n.op = op;
        n.name = std::string(compile::op_name(op)) + "_" + std::to_string(names_[op]++);
        return n;
    }
    /// Value dims of a sequence item: T x width, or width once time is gone.
    compile::Dims value_dims(const Item& it) const {
        const std::string lead = leading_atoms(it);
        if (lead == "N") return {it.width};
        return {t_, it.width};
    }

    /// The graph value holding `name`, emitting a pending projection, attention or
    /// refusing what is not a plain tensor.
    int seq(const std::string& name, const std::string& w) {
        Item& it = item(name, w);
        if (it.kind == Kind::seq) return it.value;
        if (it.kind == Kind::proj) {
            if (it.heads) refuse(w, "reads a projection split into heads, which only attention reads");
            check_rows(it, w);
            compile::Node d = make(compile::Op::dense);
            const Proj& p = it.p;
            d.weights.resize(p.in * p.out);
            d.bias.assign(p.out, 0.0f);
            for (std::size_t o = 0; o < p.out; ++o) {
                for (std::size_t i = 0; i < p.in; ++i)
                    d.weights[o * p.in + i] = static_cast<float>(p.scale * p.w[i * p.out + o]);
                if (!p.b.empty()) d.bias[o] = static_cast<float>(p.scale * p.b[o]);
            }
            Item s = it;
            s.kind = Kind::seq;
            s.p = {};
            s.value = g_.append(std::move(d), {p.src}, value_dims(it));
            it = s;
            return it.value;
        }
        if (it.kind == Kind::attn) return emit_attention(it, w);
        if (it.kind == Kind::scores)
            refuse(w, "reads the attention scores q . k^T; only a scale and a Softmax are read after them");
        if (it.kind == Kind::probs) refuse(w, "reads the attention weights; only their product with v is read");
        if (it.kind == Kind::context) refuse(w, "reads the attention context before its output projection");
        refuse(w, "reads an unfinished layer normalization (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, "
                  "Add is read)");
    }
    /// A tensor whose last axis is the features and whose other axes are the batch and time.
    void check_rows(const Item& it, const std::string& w) const {
        const std::string lead = leading_atoms(it);
        if (it.axes.empty() || it.axes.back() != "D" || (lead != "NT" && lead != "N"))
            refuse(w, "reads a tensor with axes " + axes_text(it) + "; features last, after batch and time, is read");
    }

    // --- operators -------------------------------------------------------------------------
    void node(const onnx::NodeProto& n, int i) {
        const std::string w = file_ + ": " + describe(n, i);
        const std::string& t = n.op_type();
        if (!n.domain().empty() && n.domain() != "ai.onnx") refuse(w, "operator domain '" + n.domain() + "' is not read");
        if (n.output_size() < 1 || n.output(0).empty()) refuse(w, "has no output");
        if (t == "Constant") return constant_node(n, w);
        if (t == "Shape") {
            Const c;
            if (const Const* k = find_const(n.input(0))) {
                for (auto d : k->dims) c.data.push_back(static_cast<double>(d));
            } else {
                for (auto d : shape_of(input(n, 0, w), w)) c.data.push_back(static_cast<double>(d));
            }
            const auto r = static_cast<std::int64_t>(c.data.size());
            auto cl = [&](std::int64_t x) { return std::clamp<std::int64_t>(x < 0 ? x + r : x, 0, r); };
            const auto b = cl(attr_i(n, "start", 0)), e = cl(attr_i(n, "end", r));
            c.data = b < e ? std::vector<double>(c.data.begin() + b, c.data.begin() + e) : std::vector<double>{};
            c.dims = {static_cast<std::int64_t>(c.data.size())};
            consts_[n.output(0)] = std::move(c);
            return;
        }
        bool all_const = n.input_size() > 0;
        for (const auto& in : n.input()) all_const = all_const && (in.empty() || find_const(in));
        if (all_const) return fold(n, w);
        if (t == "Identity" || t == "Dropout") return set(n, input(n, 0, w));
        if (t == "MatMul" || t == "Gemm") return matmul(n, w);
        if (t == "Add") return add(n, w);
        if (t == "Mul" || t == "Div") return scale(n, w);
        if (t == "Sub") return sub(n, w);
        if (t == "Slice" || t == "Split") return slice(n, w);
        if (t == "Reshape") return reshape(n, w);
        if (t == "Transpose") return transpose(n, w);
        if (t == "Softmax") return softmax(n, w);
        if (t == "Relu") {
            const int x = seq(n.input(0), w);
            Item e = item(n.input(0), w);
            e.value = g_.append(make(compile::Op::relu), {x}, g_.values[static_cast<std::size_t>(x)]);
            return set(n, e);
        }
        if (t == "LayerNormalization") return layer_norm(n, w);
        if (t == "ReduceMean") return reduce_mean(n, w);
        if (t == "Pow" || t == "Sqrt") return ln_step(n, w);
        if (t == "Erf")
            refuse(w, "operator Erf: GELU (which PyTorch writes as x * 0.5 * (1 + Erf(x / sqrt(2)))) is not an "
                      "activation of the engine; export the encoder with activation=\"relu\"");
        refuse(w, "operator " + t + " is not read in a transformer model; read are MatMul, Gemm, Add, Mul, Div, Sub, "
                  "Slice, Split, Reshape, Transpose, Softmax, Relu, LayerNormalization, ReduceMean, Pow, Sqrt, "
                  "Identity, Dropout and shape arithmetic on constants");
    }

    void constant_node(const onnx::NodeProto& n, const std::string& w) {
        Const c;
        if (const auto* a = find_attr(n, "value")) {
            c.dims.assign(a->t().dims().begin(), a->t().dims().end());
            c.data = tensor_values(a->t(), w);
        } else if (const auto* f = find_attr(n, "value_float")) {
            c.data = {f->f()};
        } else if (const auto* i1 = find_attr(n, "value_int")) {
            c.data = {static_cast<double>(i1->i())};
        } else if (const auto* is = find_attr(n, "value_ints")) {
            for (auto x : is->ints()) c.data.push_back(static_cast<double>(x));
            c.dims = {static_cast<std::int64_t>(c.data.size())};
        } else {
            refuse(w, "only value, value_float, value_int(s) constants are read");
        }
        consts_[n.output(0)] = std::move(c);
    }

    static std::int64_t as_int(double x, const std::string& w) { return constant_integer(x, w, "a shape value"); }

    /// Shape arithmetic and other operators over constants.
    void fold(const onnx::NodeProto& n, const std::string& w) {
        const std::string& t = n.op_type();
        const Const& x = constant(n, 0, w, "data");
        Const r = x;
        if (t == "Cast" || t == "Identity") {
        } else if (t == "Unsqueeze" || t == "Squeeze") {
            std::vector<std::int64_t> axes = n.input_size() > 1 ? std::vector<std::int64_t>{} : attr_ints(n, "axes", {});
            if (n.input_size() > 1)
                for (double a : constant(n, 1, w, "axes").data) axes.push_back(as_int(a, w));
            if (t == "Unsqueeze") {
                const auto rank = static_cast<std::int64_t>(x.dims.size() + axes.size());
                for (auto& a : axes) a = a < 0 ? a + rank : a;
                std::sort(axes.begin(), axes.end());
                for (auto a : axes) {
                    if (a < 0 || a > static_cast<std::int64_t>(r.dims.size())) refuse(w, "axis out of range");
                    r.dims.insert(r.dims.begin() + a, 1);
                }
            } else {
                r.dims.clear();
                const auto rank = static_cast<std::int64_t>(x.dims.size());
                for (std::int64_t k = 0; k < rank; ++k) {
                    const bool drop = axes.empty() ? x.dims[static_cast<std::size_t>(k)] == 1
                                                   : std::count(axes.begin(), axes.end(), k) + std::count(axes.begin(), axes.end(), k - rank) > 0;
                    if (!drop) r.dims.push_back(x.dims[static_cast<std::size_t>(k)]);
                }
            }
        } else if (t == "Gather") {
            const Const& idx = constant(n, 1, w, "indices");
            if (x.dims.size() != 1 || attr_i(n, "axis", 0) != 0) refuse(w, "only gathers from a 1-D constant are folded");
            r.data.clear();
            const auto len = static_cast<std::int64_t>(x.data.size());
            for (double d : idx.data) {
                auto k = as_int(d, w);
                if (k < 0) k += len;
                if (k < 0 || k >= len) refuse(w, "index out of range");
                r.data.push_back(x.data[static_cast<std::size_t>(k)]);
            }
            r.dims = idx.dims;
        } else if (t == "Concat") {
            r.data.clear();
            for (int k = 0; k < n.input_size(); ++k) {
                const Const& c = constant(n, k, w, "input");
                if (c.dims.size() > 1) refuse(w, "only 1-D constants are concatenated");
                r.data.insert(r.data.end(), c.data.begin(), c.data.end());
            }
            r.dims = {static_cast<std::int64_t>(r.data.size())};
        } else if (t == "Add" || t == "Sub" || t == "Mul" || t == "Div") {
            const Const& y = constant(n, 1, w, "second");
            if (x.data.size() != 1 && y.data.size() != 1 && x.data.size() != y.data.size())
                refuse(w, "only element-wise or scalar arithmetic on constants is folded");
            const Const& big = x.data.size() >= y.data.size() ? x : y;
            r.dims = big.dims;
            r.data.resize(big.data.size());
            for (std::size_t k = 0; k < r.data.size(); ++k) {
                const double a = x.data[x.data.size() == 1 ? 0 : k], b = y.data[y.data.size() == 1 ? 0 : k];
                if (t == "Div" && b == 0) refuse(w, "division by zero");
                r.data[k] = t == "Add" ? a + b : t == "Sub" ? a - b : t == "Mul" ? a * b : a / b;
            }
            // Integer tensors divide as integers (shape arithmetic).
            if (t == "Div" && is_integer(n.input(0)))
                for (auto& v : r.data) v = std::floor(v);
        } else {
            refuse(w, "operator " + t + " over constants is not folded");
        }
        if (r.data.size() > (std::size_t{1} << 24)) refuse(w, "folded constant too large");
        consts_[n.output(0)] = std::move(r);
    }
    /// Whether every value of a constant is a whole number (ONNX's shape arithmetic is int64).
    bool is_integer(const std::string& name) const {
        const Const* c = find_const(name);
        if (!c) return false;
        for (double v : c->data)
            if (v != std::floor(v)) return false;
        return true;
    }

    /// MatMul or Gemm with a constant weight: a pending projection of a sequence, or the
    /// output projection of an attention context. MatMul of two computed tensors: q . k^T
    /// or weights . v.
    void matmul(const onnx::NodeProto& n, const std::string& w) {
        const bool gemm = n.op_type() == "Gemm";
        if (n.input_size() < 2) refuse(w, "needs two inputs");
        if (!find_const(n.input(1))) {
            if (gemm) refuse(w, "a Gemm of two computed tensors is not read");
            return product(n, w);
        }
        Item& x = input(n, 0, w);
        const Const& b = constant(n, 1, w, "weight");
        if (b.dims.size() != 2) refuse(w, "weight has rank " + std::to_string(b.dims.size()) + ", 2 expected");
        if (gemm && (attr_i(n, "transA", 0) != 0)) refuse(w, "transA = 1 is not read");
        const bool tb = gemm && attr_i(n, "transB", 0) != 0;
        const double alpha = gemm ? attr_f(n, "alpha", 1.0f) : 1.0;
        const double beta = gemm ? attr_f(n, "beta", 1.0f) : 1.0;
        Proj p;
        p.in = static_cast<std::size_t>(tb ? b.dims[1] : b.dims[0]);
        p.out = static_cast<std::size_t>(tb ? b.dims[0] : b.dims[1]);
        if (p.out == 0 || p.out > (std::size_t{1} << 16)) refuse(w, "weight has " + std::to_string(p.out) + " outputs (1 to 65536 are read)");
        if (p.in != x.width) refuse(w, "weight expects " + std::to_string(p.in) + " features, the input has " + std::to_string(x.width));
        p.w.resize(p.in * p.out);
        for (std::size_t i = 0; i < p.in; ++i)
            for (std::size_t o = 0; o < p.out; ++o) p.w[i * p.out + o] = alpha * (tb ? b.data[o * p.in + i] : b.data[i * p.out + o]);
        if (gemm && n.input_size() > 2 && !n.input(2).empty()) {
            const Const& c = constant(n, 2, w, "bias C");
            if (c.data.size() != p.out && c.data.size() != 1) refuse(w, "bias C is not one value per output");
            p.b.resize(p.out);
            for (std::size_t o = 0; o < p.out; ++o) p.b[o] = beta * c.data[c.data.size() == 1 ? 0 : o];
        }
        Item e;
        e.kind = Kind::proj;
        if (x.kind == Kind::context) {
            // The output projection: the context's features must be the heads in order.
            if (x.axes.empty() || x.axes.back() != "HJ")
                refuse(w, "reads the attention context with axes " + axes_text(x) + "; the heads merged back into "
                          "features (H then J) is read");
            e = x;
            e.kind = Kind::attn;
            e.p = std::move(p);
            e.axes.back() = "D";
            e.heads = 0;
            e.width = e.p.out;
            return set(n, e);
        }
        p.src = seq(n.input(0), w);
        const Item& xs = item(n.input(0), w);
        check_rows(xs, w);
        e.axes = xs.axes;
        e.width = p.out;
        e.p = std::move(p);
        set(n, e);
    }

    void product(const onnx::NodeProto& n, const std::string& w) {
        Item& a = input(n, 0, w);
        Item& b = input(n, 1, w);
        auto ends = [](const Item& it, const char* x, const char* y) {
            return it.axes.size() >= 2 && it.axes[it.axes.size() - 2] == x && it.axes.back() == y;
        };
        auto prefix = [](const Item& it) {
            std::string s;
            for (std::size_t k = 0; k + 2 < it.axes.size(); ++k) s += it.axes[k];
            return s;
        };
        if (a.kind == Kind::proj && b.kind == Kind::proj) {
            if (!a.heads || !b.heads) refuse(w, "multiplies projections that are not split into heads");
            if (!ends(a, "T", "J") || !ends(b, "J", "T"))
                refuse(w, "reads q with axes " + axes_text(a) + " and k with axes " + axes_text(b) +
                          "; q as [..., T, J] and k transposed as [..., J, T] are read");
            if (a.heads != b.heads)
                refuse(w, "q has " + std::to_string(a.heads) + " heads, k " + std::to_string(b.heads));
            if (prefix(a) != prefix(b)) refuse(w, "q and k group the batch and heads differently");
            std::string pre = prefix(a);
            std::sort(pre.begin(), pre.end());
            if (pre != "HN") refuse(w, "the scores are not per sample and head (batch axes " + prefix(a) + ")");
            Item e;
            e.kind = Kind::scores;
            e.axes = a.axes;
            e.axes.back() = "T";
            e.qkv = {a.p, b.p};
            e.scale = a.p.scale * b.p.scale;
            e.qkv[0].scale = e.qkv[1].scale = 1.0;
            e.heads = a.heads;
            e.att_heads = a.heads;
            e.width = a.width;
            e.prefix = prefix(a);
            return set(n, e);
        }
        if (a.kind == Kind::probs && b.kind == Kind::proj) {
            if (!b.heads || !ends(b, "T", "J"))
                refuse(w, "reads v with axes " + axes_text(b) + "; v as [..., T, J] is read");
            if (b.heads != a.heads)
                refuse(w, "the attention weights have " + std::to_string(a.heads) + " heads, v " + std::to_string(b.heads) +
                          ": the head count differs between q, k and v");
            if (prefix(b) != a.prefix) refuse(w, "the weights and v group the batch and heads differently");
            if (b.p.scale != 1.0) refuse(w, "v is scaled, which the attention op does not do");
            Item e = a;
            e.kind = Kind::context;
            e.qkv.push_back(b.p);
            e.axes = b.axes;
            return set(n, e);
        }
        refuse(w, "a MatMul of two computed tensors is read only as attention's q . k^T (q, k split into heads) "
                  "or weights . v");
    }

    void add(const onnx::NodeProto& n, const std::string& w) {
        if (n.input_size() != 2) refuse(w, "needs two inputs");
        const bool c0 = find_const(n.input(0)) != nullptr;
        const bool c1 = find_const(n.input(1)) != nullptr;
        if (c0 || c1) {
            const Const& c = *find_const(n.input(c0 ? 0 : 1));
            Item x = item(n.input(c0 ? 1 : 0), w);
            if (x.kind == Kind::scores)
                refuse(w, "adds to the attention scores (an attention mask); masks are not read");
            if (x.kind == Kind::ln && x.ln == Ln::var) {
                if (c.data.size() != 1) refuse(w, "epsilon is not a scalar");
                x.ln = Ln::var_eps;
                x.eps = c.data[0];
                return set(n, x);
            }
            if (x.kind == Kind::ln && x.ln == Ln::scaled) return finish_ln(n, x, c, w);
            Proj* p = x.kind == Kind::proj && !x.heads ? &x.p : x.kind == Kind::attn ? &x.p : nullptr;
            if (!p) refuse(w, "adds a constant to a tensor that is not a projection's output (axes " + axes_text(x) + ")");
            if (c.data.size() != p->out && c.data.size() != 1) refuse(w, "the constant is not one value per feature");
            if (p->b.empty()) p->b.assign(p->out, 0.0);
            for (std::size_t o = 0; o < p->out; ++o) p->b[o] += c.data[c.data.size() == 1 ? 0 : o] / p->scale;
            return set(n, x);
        }
        const Item& a0 = item(n.input(0), w);
        const Item& a1 = item(n.input(1), w);
        if (a0.kind == Kind::scores || a1.kind == Kind::scores)
            refuse(w, "adds to the attention scores (an attention mask); masks are not read");
        const int x = seq(n.input(0), w), y = seq(n.input(1), w);
        const Item& ix = item(n.input(0), w);
        const Item& iy = item(n.input(1), w);
        if (ix.axes != iy.axes || ix.width != iy.width)
            refuse(w, "adds tensors of different shapes or axis orders (" + axes_text(ix) + " and " + axes_text(iy) + ")");
        Item e = ix;
        e.value = g_.append(make(compile::Op::add), {x, y}, g_.values[static_cast<std::size_t>(x)]);
        set(n, e);
    }

    /// Mul or Div by a scalar constant: attention's scale on q, k or the scores. Also the
    /// layer norm decomposition's Div (centred / std) and Mul (by gamma).
    void scale(const onnx::NodeProto& n, const std::string& w) {
        const bool div = n.op_type() == "Div";
        if (n.input_size() != 2) refuse(w, "needs two inputs");
        const Const* c0 = find_const(n.input(0));
        const Const* c1 = find_const(n.input(1));
        if (!c0 && !c1) {
            Item a = item(n.input(0), w);
            const Item& b = item(n.input(1), w);
            if (div && a.kind == Kind::ln && a.ln == Ln::centred && b.kind == Kind::ln && b.ln == Ln::stdev &&
                a.ln_src == b.ln_src) {
                a.ln = Ln::normed;
                a.eps = b.eps;
                return set(n, a);
            }
            refuse(w, std::string("a ") + n.op_type() + " of two computed tensors is read only as layer norm's "
                      "(x - mean) / sqrt(var + eps); the engine has no element-wise " + (div ? "division" : "product") +
                      " in a transformer model");
        }
        if (div && c0) refuse(w, "divides a constant by a tensor");
        const Const& c = c1 ? *c1 : *c0;
        Item x = item(n.input(c1 ? 0 : 1), w);
        if (x.kind == Kind::ln && x.ln == Ln::normed && !div) {
            if (c.data.size() != x.width && c.data.size() != 1) refuse(w, "gamma is not one value per feature");
            x.ln = Ln::scaled;
            x.gamma.resize(x.width);
            for (std::size_t k = 0; k < x.width; ++k) x.gamma[k] = c.data[c.data.size() == 1 ? 0 : k];
            return set(n, x);
        }
        if (c.data.size() != 1) refuse(w, "only a scalar scale is read here (attention's 1/sqrt(head size))");
        const double s = div ? 1.0 / c.data[0] : c.data[0];
        if (!std::isfinite(s) || s == 0.0) refuse(w, "the scale is zero or not finite");
        if (x.kind == Kind::proj) x.p.scale *= s;
        else if (x.kind == Kind::scores) x.scale *= s;
        else refuse(w, "scales a tensor that is neither q, k nor the attention scores (axes " + axes_text(x) + ")");
        set(n, x);
    }

    void slice(const onnx::NodeProto& n, const std::string& w) {
        const Item& x = input(n, 0, w);
        if (x.kind != Kind::proj || x.heads)
            refuse(w, "only slices of the features of a projection (q, k, v from one MatMul) are read");
        const auto rank = static_cast<std::int64_t>(x.axes.size());
        auto last = [&](std::int64_t a) { return a == -1 || a == rank - 1; };
        std::vector<std::pair<std::size_t, std::size_t>> parts;
        if (n.op_type() == "Slice") {
            const Const& st = constant(n, 1, w, "starts");
            const Const& en = constant(n, 2, w, "ends");
            std::int64_t axis = rank - 1;
            if (n.input_size() > 3 && !n.input(3).empty()) {
                const Const& ax = constant(n, 3, w, "axes");
                if (ax.data.size() != 1) refuse(w, "slices more than one axis");
                axis = as_int(ax.data[0], w);
            }
            if (n.input_size() > 4 && !n.input(4).empty()) {
                const Const& sp = constant(n, 4, w, "steps");
                if (sp.data.size() != 1 || sp.data[0] != 1.0) refuse(w, "only step 1 is read");
            }
            if (!last(axis) || st.data.size() != 1 || en.data.size() != 1) refuse(w, "only slices of the last axis are read");
            const auto W = static_cast<std::int64_t>(x.width);
            auto cl = [&](std::int64_t v) { return std::clamp<std::int64_t>(v < 0 ? v + W : v, 0, W); };
            const auto b = cl(as_int(st.data[0], w)), e = cl(as_int(en.data[0], w));
            if (b >= e) refuse(w, "an empty slice");
            parts.push_back({static_cast<std::size_t>(b), static_cast<std::size_t>(e)});
        } else {
            if (!last(attr_i(n, "axis", 0))) refuse(w, "only splits of the last axis are read");
            std::vector<std::int64_t> sizes;
            if (n.input_size() > 1 && !n.input(1).empty())
                for (double v : constant(n, 1, w, "split").data) sizes.push_back(as_int(v, w));
            else sizes = attr_ints(n, "split", {});
            if (sizes.empty()) {
                const auto k = static_cast<std::size_t>(n.output_size());
                if (k == 0 || x.width % k != 0) refuse(w, "the outputs do not split the features evenly");
                sizes.assign(k, static_cast<std::int64_t>(x.width / k));
            }
            if (static_cast<int>(sizes.size()) != n.output_size()) refuse(w, "split sizes do not match the outputs");
            std::size_t at = 0;
            for (auto s : sizes) {
                if (s <= 0 || at + static_cast<std::size_t>(s) > x.width) refuse(w, "split sizes exceed the features");
                parts.push_back({at, at + static_cast<std::size_t>(s)});
                at += static_cast<std::size_t>(s);
            }
        }
        for (std::size_t k = 0; k < parts.size(); ++k) {
            Item e = x;
            const auto [b, en] = parts[k];
            Proj& p = e.p;
            p.out = en - b;
            p.w.assign(x.p.in * p.out, 0.0);
            for (std::size_t i = 0; i < x.p.in; ++i)
                for (std::size_t o = 0; o < p.out; ++o) p.w[i * p.out + o] = x.p.w[i * x.p.out + b + o];
            if (!x.p.b.empty()) p.b.assign(x.p.b.begin() + static_cast<long>(b), x.p.b.begin() + static_cast<long>(en));
            e.width = p.out;
            if (!n.output(static_cast<int>(k)).empty()) items_[n.output(static_cast<int>(k))] = std::move(e);
        }
    }

    /// Regroups the atoms of `x` into the target shape, splitting the features D into heads
    /// H x J where a target dimension asks for it.
    void reshape(const onnx::NodeProto& n, const std::string& w) {
        Item x = input(n, 0, w);
        if (x.kind == Kind::ln || x.kind == Kind::scores || x.kind == Kind::probs)
            refuse(w, "reshapes an intermediate tensor of layer norm or attention");
        if (attr_i(n, "allowzero", 0) != 0) refuse(w, "allowzero = 1 is not read");
        const Const& s = constant(n, 1, w, "shape");
        const auto cur = shape_of(x, w);
        std::int64_t total = 1;
        for (auto d : cur) total *= d;
        std::vector<std::int64_t> want;
        int infer = -1;
        std::int64_t known = 1;
        for (std::size_t k = 0; k < s.data.size(); ++k) {
            auto d = as_int(s.data[k], w);
            if (d == 0) {
                if (k >= cur.size()) refuse(w, "copies a dimension the input does not have");
                d = cur[k];
            }
            if (d == -1) {
                if (infer >= 0) refuse(w, "more than one -1 in the shape");
                infer = static_cast<int>(k);
            } else if (d <= 0) {
                refuse(w, "shape entry " + std::to_string(d) + " is not read");
            } else {
                if (d > total || known > total / d) refuse(w, "the target shape holds more elements than the input");
                known *= d;
            }
            want.push_back(d);
        }
        if (infer >= 0) {
            if (known == 0 || total % known != 0) refuse(w, "the shape does not divide the input");
            want[static_cast<std::size_t>(infer)] = total / known;
        } else if (known != total) {
            refuse(w, "the target shape does not hold the input's elements (the batch must stay dynamic: a fixed "
                      "batch in a shape is not read)");
        }
        std::string atoms;
        for (const auto& ax : x.axes) atoms += ax;
        std::vector<std::string> out;
        std::size_t a = 0;
        for (auto d : want) {
            std::string ax;
            std::int64_t have = 1;
            while (have < d) {
                if (a >= atoms.size()) refuse(w, "the target shape does not regroup the input's axes " + axes_text(x));
                const auto sz = static_cast<std::int64_t>(atom_size(atoms[a], x));
                if (sz <= 0) refuse(w, "an axis of size 0");
                if (sz <= d / have) {
                    have *= sz;
                    ax += atoms[a++];
                    continue;
                }
                // Only the features split, into heads and the size of a head.
                const std::int64_t h = d / have;
                if (atoms[a] != 'D' || d % have != 0 || sz % h != 0 || x.heads)
                    refuse(w, "the target shape " + shape_text(want) + " splits axes " + axes_text(x) +
                              " other than the features into heads");
                x.heads = static_cast<std::size_t>(h);
                atoms.replace(a, 1, "HJ");
            }
            while (a < atoms.size() && atom_size(atoms[a], x) == 1) ax += atoms[a++];
            if (ax.empty()) refuse(w, "the target shape " + shape_text(want) + " does not regroup axes " + axes_text(x));
            out.push_back(ax);
        }
        if (a != atoms.size()) refuse(w, "the target shape does not regroup the input's axes " + axes_text(x));
        if (x.kind == Kind::proj && !x.heads) {
            // A projection regrouped but not split into heads: emitted once, shared.
            x.kind = Kind::seq;
            x.value = seq(n.input(0), w);
            x.p = {};
        }
        x.axes = out;
        if (x.kind == Kind::seq) check_rows(x, w); // only batch/time regroupings of a sequence
        if (x.kind == Kind::proj && x.heads && x.p.out != x.width) refuse(w, "splits a projection into heads unevenly");
        set(n, x);
    }

    static std::string shape_text(const std::vector<std::int64_t>& d) {
        std::string s = "[";
        for (std::size_t k = 0; k < d.size(); ++k) {
            if (k) s += ',';
            s += d[k] % probe == 0 ? (d[k] == probe ? std::string("N") : "N*" + std::to_string(d[k] / probe))
                                   : std::to_string(d[k]);
        }
        s += ']';
        return s;
    }

    void transpose(const onnx::NodeProto& n, const std::string& w) {
        if (const Item& in = input(n, 0, w); in.kind == Kind::proj && !in.heads) seq(n.input(0), w);
        Item x = input(n, 0, w);
        auto perm = attr_ints(n, "perm", {});
        if (perm.empty())
            for (std::size_t k = x.axes.size(); k-- > 0;) perm.push_back(static_cast<std::int64_t>(k));
        if (perm.size() != x.axes.size()) refuse(w, "perm has " + std::to_string(perm.size()) + " entries for " + std::to_string(x.axes.size()) + " axes");
        std::vector<std::string> out;
        std::vector<bool> seen(perm.size(), false);
        for (auto p : perm) {
            if (p < 0 || p >= static_cast<std::int64_t>(perm.size()) || seen[static_cast<std::size_t>(p)]) refuse(w, "perm is not a permutation");
            seen[static_cast<std::size_t>(p)] = true;
            out.push_back(x.axes[static_cast<std::size_t>(p)]);
        }
        x.axes = out;
        if (x.kind == Kind::seq || (x.kind == Kind::proj && !x.heads) || x.kind == Kind::attn) check_rows(x, w);
        set(n, x);
    }

    void softmax(const onnx::NodeProto& n, const std::string& w) {
        Item x = input(n, 0, w);
        if (x.kind != Kind::scores) refuse(w, "a Softmax is read only over attention scores q . k^T");
        const auto rank = static_cast<std::int64_t>(x.axes.size());
        const auto axis = attr_i(n, "axis", -1);
        if (axis != -1 && axis != rank - 1) refuse(w, "the Softmax is not over the keys (the last axis)");
        x.kind = Kind::probs;
        set(n, x);
    }

    /// Emits the attention node of a finished attention item (q, k, v, output projection).
    int emit_attention(Item& it, const std::string& w) {
        const Proj& q = it.qkv[0];
        const Proj& k = it.qkv[1];
        const Proj& v = it.qkv[2];
        const Proj& o = it.p;
        if (q.src != k.src || q.src != v.src) refuse(w, "q, k and v are projections of different tensors (cross attention is not read)");
        const std::size_t d = q.in;
        if (q.out != d || k.out != d || v.out != d || o.in != d || o.out != d)
            refuse(w, "the projections are not D x D (D = " + std::to_string(d) + ")");
        const std::size_t heads = it.att_heads;
        if (heads == 0 || d % heads != 0) refuse(w, "heads do not divide the width " + std::to_string(d));
        const double want = 1.0 / std::sqrt(static_cast<double>(d / heads));
        if (std::abs(it.scale - want) > 1e-6 * want)
            refuse(w, "the scores are scaled by " + std::to_string(it.scale) + ", the attention op by 1/sqrt(" +
                      std::to_string(d / heads) + ") = " + std::to_string(want));
        compile::Node a = make(compile::Op::attention);
        a.kernel = {heads, 1};
        a.weights.resize(4 * d * d);
        a.bias.assign(4 * d, 0.0f);
        const Proj* ps[4] = {&q, &k, &v, &o};
        for (std::size_t m = 0; m < 4; ++m) {
            const Proj& p = *ps[m];
            for (std::size_t r = 0; r < d; ++r) {
                for (std::size_t i = 0; i < d; ++i)
                    a.weights[m * d * d + r * d + i] = static_cast<float>(p.scale * p.w[i * d + r]);
                if (!p.b.empty()) a.bias[m * d + r] = static_cast<float>(p.scale * p.b[r]);
            }
        }
        check_rows(it, w);
        const int src = q.src;
        it.kind = Kind::seq;
        it.qkv.clear();
        it.p = {};
        it.heads = 0;
        it.value = g_.append(std::move(a), {src}, g_.values[static_cast<std::size_t>(src)]);
        return it.value;
    }

    void layer_norm(const onnx::NodeProto& n, const std::string& w) {
        const int x = seq(n.input(0), w);
        const Item& it = item(n.input(0), w);
        check_rows(it, w);
        const auto axis = attr_i(n, "axis", -1);
        if (axis != -1 && axis != static_cast<std::int64_t>(it.axes.size()) - 1) refuse(w, "normalizes over more than the features");
        if (n.output_size() > 1) {
            for (int k = 1; k < n.output_size(); ++k)
                if (!n.output(k).empty()) refuse(w, "the mean and inverse deviation outputs are not read");
        }
        const Const& g = constant(n, 1, w, "scale");
        std::vector<double> beta(it.width, 0.0);
        if (n.input_size() > 2 && !n.input(2).empty()) beta = constant(n, 2, w, "bias").data;
        if (g.data.size() != it.width || beta.size() != it.width) refuse(w, "scale or bias is not one value per feature");
        compile::Node l = make(compile::Op::layer_norm);
        l.alpha = attr_f(n, "epsilon", 1e-5f);
        for (double v : g.data) l.extra.push_back(static_cast<float>(v));
        for (double v : beta) l.extra.push_back(static_cast<float>(v));
        Item e = it;
        e.value = g_.append(std::move(l), {x}, g_.values[static_cast<std::size_t>(x)]);
        set(n, e);
    }

    std::vector<std::int64_t> reduce_axes(const onnx::NodeProto& n, const std::string& w) const {
        if (n.input_size() > 1 && !n.input(1).empty()) {
            std::vector<std::int64_t> a;
            for (double v : constant(n, 1, w, "axes").data) a.push_back(as_int(v, w));
            return a;
        }
        return attr_ints(n, "axes", {});
    }

    /// ReduceMean over the features (layer norm's mean and variance) or over time.
    void reduce_mean(const onnx::NodeProto& n, const std::string& w) {
        Item x = input(n, 0, w);
        const auto axes = reduce_axes(n, w);
        const auto rank = static_cast<std::int64_t>(x.axes.size());
        if (axes.size() != 1) refuse(w, "reduces over " + std::to_string(axes.size()) + " axes; one is read");
        const auto axis = axes[0] < 0 ? axes[0] + rank : axes[0];
        const bool keep = attr_i(n, "keepdims", 1) != 0;
        if (axis == rank - 1) {
            if (!keep) refuse(w, "a mean over the features without keepdims is not read");
            Item e;
            e.kind = Kind::ln;
            e.axes = x.axes;
            e.width = x.width;
            if (x.kind == Kind::ln && x.ln == Ln::squared) {
                e = x;
                e.ln = Ln::var;
                return set(n, e);
            }
            e.ln_src = seq(n.input(0), w);
            check_rows(item(n.input(0), w), w);
            e.ln = Ln::mean;
            return set(n, e);
        }
        if (axis < 0 || axis >= rank || x.axes[static_cast<std::size_t>(axis)] != "T")
            refuse(w, "a mean over axis " + std::to_string(axes[0]) + " (axes " + axes_text(x) + "); over the features "
                      "(layer norm) or over time is read");
        if (keep) refuse(w, "a mean over time with keepdims = 1 is not read");
        const int v = seq(n.input(0), w);
        const Item& it = item(n.input(0), w);
        check_rows(it, w);
        Item e = it;
        e.axes.erase(e.axes.begin() + axis);
        e.value = g_.append(make(compile::Op::global_avg_pool), {v}, {it.width});
        set(n, e);
    }

    void sub(const onnx::NodeProto& n, const std::string& w) {
        if (n.input_size() == 2 && !find_const(n.input(0)) && !find_const(n.input(1))) {
            const Item& m = item(n.input(1), w);
            auto it = items_.find(n.input(0));
            if (m.kind == Kind::ln && m.ln == Ln::mean && it != items_.end() && it->second.kind == Kind::seq &&
                it->second.value == m.ln_src) {
                Item e = m;
                e.ln = Ln::centred;
                return set(n, e);
            }
        }
        refuse(w, "a Sub is read only as layer norm's x - mean(x)");
    }

    void ln_step(const onnx::NodeProto& n, const std::string& w) {
        Item x = input(n, 0, w);
        if (n.op_type() == "Pow") {
            const Const& e = constant(n, 1, w, "exponent");
            if (x.kind != Kind::ln || x.ln != Ln::centred || e.data.size() != 1 || e.data[0] != 2.0)
                refuse(w, "a Pow is read only as layer norm's (x - mean)^2");
            x.ln = Ln::squared;
        } else {
            if (x.kind != Kind::ln || x.ln != Ln::var_eps) refuse(w, "a Sqrt is read only as layer norm's sqrt(var + eps)");
            x.ln = Ln::stdev;
        }
        set(n, x);
    }

    void finish_ln(const onnx::NodeProto& n, const Item& x, const Const& beta, const std::string& w) {
        if (beta.data.size() != x.width && beta.data.size() != 1) refuse(w, "beta is not one value per feature");
        compile::Node l = make(compile::Op::layer_norm);
        l.alpha = static_cast<float>(x.eps);
        for (double v : x.gamma) l.extra.push_back(static_cast<float>(v));
        for (std::size_t k = 0; k < x.width; ++k) l.extra.push_back(static_cast<float>(beta.data[beta.data.size() == 1 ? 0 : k]));
        Item e = x;
        e.kind = Kind::seq;
        e.value = g_.append(std::move(l), {x.ln_src}, g_.values[static_cast<std::size_t>(x.ln_src)]);
        set(n, e);
    }

    const onnx::ModelProto& m_;
    std::string file_;
    std::size_t t_ = 0;
    compile::Graph g_;
    std::map<std::string, Const> consts_;
    std::map<std::string, Item> items_;
    std::map<compile::Op, std::size_t> names_;
};

} // namespace edgestack::io::detail
