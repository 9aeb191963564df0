#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "data/fixtures.hpp"
#include "data/image_fixtures.hpp"
#include "edgestack/concepts.hpp"
#include "edgestack/data/image_folder.hpp"

using namespace edgestack;
using namespace edgestack::data;
using fixtures::message_of;

static_assert(Loader<ImageFolderLoader>);

namespace {
std::vector<std::uint8_t> pgm5(std::size_t w, std::size_t h, std::uint8_t v) {
    const std::string hdr = "P5\n# made by a test\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
    std::vector<std::uint8_t> b(hdr.begin(), hdr.end());
    for (std::size_t i = 0; i < w * h; ++i) b.push_back(static_cast<std::uint8_t>(v + i));
    return b;
}
} // namespace

BOOST_AUTO_TEST_SUITE(image_folder)

BOOST_AUTO_TEST_CASE(folder_names_are_labels) {
    fixtures::TempDir dir("img");
    fixtures::write_bytes(dir / "dog/b.pgm", pgm5(3, 2, 10));
    fixtures::write_bytes(dir / "dog/a.pgm", pgm5(3, 2, 20));
    fixtures::write_text(dir / "cat/one.pgm", "P2\n3 2\n15\n0 15 0\n15 0 15\n");
    fixtures::write_text(dir / "cat/readme.txt", "not an image");
    const ImageFolderLoader l(dir.path);
    BOOST_TEST(l.size() == 3u);
    BOOST_TEST(l.num_classes() == 2u);
    BOOST_TEST(l.classes().name_of(0) == "cat");
    BOOST_TEST((l.layout() == SampleLayout{2, 3, 1}));
    std::vector<float> x(6);
    BOOST_TEST(l.read(0, x) == 0);
    BOOST_TEST(x[1] == 1.0f);
    BOOST_TEST(l.read(1, x) == 1); // dog/a.pgm comes first
    BOOST_TEST(x[0] == 20.0f / 255.0f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(l.file(2).filename() == "b.pgm");
}

BOOST_AUTO_TEST_CASE(color_ppm_ascii_and_binary) {
    fixtures::TempDir dir("img");
    fixtures::write_text(dir / "red/a.ppm", "P3 1 1 255 255 0 0");
    std::string p6 = "P6\n1 1\n255\n";
    p6 += std::string{char(0), char(255), char(0)};
    fixtures::write_text(dir / "green/a.ppm", p6);
    const ImageFolderLoader l(dir.path);
    BOOST_TEST((l.layout() == SampleLayout{1, 1, 3}));
    std::vector<float> x(3);
    BOOST_TEST(l.read(0, x) == 0); // green sorts first
    BOOST_TEST(x[1] == 1.0f);
    l.read(1, x);
    BOOST_TEST(x[0] == 1.0f);
}

BOOST_AUTO_TEST_CASE(bad_images_name_file_and_offset) {
    fixtures::TempDir dir("img");
    fixtures::write_text(dir / "a/bad.pgm", "P7\n1 1\n255\n");
    auto msg = message_of<format_error>([&] { ImageFolderLoader l(dir.path); });
    BOOST_TEST(msg.find("bad.pgm: byte 0") != std::string::npos, msg);
    std::filesystem::remove(dir / "a/bad.pgm");
    auto b = pgm5(4, 4, 0);
    b.resize(b.size() - 3);
    fixtures::write_bytes(dir / "a/short.pgm", b);
    msg = message_of<format_error>([&] { ImageFolderLoader l(dir.path); });
    BOOST_TEST(msg.find("short.pgm: byte") != std::string::npos, msg);
    BOOST_TEST(msg.find("pixel data is short") != std::string::npos, msg);
    std::filesystem::remove(dir / "a/short.pgm");
    fixtures::write_bytes(dir / "a/x.pgm", pgm5(2, 2, 0));
    fixtures::write_bytes(dir / "b/y.pgm", pgm5(3, 2, 0));
    msg = message_of<shape_error>([&] { ImageFolderLoader l(dir.path); });
    BOOST_TEST(msg.find("y.pgm") != std::string::npos, msg);
    fixtures::write_text(dir / "c/z.pgm", "P2 2 1 255 1 x");
    BOOST_CHECK_THROW(read_pnm(dir / "c/z.pgm"), format_error);
}

BOOST_AUTO_TEST_CASE(header_sizes_are_checked_against_the_file_before_allocating) {
    fixtures::TempDir dir("img");
    // 27 bytes claiming 3 * 10^18 pixels: once a std::bad_alloc out of the loader.
    fixtures::write_text(dir / "huge.ppm", "P6 999999999 999999999 255");
    auto msg = message_of<format_error>([&] { (void)read_pnm(dir / "huge.ppm"); });
    BOOST_TEST(msg.find("huge.ppm: byte") != std::string::npos, msg);
    BOOST_TEST(msg.find("1..65535") != std::string::npos, msg);
    // Within the limits but far beyond the bytes there: refused before allocating, so it
    // fails the same way with only 64 MiB of address space to spare (it once took 3.6 GB).
    for (const char* text : {"P5 60000 60000 255\n", "P6 60000 60000 65535\n\x01\x02",
                             "P2 60000 60000 255 1 2 3 4", "P3 65535 65535 1 1"}) {
        fixtures::write_text(dir / "claims.pgm", text);
        const bool refused = fixtures::within_memory(64u << 20, [&] {
            return message_of<format_error>([&] { (void)read_pnm(dir / "claims.pgm"); })
                       .find("pixel data is short") != std::string::npos;
        });
        BOOST_TEST(refused, text);
    }
    // The message's limits hold: a width above 65535 is refused even when the bytes are there.
    std::string wide = "P5 70000 1 255\n";
    wide.append(70000, '\x07');
    fixtures::write_text(dir / "wide.pgm", wide);
    msg = message_of<format_error>([&] { (void)read_pnm(dir / "wide.pgm"); });
    BOOST_TEST(msg.find("width 70000") != std::string::npos, msg);
    // Exactly enough bytes still loads (ASCII: one digit and one separator per sample).
    fixtures::write_text(dir / "tight.pgm", "P2 2 2 9 1 2 3 4");
    BOOST_TEST(read_pnm(dir / "tight.pgm").pixels.size() == 4u);
}

#if defined(EDGESTACK_HAS_PNG) && defined(EDGESTACK_HAS_JPEG)

// Cameras write JPEG (often named .JPG), labelling tools PNG: one folder may mix them with
// Netpbm. The format comes from the bytes; the name only selects which files are images.
BOOST_AUTO_TEST_CASE(png_jpeg_and_netpbm_in_one_folder) {
    namespace fs = std::filesystem;
    using image_fixtures::p8;
    fixtures::TempDir dir("img");
    fs::create_directories(dir / "cat");
    fs::create_directories(dir / "dog");
    fs::copy_file(image_fixtures::dir / "rgb8.png", dir / "cat/a.png");
    fs::copy_file(image_fixtures::dir / "rgba.png", dir / "cat/b.PNG");
    // The same 7x5 RGB pattern as P6.
    std::string ppm = "P6 7 5 255\n";
    for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 7; ++x)
            for (int c = 0; c < 3; ++c) ppm += static_cast<char>(p8(x, y, c));
    fixtures::write_text(dir / "dog/c.ppm", ppm);
    fs::copy_file(image_fixtures::dir / "interlaced.png", dir / "dog/not_used.txt");
    // A PNG named .jpg is read as the PNG it is.
    fs::copy_file(image_fixtures::dir / "rgb8.png", dir / "dog/d.jpg");
    const ImageFolderLoader l(dir.path);
    BOOST_TEST(l.size() == 4u);
    BOOST_TEST((l.layout() == SampleLayout{5, 7, 3}));
    std::vector<float> x(l.sample_size());
    for (std::size_t i = 0; i < l.size(); ++i) {
        BOOST_TEST(l.read(i, x) == (i < 2 ? 0 : 1));
        BOOST_TEST(x[3 * (2 * 7 + 4) + 1] == float(p8(4, 2, 1)) / 255.0f,
                   boost::test_tools::tolerance(1e-6f));
    }
    BOOST_TEST(l.file(1).filename() == "b.PNG");

    // JPEG: a folder of camera frames; the loader holds the decoded pixels.
    fixtures::TempDir cams("img");
    fs::create_directories(cams / "day");
    fs::copy_file(image_fixtures::dir / "rgb.jpg", cams / "day/IMG_0001.JPG");
    fs::copy_file(image_fixtures::dir / "progressive.jpg", cams / "day/IMG_0002.jpeg");
    const ImageFolderLoader frames(cams.path);
    BOOST_TEST((frames.layout() == SampleLayout{13, 17, 3}));
    const Image ref = read_pnm(image_fixtures::dir / "rgb.ref.ppm");
    std::vector<float> f(frames.sample_size());
    BOOST_TEST(frames.read(0, f) == 0);
    BOOST_REQUIRE(ref.pixels.size() == f.size());
    for (std::size_t i = 0; i < f.size(); ++i)
        BOOST_TEST(std::abs(f[i] * 255.0f - float(ref.pixels[i])) <= 1.01f);

    // The loader passes its limits on to every image.
    const auto msg = message_of<format_error>([&] { ImageFolderLoader s(cams.path, {}, {.max_side = 16}); });
    BOOST_TEST(msg.find("IMG_0001.JPG: JPEG image of 17x13 pixels: each side may be at most 16") !=
                   std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(not_an_image_and_not_a_file_are_named) {
    namespace fs = std::filesystem;
    fixtures::TempDir dir("img");
    fixtures::write_text(dir / "a/notes.png", "<html>not an image</html>");
    auto msg = message_of<format_error>([&] { ImageFolderLoader l(dir.path); });
    BOOST_TEST(msg.find("notes.png: byte 0: not a PNG, JPEG, PGM or PPM image (it starts with "
                        "3c 68 74 6d 6c 3e 6e 6f)") != std::string::npos, msg);
    fixtures::write_text(dir / "a/notes.png", "");
    msg = message_of<format_error>([&] { ImageFolderLoader l(dir.path); });
    BOOST_TEST(msg.find("notes.png: byte 0: not a PNG, JPEG, PGM or PPM image (the file is empty)") !=
                   std::string::npos, msg);
    fs::remove(dir / "a/notes.png");
    // A folder named like an image is not skipped: it is refused by name.
    fs::create_directories(dir / "a/x.png");
    msg = message_of<file_error>([&] { ImageFolderLoader l(dir.path); });
    BOOST_TEST(msg.find("x.png: cannot read: it is a directory") != std::string::npos, msg);
    msg = message_of<file_error>([&] { (void)read_image(dir / "a/x.png"); });
    BOOST_TEST(msg.find("x.png: cannot read: it is a directory") != std::string::npos, msg);
    // A truncated JPEG among good ones stops the loader with its name.
    fs::remove(dir / "a/x.png");
    auto jpg = image_fixtures::bytes_of("rgb.jpg");
    jpg.resize(jpg.size() / 2);
    fixtures::write_bytes(dir / "a/cut.jpg", std::vector<std::uint8_t>(jpg.begin(), jpg.end()));
    msg = message_of<format_error>([&] { ImageFolderLoader l(dir.path); });
    BOOST_TEST(msg.find("cut.jpg: JPEG image: Premature end of JPEG file") != std::string::npos, msg);
}

#endif

BOOST_AUTO_TEST_SUITE_END()
