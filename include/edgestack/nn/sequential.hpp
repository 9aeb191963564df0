// nn::Sequential: a model as a flat list of layer specs. Shapes are inferred while the
// program compiles; parameters and gradients each live in one contiguous block, and every
// layer works on its slice of them.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "edgestack/core/aligned.hpp"
#include "edgestack//compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/hooks.hpp"
#include "edgestack/nn/input.hpp"
#include "edgestack/nn/detail/layer_traits.hpp"
#include "edgestack/nn/detail/shape_graph.hpp"
#include "edgestack/nn/detail/stack.hpp"

namespace edgestack::nn {

namespace detail {

template <class T>
struct is_input : std::false_type {};
template <std::size_t... D>
struct is_input<Input<D...>> : std::true_type {};

template <class L>
constexpr std::size_t output_channels_of() {
    using S = typename L::output_shape;
    return S::dims[S::rank - 1];
}

inline std::string group_digits(std::size_t v) {
    const std::string s = std::to_string(v);
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i != 0 && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return out;
}

/// FNV-1a, 64-bit: cheap and stable, good enough to tell architectures apart.
inline std::uint64_t fnv1a(std::string_view s) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

} // namespace detail

/// A model as a flat list of layer specs after its Input: `Sequential<Input<28, 28, 1>,
/// Flatten, Dense<128>, ReLU, Dense<10>>`. Each spec is bound to the shape that reaches it
/// while the program compiles (a mismatch is a static_assert naming the layer); parameters,
/// gradients and state each live in one contiguous block.
template <class InputSpec, class... Specs>
class Sequential {
    static_assert(detail::is_input<InputSpec>::value,
                  "Sequential: the first element must be nn::Input<Dims...> - e.g. "
                  "Sequential<Input<28, 28, 1>, Flatten, Dense<10>>");
    static_assert(sizeof...(Specs) > 0, "Sequential: add at least one layer after Input<...>");

    using chain = detail::bind_chain<typename InputSpec::shape, Specs...>;

public:
    using input_shape = typename InputSpec::shape;         ///< per sample, from Input<...>
    using output_shape = typename chain::output_shape;     ///< per sample, of the last layer
    using layers_type = typename chain::type;              ///< std::tuple of the bound layers
    static constexpr std::size_t depth = sizeof...(Specs); ///< layers after Input

    /// The bound type of layer I.
    template <std::size_t I>
    using layer_type = std::tuple_element_t<I, layers_type>;

private:
    template <std::size_t... I>
    static constexpr std::array<std::size_t, depth + 1> param_offsets_(std::index_sequence<I...>) {
        std::array<std::size_t, depth + 1> o{};
        std::size_t acc = 0, k = 0;
        ((o[k++] = acc, acc += layer_type<I>::param_count), ...);
        o[depth] = acc;
        return o;
    }
    template <std::size_t... I>
    static constexpr std::array<std::size_t, depth + 1> act_offsets_(std::index_sequence<I...>) {
        std::array<std::size_t, depth + 1> o{};
        std::size_t acc = 0, k = 0;
        ((o[k++] = acc, acc += layer_type<I>::output_shape::size), ...);
        o[depth] = acc;
        return o;
    }
    template <std::size_t... I>
    static constexpr std::array<std::size_t, depth + 1> state_offsets_(std::index_sequence<I...>) {
        std::array<std::size_t, depth + 1> o{};
        std::size_t acc = 0, k = 0;
        ((o[k++] = acc, acc += detail::state_count_of<layer_type<I>>()), ...);
        o[depth] = acc;
        return o;
    }
    template <std::size_t... I>
    static constexpr std::size_t macs_(std::index_sequence<I...>) {
        return (std::size_t{0} + ... + layer_type<I>::macs);
    }
    template <std::size_t... I>
    static constexpr std::size_t widest_(std::index_sequence<I...>) {
        return std::max({input_shape::size, layer_type<I>::output_shape::size...});
    }
    using indices = std::make_index_sequence<depth>;

public:
    /// Offset of layer I's parameters in the parameter block (and of its gradients).
    static constexpr std::array<std::size_t, depth + 1> param_offsets = param_offsets_(indices{});
    /// Offset of layer I's output, per sample, in the activation block kept for training.
    static constexpr std::array<std::size_t, depth + 1> activation_offsets =
        act_offsets_(indices{});
    static constexpr std::size_t param_count = param_offsets[depth]; ///< trainable floats in all
    /// Offset of layer I's non-trainable state (BatchNorm running statistics) in state().
    static constexpr std::array<std::size_t, depth + 1> state_offsets = state_offsets_(indices{});
    /// Non-trainable floats in all.
    static constexpr std::size_t state_count = state_offsets[depth];
    static constexpr std::size_t macs = macs_(indices{}); ///< multiply-accumulates per sample
    /// Floats per sample of the widest value (input or any layer output).
    static constexpr std::size_t widest = widest_(indices{});
    /// Floats per sample that inference needs with two ping-pong buffers.
    static constexpr std::size_t inference_arena_floats = 2 * widest;

    Sequential() : params_(param_count, 0.0f), grads_(param_count, 0.0f), state_(state_count) {
        reset_state();
        detail::for_each_index(
            [&](auto i) {
                constexpr std::size_t I = decltype(i)::value;
                using L = layer_type<I>;
                auto& info = info_[I];
                info.index = I;
                info.name = L::name();
                info.weight_count = detail::weight_count_of<L>();
                info.weights_channel_last = detail::weights_channel_last_of<L>();
                info.bias_count = L::param_count - info.weight_count;
                info.output_channels = detail::output_channels_of<L>();
                info.input_size = L::input_shape::size;
                info.output_size = L::output_shape::size;
            },
            indices{});
    }

    // Parameter spans point into this object: a copy must not share them.
    /// A deep copy: parameters, gradients, state and the hooks pointer.
    Sequential(const Sequential& o)
        : layers_(o.layers_), params_(o.params_), grads_(o.grads_), state_(o.state_),
          info_(o.info_), hooks_(o.hooks_) {
        attach_state();
    }
    /// Deep assignment, as the copy constructor.
    Sequential& operator=(const Sequential& o) {
        if (this != &o) {
            layers_ = o.layers_;
            params_ = o.params_;
            grads_ = o.grads_;
            state_ = o.state_;
            info_ = o.info_;
            attach_state();
            hooks_ = o.hooks_;
            used_params_ = {};
        }
        return *this;
    }

    /// Install training hooks (QAT, pruning); nullptr removes them. Not owned.
    void set_hooks(TrainHooks* hooks) noexcept { hooks_ = hooks; }
    TrainHooks* hooks() const noexcept { return hooks_; } ///< the installed hooks, or nullptr
    /// What hooks are told about layer `i`.
    const LayerInfo& layer_info(std::size_t i) const { return info_.at(i); }

    /// Initialise every layer's parameters from `rng` (deterministic for a given seed), and
    /// reset the state block.
    void init(Rng& rng) {
        reset_state();
        detail::for_each_index(
            [&](auto i) {
                constexpr std::size_t I = decltype(i)::value;
                Rng layer_rng = rng.split(I);
                std::get<I>(layers_).init(layer_params<I>(), layer_rng);
            },
            indices{});
    }

    /// Non-trainable state (BatchNorm running mean and variance), one contiguous block that
    /// optimizers never see and checkpoints save beside the parameters. Empty for models
    /// without such layers.
    std::span<float> state() noexcept { return state_; }
    std::span<const float> state() const noexcept { return state_; } ///< read-only
    /// Layer I's slice of state().
    template <std::size_t I>
    std::span<float> layer_state() noexcept {
        return std::span<float>(state_).subspan(state_offsets[I],
                                                detail::state_count_of<layer_type<I>>());
    }
    /// Back to the state a fresh model has (running mean 0, running variance 1).
    void reset_state() {
        detail::for_each_index(
            [&](auto i) {
                constexpr std::size_t I = decltype(i)::value;
                detail::init_state_of(std::get<I>(layers_), layer_state<I>());
            },
            indices{});
        attach_state();
    }

    std::span<float> parameters() noexcept { return params_; } ///< every parameter, layer by layer
    std::span<const float> parameters() const noexcept { return params_; } ///< read-only
    std::span<float> gradients() noexcept { return grads_; } ///< same layout as parameters()
    std::span<const float> gradients() const noexcept { return grads_; } ///< read-only

    /// Layer I's slice of parameters().
    template <std::size_t I>
    std::span<float> layer_params() noexcept {
        return std::span<float>(params_).subspan(param_offsets[I], layer_type<I>::param_count);
    }
    /// Layer I's slice of parameters(), read-only.
    template <std::size_t I>
    std::span<const float> layer_params() const noexcept {
        return std::span<const float>(params_).subspan(param_offsets[I],
                                                       layer_type<I>::param_count);
    }
    /// Layer I's slice of gradients().
    template <std::size_t I>
    std::span<float> layer_grads() noexcept {
        return std::span<float>(grads_).subspan(param_offsets[I], layer_type<I>::param_count);
    }
    /// The bound layer I.
    template <std::size_t I>
    layer_type<I>& layer() noexcept { return std::get<I>(layers_); }
    /// The bound layer I, read-only.
    template <std::size_t I>
    const layer_type<I>& layer() const noexcept { return std::get<I>(layers_); }

    /// Layer I applies the ReLU that follows it itself (a Conv2D then ReLU): without hooks
    /// the pair runs as one layer, and ReLU's input (layer I's own output) is never written.
    template <std::size_t I>
    static constexpr bool fused_with_next() {
        if constexpr (I + 1 >= depth) return false;
        else return detail::fuses_relu_of<layer_type<I>>() && detail::is_relu_of<layer_type<I + 1>>();
    }
    /// Layer I is a ReLU that layer I - 1 applies itself (see fused_with_next).
    template <std::size_t I>
    static constexpr bool fused_into_previous() {
        if constexpr (I == 0) return false;
        else return fused_with_next<I - 1>();
    }

    /// Run all layers on `batch` samples at `in`. Returns the output (owned by the model,
    /// valid until the next forward). In train mode, `in` must stay alive until backward.
    const float* forward(const float* in, std::size_t batch, Mode mode, Rng& rng) {
        input_ = in;
        batch_ = batch;
        fused_ = hooks_ == nullptr; // hooks see every layer's own output and gradient
        const std::size_t need = batch * activation_offsets[depth];
        if (acts_.size() < need) acts_.resize(need);
        detail::for_each_index(
            [&](auto i) {
                constexpr std::size_t I = decltype(i)::value;
                const float* src = I == 0 ? in : activation<I - 1>();
                std::span<const float> p = layer_params<I>();
                if (hooks_ != nullptr) p = hooks_->forward_params(info_[I], p, mode);
                used_params_[I] = p;
                if constexpr (fused_into_previous<I>())
                    if (fused_) return; // layer I - 1 wrote this ReLU's output
                if constexpr (fused_with_next<I>())
                    if (fused_) {
                        std::get<I>(layers_).forward_relu(src, activation<I + 1>(), batch, p, mode, rng);
                        return;
                    }
                std::get<I>(layers_).forward(src, activation<I>(), batch, p, mode, rng);
                if (hooks_ != nullptr)
                    hooks_->after_forward(
                        info_[I], {activation<I>(), batch * layer_type<I>::output_shape::size},
                        mode);
            },
            indices{});
        return activation<depth - 1>();
    }

    /// Back-propagate `dout` (gradient of the loss w.r.t. the last forward's output) through
    /// every layer; fills gradients(). Call after forward with the same batch.
    void backward(const float* dout) {
        const std::size_t batch = batch_;
        const std::size_t need = batch * widest;
        if (dbuf_[0].size() < need) {
            dbuf_[0].resize(need);
            dbuf_[1].resize(need);
        }
        const float* upstream = dout;
        detail::for_each_index_reversed(
            [&](auto i) {
                constexpr std::size_t I = decltype(i)::value;
                constexpr std::size_t out_n = layer_type<I>::output_shape::size;
                const float* src = I == 0 ? input_ : activation<I - 1>();
                // Whichever buffer `upstream` is not in (a fused pair is one step, not two).
                float* din = I == 0 ? nullptr
                                    : dbuf_[upstream == dbuf_[0].data() ? 1 : 0].data();
                if constexpr (fused_into_previous<I>())
                    if (fused_) return; // the gradient w.r.t. ReLU's output goes to layer I - 1
                if constexpr (fused_with_next<I>())
                    if (fused_) {
                        std::get<I>(layers_).backward_relu(src, activation<I + 1>(), upstream, din,
                                                           batch, used_params_[I], layer_grads<I>());
                        upstream = din;
                        return;
                    }
                if (hooks_ != nullptr) {
                    // The hook may mask the incoming gradient, so work on a copy of it.
                    const std::size_t n = batch * out_n;
                    if (hook_grad_.size() < n) hook_grad_.resize(n);
                    std::copy_n(upstream, n, hook_grad_.data());
                    hooks_->before_backward(info_[I], {hook_grad_.data(), n},
                                            {activation<I>(), n});
                    upstream = hook_grad_.data();
                }
                std::get<I>(layers_).backward(src, activation<I>(), upstream, din, batch,
                                              used_params_[I], layer_grads<I>());
                if (hooks_ != nullptr) hooks_->after_backward(info_[I], layer_grads<I>());
                upstream = din;
            },
            indices{});
    }

    /// Inference through the training model (eval mode); copies the result into `out`.
    void predict(const float* in, float* out, std::size_t batch) {
        Rng unused(0);
        const float* y = forward(in, batch, Mode::eval, unused);
        std::copy_n(y, batch * output_shape::size, out);
    }

    /// The values lower() makes, from the types alone: what compile::static_arena_bytes
    /// plans.
    static constexpr int lower_shape(compile::ShapeGraph& g, int value) {
        return detail::lower_stack_shape<Sequential>(g, value);
    }

    /// The model as a graph, parameters copied in: the input of every deploy path.
    compile::Graph lower() const {
        auto g = compile::Graph::with_input(
            compile::Dims(input_shape::dims.begin(), input_shape::dims.end()));
        int value = 0;
        detail::for_each_index(
            [&](auto i) {
                constexpr std::size_t I = decltype(i)::value;
                value = std::get<I>(layers_).lower(g, value, layer_params<I>());
            },
            indices{});
        g.output = value;
        return g;
    }

    /// "Input 28x28x1 | Conv2D<32, 3> 28x28x32 | ...": what the fingerprint hashes.
    static std::string architecture() {
        std::string s = "Input " + input_shape::name();
        detail::for_each_index(
            [&](auto i) {
                using L = layer_type<decltype(i)::value>;
                s += " | " + L::name() + " " + L::output_shape::name() + " p" +
                     std::to_string(L::param_count);
            },
            indices{});
        return s;
    }
    /// FNV-1a of architecture(): ties files to this type.
    static std::uint64_t fingerprint() { return detail::fnv1a(architecture()); }

    /// A Keras-style table: layer, output shape, parameters, MACs, and the totals.
    static std::string summary() {
        // The name column widens for long names (Residual<...> lists its block).
        int w = 28;
        detail::for_each_index(
            [&](auto i) {
                w = std::max(w, static_cast<int>(layer_type<decltype(i)::value>::name().size()) + 1);
            },
            indices{});
        const std::string rule(static_cast<std::size_t>(w) + 45, '-');
        std::string out;
        char line[512];
        std::snprintf(line, sizeof line, "%-*s %-16s %12s %14s\n", w, "Layer", "Output shape",
                      "Params", "MACs");
        out += line;
        out += rule + "\n";
        std::snprintf(line, sizeof line, "%-*s %-16s %12s %14s\n", w, "Input",
                      input_shape::name().c_str(), "0", "0");
        out += line;
        detail::for_each_index(
            [&](auto i) {
                using L = layer_type<decltype(i)::value>;
                const std::string name = L::name();
                out += name + std::string(static_cast<std::size_t>(w) - name.size() + 1, ' ');
                std::snprintf(line, sizeof line, "%-16s %12s %14s\n",
                              L::output_shape::name().c_str(),
                              detail::group_digits(L::param_count).c_str(),
                              detail::group_digits(L::macs).c_str());
                out += line;
            },
            indices{});
        out += rule + "\n";
        std::snprintf(line, sizeof line, "Total params: %s (%s bytes fp32)\nTotal MACs: %s\n",
                      detail::group_digits(param_count).c_str(),
                      detail::group_digits(param_count * sizeof(float)).c_str(),
                      detail::group_digits(macs).c_str());
        out += line;
        if constexpr (state_count > 0) {
            std::snprintf(line, sizeof line, "State (running statistics): %s floats\n",
                          detail::group_digits(state_count).c_str());
            out += line;
        }
        return out;
    }

private:
    // Stateful layers keep a view of their slice of state_; re-pointed after every copy.
    void attach_state() {
        detail::for_each_index(
            [&](auto i) {
                constexpr std::size_t I = decltype(i)::value;
                detail::attach_state_of(std::get<I>(layers_), layer_state<I>());
            },
            indices{});
    }

    template <std::size_t I>
    float* activation() noexcept {
        return acts_.data() + batch_ * activation_offsets[I];
    }

    layers_type layers_{};
    AlignedVector<float> params_;
    AlignedVector<float> grads_;
    AlignedVector<float> state_;
    AlignedVector<float> acts_;
    std::array<AlignedVector<float>, 2> dbuf_;
    std::array<LayerInfo, depth> info_{};
    std::array<std::span<const float>, depth> used_params_{};
    AlignedVector<float> hook_grad_;
    TrainHooks* hooks_ = nullptr;
    const float* input_ = nullptr;
    std::size_t batch_ = 0;
    bool fused_ = false; // the last forward ran fused pairs (see fused_with_next)
};

} // namespace edgestack::nn
