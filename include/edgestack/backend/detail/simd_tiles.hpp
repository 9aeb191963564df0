// backend::Simd's view of the register-blocked micro-kernels (kernels/simd_tiles.hpp): the
// kernels themselves, and the packing of a step's requantization data for them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/kernels/simd_tiles.hpp"

namespace edgestack::backend::detail {

namespace simd {

#if defined(EDGESTACK_SIMD_AVX2)
using namespace kernels::simd;
#endif

/// Per-channel requantization data for channels [c0, c0 + 8): multipliers (8 x int32)
/// and (shift, rounding half) as 64-bit lanes for even and odd channels.
inline void pack_rq(const Step& s, std::size_t c0, std::int32_t* m, std::int64_t* sh) {
    const std::size_t oc = s.weighted().rq.size();
    for (std::size_t j = 0; j < 8; ++j) {
        const std::size_t c = std::min(c0 + j, oc - 1);
        m[j] = s.weighted().rq[c].multiplier;
        const std::int64_t t = 31 + s.weighted().rq[c].shift;
        const std::size_t lane = j / 2, odd = j % 2;
        sh[odd * 4 + lane] = t;
        sh[8 + odd * 4 + lane] = std::int64_t{1} << (t - 1);
    }
}

} // namespace simd

} // namespace edgestack::backend::detail
