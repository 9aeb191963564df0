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

#define EDGESTACK_XNN_OR(base, op, T)                                                          \
    static void op(const Step& s, const T* x, T* y, std::size_t batch, std::byte* scratch) noexcept { \
        if (s.handle) xnn::run(s, x, y, batch);                                                \
        else base::op(s, x, y, batch, scratch);                                                \
    }
    EDGESTACK_XNN_OR(SimdKernels, f32_dense, float)
    EDGESTACK_XNN_OR(SimdKernels, f32_conv2d, float)
    EDGESTACK_XNN_OR(SimdKernels, f32_depthwise_conv2d, float)
    EDGESTACK_XNN_OR(SimdKernels, f32_max_pool2d, float)
    EDGESTACK_XNN_OR(SimdKernels, qs8_dense, std::int8_t)
    EDGESTACK_XNN_OR(SimdKernels, qs8_conv2d, std::int8_t)
    EDGESTACK_XNN_OR(SimdKernels, qs8_depthwise_conv2d, std::int8_t)
    EDGESTACK_XNN_OR(SimdKernels, qs8_max_pool2d, std::int8_t)
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
