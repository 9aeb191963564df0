// Whole-file reads and crash-safe writes (POSIX), shared by every stage that saves state:
// checkpoints, model files, ONNX exports and the model registry. A replaced file is written
// to a temporary beside it, fsynced, renamed over the target and the folder fsynced, so a
// reader sees the old content or the new, never a mix, whenever the process or machine dies.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgestack/core/error.hpp"

namespace edgestack {

/// A list of byte ranges written one after another.
using ByteParts = std::initializer_list<std::span<const std::byte>>;

namespace detail {
inline std::string errno_text() { return std::strerror(errno); }
inline std::span<const std::byte> text_bytes(std::string_view text) noexcept {
    return std::as_bytes(std::span(text.data(), text.size()));
}
// What a file that is not a regular file is, for messages.
inline const char* kind_of(mode_t mode) noexcept {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}
// Refuses an existing target that is not a regular file: replacing a directory, FIFO or
// device with a file is never what the caller meant.
inline void check_write_target(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        throw file_error(p.string() + ": cannot write: it is " + kind_of(st.st_mode) +
                         ", not a regular file");
}
} // namespace detail

/// fsync a file or, with `directory`, a folder (making a rename inside it durable).
inline void fsync_path(const std::filesystem::path& p, bool directory) {
    const int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) throw file_error(p.string() + ": cannot open to sync: " + detail::errno_text());
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw file_error(p.string() + ": fsync failed: " + detail::errno_text());
}

/// Writes `parts` to `p` (created or truncated) and fsyncs it. On failure the partial file
/// is removed and the error names the file, the byte and the reason.
inline void write_file_synced(const std::filesystem::path& p, ByteParts parts) {
    detail::check_write_target(p);
    // O_NONBLOCK: a FIFO put in place after the check fails to open instead of waiting.
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) throw file_error(p.string() + ": cannot create: " + detail::errno_text());
    const auto fail = [&](const std::string& what) {
        const std::string why = detail::errno_text();
        ::close(fd);
        ::unlink(p.c_str());
        throw file_error(p.string() + ": " + what + ": " + why);
    };
    std::size_t total = 0;
    for (const auto part : parts) {
        for (std::size_t done = 0; done < part.size();) {
            const ssize_t n = ::write(fd, part.data() + done, part.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                fail("write failed at byte " + std::to_string(total + done));
            }
            done += static_cast<std::size_t>(n);
        }
        total += part.size();
    }
    if (::fsync(fd) != 0) fail("fsync failed");
    if (::close(fd) != 0) {
        const std::string why = detail::errno_text();
        ::unlink(p.c_str());
        throw file_error(p.string() + ": close failed: " + why);
    }
}

/// write_file_synced() of one block of bytes.
inline void write_file_synced(const std::filesystem::path& p, std::span<const std::byte> data) {
    write_file_synced(p, ByteParts{data});
}
/// write_file_synced() of a text.
inline void write_file_synced(const std::filesystem::path& p, std::string_view text) {
    write_file_synced(p, ByteParts{detail::text_bytes(text)});
}

/// Replaces `target` with `parts` atomically and durably (see the top of this file). The
/// folder's fsync after the rename is best effort: the new file is already in place, and
/// reporting failure then would make a caller undo a write that happened.
inline void write_file_atomically(const std::filesystem::path& target, ByteParts parts) {
    detail::check_write_target(target);
    std::filesystem::path tmp = target;
    tmp += ".tmp-" + std::to_string(::getpid());
    write_file_synced(tmp, parts);
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        const std::string why = detail::errno_text();
        ::unlink(tmp.c_str());
        throw file_error(target.string() + ": cannot rename the temporary file " +
                         tmp.filename().string() + " over it: " + why);
    }
    const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

/// write_file_atomically() of one block of bytes.
inline void write_file_atomically(const std::filesystem::path& target, std::span<const std::byte> data) {
    write_file_atomically(target, ByteParts{data});
}
/// write_file_atomically() of a text.
inline void write_file_atomically(const std::filesystem::path& target, std::string_view text) {
    write_file_atomically(target, ByteParts{detail::text_bytes(text)});
}

/// How read_regular_file bounds a file: at most `limit` bytes, or exactly `limit` (a size
/// stated elsewhere, e.g. by a manifest; a mismatch is an integrity_error naming both).
enum class ReadBound { at_most, exactly };

/// Opens `p` for reading and returns the descriptor, if it is a regular file: a directory,
/// FIFO, device or socket (or a symlink to one, such as /dev/zero) is a file_error naming the
/// path. Opening does not block (a FIFO without a writer would) and the type is checked on
/// the open descriptor, not on the name, so the file cannot be swapped in between. The
/// caller closes the descriptor.
inline int open_regular_file(const std::filesystem::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) throw file_error(p.string() + ": cannot open for reading: " + detail::errno_text());
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const std::string why = detail::errno_text();
        ::close(fd);
        throw file_error(p.string() + ": cannot stat: " + why);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw file_error(p.string() + ": cannot read: it is " + detail::kind_of(st.st_mode) +
                         ", not a regular file");
    }
    // Reads of a regular file never block; clear the flag for the stdio and zlib readers.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/// The whole of `p`, which must be a regular file: a directory, FIFO, device or socket (or a
/// symlink to one, such as /dev/zero) is a file_error naming the path, refused before a byte
/// is read -- opening does not block and the type is checked on the open descriptor, so a
/// planted file can neither hang the reader nor fill its memory. The read is bounded by the
/// size the file has when opened and by `limit`; a file that grows while being read is
/// refused. Every stage reads untrusted files through this one function.
template <class Byte = unsigned char>
std::vector<Byte> read_regular_file(const std::filesystem::path& p,
                                    std::uint64_t limit = std::uint64_t(-1),
                                    ReadBound bound = ReadBound::at_most) {
    static_assert(sizeof(Byte) == 1, "read_regular_file: Byte must be a byte type");
    const int fd = open_regular_file(p);
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw file_error(p.string() + ": cannot stat: " + detail::errno_text());
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const bool exact = bound == ReadBound::exactly;
    if (exact && size != limit)
        throw integrity_error(p.string() + ": " + std::to_string(size) + " bytes, expected " +
                              std::to_string(limit));
    if (size > limit)
        throw file_error(p.string() + ": " + std::to_string(size) + " bytes, more than the " +
                         std::to_string(limit) + " this reader accepts");
    std::vector<Byte> out(static_cast<std::size_t>(size));
    std::size_t done = 0;
    for (;;) {
        // One byte past the stated size tells a file that grew while being read.
        Byte extra{};
        Byte* dst = done < out.size() ? out.data() + done : &extra;
        const std::size_t want = done < out.size() ? out.size() - done : 1;
        const ssize_t n = ::read(fd, dst, want);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            throw file_error(p.string() + ": read failed at byte " + std::to_string(done) + ": " +
                             detail::errno_text());
        }
        if (n == 0) break;
        if (dst == &extra)
            throw file_error(p.string() + ": grew while being read (more than " +
                             std::to_string(size) + " bytes)");
        done += static_cast<std::size_t>(n);
    }
    if (done != out.size()) {
        if (exact)
            throw integrity_error(p.string() + ": " + std::to_string(done) + " bytes, expected " +
                                  std::to_string(limit));
        out.resize(done); // the file shrank since fstat
    }
    return out;
}

} // namespace edgestack
