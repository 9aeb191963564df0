// A read-only memory mapping of a whole file (POSIX mmap), and the io/ writers' name for
// core/file_io.hpp's atomic file replacement.
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
#include "edgestack/core/file_io.hpp"

namespace edgestack::io::detail {

using edgestack::detail::errno_text;

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

/// Replace `path` with `parts`, atomically and durably (core/file_io.hpp).
inline void write_atomically(const std::string& path, ByteParts parts) {
    write_file_atomically(path, parts);
}

} // namespace edgestack::io::detail
