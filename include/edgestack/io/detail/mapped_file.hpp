// A read-only memory mapping of a whole file (POSIX mmap), and atomic file replacement
// (temporary file, fsync, rename, fsync of the folder) for the io/ writers.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgestack/core/error.hpp"

namespace edgestack::io::detail {

inline std::string errno_text() { return std::strerror(errno); }

class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw file_error(path + ": cannot open: " + errno_text());
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const std::string why = errno_text();
            ::close(fd);
            throw file_error(path + ": cannot stat: " + why);
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            throw file_error(path + ": not a regular file");
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ != 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const std::string why = errno_text();
                ::close(fd);
                throw file_error(path + ": cannot map: " + why);
            }
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd); // the mapping keeps the file's pages reachable
    }
    MappedFile(MappedFile&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    MappedFile& operator=(MappedFile&& o) noexcept {
        if (this != &o) {
            unmap();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() { unmap(); }

    std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

private:
    void unmap() noexcept {
        if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
        data_ = nullptr;
    }
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// Replace `path` with `parts` so that a reader sees the old file or the new one, never a
/// mix, even across a crash: write a temporary in the same folder, fsync it, rename it over
/// `path`, fsync the folder.
inline void write_atomically(const std::string& path,
                             std::initializer_list<std::span<const std::byte>> parts) {
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw file_error(tmp + ": cannot create: " + errno_text());
    auto fail = [&](const std::string& what) {
        const std::string why = errno_text();
        ::close(fd);
        ::unlink(tmp.c_str());
        throw file_error(tmp + ": " + what + ": " + why);
    };
    for (auto part : parts) {
        std::size_t done = 0;
        while (done < part.size()) {
            const ssize_t n = ::write(fd, part.data() + done, part.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                fail("write failed");
            }
            done += static_cast<std::size_t>(n);
        }
    }
    if (::fsync(fd) != 0) fail("fsync failed");
    if (::close(fd) != 0) {
        ::unlink(tmp.c_str());
        throw file_error(tmp + ": close failed: " + errno_text());
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = errno_text();
        ::unlink(tmp.c_str());
        throw file_error(path + ": cannot rename the temporary file over it: " + why);
    }
    const auto slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { // best effort: the rename is already visible
        ::fsync(dfd);
        ::close(dfd);
    }
}

} // namespace edgestack::io::detail
