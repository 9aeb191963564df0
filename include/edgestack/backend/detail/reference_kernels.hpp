// The Reference backend's kernel set: every op runs its unit's reference kernel
// (compile/ops/<name>.hpp), the oracle every other backend is tested against, fp32 and int8.
// Another kernel set derives from it and adds kernel() overloads for the ops it does better
// (overload resolution picks the exact one over the template below).
#pragma once

#include <cstddef>
#include <cstdint>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/core/cpu.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::backend::detail {

struct ReferenceKernels {
    static constexpr const char* name = "reference";

    /// Called once per step at compile time: pack weights for this backend's kernels.
    static void pack(Step&) {}

    /// An int8 engine's input quantization and output dequantization. `level` is the
    /// engine's widest kernel level, for kernel sets that compile these per level.
    static void quantize(const float* x, std::int8_t* y, std::size_t n, float scale, std::int32_t zp, Isa) noexcept {
        for (std::size_t i = 0; i < n; ++i) y[i] = quant::quantize(x[i], scale, zp);
    }
    static void dequantize(const std::int8_t* x, float* y, std::size_t n, float scale, std::int32_t zp, Isa) noexcept {
        for (std::size_t i = 0; i < n; ++i) y[i] = quant::dequantize(x[i], scale, zp);
    }

    /// Runs step `s` of op unit U on `batch` samples: x (and x2, binary ops) in, y out. A
    /// unit whose reference takes a last `std::byte*` gets the step's scratch (the
    /// scratch_bytes its prepare() asked for).
    template <class U, class T>
    static void kernel(U, const Step& s, const T* x, const T* x2, T* y, std::size_t batch,
                       std::byte* scratch) noexcept {
        const auto& st = s.get<typename U::State>();
        if constexpr (requires { U::reference(s, st, x, x2, y, batch, scratch); })
            U::reference(s, st, x, x2, y, batch, scratch);
        else
            U::reference(s, st, x, x2, y, batch);
    }

    // The reference forms of the kernels the vector sets replace, for their fallbacks.
    static void f32_dense(const Step& s, const float* x, float* y, std::size_t batch, std::byte*) noexcept {
        compile::ops::Dense::reference(s, s.weighted(), x, x, y, batch);
    }
    static void f32_conv2d(const Step& s, const float* x, float* y, std::size_t batch, std::byte*) noexcept {
        compile::ops::Conv2d::reference(s, s.weighted(), x, x, y, batch);
    }
    static void f32_depthwise_conv2d(const Step& s, const float* x, float* y, std::size_t batch,
                                     std::byte*) noexcept {
        compile::ops::DepthwiseConv2d::reference(s, s.weighted(), x, x, y, batch);
    }
    static void qs8_dense(const Step& s, const std::int8_t* x, std::int8_t* y, std::size_t batch,
                          std::byte*) noexcept {
        compile::ops::Dense::reference(s, s.weighted(), x, x, y, batch);
    }
    static void qs8_conv2d(const Step& s, const std::int8_t* x, std::int8_t* y, std::size_t batch,
                           std::byte*) noexcept {
        compile::ops::Conv2d::reference(s, s.weighted(), x, x, y, batch);
    }
    static void qs8_depthwise_conv2d(const Step& s, const std::int8_t* x, std::int8_t* y,
                                     std::size_t batch, std::byte*) noexcept {
        compile::ops::DepthwiseConv2d::reference(s, s.weighted(), x, x, y, batch);
    }
};

} // namespace edgestack::backend::detail
