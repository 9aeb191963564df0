// NumPy .npy arrays (float32, float64, uint8, int32, int64; little-endian, C order): features
// converted to float as they are read (the file's bytes are never held whole), labels to
// int32. load_npy pairs a features file with a labels file into a Loader.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/detail/byte_reader.hpp"
#include "edgestack/data/in_memory.hpp"

namespace edgestack::data {

/// What an .npy header says about the array that follows it.
struct NpyHeader {
    std::string descr;              ///< e.g. "<f4"
    std::vector<std::size_t> shape; ///< dimensions, C order
    std::size_t data_offset = 0;    ///< byte where the array data starts
    std::size_t item_bytes = 0;     ///< bytes per element of `descr`
    /// Elements in the array: the product of `shape`.
    std::size_t count() const noexcept {
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
};

namespace detail {

// Finds `'key':` in the header dictionary; returns the position just after the colon.
inline std::size_t npy_key(const std::string& h, const std::string& key, const ByteReader& in,
                           std::size_t base) {
    for (const char q : {'\'', '"'}) {
        const std::string k = std::string(1, q) + key + std::string(1, q);
        auto p = h.find(k);
        if (p == std::string::npos) continue;
        p = h.find(':', p + k.size());
        if (p != std::string::npos) return p + 1;
    }
    throw format_error(in.where(base) + "NPY header has no '" + key + "' entry");
}

inline NpyHeader read_npy_header(ByteReader& in) {
    unsigned char pre[8];
    in.read_exact(pre, 8, "the NPY magic string and version");
    if (std::memcmp(pre, "\x93NUMPY", 6) != 0)
        throw format_error(in.where(0) + "not an NPY file (it must start with \\x93NUMPY)");
    const unsigned major = pre[6];
    if (major < 1 || major > 3)
        throw format_error(in.where(6) + "NPY format version " + std::to_string(major) + "." +
                           std::to_string(pre[7]) + " is not supported (1, 2 or 3)");
    std::size_t hlen = 0;
    if (major == 1) {
        unsigned char b[2];
        in.read_exact(b, 2, "the NPY header length");
        hlen = b[0] | (std::size_t{b[1]} << 8);
    } else {
        unsigned char b[4];
        in.read_exact(b, 4, "the NPY header length");
        hlen = b[0] | (std::size_t{b[1]} << 8) | (std::size_t{b[2]} << 16) | (std::size_t{b[3]} << 24);
    }
    const std::size_t base = in.offset();
    // Our dtypes need a few dozen bytes of header; NumPy itself refuses headers over 10,000
    // bytes unless told otherwise. A larger length is damage, not a header to allocate.
    constexpr std::size_t max_header = std::size_t{1} << 16;
    if (hlen > max_header)
        throw format_error(in.where(base - (major == 1 ? 2 : 4)) + "NPY header length " +
                           std::to_string(hlen) + " is larger than any header this reader accepts (" +
                           std::to_string(max_header) + " bytes)");
    std::string h(hlen, '\0');
    {
        const std::size_t got = in.read_some(h.data(), hlen);
        if (got != hlen)
            throw format_error(in.where(base - (major == 1 ? 2 : 4)) + "NPY header length says " +
                               std::to_string(hlen) + " bytes from byte " + std::to_string(base) +
                               " but the file ends at byte " + std::to_string(base + got));
    }
    NpyHeader hdr;
    hdr.data_offset = base + hlen;
    // descr
    std::size_t p = npy_key(h, "descr", in, base);
    while (p < h.size() && h[p] == ' ') ++p;
    const std::size_t dpos = p;
    if (p >= h.size() || (h[p] != '\'' && h[p] != '"'))
        throw format_error(in.where(base + p) + "NPY 'descr' is not a simple type string "
                           "(structured arrays are not supported)");
    const auto e = h.find(h[p], p + 1);
    if (e == std::string::npos) throw format_error(in.where(base + p) + "NPY 'descr' string is not closed");
    hdr.descr = h.substr(p + 1, e - p - 1);
    static const std::pair<const char*, std::size_t> known[] = {
        {"<f4", 4}, {"<f8", 8}, {"|u1", 1}, {"<u1", 1}, {"|i1", 1}, {"<i4", 4}, {"<i8", 8}};
    for (const auto& [name, bytes] : known)
        if (hdr.descr == name) hdr.item_bytes = bytes;
    if (hdr.item_bytes == 0)
        throw format_error(in.where(base + dpos) + "NPY dtype '" + hdr.descr +
                           "' is not supported (float32 <f4, float64 <f8, uint8 |u1, int32 <i4, "
                           "int64 <i8; little-endian only)");
    // fortran_order
    p = npy_key(h, "fortran_order", in, base);
    while (p < h.size() && h[p] == ' ') ++p;
    if (h.compare(p, 4, "True") == 0)
        throw format_error(in.where(base + p) + "NPY array is in Fortran order; save it C-contiguous "
                           "(numpy.ascontiguousarray)");
    // shape
    p = npy_key(h, "shape", in, base);
    const auto open = h.find('(', p), close = h.find(')', p);
    if (open == std::string::npos || close == std::string::npos || close < open)
        throw format_error(in.where(base + p) + "NPY 'shape' is not a tuple");
    std::size_t q = open + 1;
    while (q < close) {
        while (q < close && (h[q] == ' ' || h[q] == ',')) ++q;
        if (q >= close) break;
        std::size_t v = 0, digits = 0;
        constexpr std::size_t max_dim = std::size_t{1} << 40;
        while (q < close && h[q] >= '0' && h[q] <= '9' && v <= max_dim) {
            v = v * 10 + static_cast<std::size_t>(h[q] - '0');
            ++q, ++digits;
        }
        if (digits == 0 || v > max_dim)
            throw format_error(in.where(base + q) + "NPY 'shape' holds something that is not a size");
        hdr.shape.push_back(v);
    }
    // The data must be addressable: items * item bytes may not overflow (a hostile header
    // can claim any shape; the data itself is checked against the file as it is read).
    std::size_t n = 1;
    for (const auto d : hdr.shape)
        if (d != 0 && n > std::numeric_limits<std::size_t>::max() / hdr.item_bytes / d)
            throw format_error(in.where(base + open) + "NPY 'shape' claims more bytes than memory can address");
        else
            n *= d;
    return hdr;
}

template <class T>
T load_le(const unsigned char* p) {
    T v;
    std::memcpy(&v, p, sizeof(T)); // x86 and ARM little-endian targets
    return v;
}

// Items reserved up front before any data is read (1 Mi); beyond that, storage grows with
// the data actually present.
inline constexpr std::size_t npy_reserve_cap = std::size_t{1} << 20;

// Streams the data in blocks, converting each item with `put(index, bytes)`.
template <class Put>
void read_npy_items(ByteReader& in, const NpyHeader& h, Put&& put) {
    const std::size_t n = h.count(), b = h.item_bytes;
    std::vector<unsigned char> buf(std::size_t{1} << 16);
    const std::size_t per = buf.size() / b;
    for (std::size_t i = 0; i < n;) {
        const std::size_t m = std::min(per, n - i);
        const std::size_t got = in.read_some(buf.data(), m * b);
        if (got != m * b)
            throw format_error(in.where(in.offset()) + "NPY data is short: the header's shape (" +
                               std::to_string(n) + " items of " + std::to_string(b) +
                               " bytes) needs " + std::to_string(n * b) + " bytes from byte " +
                               std::to_string(h.data_offset) + ", the file ends at byte " +
                               std::to_string(in.offset()));
        for (std::size_t k = 0; k < m; ++k) put(i + k, buf.data() + k * b);
        i += m;
    }
    unsigned char extra;
    if (in.read_some(&extra, 1) != 0)
        throw format_error(in.where(in.offset() - 1) + "NPY file is longer than its header's shape says (" +
                           std::to_string(n * b) + " data bytes from byte " +
                           std::to_string(h.data_offset) + ")");
}

} // namespace detail

/// An .npy array converted to float.
struct NpyArray {
    std::vector<std::size_t> shape; ///< dimensions, C order
    std::vector<float> data;        ///< every element, converted to float
    std::string descr;              ///< the dtype in the file
};

/// Reads an .npy (raw, or .gz with edgestack::gzip) into floats.
inline NpyArray read_npy(const std::filesystem::path& path) {
    detail::ByteReader in(path);
    const NpyHeader h = detail::read_npy_header(in);
    // The header's count is a claim: storage grows with the data actually read, so a
    // truncated or hostile file costs no more memory than its own size.
    NpyArray a{h.shape, {}, h.descr};
    a.data.reserve(std::min(h.count(), detail::npy_reserve_cap));
    const std::string& d = h.descr;
    detail::read_npy_items(in, h, [&](std::size_t, const unsigned char* p) {
        if (d == "<f4") a.data.push_back(detail::load_le<float>(p));
        else if (d == "<f8") a.data.push_back(static_cast<float>(detail::load_le<double>(p)));
        else if (d == "<i4") a.data.push_back(static_cast<float>(detail::load_le<std::int32_t>(p)));
        else if (d == "<i8") a.data.push_back(static_cast<float>(detail::load_le<std::int64_t>(p)));
        else if (d == "|i1") a.data.push_back(static_cast<float>(static_cast<std::int8_t>(*p)));
        else a.data.push_back(static_cast<float>(*p));
    });
    return a;
}

/// Reads a 1-D integer .npy of class labels (uint8, int32 or int64; every value must fit
/// [0, 2^31)). Errors name the byte of the offending value.
inline std::vector<std::int32_t> read_npy_labels(const std::filesystem::path& path) {
    detail::ByteReader in(path);
    const NpyHeader h = detail::read_npy_header(in);
    if (h.shape.size() != 1)
        throw format_error(in.where(0) + "labels must be a 1-D array, the header's shape has " +
                           std::to_string(h.shape.size()) + " dimensions");
    if (h.descr == "<f4" || h.descr == "<f8")
        throw format_error(in.where(0) + "labels must be integers, the dtype is '" + h.descr + "'");
    std::vector<std::int32_t> y;
    y.reserve(std::min(h.count(), detail::npy_reserve_cap));
    detail::read_npy_items(in, h, [&](std::size_t i, const unsigned char* p) {
        std::int64_t v = 0;
        if (h.descr == "<i8") v = detail::load_le<std::int64_t>(p);
        else if (h.descr == "<i4") v = detail::load_le<std::int32_t>(p);
        else if (h.descr == "|i1") v = static_cast<std::int8_t>(*p);
        else v = *p;
        if (v < 0 || v > std::numeric_limits<std::int32_t>::max())
            throw format_error(in.where(h.data_offset + i * h.item_bytes) + "label " +
                               std::to_string(v) + " of item " + std::to_string(i) +
                               " is not a class index");
        y.push_back(static_cast<std::int32_t>(v));
    });
    return y;
}

/// The layout of one item of an array of shape (N, ...): rank 1 -> 1 x F x 1, rank 2 ->
/// 1 x T x C, rank 3 -> H x W x C, as edgestack::layout_of reads shapes.
inline SampleLayout npy_item_layout(const std::vector<std::size_t>& shape) {
    if (shape.size() <= 1) return {1, 1, 1};
    if (shape.size() == 2) return {1, shape[1], 1};
    if (shape.size() == 3) return {1, shape[1], shape[2]};
    std::size_t mid = 1;
    for (std::size_t i = 2; i + 1 < shape.size(); ++i) mid *= shape[i];
    return {shape[1], mid, shape.back()};
}

/// Features (N, ...) and labels (N,) from two .npy files, as a Loader. `num_classes` 0
/// infers max(label) + 1.
inline InMemoryLoader load_npy(const std::filesystem::path& features,
                               const std::filesystem::path& labels, std::size_t num_classes = 0) {
    NpyArray x = read_npy(features);
    std::vector<std::int32_t> y = read_npy_labels(labels);
    if (x.shape.empty() || x.shape[0] != y.size())
        throw shape_error(features.string() + ": " +
                          std::to_string(x.shape.empty() ? 0 : x.shape[0]) + " items but " +
                          labels.string() + " has " + std::to_string(y.size()) + " labels");
    const std::size_t item = x.shape[0] ? x.data.size() / x.shape[0] : 0;
    std::int32_t top = -1;
    for (auto v : y) top = std::max(top, v);
    const std::size_t classes = num_classes ? num_classes : static_cast<std::size_t>(top + 1);
    return InMemoryLoader(std::move(x.data), std::move(y), std::max<std::size_t>(item, 1), classes);
}

} // namespace edgestack::data
