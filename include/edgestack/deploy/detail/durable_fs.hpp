// The registry's file helpers: the crash-safe writes of core/file_io.hpp, and an advisory
// lock that a killed writer cannot leave held.
#pragma once

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "edgestack/core/error.hpp"
#include "edgestack/core/file_io.hpp"

namespace edgestack::deploy::detail {

namespace fs = std::filesystem;

using edgestack::fsync_path;
using edgestack::read_file;
using edgestack::write_file_synced;
using edgestack::detail::errno_text;

inline std::string read_text(const fs::path& p) {
    const auto b = read_file(p);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// Replace `target` by a file holding `text`, atomically: readers see the old or the new
/// content, never a mix, even if the process dies at any instruction.
inline void replace_file_atomically(const fs::path& target, std::string_view text) {
    write_file_atomically(target, text);
}

/// An exclusive advisory lock on a file, released on destruction or when the process dies
/// (kill -9 included), so a crashed writer never leaves the registry locked.
class FileLock {
public:
    explicit FileLock(const fs::path& p) {
        fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) throw file_error(p.string() + ": cannot open lock file: " + errno_text());
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno == EINTR) continue;
            const std::string why = errno_text();
            ::close(fd_);
            throw file_error(p.string() + ": cannot lock: " + why);
        }
    }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    ~FileLock() {
        ::flock(fd_, LOCK_UN);
        ::close(fd_);
    }

private:
    int fd_ = -1;
};

} // namespace edgestack::deploy::detail
