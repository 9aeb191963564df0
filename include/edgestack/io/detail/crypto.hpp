// OpenSSL (libcrypto) calls, kept in one place: SHA-256 digests (the model file and the
// registry) and AES-256-GCM sealing of a payload. Link edgestack::crypto.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "edgestack/core/error.hpp"

namespace edgestack::io::detail {

using Digest = std::array<std::uint8_t, 32>;

struct EvpMdCtxFree {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct EvpCipherCtxFree {
    void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};

/// SHA-256 over the concatenation of `parts`.
inline Digest sha256(std::initializer_list<std::span<const std::byte>> parts) {
    std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw error("sha256: OpenSSL could not start a digest");
    for (auto p : parts)
        if (!p.empty() && EVP_DigestUpdate(ctx.get(), p.data(), p.size()) != 1)
            throw error("sha256: OpenSSL digest update failed");
    Digest d{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx.get(), d.data(), &len) != 1 || len != d.size())
        throw error("sha256: OpenSSL digest finalisation failed");
    return d;
}

inline std::string hex(std::span<const std::uint8_t> b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(b.size() * 2);
    for (auto x : b) {
        s += digits[x >> 4];
        s += digits[x & 15];
    }
    return s;
}

using Key = std::array<std::uint8_t, 32>;

/// A key file holds the 32 key bytes raw, or as 64 hex digits (a trailing newline is fine).
inline Key read_key_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw file_error(path + ": cannot open the key file");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    Key k{};
    if (s.size() == 32) {
        for (std::size_t i = 0; i < 32; ++i) k[i] = static_cast<std::uint8_t>(s[i]);
        return k;
    }
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    auto val = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    if (s.size() == 64) {
        for (std::size_t i = 0; i < 32; ++i) {
            const int hi = val(s[2 * i]), lo = val(s[2 * i + 1]);
            if (hi < 0 || lo < 0)
                throw config_error(path + ": byte " + std::to_string(2 * i) +
                                   ": key file is not hex (expected 64 hex digits)");
            k[i] = static_cast<std::uint8_t>(hi * 16 + lo);
        }
        return k;
    }
    throw config_error(path + ": key file holds " + std::to_string(s.size()) +
                       " bytes; an AES-256 key is 32 raw bytes or 64 hex digits");
}

inline constexpr std::size_t gcm_iv_bytes = 12;
inline constexpr std::size_t gcm_tag_bytes = 16;

/// Encrypts `data` in place with AES-256-GCM; fills `iv` (random) and `tag`.
inline void gcm_seal(const Key& key, std::span<const std::byte> aad, std::span<std::byte> data,
                     std::span<std::uint8_t, gcm_iv_bytes> iv,
                     std::span<std::uint8_t, gcm_tag_bytes> tag) {
    if (RAND_bytes(iv.data(), static_cast<int>(iv.size())) != 1)
        throw error("aes-256-gcm: OpenSSL could not draw a random IV");
    std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree> ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) == 1 &&
              EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data()) == 1 &&
              EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                static_cast<int>(aad.size())) == 1;
    // EVP lengths are int: seal in chunks so payloads above 2 GiB work too.
    constexpr std::size_t chunk = std::size_t{1} << 30;
    for (std::size_t off = 0; ok && off < data.size(); off += chunk) {
        const int n = static_cast<int>(std::min(chunk, data.size() - off));
        auto* p = reinterpret_cast<unsigned char*>(data.data() + off);
        ok = EVP_EncryptUpdate(ctx.get(), p, &len, p, n) == 1 && len == n;
    }
    ok = ok && EVP_EncryptFinal_ex(ctx.get(), nullptr, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()), tag.data()) == 1;
    if (!ok) throw error("aes-256-gcm: OpenSSL encryption failed");
}

/// Decrypts `in` into `out` (same size); throws integrity_error when the tag does not
/// match (wrong key or altered bytes).
inline void gcm_open(const Key& key, std::span<const std::byte> aad, std::span<const std::byte> in,
                     std::span<std::byte> out, std::span<const std::uint8_t, gcm_iv_bytes> iv,
                     std::span<const std::uint8_t, gcm_tag_bytes> tag, const std::string& file) {
    std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree> ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) == 1 &&
              EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data()) == 1 &&
              EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                static_cast<int>(aad.size())) == 1;
    constexpr std::size_t chunk = std::size_t{1} << 30;
    for (std::size_t off = 0; ok && off < in.size(); off += chunk) {
        const int n = static_cast<int>(std::min(chunk, in.size() - off));
        ok = EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data() + off), &len,
                               reinterpret_cast<const unsigned char*>(in.data() + off), n) == 1 &&
             len == n;
    }
    if (!ok) throw error(file + ": aes-256-gcm: OpenSSL decryption failed");
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()),
                            const_cast<std::uint8_t*>(tag.data())) != 1 ||
        EVP_DecryptFinal_ex(ctx.get(), nullptr, &len) != 1)
        throw integrity_error(file + ": the encrypted payload does not authenticate "
                                     "(wrong key, or the file was altered)");
}

} // namespace edgestack::io::detail
