// The static memory plan: where each value of a graph lives in the engine's activation
// arena. Buffers are reused once a value's last reader has run (first fit over live
// ranges). The planner is constexpr, so a model whose shapes are types gets its arena size
// as a compile-time constant (static_arena_bytes), usable in a device fit check.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "edgestack/compile/graph.hpp"

namespace edgestack::compile {

inline constexpr std::size_t arena_alignment = 64; // one cache line; AVX loads stay aligned

constexpr std::size_t align_up(std::size_t n, std::size_t a = arena_alignment) noexcept {
    return (n + a - 1) / a * a;
}

/// One buffer to place: its size and the steps during which it must stay intact
/// (defined by step `first`, last read by step `last`; the input is defined at step 0).
struct Interval {
    std::size_t bytes = 0;
    std::size_t first = 0;
    std::size_t last = 0;
};

/// Offsets (per sample) for every interval, and the total. Larger buffers are placed first,
/// each at the lowest offset that does not overlap a buffer alive at the same time.
template <class Intervals>
constexpr std::size_t plan_intervals(const Intervals& iv, std::size_t* offsets) {
    const std::size_t n = iv.size();
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return iv[a].bytes != iv[b].bytes ? iv[a].bytes > iv[b].bytes : a < b;
    });
    std::vector<char> placed(n, 0);
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

/// Arena bytes per sample for a chain of values of the given sizes (bytes), each read only
/// by the next step: the bound static_arena_bytes gives for a Sequential model.
template <std::size_t N>
constexpr std::size_t chain_arena_bytes(const std::array<std::size_t, N>& bytes) {
    std::array<Interval, N> iv{};
    for (std::size_t i = 0; i < N; ++i) iv[i] = {bytes[i], i, i + 1};
    std::array<std::size_t, N> off{};
    return plan_intervals(iv, off.data());
}

/// Activation arena bytes per sample of a static model (nn::Sequential or anything exposing
/// input_shape, depth and layer_type<I>), with `elem` bytes per value (4 fp32, 1 int8).
/// An upper bound of what a backend's plan needs for one sample: the passes only remove
/// values (fusion, dropout) and flatten aliases its input.
template <class Model, std::size_t elem = sizeof(float)>
constexpr std::size_t static_arena_bytes() {
    return []<std::size_t... I>(std::index_sequence<I...>) {
        const std::array<std::size_t, sizeof...(I) + 1> sizes{
            Model::input_shape::size * elem,
            Model::template layer_type<I>::output_shape::size * elem...};
        return chain_arena_bytes(sizes);
    }(std::make_index_sequence<Model::depth>{});
}

/// Where every value of a graph lives. Aliased values (flatten) share their input's bytes.
struct MemoryPlan {
    std::vector<std::size_t> offset; // per value, bytes per sample (scaled by the batch)
    std::size_t bytes_per_sample = 0;
};

/// Plan `g` with `elem_bytes(v)` bytes per element of value v; `alias(node)` says the node's
/// output may share its first input's storage (true for flatten).
template <class ElemBytes, class Alias>
MemoryPlan plan_memory(const Graph& g, ElemBytes elem_bytes, Alias alias) {
    const std::size_t nv = g.values.size();
    std::vector<int> root(nv);
    for (std::size_t v = 0; v < nv; ++v) root[v] = static_cast<int>(v);
    for (const auto& n : g.nodes)
        if (alias(n)) root[static_cast<std::size_t>(n.output)] = root[static_cast<std::size_t>(n.inputs[0])];
    std::vector<Interval> iv(nv);
    std::vector<char> used(nv, 0);
    auto touch = [&](int v, std::size_t step) {
        const auto r = static_cast<std::size_t>(root[static_cast<std::size_t>(v)]);
        if (!used[r]) {
            used[r] = 1;
            iv[r].first = step;
            iv[r].bytes = volume(g.values[r]) * elem_bytes(static_cast<int>(r));
        }
        iv[r].last = std::max(iv[r].last, step);
    };
    touch(0, 0);
    for (std::size_t s = 0; s < g.nodes.size(); ++s) {
        for (int v : g.nodes[s].inputs) touch(v, s + 1);
        touch(g.nodes[s].output, s + 1);
    }
    touch(g.output, g.nodes.size() + 1);
    std::vector<Interval> roots;
    std::vector<std::size_t> which;
    for (std::size_t v = 0; v < nv; ++v)
        if (used[v]) {
            roots.push_back(iv[v]);
            which.push_back(v);
        }
    std::vector<std::size_t> off(roots.size());
    MemoryPlan plan;
    plan.bytes_per_sample = plan_intervals(roots, off.data());
    plan.offset.assign(nv, 0);
    std::vector<std::size_t> root_off(nv, 0);
    for (std::size_t k = 0; k < which.size(); ++k) root_off[which[k]] = off[k];
    for (std::size_t v = 0; v < nv; ++v) plan.offset[v] = root_off[static_cast<std::size_t>(root[v])];
    return plan;
}

} // namespace edgestack::compile
