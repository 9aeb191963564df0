// The first element of every Sequential: the per-sample input shape (NHWC without N).
#pragma once

#include <cstddef>

#include "edgestack/core/shape.hpp"

namespace edgestack::nn {

/// `Input<28, 28, 1>`: a 28x28 single-channel image; `Input<16>`: 16 features.
template <std::size_t... Dims>
struct Input {
    using shape = Shape<Dims...>; ///< the per-sample shape it declares
};

} // namespace edgestack::nn
