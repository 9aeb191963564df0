// The training hooks behind Ptq's calibration and Qat's fake quantization: which layer
// output is which graph value, range tracking per value, fake-quantized weights per layer,
// and the straight-through estimator's mask.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/nn/hooks.hpp"
#include "edgestack/quant/detail/plan.hpp"
#include "edgestack/quant/scheme.hpp"

namespace edgestack::quant::detail {

/// A model whose layers can be walked one by one and that takes training hooks: what
/// nn::Sequential provides.
template <class M>
concept HookableModel = requires(M& m, const M& cm, nn::TrainHooks* h) {
    { M::depth } -> std::convertible_to<std::size_t>;
    m.set_hooks(h);
    { cm.hooks() } -> std::convertible_to<nn::TrainHooks*>;
    cm.layer_info(std::size_t{0});
    cm.template layer<0>();
    cm.template layer_params<0>();
};

/// The model lowered layer by layer, remembering the value each layer's output became.
struct LayerMap {
    compile::Graph graph;
    std::vector<int> layer_value; // per layer
};

template <class M>
LayerMap map_layers(const M& model) {
    LayerMap lm;
    using In = typename M::input_shape;
    lm.graph = compile::Graph::with_input(compile::Dims(In::dims.begin(), In::dims.end()));
    lm.layer_value.resize(M::depth);
    int value = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((value = model.template layer<I>().lower(lm.graph, value, model.template layer_params<I>()),
          lm.layer_value[I] = value),
         ...);
    }(std::make_index_sequence<M::depth>{});
    lm.graph.output = value;
    return lm;
}

/// Everything a quantizer knows about one model: its plan and the ranges of its values.
struct QuantState {
    compile::Graph graph; // fp32, as model.lower() gives it
    Plan plan;
    std::vector<int> layer_value;
    std::vector<char> layer_observed; // layer output gets its own params (fake-quantized)
    std::vector<ChannelLayout> layer_layout;
    std::vector<char> layer_has_weights;
    // Per layer: the weight blocks quantized one symmetric scale per row, as the int8
    // recurrent layers are (W_x and W_h of a GRU or LSTM, compile/ops/recurrent_int8.hpp).
    struct RowBlock {
        std::size_t offset, rows, cols;
    };
    std::vector<std::vector<RowBlock>> layer_rows;
    std::vector<Range> ranges; // per value
    bool per_channel = true;

    template <class M>
    void build(const M& model, bool per_channel_weights) {
        LayerMap lm = map_layers(model);
        graph = std::move(lm.graph);
        layer_value = std::move(lm.layer_value);
        plan = make_plan(graph);
        per_channel = per_channel_weights;
        ranges.assign(graph.values.size(), {});
        const std::size_t depth = layer_value.size();
        layer_observed.assign(depth, 0);
        layer_layout.assign(depth, {});
        layer_has_weights.assign(depth, 0);
        layer_rows.assign(depth, {});
        for (std::size_t i = 0; i < depth; ++i) {
            const auto v = static_cast<std::size_t>(layer_value[i]);
            layer_observed[i] = plan.values[v].role == Role::observed;
            // The layer's weight node is the first weight node it appended.
            const int first = i == 0 ? 0 : layer_value[i - 1];
            for (const auto& n : graph.nodes) {
                if (n.output > first && n.output <= layer_value[i] && has_weights(n.op)) {
                    layer_layout[i] = channel_layout(n, graph.values[static_cast<std::size_t>(n.output)]);
                    layer_has_weights[i] = 1;
                    break;
                }
                if (n.output > first && n.output <= layer_value[i] &&
                    (n.op == compile::Op::gru || n.op == compile::Op::lstm)) {
                    const auto& in = graph.values[static_cast<std::size_t>(n.inputs[0])];
                    const std::size_t u = graph.values[static_cast<std::size_t>(n.output)].back();
                    const std::size_t gu = (n.op == compile::Op::gru ? 3 : 4) * u, f = in.back();
                    if (n.weights.size() == gu * (f + u)) layer_rows[i] = {{0, gu, f}, {gu * f, gu, u}};
                    break;
                }
            }
        }
    }

    bool matches(const compile::Graph& g) const noexcept {
        return g.values == graph.values && g.nodes.size() == graph.nodes.size();
    }
};

/// The hooks themselves. What they do depends on the flags the quantizer sets.
class QuantHooks final : public nn::TrainHooks {
public:
    explicit QuantHooks(QuantState& s) : s_(&s) {}

    /// Called with (value id, layer output) for observed layers when set (calibration).
    std::function<void(int, std::span<const float>)> observe;
    bool fake_quant = false;    // fake-quantize weights and observed activations
    bool track_ranges = false;  // EMA of each training batch's min and max (QAT)
    float momentum = 0.01f;

    std::span<const float> forward_params(const nn::LayerInfo& info, std::span<const float> p,
                                          nn::Mode) override {
        if (fake_quant && !s_->layer_rows[info.index].empty()) {
            auto& buf = wbuf_for(info.index, p.size());
            std::copy(p.begin(), p.end(), buf.begin());
            for (const auto& b : s_->layer_rows[info.index])
                fake_quantize_weights(p.subspan(b.offset, b.rows * b.cols),
                                      std::span<float>(buf).subspan(b.offset, b.rows * b.cols),
                                      {b.rows, false}, true);
            return buf;
        }
        if (!fake_quant || !s_->layer_has_weights[info.index]) return p;
        auto& buf = wbuf_for(info.index, p.size());
        fake_quantize_weights(p.first(info.weight_count),
                              std::span<float>(buf).first(info.weight_count),
                              s_->layer_layout[info.index], s_->per_channel);
        std::copy(p.begin() + static_cast<std::ptrdiff_t>(info.weight_count), p.end(),
                  buf.begin() + static_cast<std::ptrdiff_t>(info.weight_count));
        return buf;
    }

    void after_forward(const nn::LayerInfo& info, std::span<float> out, nn::Mode mode) override {
        if (!s_->layer_observed[info.index]) return;
        const int v = s_->layer_value[info.index];
        if (observe) observe(v, out);
        Range& r = s_->ranges[static_cast<std::size_t>(v)];
        if (track_ranges && mode == nn::Mode::train && !out.empty()) {
            const auto [lo, hi] = std::minmax_element(out.begin(), out.end());
            if (!r.valid) r = {*lo, *hi, true};
            else {
                r.lo += momentum * (*lo - r.lo);
                r.hi += momentum * (*hi - r.hi);
            }
        }
        if (!fake_quant || !r.valid) return;
        const AffineParams a = r.params();
        const bool keep_mask = mode == nn::Mode::train;
        auto& mask = mask_for(info.index, keep_mask ? out.size() : 0);
        // Values outside the grid's real range are clipped: their gradient is zero.
        const float lo = a.scale * static_cast<float>(-128 - a.zero_point);
        const float hi = a.scale * static_cast<float>(127 - a.zero_point);
        for (std::size_t i = 0; i < out.size(); ++i) {
            if (keep_mask) mask[i] = out[i] >= lo && out[i] <= hi;
            out[i] = fake_quantize(out[i], a);
        }
    }

    void before_backward(const nn::LayerInfo& info, std::span<float> dout,
                         std::span<const float>) override {
        if (!fake_quant || !s_->layer_observed[info.index]) return;
        if (info.index >= masks_.size()) return;
        const auto& mask = masks_[info.index];
        if (mask.size() != dout.size()) return; // no range yet when this batch ran forward
        for (std::size_t i = 0; i < dout.size(); ++i)
            if (!mask[i]) dout[i] = 0.0f;
    }

private:
    std::vector<float>& wbuf_for(std::size_t layer, std::size_t n) {
        if (wbuf_.size() <= layer) wbuf_.resize(layer + 1);
        wbuf_[layer].resize(n);
        return wbuf_[layer];
    }
    std::vector<char>& mask_for(std::size_t layer, std::size_t n) {
        if (masks_.size() <= layer) masks_.resize(layer + 1);
        masks_[layer].resize(n);
        return masks_[layer];
    }

    QuantState* s_;
    std::vector<std::vector<float>> wbuf_;
    std::vector<std::vector<char>> masks_;
};

/// Installs `h` on `m` for the lifetime of this object, then puts back what was there.
template <class M>
class ScopedHooks {
public:
    ScopedHooks(M& m, nn::TrainHooks* h) : m_(m), prev_(m.hooks()) { m_.set_hooks(h); }
    ~ScopedHooks() { m_.set_hooks(prev_); }
    ScopedHooks(const ScopedHooks&) = delete;
    ScopedHooks& operator=(const ScopedHooks&) = delete;

private:
    M& m_;
    nn::TrainHooks* prev_;
};

} // namespace edgestack::quant::detail
