// Shared by the libFuzzer targets: loaders that read from a path get the fuzzer's bytes
// through an in-memory file (memfd), so no run touches the disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

namespace fuzz {

/// The bytes as a file; returns its path (valid until the next call). `suffix` picks
/// loaders that look at extensions (".csv", ".tsv").
inline std::string as_file(const std::uint8_t* data, std::size_t size, const char* suffix = "") {
    static int fd = -1;
    if (fd < 0) fd = ::memfd_create("edgestack-fuzz", 0);
    if (fd < 0 || ::ftruncate(fd, 0) != 0) __builtin_trap();
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
        if (n <= 0) __builtin_trap();
        done += static_cast<std::size_t>(n);
    }
    // A symlink gives the memfd a name with the suffix the loader expects.
    static std::string link;
    if (link.empty()) {
        link = "/tmp/edgestack-fuzz-" + std::to_string(::getpid()) + suffix;
        ::unlink(link.c_str());
        if (::symlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), link.c_str()) != 0)
            __builtin_trap();
    }
    return link;
}

} // namespace fuzz
