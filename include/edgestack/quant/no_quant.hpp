// The empty quantization policy: the engine runs the fp32 graph as it was trained.
#pragma once

#include "edgestack/compile/graph.hpp"

namespace edgestack::quant {

struct NoQuant {
    static constexpr const char* name = "fp32";
    void lower(compile::Graph&) const noexcept {}
};

} // namespace edgestack::quant
