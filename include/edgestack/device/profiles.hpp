// Device profiles: the targets an engine is deployed to, with the memory and throughput
// figures the fit check (fits_on) and the per-device report (device/report.hpp) use.
// Figures are datasheet values; the x86 host's peaks were measured (bench_engine_kernels).
#pragma once

#include <cstddef>
#include <string_view>

namespace edgestack::device {

/// What the estimates need to know about a target.
struct Profile {
    std::string_view name;        ///< shown in reports
    std::size_t ram_bytes;        ///< memory for activations (SRAM on an MCU)
    std::size_t flash_bytes;      ///< storage for weights and code
    std::size_t cores;            ///< cores (the estimates use one)
    double clock_hz;              ///< core clock
    double fp32_macs_per_cycle;   ///< per core, peak (SIMD width x FMA units)
    double int8_macs_per_cycle;   ///< per core, peak
    double efficiency;            ///< share of peak small-batch inference reaches
    double mem_bandwidth;         ///< bytes/s, weights and activations streamed once
    double energy_per_mac_pj;     ///< dynamic energy per MAC
    double energy_per_byte_pj;    ///< dynamic energy per byte moved from memory
    double static_power_w;        ///< board power while running, beyond the MACs
    std::size_t code_bytes;       ///< flash taken by the engine's code (measured for x86)
};

/// STM32H7-class Cortex-M7 at 480 MHz: 512 KiB SRAM, 2 MiB flash. FPv5 single precision
/// (1 MAC/cycle), SMLAD dual 16-bit MACs for int8 (2/cycle).
struct CortexM7 {
    /// The figures of this target.
    static constexpr Profile profile{"cortex-m7 (512 KiB SRAM, 2 MiB flash)", 512 * 1024, 2 * 1024 * 1024, 1,
                                     480e6, 1.0, 2.0, 0.5, 0.4e9, 8.0, 30.0, 0.25, 100 * 1024};
};

/// Cortex-A53 board (4 cores at 1.2 GHz, 512 MiB RAM, 8 GiB eMMC): NEON 4-wide fp32 FMA,
/// int8 through 16-bit multiply-accumulate (8 per cycle), no dot-product instructions.
struct CortexA53 {
    /// The figures of this target.
    static constexpr Profile profile{"cortex-a53 board (4x1.2 GHz, 512 MiB)", 512ull * 1024 * 1024,
                                     8ull * 1024 * 1024 * 1024, 4, 1.2e9, 4.0, 8.0, 0.35, 2.0e9, 4.0,
                                     20.0, 1.5, 300 * 1024};
};

/// Raspberry Pi 4 (Cortex-A72, 4 cores at 1.5 GHz, 4 GiB): two 128-bit NEON pipes.
struct RaspberryPi4 {
    /// The figures of this target.
    static constexpr Profile profile{"raspberry pi 4 (4x1.5 GHz A72, 4 GiB)", 4ull * 1024 * 1024 * 1024,
                                     32ull * 1024 * 1024 * 1024, 4, 1.5e9, 8.0, 16.0, 0.4, 4.0e9, 3.0,
                                     15.0, 3.0, 300 * 1024};
};

/// An x86-64 AVX2+FMA host like the one the benchmarks ran on (2-core AMD EPYC Zen 3):
/// 95 GFLOP/s fp32 and 98 GOP/s int8 (vpmaddwd) measured per core.
struct X86Avx2Host {
    /// The figures of this target.
    static constexpr Profile profile{"x86-64 avx2 host (2-core zen 3)", 8ull * 1024 * 1024 * 1024,
                                     64ull * 1024 * 1024 * 1024, 2, 3.0e9, 16.0, 16.0, 0.6, 20.0e9, 1.0,
                                     10.0, 15.0, 300 * 1024};
};

/// A target described by a static constexpr Profile named `profile`.
template <class D>
concept Device = requires { { D::profile } -> std::convertible_to<const Profile&>; };

} // namespace edgestack::device
