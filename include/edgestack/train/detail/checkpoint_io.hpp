// Private: the byte-level pieces of checkpoint files (little-endian encoding, CRC-32, a
// bounds-checked reader that names the file and offset, atomic replacement of a file).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/core/file_io.hpp"

namespace edgestack::train::detail {

/// CRC-32 (IEEE 802.3, reflected), table-driven.
class Crc32 {
public:
    void update(const unsigned char* p, std::size_t n) noexcept {
        static const auto table = make_table();
        std::uint32_t c = crc_;
        for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xffu] ^ (c >> 8);
        crc_ = c;
    }
    std::uint32_t value() const noexcept { return crc_ ^ 0xffffffffu; }

private:
    static std::array<std::uint32_t, 256> make_table() noexcept {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }
    std::uint32_t crc_ = 0xffffffffu;
};

inline std::uint32_t crc32(std::span<const unsigned char> bytes) noexcept {
    Crc32 c;
    c.update(bytes.data(), bytes.size());
    return c.value();
}

/// Appends little-endian values to a byte buffer.
class ByteWriter {
public:
    template <class T>
    void put(T v) {
        static_assert(std::is_integral_v<T>);
        using U = std::make_unsigned_t<T>;
        auto u = static_cast<U>(v);
        unsigned char b[sizeof(T)];
        for (std::size_t i = 0; i < sizeof(T); ++i) {
            b[i] = static_cast<unsigned char>(u & 0xffu);
            if constexpr (sizeof(T) > 1) u = static_cast<U>(u >> 8);
        }
        append(b, sizeof(T));
    }
    void put_string(std::string_view s) {
        put(static_cast<std::uint32_t>(s.size()));
        append(reinterpret_cast<const unsigned char*>(s.data()), s.size());
    }
    // One growth path for every put: a push_back per byte, inlined at every call, was most
    // of the encoder's code.
    void append(const unsigned char* p, std::size_t n) { bytes_.insert(bytes_.end(), p, p + n); }
    void put_floats(std::span<const float> v) {
        put(static_cast<std::uint64_t>(v.size()));
        const std::size_t at = bytes_.size();
        bytes_.resize(at + v.size() * 4);
        unsigned char* out = bytes_.data() + at;
        for (float f : v) {
            const auto u = std::bit_cast<std::uint32_t>(f);
            out[0] = static_cast<unsigned char>(u);
            out[1] = static_cast<unsigned char>(u >> 8);
            out[2] = static_cast<unsigned char>(u >> 16);
            out[3] = static_cast<unsigned char>(u >> 24);
            out += 4;
        }
    }
    void patch_u64(std::size_t at, std::uint64_t v) {
        for (std::size_t i = 0; i < 8; ++i) bytes_[at + i] = static_cast<unsigned char>(v >> (8 * i));
    }
    std::vector<unsigned char>& bytes() noexcept { return bytes_; }

private:
    std::vector<unsigned char> bytes_;
};

/// Reads little-endian values; every failure names the file, the byte offset and what was
/// being read.
class ByteReader {
public:
    ByteReader(std::span<const unsigned char> bytes, std::string file)
        : bytes_(bytes), file_(std::move(file)) {}

    std::size_t offset() const noexcept { return at_; }
    const std::string& file() const noexcept { return file_; }

    [[noreturn]] void fail(const std::string& what) const { fail_at(at_, what); }
    [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
        throw format_error(file_ + ": byte " + std::to_string(at) + ": " + what);
    }

    template <class T>
    T get(const char* field) {
        need(sizeof(T), field);
        std::make_unsigned_t<T> u = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i)
            u |= static_cast<std::make_unsigned_t<T>>(
                static_cast<std::make_unsigned_t<T>>(bytes_[at_ + i]) << (8 * i));
        at_ += sizeof(T);
        return static_cast<T>(u);
    }
    std::string get_string(const char* field) {
        const auto n = get<std::uint32_t>(field);
        need(n, field);
        std::string s(reinterpret_cast<const char*>(bytes_.data() + at_), n);
        at_ += n;
        return s;
    }
    std::vector<float> get_floats(const char* field) {
        const std::size_t start = at_;
        const auto n = get<std::uint64_t>(field);
        if (n > (bytes_.size() - at_) / 4)
            fail_at(start, std::string(field) + ": " + std::to_string(n) +
                               " floats declared but only " +
                               std::to_string(bytes_.size() - at_) + " bytes remain");
        std::vector<float> v(n);
        const unsigned char* p = bytes_.data() + at_;
        for (auto& f : v) {
            const std::uint32_t u = std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 |
                                    std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
            f = std::bit_cast<float>(u);
            p += 4;
        }
        at_ += n * 4;
        return v;
    }

private:
    void need(std::size_t n, const char* field) const {
        if (bytes_.size() - at_ < n)
            fail(std::string("truncated: ") + field + " needs " + std::to_string(n) +
                 " bytes, " + std::to_string(bytes_.size() - at_) + " remain");
    }

    std::span<const unsigned char> bytes_;
    std::string file_;
    std::size_t at_ = 0;
};

/// The whole file; a directory, FIFO or device is a file_error naming it (core/file_io.hpp).
inline std::vector<unsigned char> read_file_bytes(const std::filesystem::path& path) {
    return edgestack::read_regular_file(path);
}

/// Replace `path` with `bytes`, atomically and durably (core/file_io.hpp).
inline void write_file_atomically(const std::filesystem::path& path,
                                  std::span<const unsigned char> bytes) {
    edgestack::write_file_atomically(path, std::as_bytes(bytes));
}

} // namespace edgestack::train::detail
