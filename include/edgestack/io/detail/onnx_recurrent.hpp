// ONNX import of recurrent layers as PyTorch exports nn.GRU and nn.LSTM (batch_first, one
// layer per node, unidirectional or bidirectional): the GRU / LSTM node itself (gates
// reordered from ONNX's z, r, h and i, o, f, c into ours, checked attributes), its zero
// initial state (Shape/Gather/Unsqueeze/Concat feeding a ConstantOfShape or Expand of 0),
// the Transposes around it and the Squeeze, Gather + Concat or Transpose + Reshape that read
// its time-major outputs Y [T, D, N, U] and Y_h [D, N, U]. Both importers use it: the graph
// importer (onnx_graph_import.hpp) turns the pattern into one gru / lstm node per output
// read, the declared importer (onnx_import.hpp) skips the pattern's layout operators.
//
// Refused, naming the node: a nonzero or given initial state, sequence_lens, peepholes,
// clip, activations other than the defaults, direction "reverse", layout = 1, LSTM's
// input_forget and Y_c, and any other reader of Y or Y_h. A GRU with linear_before_reset = 0
// (ONNX's default) becomes a gru node with alpha = 1; the declared GRU layer is PyTorch's
// linear_before_reset = 1 only, so import_onnx refuses the other form.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/io/detail/onnx_model.hpp"

namespace edgestack::io::detail {

/// A GRU or LSTM node read into our layout: per direction W_x [G*U][F], W_h [G*U][U] in our
/// gate order, then the biases (gru: b_x [3U], b_h [3U]; lstm: b_x + b_h [4U]).
struct RnnNode {
    compile::Op op = compile::Op::gru; ///< gru or lstm
    std::size_t directions = 1;        ///< 1 or 2 (bidirectional)
    std::size_t units = 0;             ///< U, per direction
    std::size_t features = 0;          ///< F
    std::vector<float> weights;        ///< both directions' W_x, W_h
    std::vector<float> bias;           ///< both directions' biases
    bool reset_before = false;         ///< gru: linear_before_reset = 0
};

/// Looks up a constant tensor by name: its dims and values, or nothing.
using RnnConstLookup = std::function<std::optional<FloatTensor>(const std::string&)>;

/// Whether `name` holds a zero initial state: empty (not given), or a constant of zeros.
/// `zero_view` says whether it is a zero tensor the importer tracks itself (a
/// ConstantOfShape of 0 over a shape holding the batch).
inline bool rnn_zero_state(const std::string& name, const RnnConstLookup& c,
                           const std::function<bool(const std::string&)>& zero_view) {
    if (name.empty() || zero_view(name)) return true;
    const auto t = c(name);
    return t && std::all_of(t->data.begin(), t->data.end(), [](float v) { return v == 0.0f; });
}

/// Reads and checks a GRU or LSTM node (`w` names it in messages).
inline RnnNode read_rnn_node(const onnx::NodeProto& n, const std::string& w, const RnnConstLookup& c,
                             const std::function<bool(const std::string&)>& zero_view,
                             const std::function<bool(const std::string&)>& used) {
    auto refuse = [&](const std::string& why) { throw format_error(w + ": " + why); };
    const bool gru = n.op_type() == "GRU";
    const std::size_t G = gru ? 3 : 4;
    RnnNode r;
    r.op = gru ? compile::Op::gru : compile::Op::lstm;
    const auto* dir_attr = find_attr(n, "direction");
    const std::string dir = dir_attr ? dir_attr->s() : "forward";
    if (dir == "bidirectional") r.directions = 2;
    else if (dir != "forward")
        refuse("direction '" + dir + "' is not run (forward and bidirectional are)");
    if (find_attr(n, "clip")) refuse("clip (a bound on the gate pre-activations) is not run");
    if (find_attr(n, "activation_alpha") || find_attr(n, "activation_beta"))
        refuse("activation_alpha / activation_beta are not run: only the default activations are");
    if (const auto* a = find_attr(n, "activations")) {
        const std::vector<std::string> def = gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                 : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
        bool ok = a->strings_size() == static_cast<int>(def.size() * r.directions);
        for (int k = 0; ok && k < a->strings_size(); ++k)
            ok = a->strings(k) == def[static_cast<std::size_t>(k) % def.size()];
        if (!ok) refuse("activations other than the defaults (" + std::string(gru ? "Sigmoid, Tanh" : "Sigmoid, Tanh, Tanh") +
                        ") are not run");
    }
    if (attr_i(n, "layout", 0) != 0) refuse("layout = 1 (batch-major Y) is not read; PyTorch writes layout 0");
    if (!gru && attr_i(n, "input_forget", 0) != 0) refuse("input_forget = 1 (coupled input and forget gates) is not run");
    r.reset_before = gru && attr_i(n, "linear_before_reset", 0) == 0;
    auto given = [&](int k) { return n.input_size() > k && !n.input(k).empty(); };
    if (given(4)) refuse("sequence_lens is not read: every sequence runs all T steps");
    const char* state_name[] = {"initial_h", "initial_c"};
    for (int k = 5; k <= (gru ? 5 : 6); ++k)
        if (given(k) && !rnn_zero_state(n.input(k), c, zero_view))
            refuse(std::string(state_name[k - 5]) + " '" + n.input(k) +
                   "' is not a zero state; only a zero initial state (PyTorch's default) is run");
    if (!gru && given(7) && !rnn_zero_state(n.input(7), c, zero_view)) refuse("peepholes (input P) are not run");
    if (!gru && n.output_size() > 2 && !n.output(2).empty() && used(n.output(2)))
        refuse("its cell state Y_c is read; only Y and Y_h are");

    auto need = [&](int k, const char* what) {
        if (!given(k)) refuse(std::string("missing ") + what);
        auto t = c(n.input(k));
        if (!t) refuse(std::string(what) + " '" + n.input(k) + "' is not a constant");
        return *t;
    };
    const FloatTensor W = need(1, "W"), R = need(2, "R");
    const auto D = static_cast<std::int64_t>(r.directions);
    if (W.dims.size() != 3 || R.dims.size() != 3 || W.dims[0] != D || R.dims[0] != D || W.dims[1] % G != 0 ||
        W.dims[1] <= 0 || W.dims[2] <= 0 || R.dims[1] != W.dims[1] || R.dims[2] * static_cast<std::int64_t>(G) != W.dims[1])
        refuse("W and R are not [D, " + std::to_string(G) + "U, F] and [D, " + std::to_string(G) + "U, U]");
    const std::size_t U = static_cast<std::size_t>(R.dims[2]), F = static_cast<std::size_t>(W.dims[2]), GU = G * U;
    if (attr_i(n, "hidden_size", static_cast<std::int64_t>(U)) != static_cast<std::int64_t>(U))
        refuse("hidden_size differs from R's " + std::to_string(U));
    FloatTensor B;
    B.data.assign(r.directions * 2 * GU, 0.0f);
    if (given(3)) {
        B = need(3, "B");
        if (B.dims.size() != 2 || B.dims[0] != D || B.dims[1] != static_cast<std::int64_t>(2 * GU))
            refuse("B is not [D, " + std::to_string(2 * G) + "U]");
    }
    r.units = U;
    r.features = F;
    // ONNX position k holds our gate gate_of[k] (as the exporter writes them).
    const std::vector<std::size_t> gate_of = gru ? std::vector<std::size_t>{1, 0, 2} : std::vector<std::size_t>{0, 3, 1, 2};
    for (std::size_t d = 0; d < r.directions; ++d) {
        std::vector<float> wx(GU * F), wh(GU * U), bias(gru ? 2 * GU : GU, 0.0f);
        const float* w = W.data.data() + d * GU * F;
        const float* rr = R.data.data() + d * GU * U;
        const float* b = B.data.data() + d * 2 * GU;
        for (std::size_t k = 0; k < G; ++k) {
            const std::size_t o = gate_of[k];
            std::copy_n(w + k * U * F, U * F, wx.begin() + static_cast<long>(o * U * F));
            std::copy_n(rr + k * U * U, U * U, wh.begin() + static_cast<long>(o * U * U));
            for (std::size_t u = 0; u < U; ++u) {
                if (gru) {
                    bias[o * U + u] = b[k * U + u];
                    bias[GU + o * U + u] = b[GU + k * U + u];
                } else {
                    bias[o * U + u] = b[k * U + u] + b[GU + k * U + u];
                }
            }
        }
        r.weights.insert(r.weights.end(), wx.begin(), wx.end());
        r.weights.insert(r.weights.end(), wh.begin(), wh.end());
        r.bias.insert(r.bias.end(), bias.begin(), bias.end());
    }
    return r;
}

/// How a tensor on the way out of a recurrent node is laid out.
enum class RnnView : unsigned char {
    y,          ///< Y: [T, D, N, U]
    y_h,        ///< Y_h: [D, N, U]
    half,       ///< one direction of a bidirectional Y_h: [N, U]
    time_major, ///< [T, N, D*U]: every step, time-major (another GRU / LSTM may read it)
    split,      ///< [T, N, D, U]: a bidirectional Y transposed
    batch_dirs, ///< [N, D, U]: Y_h transposed
};

/// Where a view leads after one more operator: another view, or the end of the pattern
/// (a batch-major tensor: the node's every step or last step).
struct RnnNext {
    bool ends = false;       ///< the result is batch-major
    bool every_step = false; ///< when it ends: T x D*U (else D*U)
    RnnView view{};          ///< when it does not end
    int half = 0;            ///< RnnView::half: 0 forward, 1 backward
};

/// What `n` (reading view `v` of a node with `D` directions of `U` units as its first input)
/// makes of it; refuses what PyTorch does not write. `ints(k)` is input k as integers, if
/// constant.
inline RnnNext rnn_next(const onnx::NodeProto& n, RnnView v, std::size_t D, std::size_t U, int opset, const std::string& w,
                        const std::function<std::optional<std::vector<std::int64_t>>(int)>& ints) {
    const std::string& t = n.op_type();
    auto fail = [&]() -> RnnNext {
        throw format_error(w + ": reads a recurrent node's time-major output in a form that is not read; the "
                           "forms PyTorch writes are: Y_h through Squeeze(0), Gather(0, -1) or "
                           "Gather + Gather + Concat (bidirectional); Y through Squeeze(1) or Transpose(0, 2, 1, 3) + "
                           "Reshape, then Transpose(1, 0, 2)");
    };
    auto axes = [&]() -> std::vector<std::int64_t> {
        if (opset < 13) return attr_ints(n, "axes", {});
        if (n.input_size() > 1 && !n.input(1).empty()) {
            auto a = ints(1);
            if (!a) fail();
            return *a;
        }
        return {};
    };
    const auto perm = attr_ints(n, "perm", {});
    RnnNext r;
    auto to = [&](RnnView nv) { r.view = nv; return r; };
    auto end = [&](bool every) { r.ends = true; r.every_step = every; return r; };
    if (t == "Identity") return to(v);
    switch (v) {
    case RnnView::y:
        if (D == 1 && t == "Squeeze" && (axes() == std::vector<std::int64_t>{1} || axes() == std::vector<std::int64_t>{-3}))
            return to(RnnView::time_major);
        if (D == 2 && t == "Transpose" && perm == std::vector<std::int64_t>{0, 2, 1, 3}) return to(RnnView::split);
        break;
    case RnnView::split:
        if (t == "Reshape") {
            const auto s = ints(1);
            // [T, N, D*U]: 0 or T, 0 or -1, -1 or D*U.
            if (s && s->size() == 3 && ((*s)[0] >= 0) && ((*s)[1] == 0 || (*s)[1] == -1) &&
                ((*s)[2] == -1 || (*s)[2] == static_cast<std::int64_t>(D * U)))
                return to(RnnView::time_major);
        }
        break;
    case RnnView::time_major:
        if (t == "Transpose" && perm == std::vector<std::int64_t>{1, 0, 2}) return end(true);
        break;
    case RnnView::y_h:
        if (D == 1 && t == "Squeeze") {
            const auto a = axes();
            if (a.empty() || a == std::vector<std::int64_t>{0} || a == std::vector<std::int64_t>{-3}) return end(false);
        }
        if (t == "Gather" && attr_i(n, "axis", 0) == 0) {
            const auto idx = ints(1);
            if (idx && idx->size() == 1) {
                auto k = (*idx)[0];
                if (k < 0) k += static_cast<std::int64_t>(D);
                if (D == 1 && k == 0) return end(false);
                if (D == 2 && (k == 0 || k == 1)) { r.half = static_cast<int>(k); return to(RnnView::half); }
            }
        }
        if (t == "Transpose" && perm == std::vector<std::int64_t>{1, 0, 2}) return to(RnnView::batch_dirs);
        break;
    case RnnView::batch_dirs:
        if (t == "Flatten" && attr_i(n, "axis", 1) == 1) return end(false);
        if (t == "Reshape") {
            const auto s = ints(1);
            if (s && s->size() == 2 && ((*s)[0] == 0 || (*s)[0] == -1) &&
                ((*s)[1] == -1 || (*s)[1] == static_cast<std::int64_t>(D * U)))
                return end(false);
        }
        break;
    case RnnView::half: break; // read only by a Concat (rnn_concat)
    }
    return fail();
}

/// Whether a rank-3 graph input [N, T, F] is a sequence: read only by Shape and by
/// Transposes (1, 0, 2) that feed a GRU or LSTM.
inline bool rnn_sequence_input(const onnx::GraphProto& g, const std::string& name) {
    bool any = false;
    for (const auto& n : g.node())
        for (const auto& i : n.input()) {
            if (i != name) continue;
            if (n.op_type() == "Shape") continue;
            if (n.op_type() != "Transpose" || attr_ints(n, "perm", {}) != std::vector<std::int64_t>{1, 0, 2} ||
                n.output_size() < 1)
                return false;
            bool feeds = false;
            for (const auto& m : g.node())
                if ((m.op_type() == "GRU" || m.op_type() == "LSTM") && m.input_size() > 0 && m.input(0) == n.output(0))
                    feeds = true;
            if (!feeds) return false;
            any = true;
        }
    return any;
}

/// Why a second graph input cannot be read, when it is a recurrent node's initial state.
inline std::string rnn_extra_input_note(const onnx::GraphProto& g, const std::string& name) {
    for (const auto& n : g.node())
        if (n.op_type() == "GRU" || n.op_type() == "LSTM")
            for (int k = 5; k < n.input_size() && k <= 6; ++k)
                if (n.input(k) == name)
                    return " ('" + name + "' is the initial state of " + n.op_type() + " node '" + n.name() +
                           "'; only a zero initial state, which PyTorch writes when none is passed, is run)";
    return {};
}

/// Whether `name` is produced from a zero fill: a ConstantOfShape of 0, or an Expand of
/// zeros, through the shape operators PyTorch puts between them and the recurrent node.
inline bool rnn_zero_fill(const onnx::GraphProto& g, const std::string& name, const RnnConstLookup& c, int depth = 0) {
    if (depth > 8) return false;
    for (const auto& n : g.node()) {
        if (n.output_size() < 1 || n.output(0) != name) continue;
        const std::string& t = n.op_type();
        if (t == "ConstantOfShape") {
            if (const auto* a = find_attr(n, "value"))
                for (double x : tensor_values(a->t(), "ConstantOfShape '" + n.name() + "'"))
                    if (x != 0.0) return false;
            return true;
        }
        if (n.input_size() < 1) return false;
        if (t == "Expand" || t == "Identity" || t == "Cast" || t == "Slice" || t == "Gather" || t == "Squeeze" ||
            t == "Unsqueeze" || t == "Reshape") {
            if (auto v = c(n.input(0)))
                return std::all_of(v->data.begin(), v->data.end(), [](float x) { return x == 0.0f; });
            return rnn_zero_fill(g, n.input(0), c, depth + 1);
        }
        return false;
    }
    return false;
}

/// The recurrent pattern in import_onnx (declared model types): reads a GRU / LSTM node
/// as one layer and skips the layout operators around it.
class OnnxRecurrentChain {
public:
    /// For the model `m`, whose constants `c` finds.
    OnnxRecurrentChain(const onnx::ModelProto& m, RnnConstLookup c) : g_(m.graph()), c_(std::move(c)) {
        for (const auto& o : m.opset_import())
            if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = static_cast<int>(o.version());
        for (const auto& n : g_.node())
            for (const auto& i : n.input()) used_.insert(i);
        for (const auto& o : g_.output()) used_.insert(o.name());
    }
    /// Whether `n` is a layout operator of the pattern (no layer); throws for a reader of a
    /// recurrent output in a form that is not read.
    bool skip(const onnx::NodeProto& n, const std::string& w) {
        const std::string& t = n.op_type();
        if (t == "GRU" || t == "LSTM") return false; // a layer (stacked: X may be a time-major Y)
        if (t == "Transpose" && attr_ints(n, "perm", {}) == std::vector<std::int64_t>{1, 0, 2} && n.output_size() > 0) {
            for (const auto& m : g_.node())
                if ((m.op_type() == "GRU" || m.op_type() == "LSTM") && m.input_size() > 0 && m.input(0) == n.output(0))
                    return true;
        }
        if (t == "Concat" && n.input_size() > 0 && views_.count(n.input(0))) {
            const auto a = views_.find(n.input(0));
            const auto b = n.input_size() == 2 ? views_.find(n.input(1)) : views_.end();
            const auto axis = attr_i(n, "axis", 0);
            if (b == views_.end() || (axis != 1 && axis != -1) || a->second.view != RnnView::half ||
                b->second.view != RnnView::half || a->second.half != 0 || b->second.half != 1 || a->second.node != b->second.node)
                throw format_error(w + ": a Concat of recurrent outputs is read only as PyTorch writes a bidirectional "
                                   "h_n: torch.cat((h_n[-2], h_n[-1]), 1), the forward direction first");
            return true;
        }
        if (n.input_size() == 0 || !views_.count(n.input(0))) return false;
        const View v = views_.at(n.input(0));
        auto ints = [&](int k) -> std::optional<std::vector<std::int64_t>> {
            if (n.input_size() <= k || n.input(k).empty()) return std::nullopt;
            const auto f = c_(n.input(k));
            if (!f) return std::nullopt;
            std::vector<std::int64_t> r;
            for (float x : f->data) r.push_back(constant_integer(x, w, "an index of a recurrent output"));
            return r;
        };
        const RnnNext nx = rnn_next(n, v.view, v.directions, v.units, opset_, w, ints);
        if (!nx.ends && n.output_size() > 0) views_[n.output(0)] = View{nx.view, v.directions, v.units, nx.half, v.node};
        return true;
    }
    /// Reads GRU / LSTM `n`; `every_step` says whether its output is Y (every step) rather
    /// than Y_h (the last step).
    RnnNode read(const onnx::NodeProto& n, const std::string& w, bool& every_step) {
        auto zero = [&](const std::string& s) { return rnn_zero_fill(g_, s, c_); };
        auto used = [&](const std::string& s) { return used_.count(s) > 0; };
        RnnNode r = read_rnn_node(n, w, c_, zero, used);
        const bool y = n.output_size() > 0 && used(n.output(0)), yh = n.output_size() > 1 && used(n.output(1));
        if (y && yh)
            throw format_error(w + ": both Y (every step) and Y_h (the last step) are read; a declared layer gives one");
        every_step = y;
        ++nodes_;
        if (y) views_[n.output(0)] = View{RnnView::y, r.directions, r.units, 0, nodes_};
        if (yh) views_[n.output(1)] = View{RnnView::y_h, r.directions, r.units, 0, nodes_};
        return r;
    }

private:
    struct View {
        RnnView view;
        std::size_t directions, units;
        int half;
        int node;
    };
    const onnx::GraphProto& g_;
    RnnConstLookup c_;
    int opset_ = 13;
    int nodes_ = 0;
    std::set<std::string> used_;
    std::map<std::string, View> views_;
};

/// The recurrent pattern in import_onnx_graph: tracks the views above and appends a gru /
/// lstm node where the pattern ends. Im is the importer (a friend of it).
class OnnxRecurrentGraph {
public:
    /// Handles `n` if it belongs to a recurrent pattern; false leaves it to the importer.
    template <class Im>
    bool node(Im& im, const onnx::NodeProto& n, const std::string& w) {
        const std::string& t = n.op_type();
        if (t == "GRU" || t == "LSTM") return recurrent(im, n, w);
        const bool first_view = n.input_size() > 0 && views_.count(n.input(0));
        bool any_view = false;
        for (const auto& i : n.input()) any_view = any_view || views_.count(i) || zeros_.count(i);
        if (t == "Concat" && any_view) return concat(im, n, w);
        if (t == "Shape" && first_view && views_.at(n.input(0)).kind == View::input && n.attribute_size() == 0) {
            // The time-major input's shape [T, N, F] (a file with a fixed batch reads N from it).
            typename Im::Entry e;
            e.value = views_.at(n.input(0)).value;
            e.layout = Im::Layout::flat;
            const auto s = im.onnx_shape(e); // N, T, F
            std::remove_cvref_t<decltype(*im.find_const(n.input(0)))> c;
            c.data = {s[1], s[0], s[2]};
            c.dims = {3};
            im.store(n.output(0), std::move(c), w);
            return true;
        }
        if (first_view) {
            const View v = views_.at(n.input(0));
            if (v.kind == View::input) { // only a GRU / LSTM reads the transposed input
                throw format_error(w + ": reads a time-major sequence, which only a GRU or LSTM node can read");
            }
            Rnn& r = rnns_[static_cast<std::size_t>(v.rnn)];
            auto ints = [&](int k) -> std::optional<std::vector<std::int64_t>> {
                if (n.input_size() <= k || n.input(k).empty()) return std::nullopt;
                const auto* c = im.find_const(n.input(k));
                if (!c) return std::nullopt;
                return im.int_list(*c, w);
            };
            const RnnNext nx = rnn_next(n, v.view, r.directions, r.node.units, static_cast<int>(im.opset_), w, ints);
            if (nx.ends) return im.set_output(n, materialize(im, v.rnn, nx.every_step, w)), true;
            views_[n.output(0)] = View{View::rnn_out, nx.view, v.rnn, nx.half, -1};
            return true;
        }
        // The zero initial state: ConstantOfShape / Expand of 0, and the shape operators on it.
        if (n.input_size() > 0 && zeros_.count(n.input(0))) {
            static const char* keep[] = {"Identity", "Cast", "Expand", "Slice", "Gather", "Squeeze", "Unsqueeze", "Reshape"};
            if (std::find(std::begin(keep), std::end(keep), t) == std::end(keep))
                throw format_error(w + ": reads a zero initial state, which only a GRU or LSTM node can read");
            zeros_.insert(n.output(0));
            return true;
        }
        if (t == "ConstantOfShape" && n.input_size() == 1 && im.is_const(n.input(0))) {
            bool zero = true;
            if (const auto* a = find_attr(n, "value"))
                for (double x : tensor_values(a->t(), w)) zero = zero && x == 0.0;
            if (!zero)
                throw format_error(w + ": fills a tensor with a nonzero value, which is not a zero state; a "
                                   "ConstantOfShape is read only as a GRU's or LSTM's zero initial state");
            zeros_.insert(n.output(0));
            return true;
        }
        if (t == "Expand" && n.input_size() == 2 && im.is_const(n.input(0)) && im.is_const(n.input(1))) {
            const auto& d = im.find_const(n.input(0))->data;
            if (!std::all_of(d.begin(), d.end(), [](double x) { return x == 0.0; })) return false;
            zeros_.insert(n.output(0));
            return true;
        }
        if (t == "Transpose" && attr_ints(n, "perm", {}) == std::vector<std::int64_t>{1, 0, 2} && n.input_size() == 1 &&
            feeds_rnn(im.m_.graph(), n.output(0))) {
            const auto& e = im.input_act(n, 0, w);
            if (e.layout != Im::Layout::flat || im.dims(e).size() != 2)
                throw format_error(w + ": the input of a GRU / LSTM must be an N x T x F sequence");
            views_[n.output(0)] = View{View::input, RnnView::y, -1, 0, e.value};
            return true;
        }
        return false;
    }

private:
    struct View {
        enum Kind { input, rnn_out } kind = input;
        RnnView view = RnnView::y; // rnn_out: the layout
        int rnn = -1;              // rnn_out: index into rnns_
        int half = 0;              // RnnView::half
        int value = -1;            // input: the batch-major T x F value
    };
    struct Rnn {
        RnnNode node;
        int x = -1;                  // the T x F value it reads
        std::size_t steps = 0;       // T
        std::size_t directions = 1;  // D
        int last = -1, last_node = -1, every = -1, every_node = -1; // appended nodes' values / indices
        std::string name;            // the ONNX node, for messages
    };

    static bool feeds_rnn(const onnx::GraphProto& g, const std::string& name) {
        for (const auto& m : g.node())
            if ((m.op_type() == "GRU" || m.op_type() == "LSTM") && m.input_size() > 0 && m.input(0) == name) return true;
        return false;
    }

    template <class Im>
    typename Im::Entry materialize(Im& im, int k, bool every_step, const std::string& w) {
        Rnn& r = rnns_[static_cast<std::size_t>(k)];
        int& v = every_step ? r.every : r.last;
        int& p = every_step ? r.every_node : r.last_node;
        if (v < 0) {
            compile::Node g;
            g.op = r.node.op;
            g.weights = r.node.weights;
            g.bias = r.node.bias;
            g.alpha = r.node.reset_before ? 1.0f : 0.0f;
            const std::size_t out = r.directions * r.node.units;
            auto e = im.append(std::move(g), {r.x}, every_step ? compile::Dims{r.steps, out} : compile::Dims{out},
                               Im::Layout::flat, w);
            v = e.value;
            p = e.producer;
        }
        typename Im::Entry e;
        e.value = v;
        e.producer = p;
        e.layout = Im::Layout::flat;
        return e;
    }

    template <class Im>
    bool recurrent(Im& im, const onnx::NodeProto& n, const std::string& w) {
        if (n.input_size() < 1) throw format_error(w + ": has no input");
        int x = -1;
        std::size_t T = 0, F = 0;
        auto it = views_.find(n.input(0));
        if (it != views_.end() && it->second.kind == View::input) {
            x = it->second.value;
        } else if (it != views_.end() && it->second.view == RnnView::time_major) {
            x = materialize(im, it->second.rnn, true, w).value; // stacked: the previous node's every step
        } else {
            throw format_error(w + ": X must be the model's N x T x F sequence transposed to time-major "
                               "(Transpose(1, 0, 2), as PyTorch writes batch_first) or a previous GRU / LSTM's Y");
        }
        const auto& xd = im.g_.values[static_cast<std::size_t>(x)];
        T = xd[0];
        F = xd[1];
        RnnConstLookup lookup = [&](const std::string& name) -> std::optional<FloatTensor> {
            const auto* c = im.find_const(name);
            if (!c) return std::nullopt;
            FloatTensor f;
            f.dims = c->dims;
            f.data.assign(c->data.begin(), c->data.end());
            return f;
        };
        Rnn r;
        r.node = read_rnn_node(n, w, lookup, [&](const std::string& s) { return zeros_.count(s) > 0; },
                               [&](const std::string& s) { return im.uses_.count(s) > 0 && im.uses_.at(s) > 0; });
        if (r.node.features != F)
            throw format_error(w + ": W has " + std::to_string(r.node.features) + " features per step, X has " +
                               std::to_string(F));
        r.x = x;
        r.steps = T;
        r.directions = r.node.directions;
        r.name = n.name();
        rnns_.push_back(std::move(r));
        const int k = static_cast<int>(rnns_.size()) - 1;
        if (n.output_size() > 0 && !n.output(0).empty()) views_[n.output(0)] = View{View::rnn_out, RnnView::y, k, 0, -1};
        if (n.output_size() > 1 && !n.output(1).empty()) views_[n.output(1)] = View{View::rnn_out, RnnView::y_h, k, 0, -1};
        return true;
    }

    template <class Im>
    bool concat(Im& im, const onnx::NodeProto& n, const std::string& w) {
        auto fail = [&] {
            throw format_error(w + ": a Concat of recurrent outputs is read only as PyTorch writes a bidirectional "
                               "h_n: torch.cat((h_n[-2], h_n[-1]), 1), the forward direction first");
        };
        const auto axis = attr_i(n, "axis", 0);
        if (n.input_size() != 2 || (axis != 1 && axis != -1)) fail();
        const auto a = views_.find(n.input(0)), b = views_.find(n.input(1));
        if (a == views_.end() || b == views_.end() || a->second.view != RnnView::half ||
            b->second.view != RnnView::half || a->second.rnn != b->second.rnn || a->second.half != 0 ||
            b->second.half != 1)
            fail();
        im.set_output(n, materialize(im, a->second.rnn, false, w));
        return true;
    }

    std::map<std::string, View> views_;
    std::set<std::string> zeros_; // zero initial states (and the shape operators on them)
    std::vector<Rnn> rnns_;
};

} // namespace edgestack::io::detail
