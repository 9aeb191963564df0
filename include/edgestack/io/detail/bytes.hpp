// Bounds-checked little-endian reading and writing for the io/ file formats. Every read
// names the file and byte offset when the input is short, so a hostile file gives a clear
// format_error and never a read past the end.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::io::detail {

static_assert(std::endian::native == std::endian::little,
              "edgestack io: the file formats are little-endian and so far only read on "
              "little-endian hosts");

class Reader {
public:
    Reader(std::span<const std::byte> bytes, std::string file, std::size_t base = 0)
        : bytes_(bytes), file_(std::move(file)), base_(base) {}

    std::size_t pos() const noexcept { return pos_; }
    std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
    /// Offset in the file, for messages (the reader may cover only a section of it).
    std::size_t file_offset() const noexcept { return base_ + pos_; }
    const std::string& file() const noexcept { return file_; }

    [[noreturn]] void fail(const std::string& what) const { fail_at(file_offset(), what); }
    [[noreturn]] void fail_at(std::size_t off, const std::string& what) const {
        throw format_error(file_ + ": byte " + std::to_string(off) + ": " + what);
    }

    void need(std::size_t n, std::string_view what) const {
        if (n > remaining())
            fail("truncated: " + std::string(what) + " needs " + std::to_string(n) +
                 " bytes, " + std::to_string(remaining()) + " left");
    }

    template <class T>
    T get(std::string_view what) {
        static_assert(std::is_trivially_copyable_v<T>);
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    /// A count that must fit in what is left when every element takes `elem_bytes`.
    std::size_t count(std::string_view what, std::size_t elem_bytes, std::size_t max) {
        const std::size_t at = file_offset();
        const auto n = get<std::uint32_t>(what);
        if (n > max)
            fail_at(at, std::string(what) + " " + std::to_string(n) + " exceeds the limit " +
                            std::to_string(max));
        if (elem_bytes != 0 && n > remaining() / elem_bytes)
            fail_at(at, std::string(what) + " " + std::to_string(n) + " is larger than the " +
                            std::to_string(remaining()) + " bytes left");
        return n;
    }

    std::span<const std::byte> take(std::size_t n, std::string_view what) {
        need(n, what);
        auto s = bytes_.subspan(pos_, n);
        pos_ += n;
        return s;
    }

private:
    std::span<const std::byte> bytes_;
    std::string file_;
    std::size_t base_ = 0;
    std::size_t pos_ = 0;
};

class Writer {
public:
    template <class T>
    void put(const T& v) {
        static_assert(std::is_trivially_copyable_v<T>);
        const auto* p = reinterpret_cast<const std::byte*>(&v);
        buf_.insert(buf_.end(), p, p + sizeof(T));
    }
    void put_bytes(std::span<const std::byte> s) { buf_.insert(buf_.end(), s.begin(), s.end()); }
    void pad_to(std::size_t alignment) {
        while (buf_.size() % alignment != 0) buf_.push_back(std::byte{0});
    }
    std::size_t size() const noexcept { return buf_.size(); }
    std::vector<std::byte>& bytes() noexcept { return buf_; }

private:
    std::vector<std::byte> buf_;
};

} // namespace edgestack::io::detail
