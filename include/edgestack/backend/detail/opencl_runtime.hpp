// The OpenCL runtime under backend::OpenCl: owned handles, device discovery and choice
// (index, name or EDGESTACK_OPENCL_DEVICE), and building the kernels' program once, with
// its binary cached on disk keyed by device, driver and source hash. Every OpenCL call of
// the backend goes through this header and opencl.hpp.
#pragma once

// Before <CL/cl.h>, whose platform header includes the x86 intrinsics.
#include "edgestack/core/detail/intrinsics.hpp"

#include <CL/cl.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::backend::detail {

/// An owned OpenCL object, released with `Release` (clReleaseMemObject, ...).
template <class T, cl_int (*Release)(T)>
class ClHandle {
public:
    ClHandle() = default;
    explicit ClHandle(T h) noexcept : h_(h) {}
    ClHandle(ClHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    ClHandle& operator=(ClHandle&& o) noexcept {
        if (this != &o) {
            reset();
            h_ = std::exchange(o.h_, nullptr);
        }
        return *this;
    }
    ClHandle(const ClHandle&) = delete;
    ClHandle& operator=(const ClHandle&) = delete;
    ~ClHandle() { reset(); }
    T get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }
    void reset() noexcept {
        if (h_) Release(h_);
        h_ = nullptr;
    }

private:
    T h_ = nullptr;
};

using ClContext = ClHandle<cl_context, clReleaseContext>;
using ClQueue = ClHandle<cl_command_queue, clReleaseCommandQueue>;
using ClProgram = ClHandle<cl_program, clReleaseProgram>;
using ClKernel = ClHandle<cl_kernel, clReleaseKernel>;
using ClMem = ClHandle<cl_mem, clReleaseMemObject>;
using ClEvent = ClHandle<cl_event, clReleaseEvent>;

/// Throws config_error naming `what` when `err` is not CL_SUCCESS.
inline void cl_check(cl_int err, const std::string& what) {
    if (err != CL_SUCCESS)
        throw config_error("backend::OpenCl: " + what + " failed (OpenCL error " +
                           std::to_string(err) + ")");
}

inline std::string cl_device_string(cl_device_id d, cl_device_info what) {
    std::size_t n = 0;
    if (clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return {};
    std::string s(n, '\0');
    clGetDeviceInfo(d, what, n, s.data(), nullptr);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
}

inline std::string cl_platform_string(cl_platform_id p, cl_platform_info what) {
    std::size_t n = 0;
    if (clGetPlatformInfo(p, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return {};
    std::string s(n, '\0');
    clGetPlatformInfo(p, what, n, s.data(), nullptr);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
}

/// One OpenCL device as found on this machine.
struct ClDevice {
    std::size_t platform_index = 0, device_index = 0; // within the platform
    cl_platform_id platform = nullptr;
    cl_device_id id = nullptr;
    std::string platform_name, name, version, driver;
};

/// Every device of every platform, in platform then device order.
inline std::vector<ClDevice> cl_devices() {
    std::vector<ClDevice> out;
    cl_uint np = 0;
    if (clGetPlatformIDs(0, nullptr, &np) != CL_SUCCESS || np == 0) return out;
    std::vector<cl_platform_id> ps(np);
    if (clGetPlatformIDs(np, ps.data(), nullptr) != CL_SUCCESS) return out;
    for (std::size_t p = 0; p < ps.size(); ++p) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(ps[p], CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS || nd == 0)
            continue;
        std::vector<cl_device_id> ds(nd);
        if (clGetDeviceIDs(ps[p], CL_DEVICE_TYPE_ALL, nd, ds.data(), nullptr) != CL_SUCCESS) continue;
        for (std::size_t d = 0; d < ds.size(); ++d) {
            ClDevice dev;
            dev.platform_index = p;
            dev.device_index = d;
            dev.platform = ps[p];
            dev.id = ds[d];
            dev.platform_name = cl_platform_string(ps[p], CL_PLATFORM_NAME);
            dev.name = cl_device_string(ds[d], CL_DEVICE_NAME);
            dev.version = cl_device_string(ds[d], CL_DEVICE_VERSION);
            dev.driver = cl_device_string(ds[d], CL_DRIVER_VERSION);
            out.push_back(std::move(dev));
        }
    }
    return out;
}

inline std::string lower_case(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline std::string device_list(const std::vector<ClDevice>& ds) {
    std::string s;
    for (std::size_t i = 0; i < ds.size(); ++i)
        s += "\n  " + std::to_string(i) + " (" + std::to_string(ds[i].platform_index) + ":" +
             std::to_string(ds[i].device_index) + "): " + ds[i].platform_name + " / " + ds[i].name;
    return s;
}

/// The device `spec` names: "" (the first), "N" (the N-th over all platforms), "P:D"
/// (platform P, its device D) or a case-insensitive part of "platform / device name".
inline ClDevice choose_device(const std::string& spec) {
    const auto ds = cl_devices();
    if (ds.empty())
        throw config_error("backend::OpenCl: no OpenCL device found (no driver installed: Debian's "
                           "pocl-opencl-icd runs OpenCL on the CPU; a GPU or FPGA needs its vendor's ICD)");
    if (spec.empty()) return ds.front();
    const bool digits = std::all_of(spec.begin(), spec.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == ':'; });
    if (digits) {
        const auto colon = spec.find(':');
        try {
            if (colon == std::string::npos) {
                const auto i = std::stoul(spec);
                if (i < ds.size()) return ds[i];
            } else {
                const auto p = std::stoul(spec.substr(0, colon)), d = std::stoul(spec.substr(colon + 1));
                for (const auto& dev : ds)
                    if (dev.platform_index == p && dev.device_index == d) return dev;
            }
        } catch (const std::exception&) {
        }
    } else {
        const std::string want = lower_case(spec);
        for (const auto& dev : ds)
            if (lower_case(dev.platform_name + " / " + dev.name).find(want) != std::string::npos) return dev;
    }
    throw config_error("backend::OpenCl: no OpenCL device matches '" + spec +
                       "' (give an index, platform:device, or part of a name); devices:" +
                       device_list(ds));
}

/// 64-bit FNV-1a: the cache key of a program binary.
inline std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) noexcept {
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

/// Where program binaries are kept: EDGESTACK_OPENCL_CACHE, else $XDG_CACHE_HOME or
/// ~/.cache, under edgestack/opencl. Empty when none can be named.
inline std::filesystem::path cache_folder(const std::string& given) {
    if (!given.empty()) return given;
    if (const char* e = std::getenv("EDGESTACK_OPENCL_CACHE"); e && *e) return e;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
        return std::filesystem::path(x) / "edgestack" / "opencl";
    if (const char* h = std::getenv("HOME"); h && *h)
        return std::filesystem::path(h) / ".cache" / "edgestack" / "opencl";
    return {};
}

/// The 64-byte header of a cache file: magic, key, payload bytes and payload hash.
inline std::string cache_header(const char* key, std::size_t size, std::uint64_t hash) {
    char h[65];
    std::snprintf(h, sizeof h, "edgestack1 %s %016zx %016llx", key, size,
                  static_cast<unsigned long long>(hash));
    std::string s(h);
    s.resize(63, ' ');
    return s + '\n';
}

inline std::string build_log(cl_program p, cl_device_id d) {
    std::size_t n = 0;
    clGetProgramBuildInfo(p, d, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
    std::string s(n, '\0');
    if (n != 0) clGetProgramBuildInfo(p, d, CL_PROGRAM_BUILD_LOG, n, s.data(), nullptr);
    return s;
}

/// The program of `source` for `dev`: from the binary cache when it holds one for this device,
/// driver and source, else built from source and stored there (best effort: a cache that
/// cannot be read or written only costs the build). `from_cache` says which happened.
inline ClProgram build_program_cached(cl_context ctx, const ClDevice& dev, std::string_view source,
                                      const std::string& options, const std::filesystem::path& folder,
                                      bool& from_cache) {
    from_cache = false;
    const std::uint64_t key = fnv1a(source, fnv1a(options + '\n' + dev.platform_name + '\n' + dev.name +
                                                  '\n' + dev.version + '\n' + dev.driver));
    char hex[17];
    for (int i = 0; i < 16; ++i) hex[i] = "0123456789abcdef"[(key >> (60 - 4 * i)) & 0xF];
    hex[16] = '\0';
    const std::filesystem::path file = folder.empty() ? std::filesystem::path{} : folder / (std::string(hex) + ".bin");
    cl_device_id id = dev.id;
    if (!file.empty()) {
        std::ifstream in(file, std::ios::binary);
        std::vector<unsigned char> bin((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        // Drivers may abort on a damaged binary (PoCL asserts), so the file's header (magic,
        // key, payload size and hash) is checked before the driver sees a byte of it.
        const std::string head = cache_header(hex, bin.size() > 64 ? bin.size() - 64 : 0,
                                              bin.size() > 64 ? fnv1a({reinterpret_cast<const char*>(bin.data()) + 64, bin.size() - 64}) : 0);
        if (bin.size() > 64 && std::equal(head.begin(), head.end(), bin.begin())) {
            const unsigned char* ptr = bin.data() + 64;
            const std::size_t size = bin.size() - 64;
            cl_int status = CL_SUCCESS, err = CL_SUCCESS;
            ClProgram p(clCreateProgramWithBinary(ctx, 1, &id, &size, &ptr, &status, &err));
            if (err == CL_SUCCESS && status == CL_SUCCESS &&
                clBuildProgram(p.get(), 1, &id, options.c_str(), nullptr, nullptr) == CL_SUCCESS) {
                from_cache = true;
                return p;
            }
        }
    }
    const char* src = source.data();
    const std::size_t len = source.size();
    cl_int err = CL_SUCCESS;
    ClProgram p(clCreateProgramWithSource(ctx, 1, &src, &len, &err));
    cl_check(err, "clCreateProgramWithSource");
    if (clBuildProgram(p.get(), 1, &id, options.c_str(), nullptr, nullptr) != CL_SUCCESS)
        throw config_error("backend::OpenCl: the kernels do not build on '" + dev.name + "':\n" +
                           build_log(p.get(), id));
    if (!file.empty()) {
        std::size_t size = 0;
        if (clGetProgramInfo(p.get(), CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr) == CL_SUCCESS &&
            size != 0) {
            std::vector<unsigned char> bin(size);
            unsigned char* ptr = bin.data();
            if (clGetProgramInfo(p.get(), CL_PROGRAM_BINARIES, sizeof ptr, &ptr, nullptr) == CL_SUCCESS) {
                std::error_code ec;
                std::filesystem::create_directories(folder, ec);
                // Written aside and renamed, so a concurrent reader never sees half a file.
                const auto tmp = file.string() + ".tmp" + std::to_string(reinterpret_cast<std::uintptr_t>(&bin));
                {
                    std::ofstream out(tmp, std::ios::binary);
                    out << cache_header(hex, bin.size(),
                                        fnv1a({reinterpret_cast<const char*>(bin.data()), bin.size()}));
                    out.write(reinterpret_cast<const char*>(bin.data()), static_cast<std::streamsize>(bin.size()));
                }
                std::filesystem::rename(tmp, file, ec);
                if (ec) std::filesystem::remove(tmp, ec);
            }
        }
    }
    return p;
}

} // namespace edgestack::backend::detail
