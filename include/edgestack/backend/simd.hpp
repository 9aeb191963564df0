// backend::Simd: the fast CPU backend. Register-blocked fp32 and int8 kernels over weights
// packed once at compile, built for every x86 level (SSE2 to AVX-512 VNNI) and chosen from
// the CPU when the engine is compiled (EDGESTACK_ISA caps the choice; plain loops on other
// targets), every other op from the Reference kernels. Same results as Reference: within
// 1e-5 (fp32), identical (int8).
#pragma once

#include "edgestack/backend/detail/simd_kernels.hpp"
#include "edgestack/backend/engine.hpp"

namespace edgestack::backend {

/// The engine backend::Simd compiles.
using SimdEngine = BasicEngine<detail::SimdKernels>;
/// Vector kernels, the instruction set chosen from the CPU when an engine is compiled.
using Simd = KernelBackend<detail::SimdKernels>;

/// True when the including code is compiled with AVX2+FMA (e.g. -march=native): only then
/// are 3x3 convolutions run as Winograd F(2x2, 3x3). The direct kernels are chosen at run
/// time either way (SimdEngine::isa(), SimdEngine::kernel_names()).
inline constexpr bool simd_accelerated =
#if defined(EDGESTACK_SIMD_AVX2)
    true;
#else
    false;
#endif

} // namespace edgestack::backend
