// The x86 intrinsic headers, included once before any dependency includes them, with GCC's
// -Wmaybe-uninitialized off inside them. Part of the core; every edgestack header that
// includes Eigen, oneTBB, xsimd, xtensor or XNNPACK includes this first.
//
// Why: GCC 12's AVX-512 intrinsics start from `__m512 __Y = __Y;` (_mm512_undefined_ps),
// and once Eigen's GEMM or xsimd inlines them into a -march with AVX-512, GCC reports that
// line as maybe uninitialized -- thousands of times per build (GCC bug 105593, fixed in
// later GCC releases). A middle-end warning is judged by the diagnostic state at the line
// it points at, so silencing it around the first inclusion of <immintrin.h> silences just
// those lines; the warning stays on for every line of edgestack and of the user's code.
// The same lines are reported as -Wuninitialized when the AVX-512 intrinsics are inlined into
// a function compiled for AVX-512 by a target attribute or pragma rather than by -march
// (backend::Simd's per-level kernels), so that warning is off there too.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
