// backend::Parallel<B>: any backend, run across the batch on oneTBB (edgestack::tbb). The
// batch is cut into one slice per worker, each slice running in its own arena; without
// oneTBB the slices run one after another with the same results.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <span>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/parallel.hpp"

namespace edgestack::backend {

/// An engine that splits each batch into slices and runs them on parallel threads, one inner
/// arena per slice. Same contract as the engine it wraps.
template <class Engine>
class ParallelEngine {
public:
    /// One inner arena per slice.
    struct arena_type {
        std::vector<typename Engine::arena_type> slices; ///< one per slice
        std::size_t max_batch = 0;                       ///< largest batch in all
        std::size_t per_slice = 0;                       ///< largest batch per slice
    };

    /// Wraps `e`, cutting batches into at most `slices` parts (at least 1).
    ParallelEngine(Engine e, std::size_t slices) : engine_(std::move(e)), slices_(std::max<std::size_t>(1, slices)) {}

    /// As the inner engine.
    std::size_t input_size() const noexcept { return engine_.input_size(); }
    /// As the inner engine.
    std::size_t output_size() const noexcept { return engine_.output_size(); }
    const Engine& inner() const noexcept { return engine_; } ///< the wrapped engine
    /// As the inner engine.
    const compile::Graph& graph() const noexcept { return engine_.graph(); }
    /// Bytes of all slice arenas for batches of up to `max_batch`.
    std::size_t arena_bytes(std::size_t max_batch) const noexcept {
        const std::size_t n = std::min(slices_, std::max<std::size_t>(1, max_batch));
        return n * engine_.arena_bytes((max_batch + n - 1) / n);
    }
    auto& program() const noexcept { return engine_.program(); } ///< as the inner engine
    bool int8() const noexcept { return engine_.int8(); }        ///< as the inner engine
    auto kernel_names() const { return engine_.kernel_names(); } ///< as the inner engine
    auto isa() const noexcept { return engine_.isa(); }          ///< as the inner engine

    /// The slice arenas for batches of up to `max_batch` samples.
    arena_type make_arena(std::size_t max_batch) const {
        arena_type a;
        a.max_batch = max_batch;
        const std::size_t n = std::min(slices_, std::max<std::size_t>(1, max_batch));
        a.per_slice = (max_batch + n - 1) / n;
        for (std::size_t i = 0; i < n; ++i) a.slices.push_back(engine_.make_arena(std::max<std::size_t>(1, a.per_slice)));
        return a;
    }

    /// Runs in.size() / input_size() samples, slices in parallel. False (nothing promised
    /// about `out`) when the sizes do not fit or a slice fails.
    bool run(std::span<const float> in, std::span<float> out, arena_type& arena) const noexcept {
        const std::size_t isz = input_size(), osz = output_size();
        if (in.empty() || in.size() % isz != 0) return false;
        const std::size_t batch = in.size() / isz;
        if (out.size() != batch * osz || batch > arena.max_batch || arena.slices.empty()) return false;
        const std::size_t per = (batch + arena.slices.size() - 1) / arena.slices.size();
        std::atomic<bool> ok{true};
        const std::size_t n = (batch + per - 1) / per;
        // Slices write disjoint parts of `out`; a failed slice can only mean a bug upstream.
        edgestack::parallel_for(0, n, [&](std::size_t i) {
            const std::size_t b = i * per, e = std::min(batch, b + per);
            if (!engine_.run(in.subspan(b * isz, (e - b) * isz), out.subspan(b * osz, (e - b) * osz), arena.slices[i]))
                ok.store(false, std::memory_order_relaxed);
        });
        return ok.load();
    }

private:
    Engine engine_;
    std::size_t slices_;
};

/// A backend policy: B's engines, run batch-parallel over `threads` slices (oneTBB).
template <class B>
struct Parallel {
    static constexpr const char* name = "parallel"; ///< shown in reports
    B inner{}; ///< the backend that compiles each slice's engine
    std::size_t threads = edgestack::max_threads(); ///< slices per batch

    /// A ParallelEngine over inner's engine of `g`.
    auto compile(const compile::Graph& g) const {
        return ParallelEngine<decltype(inner.compile(g))>(inner.compile(g), threads);
    }
};

} // namespace edgestack::backend
