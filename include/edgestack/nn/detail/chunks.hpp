// Batch chunking shared by the layers that run in parallel: chunk boundaries depend only on
// the batch size and the layer's shape, never on the thread count, and per-chunk gradient
// partials are summed in chunk order, so results do not change with the number of threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "edgestack//core/parallel.hpp"

namespace edgestack::nn::detail {

/// Samples per chunk so that a chunk's GEMM has about `rows_target` rows (rows_per_sample
/// each), rounded down to a power of two so a batch of 64 splits evenly.
constexpr std::size_t samples_per_chunk(std::size_t rows_per_sample,
                                        std::size_t rows_target = 2048) noexcept {
    std::size_t s = std::max<std::size_t>(1, rows_target / std::max<std::size_t>(1, rows_per_sample));
    std::size_t p = 1;
    while (p * 2 <= s) p *= 2;
    return p;
}

constexpr std::size_t chunk_count(std::size_t batch, std::size_t chunk) noexcept {
    return (batch + chunk - 1) / chunk;
}

/// g = sum over chunks c (in order) of partial[c]; parallel over elements, not chunks, so the
/// order of the additions for every element is fixed.
inline void reduce_partials(std::span<float> g, std::span<const float> partial,
                            std::size_t n_chunks) {
    const std::size_t n = g.size();
    parallel_chunks(0, n, 4096, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
            float acc = partial[i];
            for (std::size_t c = 1; c < n_chunks; ++c) acc += partial[c * n + i];
            g[i] = acc;
        }
    });
}

} // namespace edgestack::nn::detail
