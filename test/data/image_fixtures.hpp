// The PNG and JPEG fixtures of test/fixtures/images (written by make_images.py with Pillow,
// not by edgestack) and the pixel formulas they were written from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace image_fixtures {

inline const std::filesystem::path dir =
    std::filesystem::path(EDGESTACK_SOURCE_DIR) / "test" / "fixtures" / "images";

inline std::vector<unsigned char> bytes_of(const std::string& name) {
    std::ifstream in(dir / name, std::ios::binary);
    if (!in) throw std::runtime_error((dir / name).string() + ": fixture missing");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// make_images.py: 8-bit and 16-bit PNG patterns, and the JPEG source pattern.
inline int p8(int x, int y, int c) { return (x * 37 + y * 91 + c * 53 + x * y * 7) % 256; }
inline int p16(int x, int y, int c) {
    return (x * 9001 + y * 4099 + c * 21011 + x * y * 13) % 65536;
}
inline int pj(int x, int y, int c) { return 16 + x * 6 + y * 4 + c * 30; }
// A 16-bit sample scaled to 8 bits, rounded to nearest: round(v * 255 / 65535).
inline int to8(int v16) { return (2 * v16 + 257) / 514; }

} // namespace image_fixtures
