// JPEG images for the image folder loader, decoded by libjpeg-turbo (component edgestack::jpeg,
// Debian libjpeg62-turbo-dev) into its layout: grey or RGB, 8 bits. Without the component a
// JPEG file is a config_error naming the package.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "edgestack/core/error.hpp"
#include "edgestack/core/file_io.hpp"
#include "edgestack/data/image.hpp"

#if defined(EDGESTACK_HAS_JPEG)
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>
#endif

namespace edgestack::data {

namespace detail {

inline bool has_jpeg_signature(std::span<const unsigned char> b) noexcept {
    return b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

#if defined(EDGESTACK_HAS_JPEG)

// A progressive file may hold any number of scans, each costing a pass over the coefficients;
// real encoders write about ten. More than this is refused, as a decoding-time bomb.
inline constexpr int jpeg_max_scans = 500;

// Everything libjpeg's callbacks and the setjmp-guarded steps touch lives here, in the
// caller's frame: a longjmp then skips no C++ destructor and clobbers no local of theirs.
struct JpegJob {
    jpeg_decompress_struct cinfo{};
    jpeg_error_mgr err{};
    jpeg_progress_mgr progress{};
    std::jmp_buf jump{};
    char message[JMSG_LENGTH_MAX + 64] = {};
    std::size_t size = 0;
    bool created = false;
    std::size_t max_rows_bytes = 0;
    std::vector<std::uint8_t> pixels;

    JpegJob() = default;
    JpegJob(const JpegJob&) = delete;
    JpegJob& operator=(const JpegJob&) = delete;
    ~JpegJob() {
        if (created) jpeg_destroy_decompress(&cinfo);
    }
    // The job a callback's decompressor belongs to (cinfo.client_data points back to it).
    static JpegJob& of(j_common_ptr c) { return *static_cast<JpegJob*>(c->client_data); }
    // Bytes libjpeg has taken from the input so far, for messages.
    std::size_t consumed() const noexcept {
        return cinfo.src ? size - std::min(size, std::size_t(cinfo.src->bytes_in_buffer)) : 0;
    }
};

// libjpeg's fatal errors: the message is kept and control returns to the step's setjmp, so
// the library neither prints nor exits.
[[noreturn]] inline void jpeg_on_error(j_common_ptr c) {
    JpegJob& job = JpegJob::of(c);
    c->err->format_message(c, job.message);
    std::longjmp(job.jump, 1);
}
// Warnings mean damaged data (a truncated file is decoded as grey to its end, a bad Huffman
// code resynchronises past lost blocks): every one is an error, except those that leave the
// pixels exact (an unknown JFIF version, an Adobe marker, a damaged ICC profile, padding
// bytes before a marker). Trace messages are dropped.
inline void jpeg_on_message(j_common_ptr c, int level) {
    if (level >= 0) return;
    const int code = c->err->msg_code;
    if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC ||
        code == JWRN_EXTRANEOUS_DATA)
        return;
    jpeg_on_error(c);
}
inline void jpeg_on_output(j_common_ptr) {}

inline void jpeg_on_progress(j_common_ptr c) {
    if (!c->is_decompressor) return;
    const auto* d = reinterpret_cast<j_decompress_ptr>(c);
    if (d->input_scan_number > jpeg_max_scans) {
        JpegJob& job = JpegJob::of(c);
        std::snprintf(job.message, sizeof job.message, "more than %d scans", jpeg_max_scans);
        std::longjmp(job.jump, 1);
    }
}

// Creates the decompressor over the bytes and reads the header. False on a libjpeg error.
inline bool jpeg_read_header_of(JpegJob& job, const unsigned char* data, std::size_t max_memory) {
    if (setjmp(job.jump)) return false;
    jpeg_create_decompress(&job.cinfo);
    job.created = true;
    job.cinfo.mem->max_memory_to_use = static_cast<long>(max_memory);
    job.cinfo.progress = &job.progress;
    jpeg_mem_src(&job.cinfo, data, static_cast<unsigned long>(job.size));
    jpeg_read_header(&job.cinfo, TRUE);
    return true;
}

// Decodes the scanlines, appending each row to job.pixels as it comes, so that a file whose
// data ends early fails before a buffer of the claimed size exists. False on a libjpeg error.
inline bool jpeg_read_pixels(JpegJob& job) {
    if (setjmp(job.jump)) return false;
    jpeg_start_decompress(&job.cinfo);
    const std::size_t row = std::size_t(job.cinfo.output_width) * job.cinfo.output_components;
    job.pixels.reserve(std::min(row * job.cinfo.output_height, job.max_rows_bytes));
    while (job.cinfo.output_scanline < job.cinfo.output_height) {
        job.pixels.resize(job.pixels.size() + row);
        JSAMPROW at = job.pixels.data() + job.pixels.size() - row;
        if (jpeg_read_scanlines(&job.cinfo, &at, 1) != 1) {
            std::snprintf(job.message, sizeof job.message, "no scanline returned");
            return false;
        }
    }
    jpeg_finish_decompress(&job.cinfo);
    return true;
}

#endif // EDGESTACK_HAS_JPEG

} // namespace detail

/// Decodes a JPEG image held in memory; `name` stands for the file in messages. Baseline,
/// progressive and arithmetic-coded files with any chroma subsampling are read: greyscale
/// gives 1 channel, YCbCr and RGB 3. CMYK and YCCK files (print colour spaces) are refused,
/// as are truncated or damaged ones. EXIF orientation is not applied: pixels are as stored.
inline Image decode_jpeg(std::span<const unsigned char> bytes, const std::filesystem::path& name,
                         const ImageLimits& limits = {}) {
#if defined(EDGESTACK_HAS_JPEG)
    const std::string where = name.string() + ": JPEG image: ";
    if (!detail::has_jpeg_signature(bytes))
        throw format_error(where + "byte 0: no JPEG start-of-image marker (FF D8 FF)");
    detail::JpegJob job;
    job.size = bytes.size();
    job.cinfo.err = jpeg_std_error(&job.err);
    job.err.error_exit = detail::jpeg_on_error;
    job.err.emit_message = detail::jpeg_on_message;
    job.err.output_message = detail::jpeg_on_output;
    job.cinfo.client_data = &job;
    job.progress.progress_monitor = detail::jpeg_on_progress;
    // A progressive file's coefficients take 2 bytes per sample of each component, which is
    // at most twice the decoded bytes; libjpeg refuses to allocate past this.
    const std::size_t max_memory =
        std::min<std::size_t>(limits.max_bytes, std::size_t(1) << 40) * 2 + (std::size_t(16) << 20);
    const auto failed = [&] {
        return format_error(where + job.message + " (near byte " + std::to_string(job.consumed()) +
                            " of " + std::to_string(bytes.size()) + ")");
    };
    if (!detail::jpeg_read_header_of(job, bytes.data(), max_memory)) throw failed();
    std::size_t channels = 0;
    switch (job.cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        job.cinfo.out_color_space = JCS_GRAYSCALE;
        channels = 1;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        job.cinfo.out_color_space = JCS_RGB;
        channels = 3;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        throw format_error(where + "CMYK colour (a print colour space) is not read: convert "
                                   "the image to RGB or greyscale");
    default:
        throw format_error(where + std::to_string(job.cinfo.num_components) +
                           " components in an unknown colour space: only greyscale, YCbCr "
                           "and RGB are read");
    }
    detail::check_image_size(name, "JPEG", job.cinfo.image_width, job.cinfo.image_height, channels,
                             limits);
    job.max_rows_bytes = std::size_t(16) << 20;
    if (!detail::jpeg_read_pixels(job)) throw failed();
    if (std::size_t(job.cinfo.output_components) != channels)
        throw format_error(where + std::to_string(job.cinfo.output_components) +
                           " components decoded, expected " + std::to_string(channels));
    return Image{{job.cinfo.output_height, job.cinfo.output_width, channels}, std::move(job.pixels)};
#else
    (void)bytes;
    (void)limits;
    throw config_error(name.string() +
                       ": a JPEG image, and this build reads JPEG only with the edgestack::jpeg "
                       "component linked (Debian: apt-get install libjpeg62-turbo-dev)");
#endif
}

/// Reads and decodes one JPEG file (see decode_jpeg).
inline Image read_jpeg(const std::filesystem::path& path, const ImageLimits& limits = {}) {
    const auto bytes = read_regular_file(path);
    return decode_jpeg(bytes, path, limits);
}

} // namespace edgestack::data
