// PNG images for the image folder loader, decoded by libpng (component edgestack::png,
// Debian libpng-dev) into its layout: grey or RGB, 8 bits. Without the component a PNG file
// is a config_error naming the package.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <new>
#include <span>
#include <string>

#include "edgestack/core/error.hpp"
#include "edgestack/core/file_io.hpp"
#include "edgestack/data/image.hpp"

#if defined(EDGESTACK_HAS_PNG)
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include <png.h>
#endif

namespace edgestack::data {

namespace detail {

inline bool has_png_signature(std::span<const unsigned char> b) noexcept {
    static constexpr unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (b.size() < 8) return false;
    for (int i = 0; i < 8; ++i)
        if (b[i] != sig[i]) return false;
    return true;
}

#if defined(EDGESTACK_HAS_PNG)

// Everything libpng's callbacks and the setjmp-guarded steps touch lives here, in the
// caller's frame: a longjmp then skips no C++ destructor and clobbers no local of theirs.
struct PngJob {
    std::span<const unsigned char> bytes;
    std::size_t pos = 0;
    char message[200] = {};
    png_structp png = nullptr;
    png_infop info = nullptr;
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    std::size_t channels = 0, rowbytes = 0;
    std::vector<std::uint8_t> pixels;
    std::vector<png_bytep> rows;

    PngJob() = default;
    PngJob(const PngJob&) = delete;
    PngJob& operator=(const PngJob&) = delete;
    ~PngJob() {
        if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    }
};

// libpng reports errors here; the message is kept and control returns to the step's setjmp.
// It never prints and never exits.
inline void png_on_error(png_structp png, png_const_charp msg) {
    auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
    std::snprintf(job->message, sizeof job->message, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}
// Warnings (an ancillary chunk with a bad CRC, a known-wrong sRGB profile) leave the pixels
// intact: they are dropped, not printed.
inline void png_on_warning(png_structp, png_const_charp) {}

inline void png_on_read(png_structp png, png_bytep out, png_size_t n) {
    auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
    if (n > job->bytes.size() - job->pos) png_error(png, "the file ends early (truncated)");
    std::memcpy(out, job->bytes.data() + job->pos, n);
    job->pos += n;
}

// Reads the chunks up to the image data. False on a libpng error.
inline bool png_read_header(PngJob& job) {
    if (setjmp(png_jmpbuf(job.png))) return false;
    png_set_read_fn(job.png, &job, png_on_read);
    // The size is checked against ImageLimits by the caller, with a message naming the limit;
    // libpng's own limit (a million pixels a side) would refuse first, without one.
    png_set_user_limits(job.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_read_info(job.png, job.info);
    png_get_IHDR(job.png, job.info, &job.width, &job.height, &job.bit_depth, &job.color_type,
                 &job.interlace, nullptr, nullptr);
    return true;
}

// Sets the conversions to 8-bit grey or RGB: palette to RGB, 1/2/4-bit grey to 8 bits, 16
// bits scaled to 8 (rounded, as for 16-bit Netpbm), alpha and tRNS transparency dropped,
// interlaced passes combined. False on a libpng error.
inline bool png_set_conversions(PngJob& job) {
    if (setjmp(png_jmpbuf(job.png))) return false;
    if (job.color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job.png);
    if (job.color_type == PNG_COLOR_TYPE_GRAY && job.bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(job.png);
    if (job.bit_depth == 16) png_set_scale_16(job.png);
    png_set_strip_alpha(job.png);
    png_set_interlace_handling(job.png);
    png_read_update_info(job.png, job.info);
    job.channels = png_get_channels(job.png, job.info);
    job.rowbytes = png_get_rowbytes(job.png, job.info);
    return true;
}

// Decodes every row (and every interlace pass) into job.rows. False on a libpng error.
inline bool png_read_pixels(PngJob& job) {
    if (setjmp(png_jmpbuf(job.png))) return false;
    png_read_image(job.png, job.rows.data());
    png_read_end(job.png, nullptr);
    return true;
}

// The bytes of image data (IDAT chunks) the file holds, walking the chunk list without
// checking it (libpng does that); a chunk cut short counts only the bytes present. Deflate
// expands at most 1032 times, so a header that claims more pixels than its compressed data
// can hold is refused before the pixel buffer is allocated.
inline std::uint64_t png_idat_bytes(std::span<const unsigned char> b) noexcept {
    std::uint64_t total = 0;
    for (std::size_t at = 8; b.size() - at >= 8;) {
        const std::uint64_t len = (std::uint64_t{b[at]} << 24) | (std::uint64_t{b[at + 1]} << 16) |
                                  (std::uint64_t{b[at + 2]} << 8) | b[at + 3];
        const std::uint64_t present = b.size() - at - 8;
        if (std::memcmp(&b[at + 4], "IDAT", 4) == 0) total += std::min(len, present);
        if (std::memcmp(&b[at + 4], "IEND", 4) == 0 || len + 4 > present) break;
        at += 12 + static_cast<std::size_t>(len);
    }
    return total;
}

#endif // EDGESTACK_HAS_PNG

} // namespace detail

/// Decodes a PNG image held in memory; `name` stands for the file in messages. Every bit
/// depth and colour type is read: grey (1, 2, 4, 8, 16 bits) gives 1 channel, RGB and palette
/// images 3; 16-bit samples are scaled to 8 bits, rounded; an alpha channel or tRNS
/// transparency is dropped (the stored colours are kept, not blended); interlaced images are
/// read whole. Gamma and colour-profile chunks are not applied: pixels are the stored values.
inline Image decode_png(std::span<const unsigned char> bytes, const std::filesystem::path& name,
                        const ImageLimits& limits = {}) {
#if defined(EDGESTACK_HAS_PNG)
    const std::string where = name.string() + ": PNG image: ";
    if (!detail::has_png_signature(bytes))
        throw format_error(where + "byte 0: no PNG signature");
    detail::PngJob job;
    job.bytes = bytes;
    job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, detail::png_on_error,
                                     detail::png_on_warning);
    if (job.png) job.info = png_create_info_struct(job.png);
    if (!job.png || !job.info) throw std::bad_alloc();
    const auto failed = [&] {
        return format_error(where + job.message + " (at byte " + std::to_string(job.pos) +
                            " of " + std::to_string(bytes.size()) + ")");
    };
    if (!detail::png_read_header(job)) throw failed();
    detail::check_image_size(name, "PNG", job.width, job.height,
                             (job.color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1, limits);
    if (!detail::png_set_conversions(job)) throw failed();
    // The conversions above leave 8-bit grey or RGB for every valid header; this guards the
    // buffer size below against a libpng that would not.
    if ((job.channels != 1 && job.channels != 3) || job.rowbytes != job.width * job.channels)
        throw format_error(where + "rows of " + std::to_string(job.rowbytes) + " bytes in " +
                           std::to_string(job.channels) + " channels after conversion to 8 bits");
    // The filtered rows (a filter byte each) at the stored bit depth and channel count;
    // interlacing adds a few bytes per pass, which the slack covers.
    static constexpr int stored_channels[7] = {1, 0, 3, 1, 2, 0, 4};
    const std::uint64_t bits = std::uint64_t(job.bit_depth) *
                               stored_channels[job.color_type < 7 ? job.color_type : 0];
    const std::uint64_t raw = std::uint64_t(job.height) * (1 + (job.width * bits + 7) / 8);
    const std::uint64_t idat = detail::png_idat_bytes(bytes);
    if (raw > idat * 1032 + 4096)
        throw format_error(where + std::to_string(job.width) + "x" + std::to_string(job.height) +
                           " pixels need at least " + std::to_string(raw / 1032) +
                           " bytes of compressed image data, the file holds " +
                           std::to_string(idat) + " (truncated or damaged)");
    job.pixels.resize(job.rowbytes * job.height);
    job.rows.resize(job.height);
    for (std::size_t y = 0; y < job.height; ++y) job.rows[y] = job.pixels.data() + y * job.rowbytes;
    if (!detail::png_read_pixels(job)) throw failed();
    return Image{{job.height, job.width, job.channels}, std::move(job.pixels)};
#else
    (void)bytes;
    (void)limits;
    throw config_error(name.string() +
                       ": a PNG image, and this build reads PNG only with the edgestack::png "
                       "component linked (Debian: apt-get install libpng-dev)");
#endif
}

/// Reads and decodes one PNG file (see decode_png).
inline Image read_png(const std::filesystem::path& path, const ImageLimits& limits = {}) {
    const auto bytes = read_regular_file(path);
    return decode_png(bytes, path, limits);
}

} // namespace edgestack::data
