// Built against the core target alone (no edgestack::png, no edgestack::jpeg): the image
// folder loader still reads Netpbm, and a PNG or JPEG file is a config_error that names the
// Debian package bringing its decoder.
#include <boost/test/unit_test.hpp>

#include <string>

#include "data/fixtures.hpp"
#include "data/image_fixtures.hpp"
#include "edgestack/data/image_folder.hpp"

#if defined(EDGESTACK_HAS_PNG) || defined(EDGESTACK_HAS_JPEG)
#error "this test must be built without the png and jpeg components"
#endif

using namespace edgestack;
using namespace edgestack::data;
using fixtures::message_of;

BOOST_AUTO_TEST_SUITE(image_core_only)

BOOST_AUTO_TEST_CASE(png_and_jpeg_name_their_package) {
    auto msg = message_of<config_error>([] { (void)read_image(image_fixtures::dir / "gray8.png"); });
    BOOST_TEST(msg.find("gray8.png: a PNG image, and this build reads PNG only with the "
                        "edgestack::png component linked (Debian: apt-get install libpng-dev)") !=
                   std::string::npos, msg);
    msg = message_of<config_error>([] { (void)read_image(image_fixtures::dir / "rgb.jpg"); });
    BOOST_TEST(msg.find("rgb.jpg: a JPEG image, and this build reads JPEG only with the "
                        "edgestack::jpeg component linked (Debian: apt-get install "
                        "libjpeg62-turbo-dev)") != std::string::npos, msg);

    fixtures::TempDir dir("img-core");
    fixtures::write_text(dir / "a/x.pgm", "P2 1 1 255 7");
    BOOST_TEST(ImageFolderLoader(dir.path).size() == 1u);
    std::filesystem::copy_file(image_fixtures::dir / "gray8.png", dir / "a/y.png");
    msg = message_of<config_error>([&] { ImageFolderLoader l(dir.path); });
    BOOST_TEST(msg.find("y.png: a PNG image") != std::string::npos, msg);
}

BOOST_AUTO_TEST_SUITE_END()
