// backend::Simd's direct kernels (GEMM-like tiles for dense and convolution, depthwise),
// compiled once per x86 instruction-set level inside the header, with GCC's target pragmas,
// so that no -march is needed: the same drivers (simd_isa_body.inc) over each level's vector
// primitives (simd_isa_sse2.inc, simd_isa_avx2.inc, simd_isa_avx512.inc), each level in its
// own namespace. On AArch64 the same drivers run over NEON's (simd_isa_neon.inc), which
// every AArch64 CPU has. The engine picks one level per step when it is compiled
// (core/cpu.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/backend/detail/reference_kernels.hpp"
#include "edgestack/core/cpu.hpp"
#include "edgestack/core/detail/intrinsics.hpp"
#include "edgestack/quant/fixed_point.hpp"

// GCC and Clang (each with its own spelling of a target region); other compilers get the
// Reference loops.
#if defined(EDGESTACK_X86) && defined(__GNUC__) && defined(__x86_64__)
#define EDGESTACK_SIMD_DISPATCH 1
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__GNUC__) && defined(__ARM_NEON)
#define EDGESTACK_SIMD_DISPATCH 1
#define EDGESTACK_SIMD_NEON 1
#include <arm_neon.h>
#endif

namespace edgestack::backend::detail::simd_isa {

inline constexpr std::size_t nr = 16; // output channels per micro-kernel tile, every level
inline constexpr std::size_t max_taps = 64; // larger depthwise kernels use Reference
inline constexpr std::size_t max_window = 256; // larger pooling windows use Reference
inline constexpr std::size_t max_f_mr = 8; // the tallest fp32 tile of any level

/// Geometry shared by the conv and dense drivers: `rows` segments of `seg` contiguous
/// inputs per output pixel (one per kernel row), pixels `pix` apart, rows `row` apart.
struct Tile {
    std::size_t pix = 0, row = 0, rows = 1, seg = 0;
};

inline std::size_t blocks(std::size_t oc) noexcept { return (oc + nr - 1) / nr; }

/// Width of the tile starting at `ow` in a row of `w` pixels: the row is cut into
/// ceil(w / most) tiles as equal as possible (14 = 5 + 5 + 4, not 6 + 6 + 2), because a
/// narrow tile has too few independent accumulators to hide the FMA latency.
inline std::size_t tile_width(std::size_t w, std::size_t ow, std::size_t most) noexcept {
    const std::size_t tiles = (w + most - 1) / most, base = w / tiles, wide = w % tiles;
    const std::size_t t = ow < wide * (base + 1) ? ow / (base + 1) : wide + (ow - wide * (base + 1)) / base;
    return t < wide ? base + 1 : base;
}

inline void act_bounds(const Step& s, float& lo, float& hi) noexcept {
    lo = -std::numeric_limits<float>::infinity();
    hi = std::numeric_limits<float>::infinity();
    if (s.act != compile::Activation::none) lo = 0.0f;
    if (s.act == compile::Activation::relu6) hi = 6.0f;
}

/// Output rows and row length the tiles walk: a 1x1 stride-1 unpadded (pointwise)
/// convolution's pixels are contiguous, so they form one long row and every tile is
/// full width, not only those that fit in one image row.
inline std::pair<std::size_t, std::size_t> out_rows(const Step& s) noexcept {
    const bool flat = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt + s.pb + s.pl + s.pr == 0;
    return flat ? std::pair{std::size_t{1}, s.out.h * s.out.w} : std::pair{s.out.h, s.out.w};
}

/// Offsets (in elements) of a depthwise kernel's taps from its top-left input pixel, in
/// a padded buffer `pw` pixels wide; returns how many taps.
inline std::size_t tap_offsets(const Step& s, std::size_t pw, std::size_t* off) noexcept {
    for (std::size_t i = 0; i < s.kh; ++i)
        for (std::size_t j = 0; j < s.kw; ++j) off[i * s.kw + j] = (i * pw + j) * s.in.c;
    return s.kh * s.kw;
}

/// Copies n < 16 int8 values in at most four moves of fixed size: a call to memmove per
/// pixel (an 8-channel convolution's every output) cost more than the pixel's arithmetic.
inline void copy_short(const std::int8_t* src, std::size_t n, std::int8_t* dst) noexcept {
    std::size_t i = 0;
    if (n - i >= 8) { std::memcpy(dst + i, src + i, 8); i += 8; }
    if (n - i >= 4) { std::memcpy(dst + i, src + i, 4); i += 4; }
    if (n - i >= 2) { std::memcpy(dst + i, src + i, 2); i += 2; }
    if (n - i >= 1) dst[i] = src[i];
}

/// Offsets (in elements) of the real (unpadded) input pixels under output pixel (oh, ow) of a
/// pooling window, in Reference's order; returns how many (at most max_window).
inline std::size_t window_offsets(const Step& s, std::size_t oh, std::size_t ow, std::size_t* off) noexcept {
    std::size_t count = 0;
    compile::ops::for_window(s, oh, ow, [&](std::size_t ih, std::size_t iw) { off[count++] = (ih * s.in.w + iw) * s.in.c; });
    return count;
}

using Span = std::pair<std::size_t, std::size_t>;

/// Along one axis (padding `pad` before, `k` taps, the window starting at padded position
/// `at`, `n` real positions): the taps [first, second) over real positions.
inline Span real_taps(std::size_t pad, std::size_t k, std::size_t at, std::size_t n) noexcept {
    const std::size_t first = std::min(k, pad > at ? pad - at : 0);
    return {first, std::max(first, std::min(k, n + pad > at ? n + pad - at : 0))};
}

/// Whether output row oh's window rows all lie inside the input (no padding row).
inline bool rows_inside(const Step& s, std::size_t oh) noexcept {
    return oh * s.sh >= s.pt && oh * s.sh - s.pt + s.kh <= s.in.h;
}

/// The output columns [first, second) whose window columns all lie inside the input.
inline std::pair<std::size_t, std::size_t> inside_columns(const Step& s) noexcept {
    const std::size_t ow = s.out.w, lo = std::min(ow, (s.pl + s.sw - 1) / s.sw);
    const std::size_t hi = s.in.w + s.pl >= s.kw ? std::clamp((s.in.w + s.pl - s.kw) / s.sw + 1, lo, ow) : lo;
    return {lo, hi};
}

/// Whether a window op reads its input as it is (the pixels whose window lies inside it
/// directly, the border ones one by one) rather than a padded copy: when no more than an
/// eighth of its output pixels are on the border. A small map under a large kernel (a
/// keyword spotter's 10 x 4 over 49 x 10) is nearly all border, and the copy wins.
inline bool reads_unpadded(const Step& s) noexcept {
    if (s.pt + s.pb + s.pl + s.pr == 0) return true;
    const auto [lo, hi] = inside_columns(s);
    std::size_t rows = 0;
    for (std::size_t oh = 0; oh < s.out.h; ++oh) rows += rows_inside(s, oh) ? 1 : 0;
    const std::size_t all = s.out.h * s.out.w, border = all - rows * (hi - lo);
    return border * 8 <= all;
}

/// The requantization of one int32 sum from the packed data of a 16-channel block (channel
/// j of 16), step by step as the vector form does it: round(|acc| * M) with ties away from
/// zero in unsigned 64-bit arithmetic, the sign restored, the zero point added, clamped.
inline std::int32_t requant_packed(std::int32_t acc, const std::int32_t* p32, const std::int64_t* p64,
                                   std::size_t j, std::int32_t zp, std::int32_t lo, std::int32_t hi) noexcept {
    const std::int64_t* base = p64 + (j / 8) * 16;
    const std::size_t jj = j % 8, at = (jj % 2) * 4 + jj / 2;
    const auto t = static_cast<std::uint64_t>(base[at]), half = static_cast<std::uint64_t>(base[8 + at]);
    const std::uint32_t a = acc < 0 ? 0u - static_cast<std::uint32_t>(acc) : static_cast<std::uint32_t>(acc);
    const std::uint64_t p = std::uint64_t{a} * static_cast<std::uint32_t>(p32[16 + j]) + half;
    const std::uint32_t r = static_cast<std::uint32_t>(t > 63 ? 0 : p >> t);
    const std::uint32_t sr = acc < 0 ? 0u - r : (acc == 0 ? 0u : r);
    const std::int32_t v = static_cast<std::int32_t>(sr + static_cast<std::uint32_t>(zp));
    return std::min(std::max(v, lo), hi);
}

/// <dtype>-<op>: the start of a step's kernel name.
inline std::string kernel_prefix(const Step& s) {
    const std::string_view family = compile::ops::visit(s.op, []<class U>() { return U::kernel; });
    return (s.int8 ? "qs8-" : "f32-") + std::string(family.empty() ? compile::op_name(s.op) : family);
}

} // namespace edgestack::backend::detail::simd_isa

#if defined(EDGESTACK_SIMD_NEON)

namespace edgestack::backend::detail::simd_isa::neon {
#define EDGESTACK_ISA_VNNI 0
#include "edgestack/backend/detail/simd_isa_neon.inc"
#include "edgestack/backend/detail/simd_isa_body.inc"
#undef EDGESTACK_ISA_VNNI
} // namespace edgestack::backend::detail::simd_isa::neon

/// Calls `fn` of the kernel set of the step's level (Reference's when it has none).
#define EDGESTACK_SIMD_ISA_CALL(level, fn, ...)                                                 \
    switch (level) {                                                                            \
    case ::edgestack::Isa::neon: return simd_isa::neon::fn(__VA_ARGS__);                       \
    default: return ReferenceKernels::fn(__VA_ARGS__);                                          \
    }

/// Calls `fn` of the kernel set of the step's level; `fallback` (a statement) at the scalar level.
#define EDGESTACK_SIMD_ISA_CALL_OR(level, fn, fallback, ...)                                    \
    switch (level) {                                                                            \
    case ::edgestack::Isa::neon: return simd_isa::neon::fn(__VA_ARGS__);                       \
    default: fallback;                                                                          \
    }

/// The name of the kernel the step's level runs for it (empty: none of its own).
#define EDGESTACK_SIMD_ISA_NAME(level, s)                                                       \
    switch (level) {                                                                            \
    case ::edgestack::Isa::neon: return simd_isa::neon::kernel_name(s);                        \
    default: return {};                                                                         \
    }

#elif defined(EDGESTACK_SIMD_DISPATCH)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("sse2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("sse2")
#endif
namespace edgestack::backend::detail::simd_isa::sse2 {
#define EDGESTACK_ISA_VNNI 0
#include "edgestack/backend/detail/simd_isa_sse2.inc"
#include "edgestack/backend/detail/simd_isa_body.inc"
#undef EDGESTACK_ISA_VNNI
} // namespace edgestack::backend::detail::simd_isa::sse2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace edgestack::backend::detail::simd_isa::avx2 {
#define EDGESTACK_ISA_VNNI 0
#include "edgestack/backend/detail/simd_isa_avx2.inc"
#include "edgestack/backend/detail/simd_isa_body.inc"
#undef EDGESTACK_ISA_VNNI
} // namespace edgestack::backend::detail::simd_isa::avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avxvnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avxvnni")
#endif
namespace edgestack::backend::detail::simd_isa::avxvnni {
#define EDGESTACK_ISA_VNNI 1
#include "edgestack/backend/detail/simd_isa_avx2.inc"
#include "edgestack/backend/detail/simd_isa_body.inc"
#undef EDGESTACK_ISA_VNNI
} // namespace edgestack::backend::detail::simd_isa::avxvnni
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")
#endif
namespace edgestack::backend::detail::simd_isa::avx512 {
#define EDGESTACK_ISA_VNNI 0
#include "edgestack/backend/detail/simd_isa_avx512.inc"
#include "edgestack/backend/detail/simd_isa_body.inc"
#undef EDGESTACK_ISA_VNNI
} // namespace edgestack::backend::detail::simd_isa::avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#endif
namespace edgestack::backend::detail::simd_isa::avx512vnni {
#define EDGESTACK_ISA_VNNI 1
#include "edgestack/backend/detail/simd_isa_avx512.inc"
#include "edgestack/backend/detail/simd_isa_body.inc"
#undef EDGESTACK_ISA_VNNI
} // namespace edgestack::backend::detail::simd_isa::avx512vnni
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/// Calls `fn` of the kernel set of the step's level (Reference's when it has none).
#define EDGESTACK_SIMD_ISA_CALL(level, fn, ...)                                                 \
    switch (level) {                                                                            \
    case ::edgestack::Isa::sse2: return simd_isa::sse2::fn(__VA_ARGS__);                       \
    case ::edgestack::Isa::avx2: return simd_isa::avx2::fn(__VA_ARGS__);                       \
    case ::edgestack::Isa::avxvnni: return simd_isa::avxvnni::fn(__VA_ARGS__);                 \
    case ::edgestack::Isa::avx512: return simd_isa::avx512::fn(__VA_ARGS__);                   \
    case ::edgestack::Isa::avx512vnni: return simd_isa::avx512vnni::fn(__VA_ARGS__);           \
    default: return ReferenceKernels::fn(__VA_ARGS__);                                          \
    }

/// Calls `fn` of the kernel set of the step's level; `fallback` (a statement) at the scalar level.
#define EDGESTACK_SIMD_ISA_CALL_OR(level, fn, fallback, ...)                                    \
    switch (level) {                                                                            \
    case ::edgestack::Isa::sse2: return simd_isa::sse2::fn(__VA_ARGS__);                       \
    case ::edgestack::Isa::avx2: return simd_isa::avx2::fn(__VA_ARGS__);                       \
    case ::edgestack::Isa::avxvnni: return simd_isa::avxvnni::fn(__VA_ARGS__);                 \
    case ::edgestack::Isa::avx512: return simd_isa::avx512::fn(__VA_ARGS__);                   \
    case ::edgestack::Isa::avx512vnni: return simd_isa::avx512vnni::fn(__VA_ARGS__);           \
    default: fallback;                                                                          \
    }

/// The name of the kernel the step's level runs for it (empty: none of its own).
#define EDGESTACK_SIMD_ISA_NAME(level, s)                                                       \
    switch (level) {                                                                            \
    case ::edgestack::Isa::sse2: return simd_isa::sse2::kernel_name(s);                        \
    case ::edgestack::Isa::avx2: return simd_isa::avx2::kernel_name(s);                        \
    case ::edgestack::Isa::avxvnni: return simd_isa::avxvnni::kernel_name(s);                  \
    case ::edgestack::Isa::avx512: return simd_isa::avx512::kernel_name(s);                    \
    case ::edgestack::Isa::avx512vnni: return simd_isa::avx512vnni::kernel_name(s);            \
    default: return {};                                                                         \
    }

#else

#define EDGESTACK_SIMD_ISA_CALL(level, fn, ...)                                                 \
    (void)(level);                                                                              \
    return ReferenceKernels::fn(__VA_ARGS__);

#define EDGESTACK_SIMD_ISA_CALL_OR(level, fn, fallback, ...)                                    \
    (void)(level);                                                                              \
    fallback;

#define EDGESTACK_SIMD_ISA_NAME(level, s)                                                       \
    (void)(level);                                                                              \
    (void)(s);                                                                                  \
    return {};

#endif
