// Parallel loops for the whole toolkit. With edgestack::tbb linked (EDGESTACK_HAS_TBB) they
// run on oneTBB's pool; without it they run in the calling thread, with the same results.
// Work is split into fixed chunks that do not depend on the thread count, so a caller that
// gives each chunk its own random stream gets the same numbers with 1 or N threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <type_traits>

#if defined(EDGESTACK_HAS_TBB)
#include "edgestack/core/detail/intrinsics.hpp"
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <memory>
#endif

namespace edgestack {

/// Worker threads parallel loops may use (1 without oneTBB).
inline std::size_t max_threads() noexcept {
#if defined(EDGESTACK_HAS_TBB)
    return static_cast<std::size_t>(oneapi::tbb::this_task_arena::max_concurrency());
#else
    return 1;
#endif
}

/// Limits every parallel loop of the process to `n` threads until the returned guard dies.
class ThreadLimit {
public:
    /// At most `n` threads (at least 1) while this lives; without oneTBB it does nothing.
    explicit ThreadLimit(std::size_t n) {
#if defined(EDGESTACK_HAS_TBB)
        control_ = std::make_unique<oneapi::tbb::global_control>(
            oneapi::tbb::global_control::max_allowed_parallelism, std::max<std::size_t>(1, n));
#else
        (void)n;
#endif
    }

private:
#if defined(EDGESTACK_HAS_TBB)
    std::unique_ptr<oneapi::tbb::global_control> control_;
#endif
};

#if defined(EDGESTACK_HAS_TBB)
namespace detail {

/// parallel_chunks without its callable's type: body(f, begin, end) per chunk. oneTBB's
/// parallel_for is a family of class templates (task, partitioner, range splitting) that
/// every callable type would instantiate anew; through this function a translation unit
/// compiles them once, and each loop body once, in its thunk.
inline void parallel_chunks_erased(std::size_t first, std::size_t last, std::size_t chunk,
                                   void (*body)(void*, std::size_t, std::size_t), void* f) {
    const std::size_t n_chunks = (last - first + chunk - 1) / chunk;
    if (n_chunks > 1) {
        oneapi::tbb::parallel_for(
            oneapi::tbb::blocked_range<std::size_t>(0, n_chunks, 1),
            [&](const oneapi::tbb::blocked_range<std::size_t>& r) {
                for (std::size_t c = r.begin(); c != r.end(); ++c) {
                    const std::size_t b = first + c * chunk;
                    body(f, b, std::min(last, b + chunk));
                }
            },
            oneapi::tbb::simple_partitioner{});
        return;
    }
    body(f, first, last);
}

} // namespace detail
#endif

/// Calls f(begin, end) on consecutive chunks of [first, last) of at most `chunk` indices
/// each; chunks may run concurrently. Chunk boundaries depend only on `chunk`.
template <class F>
void parallel_chunks(std::size_t first, std::size_t last, std::size_t chunk, F&& f) {
    if (last <= first) return;
    chunk = std::max<std::size_t>(chunk, 1);
#if defined(EDGESTACK_HAS_TBB)
    using Fn = std::remove_reference_t<F>;
    detail::parallel_chunks_erased(
        first, last, chunk,
        [](void* p, std::size_t b, std::size_t e) { (*static_cast<Fn*>(p))(b, e); },
        const_cast<void*>(static_cast<const void*>(std::addressof(f))));
#else
    const std::size_t n_chunks = (last - first + chunk - 1) / chunk;
    for (std::size_t c = 0; c < n_chunks; ++c) {
        const std::size_t b = first + c * chunk;
        f(b, std::min(last, b + chunk));
    }
#endif
}

/// Calls f(i) for every i in [first, last), possibly concurrently.
template <class F>
void parallel_for(std::size_t first, std::size_t last, F&& f, std::size_t grain = 1) {
    parallel_chunks(first, last, grain, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) f(i);
    });
}

} // namespace edgestack
