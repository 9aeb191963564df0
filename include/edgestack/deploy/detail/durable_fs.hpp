// The registry's file helpers: the crash-safe writes of core/file_io.hpp, bounded reads of
// regular files only, and an advisory lock that a killed writer cannot leave held.
#pragma once

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgestack/core/error.hpp"
#include "edgestack/core/file_io.hpp"

namespace edgestack::deploy::detail {

namespace fs = std::filesystem;

using edgestack::fsync_path;
using edgestack::write_file_synced;
using edgestack::detail::errno_text;
using edgestack::ReadBound;
using edgestack::read_regular_file;

/// What a registry file may weigh when nothing states its size (extra files, keys).
inline constexpr std::uint64_t default_read_limit = std::uint64_t{1} << 30;
/// What a manifest, signature or serving pointer may weigh.
inline constexpr std::uint64_t text_read_limit = std::uint64_t{1} << 20;

/// The whole of the regular file `p` (core/file_io.hpp's read_regular_file): at most
/// `limit` bytes, or with `exact` exactly `limit` (the size the manifest states).
inline std::vector<std::byte> read_file(const fs::path& p, std::uint64_t limit = default_read_limit,
                                        bool exact = false) {
    if (!exact) return read_regular_file<std::byte>(p, limit);
    try {
        return read_regular_file<std::byte>(p, limit, ReadBound::exactly);
    } catch (const integrity_error& e) {
        throw integrity_error(std::string(e.what()) + " (the size the manifest states)");
    }
}

inline std::string read_text(const fs::path& p, std::uint64_t limit = text_read_limit) {
    const auto b = read_file(p, limit);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// Removes `<target>.tmp-<pid>` files that a writer killed between writing and renaming left
/// behind: one whose process no longer runs. A live writer's temporary is left alone.
inline void remove_stale_temporaries(const fs::path& target) {
    const std::string prefix = target.filename().string() + ".tmp-";
    std::error_code ec;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(target.parent_path(), ec)) {
        const std::string n = e.path().filename().string();
        if (!n.starts_with(prefix) || n.size() == prefix.size() || n.size() > prefix.size() + 9)
            continue;
        long pid = 0;
        bool digits = true;
        for (char c : n.substr(prefix.size())) {
            if (c < '0' || c > '9') digits = false;
            else pid = pid * 10 + (c - '0');
        }
        if (!digits || pid <= 0 || pid == static_cast<long>(::getpid())) continue;
        if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) stale.push_back(e.path());
    }
    for (const auto& p : stale) fs::remove(p, ec);
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
