// backend::Xnnpack: conv, depthwise conv, dense and max pool through XNNPACK operators
// (fp32; int8 as qc8 convolutions and qs8 fully connected layers with per-tensor weights),
// created and packed at compile and set up once per arena (threads in arenas of their own
// never wait for each other), on a pthreadpool of `threads` threads; every other
// op runs on the Simd kernels. Link edgestack::xnnpack. XNNPACK requantizes in fp32
// (round to nearest even), so its int8 results may differ from Reference by one step on
// ties; fp32 agrees within 1e-5.
#pragma once

#include <cstddef>
#include <memory>

#include "edgestack/backend/detail/simd_kernels.hpp"
#include "edgestack/backend/detail/xnnpack_adapter.hpp"
#include "edgestack/backend/engine.hpp"

namespace edgestack::backend {

namespace detail {

/// Steps that own an XNNPACK operator run there; the rest use the Simd kernels.
struct XnnpackKernels : SimdKernels {
    static constexpr const char* name = "xnnpack";

    using SimdKernels::kernel; // the ops without an XNNPACK operator

    // Steps holding an XNNPACK operator run it; the others fall back to Simd's kernels.
    // These hide SimdKernels' overloads of the same signature.
#define EDGESTACK_XNN_OR(Unit, T)                                                              \
    static void kernel(compile::ops::Unit u, const Step& s, const T* x, const T* x2, T* y,      \
                       std::size_t batch, std::byte* scratch) noexcept {                        \
        if (s.xnn()) xnn::run(s, x, y, batch);                                                 \
        else SimdKernels::kernel(u, s, x, x2, y, batch, scratch);                              \
    }
    EDGESTACK_XNN_OR(Dense, float)
    EDGESTACK_XNN_OR(Conv2d, float)
    EDGESTACK_XNN_OR(DepthwiseConv2d, float)
    EDGESTACK_XNN_OR(MaxPool2d, float)
    EDGESTACK_XNN_OR(Dense, std::int8_t)
    EDGESTACK_XNN_OR(Conv2d, std::int8_t)
    EDGESTACK_XNN_OR(DepthwiseConv2d, std::int8_t)
    EDGESTACK_XNN_OR(MaxPool2d, std::int8_t)
#undef EDGESTACK_XNN_OR
};

} // namespace detail

/// The engine backend::Xnnpack compiles.
using XnnpackEngine = BasicEngine<detail::XnnpackKernels>;

/// XNNPACK operators for the steps it supports, the Simd kernels for the others.
struct Xnnpack {
    static constexpr const char* name = "xnnpack"; ///< shown in reports
    std::size_t threads = 1; ///< pthreadpool size; 1 runs in the calling thread

    /// The engine of `g`, with XNNPACK operators created once here.
    XnnpackEngine compile(const compile::Graph& g) const {
        detail::xnn::initialize();
        auto pool = detail::xnn::make_pool(threads);
        return XnnpackEngine(g, [&](detail::Step& s) {
            if (!detail::xnn::create(s, pool)) detail::SimdKernels::pack(s);
        });
    }
};

} // namespace edgestack::backend
