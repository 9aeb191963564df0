// The static memory plan: where each value of a graph lives in the engine's activation
// arena. Buffers are reused once a value's last reader has run (first fit over live
// ranges). The liveness rule and the planner are constexpr and shared: the engine plans a
// compile::Graph with them, and static_arena_bytes plans a model's value graph (ShapeGraph,
// built from the layer types) with the very same code, as a compile-time constant usable
// in a device fit check.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <utility>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/aligned.hpp"

namespace edgestack::compile {

using edgestack::align_up;
using edgestack::arena_alignment;

namespace detail {
/// `n` copies of `v`, appended one by one. The planner runs in constant expressions, where
/// clang rejects libstdc++ 12's `vector(n)` and `vector(n, v)` of a trivial type: they
/// fill raw storage by assignment, which GCC's evaluator lets pass.
template <class T>
constexpr std::vector<T> filled(std::size_t n, T v) {
    std::vector<T> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(v);
    return out;
}
} // namespace detail

/// One buffer to place: its size and the steps during which it must stay intact
/// (defined by step `first`, last read by step `last`; the input is defined at step 0).
struct Interval {
    std::size_t bytes = 0; ///< size per sample
    std::size_t first = 0; ///< step that defines it
    std::size_t last = 0;  ///< last step that reads it
};

/// Offsets (per sample) for every interval, and the total. Larger buffers are placed first,
/// each at the lowest offset that does not overlap a buffer alive at the same time.
template <class Intervals>
constexpr std::size_t plan_intervals(const Intervals& iv, std::size_t* offsets) {
    const std::size_t n = iv.size();
    std::vector<std::size_t> order = detail::filled<std::size_t>(n, 0);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return iv[a].bytes != iv[b].bytes ? iv[a].bytes > iv[b].bytes : a < b;
    });
    std::vector<char> placed = detail::filled<char>(n, 0);
    std::size_t total = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = order[k];
        const std::size_t size = align_up(iv[i].bytes);
        std::size_t off = 0;
        for (bool moved = true; moved;) { // slide past every conflicting placed buffer
            moved = false;
            for (std::size_t j = 0; j < n; ++j) {
                if (!placed[j] || iv[j].last < iv[i].first || iv[i].last < iv[j].first) continue;
                const std::size_t jsz = align_up(iv[j].bytes);
                if (off < offsets[j] + jsz && offsets[j] < off + size) {
                    off = offsets[j] + jsz;
                    moved = true;
                }
            }
        }
        offsets[i] = off;
        placed[i] = 1;
        total = std::max(total, off + size);
    }
    return total;
}

/// Offsets (bytes per sample) of every value of a graph, and the total: the one liveness
/// rule every plan uses. Value v lives from the step that defines it (the input: step 0)
/// to the last step that reads it (the graph output: past the last step); a node for
/// which alias(node) holds (flatten) defines no storage of its own, its output is its
/// first input's. `Node` has `inputs` (value ids) and `output`.
template <class Node, class ValueBytes, class Alias>
constexpr std::size_t plan_values(std::size_t n_values, const std::vector<Node>& nodes, int output,
                                  ValueBytes value_bytes, Alias alias, std::vector<std::size_t>& offset) {
    const auto at = [](int v) { return static_cast<std::size_t>(v); };
    std::vector<std::size_t> root = detail::filled<std::size_t>(n_values, 0);
    for (std::size_t v = 0; v < n_values; ++v) root[v] = v;
    for (const auto& n : nodes)
        if (alias(n)) root[at(n.output)] = root[at(n.inputs[0])];
    std::vector<Interval> iv(n_values);
    std::vector<char> used = detail::filled<char>(n_values, 0);
    const auto touch = [&](int v, std::size_t step) {
        const std::size_t r = root[at(v)];
        if (!used[r]) {
            used[r] = 1;
            iv[r].first = step;
            iv[r].bytes = value_bytes(r);
        }
        iv[r].last = std::max(iv[r].last, step);
    };
    touch(0, 0);
    for (std::size_t s = 0; s < nodes.size(); ++s) {
        for (int v : nodes[s].inputs) touch(v, s + 1);
        touch(nodes[s].output, s + 1);
    }
    touch(output, nodes.size() + 1);
    std::vector<Interval> roots;
    std::vector<std::size_t> which;
    for (std::size_t v = 0; v < n_values; ++v)
        if (used[v]) {
            roots.push_back(iv[v]);
            which.push_back(v);
        }
    std::vector<std::size_t> off = detail::filled<std::size_t>(roots.size(), 0);
    const std::size_t total = plan_intervals(roots, off.data());
    std::vector<std::size_t> root_off = detail::filled<std::size_t>(n_values, 0);
    for (std::size_t k = 0; k < which.size(); ++k) root_off[which[k]] = off[k];
    offset = detail::filled<std::size_t>(n_values, 0);
    for (std::size_t v = 0; v < n_values; ++v) offset[v] = root_off[root[v]];
    return total;
}

/// The values of a model known only by its types: per value its element count, per node
/// its inputs, its output and whether it aliases its input (flatten). Built at compile
/// time by a model's static lower_shape (nn::Sequential, nn::Residual); planned by
/// plan_values like the engine's graph.
struct ShapeGraph {
    /// One node: the values it reads and the one it defines.
    struct Node {
        std::vector<int> inputs; ///< value ids read
        int output = 0;          ///< value id defined
        bool alias = false;      ///< the output shares its first input's bytes (flatten)
    };
    std::vector<std::size_t> sizes; ///< elements per sample; sizes[0] is the input
    std::vector<Node> nodes;        ///< in execution order
    int output = 0;                 ///< id of the model's output value

    /// A graph holding only the input, of `input_size` elements.
    constexpr explicit ShapeGraph(std::size_t input_size) : sizes{input_size} {}
    /// A node reading `inputs` and defining a value of `size` elements; returns its id.
    constexpr int append(std::vector<int> inputs, std::size_t size, bool alias = false) {
        const int id = static_cast<int>(sizes.size());
        sizes.push_back(size);
        nodes.push_back({std::move(inputs), id, alias});
        output = id;
        return id;
    }
};

/// Bytes per sample of the plan of `g` with `elem` bytes per element.
constexpr std::size_t plan_shape_graph(const ShapeGraph& g, std::size_t elem) {
    std::vector<std::size_t> offset;
    return plan_values(g.sizes.size(), g.nodes, g.output,
                       [&](std::size_t v) { return g.sizes[v] * elem; },
                       [](const ShapeGraph::Node& n) { return n.alias; }, offset);
}

/// Arena bytes per sample for a chain of values of the given sizes (bytes), each read only
/// by the next step.
template <std::size_t N>
constexpr std::size_t chain_arena_bytes(const std::array<std::size_t, N>& bytes) {
    static_assert(N > 0, "chain_arena_bytes: give at least the input's size");
    ShapeGraph g(bytes[0]);
    for (std::size_t i = 1; i < N; ++i) g.append({g.output}, bytes[i]);
    return plan_shape_graph(g, 1);
}

/// A model that describes its values at compile time (nn::Sequential does).
template <class Model>
concept StaticShapeGraph = requires(ShapeGraph& g) {
    { Model::lower_shape(g, 0) } -> std::convertible_to<int>;
};

/// Activation arena bytes per sample of a static model, with `elem` bytes per value (4
/// fp32, 1 int8): the plan of the model's values before the deploy passes, made by the
/// engine's own planner (plan_values). An upper bound of what a backend's plan needs: the
/// passes only remove values (dropout, batch-norm folding, activation fusion), which the
/// tests check on every layer kind. A model without lower_shape is taken as a chain of
/// its `layer_type<I>`.
template <class Model, std::size_t elem = sizeof(float)>
constexpr std::size_t static_arena_bytes() {
    ShapeGraph g(Model::input_shape::size);
    if constexpr (StaticShapeGraph<Model>) {
        g.output = Model::lower_shape(g, 0);
    } else {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (g.append({g.output}, Model::template layer_type<I>::output_shape::size), ...);
        }(std::make_index_sequence<Model::depth>{});
    }
    return plan_shape_graph(g, elem);
}

/// Where every value of a graph lives. Aliased values (flatten) share their input's bytes.
struct MemoryPlan {
    std::vector<std::size_t> offset;  ///< per value, bytes per sample (scaled by the batch)
    std::size_t bytes_per_sample = 0; ///< arena bytes per sample for all values
};

/// Plan `g` with `elem_bytes(v)` bytes per element of value v; `alias(node)` says the node's
/// output may share its first input's storage (true for flatten).
template <class ElemBytes, class Alias>
MemoryPlan plan_memory(const Graph& g, ElemBytes elem_bytes, Alias alias) {
    MemoryPlan plan;
    plan.bytes_per_sample = plan_values(
        g.values.size(), g.nodes, g.output,
        [&](std::size_t v) { return volume(g.values[v]) * elem_bytes(static_cast<int>(v)); }, alias,
        plan.offset);
    return plan;
}

} // namespace edgestack::compile
