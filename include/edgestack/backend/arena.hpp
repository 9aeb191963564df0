// The scratch memory an engine runs in. One arena per thread; sized once, reused by every
// inference, so running allocates nothing.
#pragma once

#include <cstddef>
#include <vector>

namespace edgestack::backend {

struct Arena {
    std::vector<float> floats;
    std::size_t max_batch = 0;
};

} // namespace edgestack::backend
