// The per-device report of a compiled engine: parameters, MACs, arena and flash bytes, and
// estimated latency and energy per inference. The model behind the estimates:
//   latency = max(MACs / (peak MACs/s x efficiency), bytes moved / memory bandwidth)
//   energy  = MACs x e_mac + bytes moved x e_byte + static power x latency
// with bytes moved = weights + 2 x activations (read once, written once), one core.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>

#include "edgestack/device/profiles.hpp"

namespace edgestack::device {

/// Estimates for one engine on one device: does it fit, how long one sample takes, and the
/// energy it costs (a roofline of MACs against memory traffic; see docs/engine.md).
struct Report {
    std::string device;          ///< the profile's name
    std::size_t params = 0;      ///< parameters of the model
    std::size_t macs = 0;        ///< multiply-accumulates per sample
    std::size_t arena_bytes = 0; ///< activation memory at batch 1
    std::size_t flash_bytes = 0; ///< weights plus the engine's code
    bool int8 = false;           ///< whether the engine is int8 (else fp32)
    bool fits_ram = false;       ///< arena_bytes within the device's RAM
    bool fits_flash = false;     ///< flash_bytes within its flash
    double latency_s = 0.0;      ///< estimated seconds per sample
    double energy_j = 0.0;       ///< estimated joules per sample
    bool compute_bound = true;   ///< MACs, not memory traffic, set the latency

    /// One line with every figure.
    std::string to_string() const {
        char b[512];
        std::snprintf(b, sizeof b,
                      "%-40s %s  params %zu  MACs %zu  arena %zu B%s  flash %zu B%s  latency %.3f ms (%s)  energy %.3f mJ\n",
                      device.c_str(), int8 ? "int8" : "fp32", params, macs, arena_bytes,
                      fits_ram ? "" : " (does not fit)", flash_bytes, fits_flash ? "" : " (does not fit)",
                      latency_s * 1e3, compute_bound ? "compute-bound" : "memory-bound", energy_j * 1e3);
        return b;
    }
};

/// Report for one sample on `p`. Engine: any engine built by the graph backends (program()
/// gives parameters, MACs and weight bytes; arena_bytes(1) the arena).
template <class Engine>
Report report(const Engine& e, const Profile& p) {
    const auto& prog = e.program();
    Report r;
    r.device = std::string(p.name);
    r.int8 = prog.int8;
    r.params = prog.params;
    r.macs = prog.macs;
    r.arena_bytes = e.arena_bytes(1);
    r.flash_bytes = prog.weight_bytes + p.code_bytes;
    r.fits_ram = r.arena_bytes <= p.ram_bytes;
    r.fits_flash = r.flash_bytes <= p.flash_bytes;
    const double rate = p.clock_hz * (prog.int8 ? p.int8_macs_per_cycle : p.fp32_macs_per_cycle) * p.efficiency;
    const double moved = double(prog.weight_bytes) + 2.0 * double(prog.value_bytes_per_sample);
    const double t_compute = double(prog.macs) / rate, t_memory = moved / p.mem_bandwidth;
    r.compute_bound = t_compute >= t_memory;
    r.latency_s = std::max(t_compute, t_memory);
    r.energy_j = double(prog.macs) * p.energy_per_mac_pj * 1e-12 + moved * p.energy_per_byte_pj * 1e-12 +
                 p.static_power_w * r.latency_s;
    return r;
}

} // namespace edgestack::device
