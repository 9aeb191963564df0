// POSIX file helpers for crash-safe writes: every byte reaches the disk (fsync) before the
// rename that makes it visible, and the directory is synced after the rename.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "edgestack/core/error.hpp"

namespace edgestack::deploy::detail {

namespace fs = std::filesystem;

inline std::string errno_text() { return std::strerror(errno); }

inline void fsync_path(const fs::path& p, bool directory) {
    const int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) throw file_error(p.string() + ": cannot open to sync: " + errno_text());
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw file_error(p.string() + ": fsync failed: " + errno_text());
}

/// Write `data` to `p` (created or truncated) and fsync it.
inline void write_file_synced(const fs::path& p, std::span<const std::byte> data) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw file_error(p.string() + ": cannot create: " + errno_text());
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const std::string why = errno_text();
            ::close(fd);
            throw file_error(p.string() + ": write failed at byte " + std::to_string(done) +
                             ": " + why);
        }
        done += static_cast<std::size_t>(n);
    }
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw file_error(p.string() + ": fsync failed: " + errno_text());
}

inline void write_file_synced(const fs::path& p, std::string_view text) {
    write_file_synced(p, std::as_bytes(std::span(text.data(), text.size())));
}

inline std::vector<std::byte> read_file(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw file_error(p.string() + ": cannot open: " + errno_text());
    std::vector<std::byte> out;
    std::byte buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            const std::string why = errno_text();
            ::close(fd);
            throw file_error(p.string() + ": read failed at byte " + std::to_string(out.size()) +
                             ": " + why);
        }
        if (n == 0) break;
        out.insert(out.end(), buf, buf + n);
    }
    ::close(fd);
    return out;
}

inline std::string read_text(const fs::path& p) {
    const auto b = read_file(p);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// Replace `target` by a file holding `text`, atomically: readers see the old or the new
/// content, never a mix, even if the process dies at any instruction.
inline void replace_file_atomically(const fs::path& target, std::string_view text) {
    fs::path tmp = target;
    tmp += ".tmp-" + std::to_string(::getpid());
    write_file_synced(tmp, text);
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        const std::string why = errno_text();
        ::unlink(tmp.c_str());
        throw file_error(target.string() + ": rename from " + tmp.filename().string() +
                         " failed: " + why);
    }
    fsync_path(target.parent_path(), true);
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
