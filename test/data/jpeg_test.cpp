#include <boost/test/unit_test.hpp>

#include <csetjmp>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "data/fixtures.hpp"
#include "data/image_fixtures.hpp"
#include "edgestack/data/image_folder.hpp"
#include "edgestack/data/jpeg.hpp"

using namespace edgestack;
using namespace edgestack::data;
using fixtures::message_of;
using image_fixtures::bytes_of;
using image_fixtures::pj;

BOOST_AUTO_TEST_SUITE(jpeg)

#if defined(EDGESTACK_HAS_JPEG)

namespace {

Image decode(const std::string& file, const ImageLimits& limits = {}) {
    return decode_jpeg(bytes_of(file), file, limits);
}

// The offset of the first marker FF <code> after the start-of-image marker.
std::size_t marker_at(const std::vector<unsigned char>& b, unsigned char code) {
    for (std::size_t at = 2; at + 4 <= b.size();) {
        if (b[at] != 0xff) throw std::runtime_error("not at a marker");
        if (b[at + 1] == code) return at;
        at += 2 + ((std::size_t{b[at + 2]} << 8) | b[at + 3]);
    }
    throw std::runtime_error("marker not found");
}

// Sets the frame size in the SOF0 (baseline) or SOF2 (progressive) header.
void set_size(std::vector<unsigned char>& b, unsigned char sof, unsigned w, unsigned h) {
    const std::size_t at = marker_at(b, sof);
    b[at + 5] = static_cast<unsigned char>(h >> 8);
    b[at + 6] = static_cast<unsigned char>(h);
    b[at + 7] = static_cast<unsigned char>(w >> 8);
    b[at + 8] = static_cast<unsigned char>(w);
}

// A progressive greyscale JPEG of `w` x `h` pixels written by libjpeg's encoder with a scan
// script of 1 + 63 * 10 = 631 valid scans: each AC coefficient in its own band, sent in ten
// successive-approximation steps. Empty on an encoder error.
struct ScanBomb {
    jpeg_compress_struct cinfo{};
    jpeg_error_mgr err{};
    std::jmp_buf jump{};
    std::vector<jpeg_scan_info> scans;
    unsigned char* out = nullptr;
    unsigned long size = 0;
    ~ScanBomb() {
        jpeg_destroy_compress(&cinfo);
        std::free(out);
    }
};

[[noreturn]] void scan_bomb_error(j_common_ptr c) {
    std::longjmp(static_cast<ScanBomb*>(c->client_data)->jump, 1);
}

bool encode_scan_bomb(ScanBomb& job, const std::vector<unsigned char>& pixels, unsigned w, unsigned h) {
    if (setjmp(job.jump)) return false;
    jpeg_create_compress(&job.cinfo);
    jpeg_mem_dest(&job.cinfo, &job.out, &job.size);
    job.cinfo.image_width = w;
    job.cinfo.image_height = h;
    job.cinfo.input_components = 1;
    job.cinfo.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&job.cinfo);
    job.cinfo.scan_info = job.scans.data();
    job.cinfo.num_scans = static_cast<int>(job.scans.size());
    jpeg_start_compress(&job.cinfo, TRUE);
    while (job.cinfo.next_scanline < h) {
        JSAMPROW row = const_cast<unsigned char*>(pixels.data()) + job.cinfo.next_scanline * w;
        jpeg_write_scanlines(&job.cinfo, &row, 1);
    }
    jpeg_finish_compress(&job.cinfo);
    return true;
}

} // namespace

// Pillow decoded each fixture through libjpeg with its default settings (make_images.py);
// ours must agree, and both must be near the pixels the file was encoded from.
BOOST_AUTO_TEST_CASE(decodes_as_pillow_does_and_near_the_source) {
    struct Case {
        const char* jpg;
        const char* ref;
        std::size_t channels;
    };
    for (const Case k : {Case{"rgb.jpg", "rgb.ref.ppm", 3}, Case{"rgb444.jpg", "rgb444.ref.ppm", 3},
                         Case{"progressive.jpg", "progressive.ref.ppm", 3},
                         Case{"gray.jpg", "gray.ref.pgm", 1}}) {
        BOOST_TEST_CONTEXT(k.jpg) {
            const Image img = decode(k.jpg);
            const Image ref = read_pnm(image_fixtures::dir / k.ref);
            BOOST_TEST((img.layout == SampleLayout{13, 17, k.channels}));
            BOOST_TEST((ref.layout == img.layout));
            BOOST_REQUIRE(img.pixels.size() == ref.pixels.size());
            int max_vs_pillow = 0, max_vs_source = 0;
            double sum_vs_source = 0;
            for (std::size_t i = 0; i < img.pixels.size(); ++i) {
                const int x = int(i / k.channels % 17), y = int(i / k.channels / 17),
                          c = int(i % k.channels);
                const int d = std::abs(int(img.pixels[i]) - int(ref.pixels[i]));
                const int s = std::abs(int(img.pixels[i]) - pj(x, y, c));
                max_vs_pillow = std::max(max_vs_pillow, d);
                max_vs_source = std::max(max_vs_source, s);
                sum_vs_source += s;
            }
            BOOST_TEST(max_vs_pillow <= 1);
            BOOST_TEST(max_vs_source <= 4);
            BOOST_TEST(sum_vs_source / double(img.pixels.size()) < 1.0);
        }
    }
    BOOST_TEST(read_jpeg(image_fixtures::dir / "gray.jpg").pixels == decode("gray.jpg").pixels);
}

BOOST_AUTO_TEST_CASE(cmyk_is_refused_by_name) {
    const auto msg = message_of<format_error>([] { (void)decode("cmyk.jpg"); });
    BOOST_TEST(msg.find("cmyk.jpg: JPEG image: CMYK colour") == 0, msg);
    BOOST_TEST(msg.find("convert the image to RGB") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(truncated_files_are_errors_naming_the_file) {
    for (const char* file : {"rgb.jpg", "progressive.jpg", "gray.jpg"}) {
        const auto whole = bytes_of(file);
        for (std::size_t n = 0; n < whole.size(); ++n) {
            const std::vector<unsigned char> part(whole.begin(), whole.begin() + n);
            const auto msg = message_of<format_error>([&] { (void)decode_jpeg(part, file); });
            BOOST_TEST(msg.find(std::string(file) + ": JPEG image: ") == 0, n << ": " << msg);
        }
        // Cut inside the image data, libjpeg would fill the rest with grey and warn: here
        // the warning is the error.
        const std::vector<unsigned char> half(whole.begin(), whole.begin() + whole.size() * 3 / 4);
        const auto msg = message_of<format_error>([&] { (void)decode_jpeg(half, file); });
        BOOST_TEST(msg.find("Premature end of JPEG file") != std::string::npos, msg);
    }
}

BOOST_AUTO_TEST_CASE(damaged_files_are_errors) {
    auto b = bytes_of("rgb.jpg");
    b[2] = 0x00;
    auto msg = message_of<format_error>([&] { (void)decode_jpeg(b, "soi.jpg"); });
    BOOST_TEST(msg == "soi.jpg: JPEG image: byte 0: no JPEG start-of-image marker (FF D8 FF)");
    // 12-bit samples in the frame header: libjpeg's own message, as an error.
    b = bytes_of("rgb.jpg");
    b[marker_at(b, 0xc0) + 4] = 12;
    msg = message_of<format_error>([&] { (void)decode_jpeg(b, "precision.jpg"); });
    BOOST_TEST(msg.find("precision.jpg: JPEG image: Unsupported JPEG data precision 12") == 0, msg);
    // A marker inside the entropy-coded data: libjpeg would resynchronise and warn.
    b = bytes_of("rgb.jpg");
    const std::size_t data = marker_at(b, 0xda) + 2 + ((b[marker_at(b, 0xda) + 2] << 8) | b[marker_at(b, 0xda) + 3]);
    b[data + 40] = 0xff;
    b[data + 41] = 0xd3; // RST3 where none belongs
    msg = message_of<format_error>([&] { (void)decode_jpeg(b, "marker.jpg"); });
    BOOST_TEST(msg.find("marker.jpg: JPEG image: ") == 0, msg);
    BOOST_TEST(msg.find("near byte") != std::string::npos, msg);
    // Every single-byte change either decodes or throws a format_error: never a crash,
    // never another exception (ASan and UBSan builds check the memory too).
    for (const char* file : {"gray.jpg", "progressive.jpg"}) {
        const auto orig = bytes_of(file);
        for (std::size_t i = 0; i < orig.size(); ++i) {
            auto m = orig;
            m[i] ^= 0x5a;
            try {
                const Image img = decode_jpeg(m, "flip.jpg");
                BOOST_TEST(img.pixels.size() == img.layout.size());
            } catch (const format_error&) {
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(sizes_are_checked_before_allocating) {
    auto b = bytes_of("rgb.jpg");
    set_size(b, 0xc0, 65500, 65500);
    auto msg = message_of<format_error>([&] { (void)decode_jpeg(b, "big.jpg"); });
    BOOST_TEST(msg.find("big.jpg: JPEG image of 65500x65500 pixels: each side may be at most 16384") == 0,
               msg);
    set_size(b, 0xc0, 16000, 16000); // 768 MB of RGB
    msg = message_of<format_error>([&] { (void)decode_jpeg(b, "big.jpg"); });
    BOOST_TEST(msg.find("16000x16000x3 would decode to more than 268435456 bytes") != std::string::npos, msg);
    // Within the limits (256 MB of grey) but holding 400 bytes of data: the rows are decoded
    // into memory as they come, so the file fails before a buffer of that size exists.
    b = bytes_of("gray.jpg");
    set_size(b, 0xc0, 16000, 16000);
    const std::string short_data = "short.jpg: JPEG image: Corrupt JPEG data: premature end of data segment";
    msg = message_of<format_error>([&] { (void)decode_jpeg(b, "short.jpg"); });
    BOOST_TEST(msg.find(short_data) == 0, msg);
    const bool refused = fixtures::within_memory(64u << 20, [&] {
        return message_of<format_error>([&] { (void)decode_jpeg(b, "short.jpg"); }).find(short_data) == 0;
    });
    BOOST_TEST(refused);
    // A progressive file buffers its coefficients (2 bytes a sample) before it reads a scan:
    // the size check comes first, and a file within it whose data ends early is an error.
    b = bytes_of("progressive.jpg");
    set_size(b, 0xc2, 4000, 4000);
    msg = message_of<format_error>([&] { (void)decode_jpeg(b, "prog.jpg", {.max_bytes = 1u << 20}); });
    BOOST_TEST(msg.find("prog.jpg: JPEG image of 4000x4000x3 would decode to more") == 0, msg);
    msg = message_of<format_error>([&] { (void)decode_jpeg(b, "prog.jpg", {.max_bytes = 48u << 20}); });
    BOOST_TEST(msg.find("prog.jpg: JPEG image: Corrupt JPEG data: premature end of data segment") == 0,
               msg);
}

// A valid progressive file may hold thousands of scans, each a pass over all coefficients:
// past 500 it is refused instead of decoded.
BOOST_AUTO_TEST_CASE(too_many_scans_are_refused) {
    ScanBomb job;
    job.cinfo.err = jpeg_std_error(&job.err);
    job.err.error_exit = scan_bomb_error;
    job.cinfo.client_data = &job;
    job.scans.push_back({1, {0}, 0, 0, 0, 0}); // DC
    for (int k = 1; k < 64; ++k) {
        job.scans.push_back({1, {0}, k, k, 0, 9});
        for (int al = 8; al >= 0; --al) job.scans.push_back({1, {0}, k, k, al + 1, al});
    }
    std::vector<unsigned char> pixels(64 * 64);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>(i * 7 % 256);
    BOOST_REQUIRE(encode_scan_bomb(job, pixels, 64, 64));
    const std::span<const unsigned char> bytes(job.out, job.size);
    const auto msg = message_of<format_error>([&] { (void)decode_jpeg(bytes, "scans.jpg"); });
    BOOST_TEST(msg.find("scans.jpg: JPEG image: more than 500 scans") == 0, msg);
}

#else

BOOST_AUTO_TEST_CASE(without_libjpeg_a_jpeg_names_the_package) {
    const auto msg = message_of<config_error>([] { (void)decode_jpeg(bytes_of("gray.jpg"), "a.jpg"); });
    BOOST_TEST(msg.find("libjpeg62-turbo-dev") != std::string::npos, msg);
}

#endif

BOOST_AUTO_TEST_SUITE_END()
