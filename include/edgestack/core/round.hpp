// Rounding to the nearest integer with ties to even, in plain float arithmetic: what
// std::nearbyint gives in the default rounding mode, without its library call (a call per
// value when the build has no SSE4.1, where it was most of an int8 engine's input
// quantization) and without the standard library (the Cortex-M engine includes this).
#pragma once

namespace edgestack {

/// Round to the nearest integer, ties to even: adding and removing 2^23 leaves no fraction
/// bits for magnitudes below 2^23; larger values, infinities and NaN come back as they are,
/// and the result keeps v's sign, as std::nearbyint's does (-0.3 gives -0). Branch-free (a
/// select, not a jump), so loops over it vectorize and random signs cost no mispredictions.
constexpr float round_half_even(float v) noexcept {
    constexpr float big = 8388608.0f; // 2^23: from here on every float is an integer
#if defined(__GNUC__)
    const float a = __builtin_fabsf(v);
    return __builtin_copysignf(a < big ? (a + big) - big : a, v);
#else // the same, but a zero result is always +0
    const float a = v < 0.0f ? -v : v, r = a < big ? (a + big) - big : a;
    return v < 0.0f ? -r : r;
#endif
}

} // namespace edgestack
