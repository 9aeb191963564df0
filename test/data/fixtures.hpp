// Small files written by the tests themselves: a scratch folder per test run, and helpers
// to write bytes and text into it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace fixtures {

/// A scratch folder removed when the object dies.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(std::string_view name) {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               ("edgestack-" + std::string(name) + "-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::filesystem::path operator/(std::string_view f) const { return path / std::string(f); }
};

inline void write_bytes(const std::filesystem::path& p, const std::vector<std::uint8_t>& b) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline void write_text(const std::filesystem::path& p, std::string_view s) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

inline void put_be32(std::vector<std::uint8_t>& b, std::uint32_t v) {
    for (int i = 3; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

/// An IDX file of uint8 values with the given dimensions; `body` bytes follow the header.
inline std::vector<std::uint8_t> idx_bytes(std::vector<std::uint32_t> dims,
                                           const std::vector<std::uint8_t>& body,
                                           std::uint8_t type = 0x08) {
    std::vector<std::uint8_t> b{0, 0, type, static_cast<std::uint8_t>(dims.size())};
    for (auto d : dims) put_be32(b, d);
    b.insert(b.end(), body.begin(), body.end());
    return b;
}

/// Runs f, which must throw E, and returns the message.
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "<no exception>";
}

inline const std::filesystem::path fashion_dir{EDGESTACK_FASHION_MNIST_DIR};

} // namespace fixtures
