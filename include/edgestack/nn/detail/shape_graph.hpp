// A model's values as the deploy path will lower them, from the layer types alone: what
// compile::static_arena_bytes plans with the engine's planner. A layer is one node unless
// it says otherwise (a static lower_shape, as Residual has); Flatten aliases its input,
// as in the engine.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "edgestack/compile/memory_plan.hpp"
#include "edgestack/nn/flatten.hpp"

namespace edgestack::nn::detail {

template <class L>
struct is_flatten : std::false_type {};
template <class In>
struct is_flatten<Flatten::bind<In>> : std::true_type {};

template <class L>
constexpr int lower_layer_shape(compile::ShapeGraph& g, int v) {
    if constexpr (requires { L::lower_shape(g, v); }) return L::lower_shape(g, v);
    else return g.append({v}, L::output_shape::size, is_flatten<L>::value);
}

/// The nodes of a stack of layers (anything with depth and layer_type<I>), in order.
template <class Stack>
constexpr int lower_stack_shape(compile::ShapeGraph& g, int v) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((v = lower_layer_shape<typename Stack::template layer_type<I>>(g, v)), ...);
    }(std::make_index_sequence<Stack::depth>{});
    return v;
}

} // namespace edgestack::nn::detail
