// backend::Reference: runs a graph op by op with plain loops, fp32 and int8. Slow and
// obviously right; the oracle the other backends are compared with (docs/engine.md).
#pragma once

#include "edgestack/backend/detail/reference_kernels.hpp"
#include "edgestack/backend/engine.hpp"

namespace edgestack::backend {

/// The engine backend::Reference compiles.
using ReferenceEngine = BasicEngine<detail::ReferenceKernels>;
/// Plain loops, fp32 and int8: the oracle other backends are compared with.
using Reference = KernelBackend<detail::ReferenceKernels>;

} // namespace edgestack::backend
