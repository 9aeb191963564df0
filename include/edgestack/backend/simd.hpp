// backend::Simd: the fast CPU backend. Register-blocked fp32 and int8 kernels over weights
// packed once at compile (AVX2+FMA; plain loops on other targets), every other op from
// the Reference kernels. Same results as Reference: within 1e-5 (fp32), identical (int8).
#pragma once

#include "edgestack/backend/detail/simd_kernels.hpp"
#include "edgestack/backend/engine.hpp"

namespace edgestack::backend {

/// The engine backend::Simd compiles.
using SimdEngine = BasicEngine<detail::SimdKernels>;
/// Vector kernels (Eigen GEMM, xsimd), the instruction set chosen from the CPU at run time.
using Simd = KernelBackend<detail::SimdKernels>;

/// True when the AVX2+FMA kernels were compiled in (false: the portable fallback).
inline constexpr bool simd_accelerated =
#if defined(EDGESTACK_SIMD_AVX2)
    true;
#else
    false;
#endif

} // namespace edgestack::backend
