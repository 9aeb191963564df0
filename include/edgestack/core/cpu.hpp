// What the CPU can run: the instruction-set levels the engine's vector kernels are built for
// (x86-64: detected from cpuid, and from xgetbv whether the OS saves the wide registers;
// AArch64: NEON, which every AArch64 CPU has), and the cap a user sets with EDGESTACK_ISA.
// Engines read it once, when they are compiled.
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "edgestack/core/error.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define EDGESTACK_X86 1
#endif

namespace edgestack {

/// Instruction-set levels; the vector kernels exist per level. On x86-64 each level is a
/// superset of the one before: `avxvnni` is AVX2 with AVX-VNNI's 256-bit vpdpwssd, `avx512`
/// is F, BW, VL and DQ. `neon` is AArch64's Advanced SIMD. `scalar` (plain loops) belongs
/// to every architecture.
enum class Isa : std::uint8_t { scalar, sse2, avx2, avxvnni, avx512, avx512vnni, neon };

/// Every level, lowest first, of every architecture.
inline constexpr std::array<Isa, 7> all_isas{Isa::scalar,  Isa::sse2,       Isa::avx2, Isa::avxvnni,
                                             Isa::avx512, Isa::avx512vnni, Isa::neon};

/// Whether level `i` belongs to the architecture this program was built for (x86-64's
/// levels on x86-64, `neon` on AArch64, `scalar` everywhere).
constexpr bool isa_of_this_arch(Isa i) noexcept {
#if defined(__aarch64__)
    return i == Isa::scalar || i == Isa::neon;
#elif defined(__x86_64__) || defined(__i386__)
    return i != Isa::neon;
#else
    return i == Isa::scalar;
#endif
}

/// The level's name as EDGESTACK_ISA and kernel names spell it ("avx512vnni").
constexpr std::string_view isa_name(Isa i) noexcept {
    switch (i) {
    case Isa::scalar: return "scalar";
    case Isa::sse2: return "sse2";
    case Isa::avx2: return "avx2";
    case Isa::avxvnni: return "avxvnni";
    case Isa::avx512: return "avx512";
    case Isa::avx512vnni: return "avx512vnni";
    case Isa::neon: return "neon";
    }
    return "scalar";
}

/// Writes the level's name to a stream.
template <class Os>
    requires requires(Os& os, std::string_view v) { os << v; }
Os& operator<<(Os& os, Isa i) {
    os << isa_name(i);
    return os;
}

/// The level named `s`; throws config_error naming every accepted value otherwise.
inline Isa parse_isa(std::string_view s) {
    for (Isa i : all_isas)
        if (isa_name(i) == s) return i;
    std::string all;
    for (Isa i : all_isas) all += (all.empty() ? "" : ", ") + std::string(isa_name(i));
    throw config_error("EDGESTACK_ISA: unknown instruction set '" + std::string(s) + "'; accepted: " + all);
}

/// Whether this CPU (and its OS) runs the kernels of level `i`.
inline bool isa_supported(Isa i) noexcept {
#if defined(EDGESTACK_X86)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return i == Isa::scalar;
    const bool sse2 = (d >> 26) & 1u, fma = (c >> 12) & 1u, osxsave = (c >> 27) & 1u, avx = (c >> 28) & 1u;
    std::uint64_t xcr0 = 0;
    if (osxsave) {
        unsigned lo = 0, hi = 0;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = (std::uint64_t{hi} << 32) | lo;
    }
    const bool ymm = (xcr0 & 0x6u) == 0x6u;    // SSE and AVX state saved by the OS
    const bool zmm = (xcr0 & 0xE6u) == 0xE6u;  // and opmask, upper ZMM, ZMM16-31
    unsigned b7 = 0, c7 = 0, a71 = 0;
    if (__get_cpuid_max(0, nullptr) >= 7) {
        __cpuid_count(7, 0, a, b7, c7, d);
        unsigned b71 = 0, c71 = 0, d71 = 0;
        __cpuid_count(7, 1, a71, b71, c71, d71);
    }
    const bool avx2 = avx && fma && ymm && ((b7 >> 5) & 1u);
    const bool avx512 = avx2 && zmm && ((b7 >> 16) & 1u) && ((b7 >> 17) & 1u) && ((b7 >> 30) & 1u) &&
                        ((b7 >> 31) & 1u);
    switch (i) {
    case Isa::scalar: return true;
    case Isa::sse2: return sse2;
    case Isa::avx2: return avx2;
    case Isa::avxvnni: return avx2 && ((a71 >> 4) & 1u);
    case Isa::avx512: return avx512;
    case Isa::avx512vnni: return avx512 && ((c7 >> 11) & 1u);
    case Isa::neon: return false;
    }
    return false;
#elif defined(__aarch64__)
    return i == Isa::scalar || i == Isa::neon; // Advanced SIMD is part of every AArch64 CPU
#else
    return i == Isa::scalar;
#endif
}

/// The highest level this CPU runs.
inline Isa detected_isa() noexcept {
    Isa best = Isa::scalar;
    for (Isa i : all_isas)
        if (isa_supported(i)) best = i;
    return best;
}

/// The highest level this CPU runs that is at most `cap`.
inline Isa isa_at_most(Isa cap) noexcept {
    Isa best = Isa::scalar;
    for (Isa i : all_isas)
        if (i <= cap && isa_supported(i)) best = i;
    return best;
}

/// The level an engine compiled now uses: the highest this CPU runs, capped by the
/// environment variable EDGESTACK_ISA when it is set (throws config_error for an unknown
/// value).
inline Isa selected_isa() {
    const char* cap = std::getenv("EDGESTACK_ISA");
    if (cap == nullptr || *cap == '\0') return detected_isa();
    const Isa level = parse_isa(cap);
    if (!isa_of_this_arch(level)) {
        std::string here;
        for (Isa i : all_isas)
            if (isa_of_this_arch(i)) here += (here.empty() ? "" : ", ") + std::string(isa_name(i));
        throw config_error("EDGESTACK_ISA: '" + std::string(cap) +
                           "' is an instruction set of another architecture; this program runs: " + here);
    }
    return isa_at_most(level);
}

} // namespace edgestack
