// dist::Checkpoint: what data-parallel training saves so a job can resume after a rank
// dies - the parameters, the optimizer's state, and where in training it was (epoch, step).
// Rank 0 writes it; a restart reads it on rank 0 and broadcasts it.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::dist {

/// File layout, version 1 (little-endian):
///   0  magic "ESDPCKPT"          8  u32 version          12 u32 reserved (0)
///   16 u64 model fingerprint     24 u64 epoch            32 u64 step in that epoch
///   40 u64 parameter count P     48 u64 optimizer state count S
///   56 P f32 parameters, then S f32 optimizer state, then u64 FNV-1a of all bytes before.
struct Checkpoint {
    static constexpr char magic[8] = {'E', 'S', 'D', 'P', 'C', 'K', 'P', 'T'};
    static constexpr std::uint32_t version = 1;
    static constexpr std::size_t header_bytes = 56;

    std::uint64_t fingerprint = 0;
    std::uint64_t epoch = 0; // the epoch to continue with
    std::uint64_t step = 0;  // the first global batch of `epoch` not yet trained on
    std::vector<float> parameters;
    std::vector<float> optimizer_state;

    std::vector<std::byte> to_bytes() const;
    static Checkpoint from_bytes(const std::vector<std::byte>& bytes, const std::string& source);

    /// Written to `path`.tmp, then renamed over `path`: a crash mid-write leaves the
    /// previous checkpoint intact.
    void save(const std::filesystem::path& path) const;
    static Checkpoint load(const std::filesystem::path& path);
};

static_assert(std::endian::native == std::endian::little,
              "dist::Checkpoint: the file format is little-endian; add byte swapping for this "
              "target");

namespace detail {

inline std::uint64_t checkpoint_hash(const std::byte* p, std::size_t n) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (std::size_t i = 0; i < n; ++i) {
        h ^= static_cast<std::uint64_t>(p[i]);
        h *= 0x100000001b3ULL;
    }
    return h;
}

template <class T>
void put(std::vector<std::byte>& out, const T& v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
}

template <class T>
T get(const std::vector<std::byte>& in, std::size_t at) {
    T v;
    std::memcpy(&v, in.data() + at, sizeof(T));
    return v;
}

} // namespace detail

inline std::vector<std::byte> Checkpoint::to_bytes() const {
    std::vector<std::byte> out;
    out.reserve(header_bytes + 4 * (parameters.size() + optimizer_state.size()) + 8);
    for (char c : magic) out.push_back(static_cast<std::byte>(c));
    detail::put(out, version);
    detail::put(out, std::uint32_t{0});
    detail::put(out, fingerprint);
    detail::put(out, epoch);
    detail::put(out, step);
    detail::put(out, static_cast<std::uint64_t>(parameters.size()));
    detail::put(out, static_cast<std::uint64_t>(optimizer_state.size()));
    const auto* p = reinterpret_cast<const std::byte*>(parameters.data());
    out.insert(out.end(), p, p + 4 * parameters.size());
    const auto* s = reinterpret_cast<const std::byte*>(optimizer_state.data());
    out.insert(out.end(), s, s + 4 * optimizer_state.size());
    detail::put(out, detail::checkpoint_hash(out.data(), out.size()));
    return out;
}

inline Checkpoint Checkpoint::from_bytes(const std::vector<std::byte>& in,
                                         const std::string& source) {
    auto fail = [&](std::size_t offset, const std::string& what) {
        return format_error(source + ": byte " + std::to_string(offset) + ": " + what);
    };
    if (in.size() < header_bytes + 8)
        throw fail(in.size(), "truncated: a checkpoint has at least " +
                                  std::to_string(header_bytes + 8) + " bytes, this one " +
                                  std::to_string(in.size()));
    if (std::memcmp(in.data(), magic, sizeof magic) != 0)
        throw fail(0, "not an edgestack data-parallel checkpoint (magic is not ESDPCKPT)");
    const auto v = detail::get<std::uint32_t>(in, 8);
    if (v == 0 || v > version)
        throw fail(8, "version " + std::to_string(v) + " is not supported (this build reads 1 to " +
                          std::to_string(version) + ")");
    Checkpoint c;
    c.fingerprint = detail::get<std::uint64_t>(in, 16);
    c.epoch = detail::get<std::uint64_t>(in, 24);
    c.step = detail::get<std::uint64_t>(in, 32);
    const auto np = detail::get<std::uint64_t>(in, 40);
    const auto ns = detail::get<std::uint64_t>(in, 48);
    const std::uint64_t room = (in.size() - header_bytes - 8) / 4;
    if (np > room || ns > room - np || header_bytes + 4 * (np + ns) + 8 != in.size())
        throw fail(40, "sizes (" + std::to_string(np) + " parameters, " + std::to_string(ns) +
                           " optimizer values) do not match the file size " +
                           std::to_string(in.size()));
    const std::size_t end = in.size() - 8;
    if (detail::get<std::uint64_t>(in, end) != detail::checkpoint_hash(in.data(), end))
        throw integrity_error(source + ": byte " + std::to_string(end) +
                              ": checksum does not match the contents (corrupt checkpoint)");
    c.parameters.resize(np);
    c.optimizer_state.resize(ns);
    std::memcpy(c.parameters.data(), in.data() + header_bytes, 4 * np);
    std::memcpy(c.optimizer_state.data(), in.data() + header_bytes + 4 * np, 4 * ns);
    return c;
}

inline void Checkpoint::save(const std::filesystem::path& path) const {
    const auto bytes = to_bytes();
    auto tmp = path;
    tmp += ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw file_error(tmp.string() + ": cannot open for writing");
        f.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
        f.flush();
        if (!f) throw file_error(tmp.string() + ": write failed (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw file_error(path.string() + ": cannot replace with " + tmp.string() + ": " +
                             ec.message());
}

inline Checkpoint Checkpoint::load(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw file_error(path.string() + ": cannot open checkpoint");
    f.seekg(0, std::ios::end);
    const auto size = static_cast<std::size_t>(f.tellg());
    f.seekg(0);
    std::vector<std::byte> bytes(size);
    f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
    if (!f) throw file_error(path.string() + ": read failed");
    return from_bytes(bytes, path.string());
}

} // namespace edgestack::dist
