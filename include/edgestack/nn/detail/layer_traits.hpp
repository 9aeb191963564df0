// The optional parts of the layer contract, detected: weight_count, state (state_count,
// init_state, attach_state), channel-last weights and ReLU fusion. Absent members take the
// defaults below.
#pragma once

#include <cstddef>
#include <span>

namespace edgestack::nn::detail {

/// Weights are the leading parameters of a layer; without `weight_count` all of them are.
template <class L>
constexpr std::size_t weight_count_of() {
    if constexpr (requires { L::weight_count; }) return L::weight_count;
    else return L::param_count;
}

/// Floats of non-trainable state (running statistics); 0 when the layer declares none.
template <class L>
constexpr std::size_t state_count_of() {
    if constexpr (requires { L::state_count; }) return L::state_count;
    else return 0;
}

template <class L>
constexpr bool weights_channel_last_of() {
    if constexpr (requires { L::weights_channel_last; }) return L::weights_channel_last;
    else return false;
}

/// A layer that can apply a following ReLU itself: forward_relu writes ReLU(its output),
/// backward_relu takes that output and the gradient with respect to it.
template <class L>
constexpr bool fuses_relu_of() {
    return requires(L& l, const float* c, float* f, std::size_t n, std::span<const float> p,
                    std::span<float> g) {
        l.backward_relu(c, c, c, f, n, p, g);
    };
}

/// The ReLU layer (whose gradient can be read from its output alone).
template <class L>
constexpr bool is_relu_of() {
    if constexpr (requires { L::is_relu; }) return L::is_relu;
    else return false;
}

template <class L>
void init_state_of(const L& l, std::span<float> s) {
    if constexpr (state_count_of<L>() > 0) l.init_state(s);
}

template <class L>
void attach_state_of(L& l, std::span<float> s) {
    if constexpr (state_count_of<L>() > 0) l.attach_state(s);
}

} // namespace edgestack::nn::detail
