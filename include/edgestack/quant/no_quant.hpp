// The empty quantization policy: the engine runs the fp32 graph as it was trained.
#pragma once

#include "edgestack/compile/graph.hpp"

namespace edgestack::quant {

/// No quantization: the engine runs the trained fp32 graph (an empty policy, no space taken).
struct NoQuant {
    /// Shown in summaries.
    static constexpr const char* name = "fp32";
    /// Leaves the graph in fp32.
    void lower(compile::Graph&) const noexcept {}
};

} // namespace edgestack::quant
