// One decoded image as the image folder loader keeps it (H x W x C bytes, C = 1 or 3), and
// the bounds every decoder checks a header against before it allocates anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/core/shape.hpp"

namespace edgestack::data {

/// One decoded image: H x W x C bytes in row-major HWC order, C = 1 (grey) or 3 (RGB).
struct Image {
    SampleLayout layout;              ///< height, width and channels
    std::vector<std::uint8_t> pixels; ///< layout.size() bytes, HWC
};

/// What a compressed image (PNG, JPEG) may claim before it is refused. A 1 KB file can
/// claim 65535 x 65535 pixels; these are checked against the header before any pixel buffer
/// exists. The defaults admit a 64-megapixel camera frame (9248 x 6936 RGB, 192 MB).
struct ImageLimits {
    std::size_t max_side = 16384;                   ///< pixels, width and height each
    std::size_t max_bytes = std::size_t{256} << 20; ///< decoded bytes, width x height x channels
};

namespace detail {

// Refuses a header whose size is outside `limits`, naming the file, the format and the size.
inline void check_image_size(const std::filesystem::path& name, const char* format,
                             std::size_t w, std::size_t h, std::size_t c,
                             const ImageLimits& limits) {
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    if (w == 0 || h == 0)
        throw format_error(name.string() + ": " + format + " image of size " + size +
                           ": width and height must be at least 1");
    if (w > limits.max_side || h > limits.max_side)
        throw format_error(name.string() + ": " + format + " image of " + size +
                           " pixels: each side may be at most " + std::to_string(limits.max_side) +
                           " (ImageLimits::max_side)");
    // w, h <= max_side; the product is checked by division so a huge limit cannot overflow it.
    if (h > limits.max_bytes / w / c)
        throw format_error(name.string() + ": " + format + " image of " + size + "x" +
                           std::to_string(c) + " would decode to more than " +
                           std::to_string(limits.max_bytes) + " bytes (ImageLimits::max_bytes)");
}

} // namespace detail
} // namespace edgestack::data
