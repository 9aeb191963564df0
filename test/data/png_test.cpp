#include <boost/test/unit_test.hpp>

#include <functional>
#include <string>
#include <vector>

#include "data/fixtures.hpp"
#include "data/image_fixtures.hpp"
#include "edgestack/data/png.hpp"

#if defined(EDGESTACK_HAS_PNG)
#include <zlib.h>
#endif

using namespace edgestack;
using namespace edgestack::data;
using fixtures::message_of;
using image_fixtures::bytes_of;
using image_fixtures::p16;
using image_fixtures::p8;
using image_fixtures::to8;

BOOST_AUTO_TEST_SUITE(png)

#if defined(EDGESTACK_HAS_PNG)

namespace {

struct Kind {
    const char* file;
    std::size_t w, h, channels;
    std::function<int(int, int, int)> value; // the expected 8-bit sample at (x, y, c)
};

// make_images.py's palette: 16 colours, index (x + 3y) % 16, index 0 marked transparent.
int palette(int x, int y, int c) {
    const int i = (x + 3 * y) % 16;
    const int rgb[3] = {(i * 16) % 256, (255 - i * 13) % 256, (i * 71) % 256};
    return rgb[c];
}

Image decode(const std::string& file, const ImageLimits& limits = {}) {
    return decode_png(bytes_of(file), file, limits);
}

// The PNG chunk at `at` (its length field) with a correct CRC after its data was changed.
void fix_crc(std::vector<unsigned char>& b, std::size_t at) {
    const std::size_t len = (std::size_t{b[at]} << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
    const auto crc = static_cast<std::uint32_t>(::crc32(0, b.data() + at + 4, static_cast<uInt>(len + 4)));
    for (int i = 0; i < 4; ++i) b[at + 8 + len + i] = static_cast<unsigned char>(crc >> (24 - 8 * i));
}

std::size_t chunk_at(const std::vector<unsigned char>& b, const char* type) {
    for (std::size_t at = 8; at + 12 <= b.size();) {
        const std::size_t len = (std::size_t{b[at]} << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
        if (std::string(b.begin() + at + 4, b.begin() + at + 8) == type) return at;
        at += 12 + len;
    }
    throw std::runtime_error(std::string("no chunk ") + type);
}

} // namespace

// Every colour type and bit depth, each written by Pillow or by the PNG specification with
// zlib (make_images.py), decodes to the values it was written from.
BOOST_AUTO_TEST_CASE(every_colour_type_and_depth_decodes_to_the_written_pixels) {
    const std::vector<Kind> kinds{
        {"gray8.png", 7, 5, 1, p8},
        {"rgb8.png", 7, 5, 3, p8},
        {"rgba.png", 7, 5, 3, p8},               // alpha dropped, colours kept
        {"gray_alpha.png", 7, 5, 1, p8},         // grey channel of grey + alpha
        {"gray1.png", 7, 5, 1, [](int x, int y, int) { return 255 * ((x + y) % 2); }},
        {"gray4.png", 7, 5, 1, [](int x, int y, int) { return ((x + 2 * y) % 16) * 17; }},
        {"gray16.png", 7, 5, 1, [](int x, int y, int c) { return to8(p16(x, y, c)); }},
        {"rgb16.png", 7, 5, 3, [](int x, int y, int c) { return to8(p16(x, y, c)); }},
        {"palette.png", 7, 5, 3, palette},       // tRNS ignored: index 0 keeps its colour
        {"interlaced.png", 11, 9, 3, p8},        // Adam7
    };
    for (const auto& k : kinds) {
        const Image img = decode(k.file);
        BOOST_TEST_CONTEXT(k.file) {
            BOOST_TEST((img.layout == SampleLayout{k.h, k.w, k.channels}));
            BOOST_REQUIRE(img.pixels.size() == k.w * k.h * k.channels);
            int wrong = 0;
            for (std::size_t y = 0; y < k.h; ++y)
                for (std::size_t x = 0; x < k.w; ++x)
                    for (std::size_t c = 0; c < k.channels; ++c) {
                        const int want = k.value(int(x), int(y), int(c));
                        const int got = img.pixels[(y * k.w + x) * k.channels + c];
                        if (got != want && wrong++ < 3)
                            BOOST_ERROR("(" << x << ", " << y << ", " << c << "): " << got
                                            << ", expected " << want);
                    }
            BOOST_TEST(wrong == 0);
        }
    }
    // read_png reads the file through the bounded reader and gives the same pixels.
    BOOST_TEST(read_png(image_fixtures::dir / "rgb8.png").pixels == decode("rgb8.png").pixels);
}

BOOST_AUTO_TEST_CASE(truncated_files_are_errors_naming_the_file) {
    for (const char* file : {"rgb8.png", "interlaced.png", "palette.png", "gray16.png"}) {
        const auto whole = bytes_of(file);
        for (std::size_t n = 0; n < whole.size(); ++n) {
            const std::vector<unsigned char> part(whole.begin(), whole.begin() + n);
            const auto msg = message_of<format_error>([&] { (void)decode_png(part, file); });
            BOOST_TEST(msg.find(std::string(file) + ": PNG image: ") == 0, n << ": " << msg);
        }
        // The last message, one byte short of the end, says the file ends early and where.
        const std::vector<unsigned char> part(whole.begin(), whole.end() - 1);
        const auto msg = message_of<format_error>([&] { (void)decode_png(part, file); });
        BOOST_TEST(msg.find("the file ends early (truncated)") != std::string::npos, msg);
        BOOST_TEST(msg.find("of " + std::to_string(whole.size() - 1) + ")") != std::string::npos, msg);
    }
}

BOOST_AUTO_TEST_CASE(damaged_files_are_errors) {
    // Wrong signature.
    auto b = bytes_of("rgb8.png");
    b[1] = 'Q';
    auto msg = message_of<format_error>([&] { (void)decode_png(b, "sig.png"); });
    BOOST_TEST(msg == "sig.png: PNG image: byte 0: no PNG signature");
    // The image data's CRC does not match.
    b = bytes_of("rgb8.png");
    const std::size_t idat = chunk_at(b, "IDAT");
    const std::size_t idat_len = (std::size_t{b[idat]} << 24) | (b[idat + 1] << 16) | (b[idat + 2] << 8) | b[idat + 3];
    b[idat + 8 + idat_len + 3] ^= 0x10;
    msg = message_of<format_error>([&] { (void)decode_png(b, "crc.png"); });
    BOOST_TEST(msg.find("crc.png: PNG image: IDAT: CRC error") == 0, msg);
    // A flipped bit inside the compressed data, under a CRC that matches: the rows that come
    // out are wrong (here a filter type that does not exist).
    b = bytes_of("rgb8.png");
    b[idat + 10] ^= 0x10;
    fix_crc(b, idat);
    msg = message_of<format_error>([&] { (void)decode_png(b, "deflate.png"); });
    BOOST_TEST(msg.find("deflate.png: PNG image: bad adaptive filter value") == 0, msg);
    // A header that no PNG may have (bit depth 3), its CRC correct.
    b = bytes_of("gray8.png");
    b[chunk_at(b, "IHDR") + 16] = 3;
    fix_crc(b, chunk_at(b, "IHDR"));
    msg = message_of<format_error>([&] { (void)decode_png(b, "depth.png"); });
    BOOST_TEST(msg.find("depth.png: PNG image: Invalid IHDR data (at byte 33 of") == 0, msg);
    // Every single-byte change of a small file either decodes or throws a format_error:
    // never a crash, never another exception (ASan and UBSan builds check the memory too).
    const auto orig = bytes_of("palette.png");
    for (std::size_t i = 0; i < orig.size(); ++i) {
        auto m = orig;
        m[i] ^= 0xa5;
        try {
            const Image img = decode_png(m, "flip.png");
            BOOST_TEST(img.pixels.size() == img.layout.size());
        } catch (const format_error&) {
        }
    }
}

BOOST_AUTO_TEST_CASE(sizes_are_checked_before_allocating) {
    // 65535 x 65535 claimed in a 68-byte file with valid CRCs.
    auto msg = message_of<format_error>([&] { (void)decode("hostile_65535.png"); });
    BOOST_TEST(msg.find("hostile_65535.png: PNG image of 65535x65535 pixels: each side may be at "
                        "most 16384 (ImageLimits::max_side)") == 0, msg);
    // 16000 x 16000 grey is within the limits, but 12 bytes of image data cannot hold it:
    // refused with 64 MiB of address space to spare.
    const bool refused = fixtures::within_memory(64u << 20, [] {
        return message_of<format_error>([] { (void)decode("hostile_short_data.png"); })
                   .find("16000x16000 pixels need at least") != std::string::npos;
    });
    BOOST_TEST(refused);
    // The same header with an IDAT chunk that claims a megabyte, cut off after 8 bytes: only
    // the bytes present count.
    auto b = bytes_of("hostile_short_data.png");
    const std::size_t idat = chunk_at(b, "IDAT");
    b[idat + 1] = 0x10;
    b.resize(idat + 8 + 8);
    const bool cut_refused = fixtures::within_memory(64u << 20, [&] {
        return message_of<format_error>([&] { (void)decode_png(b, "cut.png"); })
                   .find("the file holds 8 (truncated or damaged)") != std::string::npos;
    });
    BOOST_TEST(cut_refused);
    // The limits are the caller's to set.
    msg = message_of<format_error>([] { (void)decode("rgb8.png", {.max_side = 6}); });
    BOOST_TEST(msg.find("each side may be at most 6") != std::string::npos, msg);
    msg = message_of<format_error>([] { (void)decode("rgb8.png", {.max_bytes = 104}); });
    BOOST_TEST(msg.find("7x5x3 would decode to more than 104 bytes") != std::string::npos, msg);
    BOOST_TEST(decode("rgb8.png", {.max_side = 7, .max_bytes = 105}).pixels.size() == 105u);
}

#else

BOOST_AUTO_TEST_CASE(without_libpng_a_png_names_the_package) {
    const auto msg = message_of<config_error>([] { (void)decode_png(bytes_of("gray8.png"), "a.png"); });
    BOOST_TEST(msg.find("libpng-dev") != std::string::npos, msg);
}

#endif

BOOST_AUTO_TEST_SUITE_END()
