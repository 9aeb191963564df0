// A chain of bound layers over one input shape, with its own slices of parameters, state
// and activations: what composite layers (Residual) are built from.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "edgestack/core/aligned.hpp"
#include "edgestack//compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/detail/layer_traits.hpp"

namespace edgestack::nn::detail {

/// Binds each spec to the output shape of the one before it, left to right.
template <class In, class... Specs>
struct bind_chain {
    using type = std::tuple<>;
    using output_shape = In;
};
template <class In, class Spec, class... Rest>
struct bind_chain<In, Spec, Rest...> {
    using layer = typename Spec::template bind<In>;
    static_assert(Layer<layer>, "Sequential: a bound layer does not satisfy nn::Layer - see "
                                "nn/concepts.hpp for the contract");
    using next = bind_chain<typename layer::output_shape, Rest...>;
    using type = decltype(std::tuple_cat(std::declval<std::tuple<layer>>(),
                                         std::declval<typename next::type>()));
    using output_shape = typename next::output_shape;
};

template <class F, std::size_t... I>
constexpr void for_each_index(F&& f, std::index_sequence<I...>) {
    (f(std::integral_constant<std::size_t, I>{}), ...);
}
template <class F, std::size_t... I>
constexpr void for_each_index_reversed(F&& f, std::index_sequence<I...>) {
    constexpr std::size_t n = sizeof...(I);
    (f(std::integral_constant<std::size_t, n - 1 - I>{}), ...);
}

/// Running sums of a per-layer quantity: offsets[i] is where layer i starts, offsets[n] the
/// total.
template <class Tuple, template <class> class Q, std::size_t... I>
constexpr std::array<std::size_t, sizeof...(I) + 1> offsets_of(std::index_sequence<I...>) {
    std::array<std::size_t, sizeof...(I) + 1> o{};
    std::size_t acc = 0, k = 0;
    ((o[k++] = acc, acc += Q<std::tuple_element_t<I, Tuple>>::value), ...);
    o[sizeof...(I)] = acc;
    return o;
}
template <class L>
struct param_q : std::integral_constant<std::size_t, L::param_count> {};
template <class L>
struct state_q : std::integral_constant<std::size_t, state_count_of<L>()> {};
template <class L>
struct act_q : std::integral_constant<std::size_t, L::output_shape::size> {};
template <class L>
struct macs_q : std::integral_constant<std::size_t, L::macs> {};

template <class In, class... Specs>
class LayerStack {
    using chain = bind_chain<In, Specs...>;

public:
    using input_shape = In;
    using output_shape = typename chain::output_shape;
    using layers_type = typename chain::type;
    static constexpr std::size_t depth = sizeof...(Specs);
    template <std::size_t I>
    using layer_type = std::tuple_element_t<I, layers_type>;
    using indices = std::make_index_sequence<depth>;

    static constexpr auto param_offsets = offsets_of<layers_type, param_q>(indices{});
    static constexpr auto state_offsets = offsets_of<layers_type, state_q>(indices{});
    static constexpr auto act_offsets = offsets_of<layers_type, act_q>(indices{});
    static constexpr std::size_t param_count = param_offsets[depth];
    static constexpr std::size_t state_count = state_offsets[depth];
    static constexpr std::size_t macs = offsets_of<layers_type, macs_q>(indices{})[depth];

    void init(std::span<float> p, Rng& rng) const {
        for_each_index([&](auto i) {
            constexpr std::size_t I = decltype(i)::value;
            Rng r = rng.split(I);
            std::get<I>(layers_).init(slice<I>(p), r);
        }, indices{});
    }
    void init_state(std::span<float> s) const {
        for_each_index([&](auto i) {
            constexpr std::size_t I = decltype(i)::value;
            init_state_of(std::get<I>(layers_), s.subspan(state_offsets[I],
                                                          state_q<layer_type<I>>::value));
        }, indices{});
    }
    void attach_state(std::span<float> s) {
        for_each_index([&](auto i) {
            constexpr std::size_t I = decltype(i)::value;
            attach_state_of(std::get<I>(layers_), s.subspan(state_offsets[I],
                                                            state_q<layer_type<I>>::value));
        }, indices{});
    }

    /// Runs the chain; returns its output (`in` itself for an empty chain), valid until the
    /// next forward.
    const float* forward(const float* in, std::size_t batch, std::span<const float> p, Mode mode,
                         Rng& rng) {
        if constexpr (depth == 0) {
            return in;
        } else {
            batch_ = batch;
            if (acts_.size() < batch * act_offsets[depth]) acts_.resize(batch * act_offsets[depth]);
            for_each_index([&](auto i) {
                constexpr std::size_t I = decltype(i)::value;
                const float* src = I == 0 ? in : act(I - 1);
                std::get<I>(layers_).forward(src, act(I), batch, slice<I>(p), mode, rng);
            }, indices{});
            return act(depth - 1);
        }
    }

    /// Back-propagates `dout`; writes parameter gradients into g and, unless null, the input
    /// gradient into din (which may not alias dout).
    void backward(const float* in, const float* dout, float* din, std::size_t batch,
                  std::span<const float> p, std::span<float> g) {
        if constexpr (depth == 0) {
            if (din != nullptr) std::copy_n(dout, batch * In::size, din);
        } else {
            std::size_t widest = 0;
            for (std::size_t i = 0; i < depth; ++i)
                widest = std::max(widest, act_offsets[i + 1] - act_offsets[i]);
            widest = std::max(widest, In::size);
            for (auto& b : dbuf_)
                if (b.size() < batch * widest) b.resize(batch * widest);
            const float* upstream = dout;
            for_each_index_reversed([&](auto i) {
                constexpr std::size_t I = decltype(i)::value;
                const float* src = I == 0 ? in : act(I - 1);
                float* d = I == 0 ? din : dbuf_[I % 2].data();
                std::get<I>(layers_).backward(src, act(I), upstream, d, batch, slice<I>(p),
                                              slice<I>(g));
                upstream = d;
            }, indices{});
        }
    }

    int lower(compile::Graph& g, int value, std::span<const float> p) const {
        for_each_index([&](auto i) {
            constexpr std::size_t I = decltype(i)::value;
            value = std::get<I>(layers_).lower(g, value, slice<I>(p));
        }, indices{});
        return value;
    }

    static std::string names() {
        std::string s;
        for_each_index([&](auto i) {
            if (!s.empty()) s += ", ";
            s += layer_type<decltype(i)::value>::name();
        }, indices{});
        return s;
    }

private:
    template <std::size_t I, class T>
    static std::span<T> slice(std::span<T> p) {
        return p.subspan(param_offsets[I], layer_type<I>::param_count);
    }
    float* act(std::size_t i) noexcept { return acts_.data() + batch_ * act_offsets[i]; }

    layers_type layers_{};
    AlignedVector<float> acts_;
    std::array<AlignedVector<float>, 2> dbuf_;
    std::size_t batch_ = 0;
};

} // namespace edgestack::nn::detail
