// SHA-256 digests and HMAC-SHA256 signatures through OpenSSL's libcrypto, for the registry's
// integrity checks. Private to deploy/: link edgestack::crypto (or edgestack::serve).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "edgestack/core/error.hpp"
#include "edgestack/io/detail/crypto.hpp"

namespace edgestack::deploy::detail {

// SHA-256 and hex come from the model file's OpenSSL calls: one implementation of each.
using io::detail::Digest;

inline std::string to_hex(std::span<const unsigned char> bytes) { return io::detail::hex(bytes); }

inline std::string sha256_hex(std::span<const std::byte> data) {
    return io::detail::hex(io::detail::sha256({data}));
}

inline std::string sha256_hex(std::string_view text) {
    return sha256_hex(std::as_bytes(std::span(text.data(), text.size())));
}

inline Digest hmac_sha256(std::span<const std::byte> key, std::span<const std::byte> data) {
    Digest d{};
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data(),
             &len) == nullptr ||
        len != d.size())
        throw error("hmac-sha256: OpenSSL HMAC failed");
    return d;
}

/// Compares in constant time, so a forger learns nothing from how long a refusal took.
inline bool equal_digest_hex(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace edgestack::deploy::detail
