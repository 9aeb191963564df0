// The op-unit registry: every unit header, and compile::ops::visit, which calls a generic
// function with the unit of a run-time Op. Code that needs something about an op (its shape
// rule, weight layout, int8 role, engine preparation, reference kernel, ONNX form) asks the
// unit through visit instead of switching on the op.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/ops/list.hpp"
#include "edgestack/compile/ops/dense.hpp"
#include "edgestack/compile/ops/conv2d.hpp"
#include "edgestack/compile/ops/depthwise_conv2d.hpp"
#include "edgestack/compile/ops/max_pool2d.hpp"
#include "edgestack/compile/ops/avg_pool2d.hpp"
#include "edgestack/compile/ops/global_avg_pool.hpp"
#include "edgestack/compile/ops/batch_norm.hpp"
#include "edgestack/compile/ops/relu.hpp"
#include "edgestack/compile/ops/relu6.hpp"
#include "edgestack/compile/ops/leaky_relu.hpp"
#include "edgestack/compile/ops/sigmoid.hpp"
#include "edgestack/compile/ops/tanh.hpp"
#include "edgestack/compile/ops/hard_swish.hpp"
#include "edgestack/compile/ops/softmax.hpp"
#include "edgestack/compile/ops/flatten.hpp"
#include "edgestack/compile/ops/add.hpp"
#include "edgestack/compile/ops/dropout.hpp"
#include "edgestack/compile/ops/lstm.hpp"
#include "edgestack/compile/ops/gru.hpp"
#include "edgestack/compile/ops/layer_norm.hpp"
#include "edgestack/compile/ops/attention.hpp"
#include "edgestack/compile/ops/positional_embedding.hpp"
#include "edgestack/compile/ops/concat.hpp"
#include "edgestack/compile/ops/mul.hpp"

namespace edgestack::compile::ops {

namespace detail {
template <class... Ts>
struct TypeList {};
template <class L, class T>
struct AddUnique;
template <class... Ts, class T>
struct AddUnique<TypeList<Ts...>, T> {
    using type = std::conditional_t<(std::is_same_v<T, Ts> || ...), TypeList<Ts...>, TypeList<Ts..., T>>;
};
template <class L, class... Units>
struct StatesOf {
    using type = L;
};
template <class L, class U, class... Units>
struct StatesOf<L, U, Units...> : StatesOf<typename AddUnique<L, typename U::State>::type, Units...> {};
template <class L>
struct VariantOf;
template <class... Ts>
struct VariantOf<TypeList<Ts...>> {
    using type = std::variant<Ts...>;
};
#define EDGESTACK_OP_UNIT_ARG(name, Unit) , Unit
using AllStates =
    typename StatesOf<TypeList<NoState> EDGESTACK_COMPILE_OPS(EDGESTACK_OP_UNIT_ARG)>::type;
#undef EDGESTACK_OP_UNIT_ARG
} // namespace detail

/// The typed state an engine keeps for one step: one of the units' State types.
using State = typename detail::VariantOf<detail::AllStates>::type;

/// Calls `f.template operator()<Unit>()` with the unit of `op`: the one switch over ops in the
/// tree. Every branch must return the same type.
template <class F>
constexpr decltype(auto) visit(Op op, F&& f) {
    switch (op) {
#define EDGESTACK_OP_VISIT(name, Unit)                                                         \
    case Op::name: return std::forward<F>(f).template operator()<Unit>();
        EDGESTACK_COMPILE_OPS(EDGESTACK_OP_VISIT)
#undef EDGESTACK_OP_VISIT
    }
    return std::forward<F>(f).template operator()<Dense>(); // not reached: op is an enumerator
}

/// Calls `f.template operator()<Unit>()` for every unit, in the list's order.
template <class F>
constexpr void for_each(F&& f) {
#define EDGESTACK_OP_EACH(name, Unit) f.template operator()<Unit>();
    EDGESTACK_COMPILE_OPS(EDGESTACK_OP_EACH)
#undef EDGESTACK_OP_EACH
}

/// Inputs the op reads.
inline std::size_t arity(Op op) {
    return visit(op, []<class U>() { return U::arity; });
}
/// Whether the op's output shares its input's storage (no work to do).
inline bool alias(Op op) {
    return visit(op, []<class U>() { return U::alias; });
}
/// What the op's output becomes in the int8 graph.
inline Int8Role int8_role(Op op) {
    return visit(op, []<class U>() { return U::int8_role; });
}
/// Whether the engines run the op.
inline bool runs(Op op) {
    return visit(op, []<class U>() { return U::runs; });
}
/// Why `n`'s shapes in `g` do not fit its op (empty: they do). The node's inputs must be
/// value ids of `g`, as many as the op reads.
inline std::string check(const Graph& g, const Node& n) {
    const Io io{g.values[static_cast<std::size_t>(n.inputs[0])],
                n.inputs.size() > 1 ? &g.values[static_cast<std::size_t>(n.inputs[1])] : nullptr,
                g.values[static_cast<std::size_t>(n.output)]};
    return visit(n.op, [&]<class U>() { return U::check(n, io); });
}
/// The sizes `n`'s tensors must have in `g` (after check() passed).
inline Tensors tensors(const Graph& g, const Node& n) {
    const Io io{g.values[static_cast<std::size_t>(n.inputs[0])],
                n.inputs.size() > 1 ? &g.values[static_cast<std::size_t>(n.inputs[1])] : nullptr,
                g.values[static_cast<std::size_t>(n.output)]};
    return visit(n.op, [&]<class U>() { return U::tensors(n, io); });
}
/// Multiply-accumulates per sample of `n` in `g` (after check() passed).
inline std::size_t macs(const Graph& g, const Node& n) {
    const Io io{g.values[static_cast<std::size_t>(n.inputs[0])],
                n.inputs.size() > 1 ? &g.values[static_cast<std::size_t>(n.inputs[1])] : nullptr,
                g.values[static_cast<std::size_t>(n.output)]};
    return visit(n.op, [&]<class U>() { return U::macs(n, io); });
}

} // namespace edgestack::compile::ops
