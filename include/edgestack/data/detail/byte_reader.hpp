// Sequential reading of a binary file, raw or gzip-compressed (with edgestack::gzip linked),
// that keeps the byte offset so every format error can say where it happened.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "edgestack/core/error.hpp"
#include "edgestack/core/file_io.hpp"

#if defined(EDGESTACK_HAS_GZIP)
#include <zlib.h>
#endif

namespace edgestack::data::detail {

inline bool has_gz_suffix(const std::filesystem::path& p) { return p.extension() == ".gz"; }

/// Reads a file front to back. With zlib, gzread also passes plain files through, so one
/// code path serves both; offsets always count bytes of the uncompressed stream.
class ByteReader {
public:
    explicit ByteReader(std::filesystem::path path) : path_(std::move(path)) {
#if !defined(EDGESTACK_HAS_GZIP)
        if (has_gz_suffix(path_))
            throw config_error(path_.string() +
                               ": gzip-compressed input needs zlib - link edgestack::gzip");
#endif
        // Regular files only: a FIFO would hang the reader, /dev/zero would never end.
        const int fd = open_regular_file(path_);
#if defined(EDGESTACK_HAS_GZIP)
        gz_ = gzdopen(fd, "rb");
        if (gz_ == nullptr) {
            ::close(fd);
            throw file_error(path_.string() + ": cannot open for reading");
        }
        gzbuffer(gz_, 1 << 17);
#else
        f_ = ::fdopen(fd, "rb");
        if (f_ == nullptr) {
            ::close(fd);
            throw file_error(path_.string() + ": cannot open for reading");
        }
#endif
    }
    ByteReader(const ByteReader&) = delete;
    ByteReader& operator=(const ByteReader&) = delete;
    ~ByteReader() {
#if defined(EDGESTACK_HAS_GZIP)
        if (gz_ != nullptr) gzclose(gz_);
#else
        if (f_ != nullptr) std::fclose(f_);
#endif
    }

    /// Reads up to n bytes; returns how many were read (fewer only at the end of the file).
    std::size_t read_some(void* dst, std::size_t n) {
        auto* out = static_cast<unsigned char*>(dst);
        std::size_t got = 0;
        while (got < n) {
#if defined(EDGESTACK_HAS_GZIP)
            const std::size_t want = std::min<std::size_t>(n - got, 1u << 30);
            const int r = gzread(gz_, out + got, static_cast<unsigned>(want));
            if (r < 0) {
                int code = 0;
                const char* msg = gzerror(gz_, &code);
                throw format_error(where(offset_ + got) + "corrupt compressed data (" +
                                   std::string(msg ? msg : "zlib error") + ")");
            }
            if (r == 0) {
                // zlib ends a cut-short stream like a whole one and says so only here.
                int code = 0;
                gzerror(gz_, &code);
                if (code == Z_BUF_ERROR)
                    throw format_error(where(offset_ + got) +
                                       "compressed data ends early (the gzip file is truncated)");
            }
#else
            const std::size_t r = std::fread(out + got, 1, n - got, f_);
            if (r == 0 && std::ferror(f_)) throw file_error(where(offset_ + got) + "read failed");
#endif
            if (r == 0) break;
            got += static_cast<std::size_t>(r);
        }
        offset_ += got;
        return got;
    }

    /// Reads exactly n bytes or throws a format_error naming the offset where the file ended.
    void read_exact(void* dst, std::size_t n, const char* what) {
        const std::size_t start = offset_;
        const std::size_t got = read_some(dst, n);
        if (got != n)
            throw format_error(where(start) + "file ends at byte " + std::to_string(start + got) +
                               " but " + what + " needs " + std::to_string(n) + " bytes (up to byte " +
                               std::to_string(start + n) + ")");
    }

    std::uint32_t read_be32(const char* what) {
        unsigned char b[4];
        read_exact(b, 4, what);
        return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
               (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
    }

    std::size_t offset() const noexcept { return offset_; }
    const std::filesystem::path& path() const noexcept { return path_; }

    /// "file: byte N: " - the prefix of every message about this file.
    std::string where(std::size_t offset) const {
        return path_.string() + ": byte " + std::to_string(offset) + ": ";
    }

private:
    std::filesystem::path path_;
    std::size_t offset_ = 0;
#if defined(EDGESTACK_HAS_GZIP)
    gzFile gz_ = nullptr;
#else
    std::FILE* f_ = nullptr;
#endif
};

} // namespace edgestack::data::detail
