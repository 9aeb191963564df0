// The geometry numeric kernels read: a per-sample value's height x width x channels, and a
// 2-D window over it (kernel, stride, padding), plus the padded copy of an image that
// convolution kernels run on. Shared by training layers (nn/) and the engine (backend/),
// below both: it needs neither the graph nor the engine's program.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

namespace edgestack::kernels {

/// Height, width, channels of a per-sample value (rank 1: 1 x 1 x N).
struct Hwc {
    /// @{
    /// Height, width and channels.
    std::size_t h = 1, w = 1, c = 1;
    /// @}
    std::size_t size() const noexcept { return h * w * c; } ///< elements: h x w x c
};

/// A window op's geometry: input and output, kernel, stride, padding (top, left, bottom,
/// right).
struct Window {
    /// @{
    /// The input's and the output's geometry.
    Hwc in, out;
    /// @}
    /// @{
    /// Kernel height and width, stride height and width, padding top, left, bottom and right.
    std::size_t kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
    /// @}
};

/// Copies one image `src` into `dst`, a buffer of `ph` x `pw` pixels, at the window's top
/// and left padding; every other element is `fill` (0 for fp32, the input zero point for
/// int8, so that padded taps add what an unpadded loop adds). Converts the element type on
/// the way.
template <class E, class X>
void pad_image(const Window& s, const X* src, E* dst, std::size_t ph, std::size_t pw, E fill) noexcept {
    // Geometry in locals: int8 pointers may alias the window, which would reload it per element.
    // Only the margins are filled: the image's own rows are written once, not twice.
    const std::size_t C = s.in.c, H = s.in.h, n = s.in.w * C, top = s.pt, left = s.pl;
    const std::size_t rows = std::min(H, ph > top ? ph - top : 0), right = pw - std::min(pw, left + s.in.w);
    std::fill_n(dst, top * pw * C, fill);
    for (std::size_t h = 0; h < rows; ++h) {
        E* row = dst + (h + top) * pw * C;
        std::fill_n(row, left * C, fill);
        row += left * C;
        const X* srow = src + h * n;
        if constexpr (std::is_same_v<E, X>) std::copy_n(srow, n, row);
        else
            for (std::size_t i = 0; i < n; ++i) row[i] = static_cast<E>(srow[i]);
        std::fill_n(row + n, right * C, fill);
    }
    std::fill_n(dst + (top + rows) * pw * C, (ph - top - rows) * pw * C, fill);
}

} // namespace edgestack::kernels
