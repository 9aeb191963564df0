// The optional parts of the layer contract, detected: weight_count, state (state_count,
// init_state, attach_state) and channel-last weights. Absent members take the defaults below.
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

template <class L>
void init_state_of(const L& l, std::span<float> s) {
    if constexpr (state_count_of<L>() > 0) l.init_state(s);
}

template <class L>
void attach_state_of(L& l, std::span<float> s) {
    if constexpr (state_count_of<L>() > 0) l.attach_state(s);
}

} // namespace edgestack::nn::detail
