#include <boost/test/unit_test.hpp>

#include <cstring>
#include <vector>

#include "data/fixtures.hpp"
#include "edgestack/concepts.hpp"
#include "edgestack/data/npy.hpp"

using namespace edgestack;
using namespace edgestack::data;
using fixtures::message_of;

namespace {
// An NPY version-1 file: header padded so the data starts at a multiple of 64.
std::vector<std::uint8_t> npy(const std::string& descr, const std::string& shape,
                              const void* data, std::size_t bytes, bool fortran = false) {
    std::string h = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                    ", 'shape': " + shape + ", }";
    while ((10 + h.size() + 1) % 64 != 0) h += ' ';
    h += '\n';
    const std::uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                  static_cast<std::uint8_t>(h.size() & 0xff),
                                  static_cast<std::uint8_t>(h.size() >> 8)};
    std::vector<std::uint8_t> b(sizeof pre + h.size() + bytes);
    std::memcpy(b.data(), pre, sizeof pre);
    std::memcpy(b.data() + sizeof pre, h.data(), h.size());
    if (bytes != 0) std::memcpy(b.data() + sizeof pre + h.size(), data, bytes);
    return b;
}
} // namespace

BOOST_AUTO_TEST_SUITE(npy_files)

BOOST_AUTO_TEST_CASE(every_supported_dtype) {
    fixtures::TempDir dir("npy");
    const float f4[] = {1.5f, -2, 3, 4, 5, 6};
    const double f8[] = {0.25, 1e10};
    const std::uint8_t u1[] = {0, 255, 7};
    const std::int64_t i8[] = {2, 0, 1};
    fixtures::write_bytes(dir / "f4.npy", npy("<f4", "(3, 2)", f4, sizeof f4));
    fixtures::write_bytes(dir / "f8.npy", npy("<f8", "(2,)", f8, sizeof f8));
    fixtures::write_bytes(dir / "u1.npy", npy("|u1", "(3,)", u1, sizeof u1));
    fixtures::write_bytes(dir / "i8.npy", npy("<i8", "(3,)", i8, sizeof i8));
    const auto a = read_npy(dir / "f4.npy");
    BOOST_TEST(a.shape == (std::vector<std::size_t>{3, 2}), boost::test_tools::per_element());
    BOOST_TEST(a.data == (std::vector<float>{1.5f, -2, 3, 4, 5, 6}), boost::test_tools::per_element());
    BOOST_TEST(read_npy(dir / "f8.npy").data[1] == 1e10f);
    BOOST_TEST(read_npy(dir / "u1.npy").data[1] == 255.0f);
    BOOST_TEST(read_npy_labels(dir / "i8.npy") == (std::vector<std::int32_t>{2, 0, 1}),
               boost::test_tools::per_element());
    BOOST_TEST(read_npy_labels(dir / "u1.npy")[1] == 255);
    const auto l = load_npy(dir / "f4.npy", dir / "i8.npy");
    static_assert(Loader<decltype(l)>);
    BOOST_TEST(l.size() == 3u);
    BOOST_TEST(l.sample_size() == 2u);
    BOOST_TEST(l.num_classes() == 3u);
    std::vector<float> x(2);
    BOOST_TEST(l.read(2, x) == 1);
    BOOST_TEST(x[0] == 5.0f);
    BOOST_TEST((npy_item_layout({10, 28, 28, 1}) == SampleLayout{28, 28, 1}));
    BOOST_TEST((npy_item_layout({10, 50, 3}) == SampleLayout{1, 50, 3}));
}

BOOST_AUTO_TEST_CASE(unsupported_dtype_names_file_and_offset) {
    fixtures::TempDir dir("npy");
    const std::uint16_t h[] = {1, 2};
    fixtures::write_bytes(dir / "f2.npy", npy("<f2", "(2,)", h, sizeof h));
    const auto msg = message_of<format_error>([&] { read_npy(dir / "f2.npy"); });
    BOOST_TEST(msg.find((dir / "f2.npy").string()) != std::string::npos, msg);
    BOOST_TEST(msg.find("byte 20") != std::string::npos, msg); // the descr value: 10 + 10
    BOOST_TEST(msg.find("'<f2'") != std::string::npos, msg);
    const float be[] = {1};
    fixtures::write_bytes(dir / "be.npy", npy(">f4", "(1,)", be, 4));
    BOOST_CHECK_THROW(read_npy(dir / "be.npy"), format_error);
    fixtures::write_bytes(dir / "fo.npy", npy("<f4", "(1,)", be, 4, true));
    BOOST_CHECK_THROW(read_npy(dir / "fo.npy"), format_error);
}

// Found by fuzz_npy: a header claiming a huge shape over a few bytes of data made the reader
// allocate the claimed size before reading (an out-of-memory). Memory must follow the data.
BOOST_AUTO_TEST_CASE(huge_claimed_shape_costs_no_memory) {
    fixtures::TempDir dir("npy");
    const float f[] = {1, 2};
    fixtures::write_bytes(dir / "big.npy", npy("<f4", "(1000000000, 1000)", f, sizeof f));
    auto msg = message_of<format_error>([&] { read_npy(dir / "big.npy"); });
    BOOST_TEST(msg.find("NPY data is short") != std::string::npos, msg);
    fixtures::write_bytes(dir / "bigl.npy", npy("<i8", "(1000000000000,)", f, sizeof f));
    msg = message_of<format_error>([&] { read_npy_labels(dir / "bigl.npy"); });
    BOOST_TEST(msg.find("NPY data is short") != std::string::npos, msg);
    // A shape whose byte count overflows is refused at the header.
    fixtures::write_bytes(dir / "ovf.npy", npy("<f8", "(1099511627776, 1099511627776)", f, sizeof f));
    msg = message_of<format_error>([&] { read_npy(dir / "ovf.npy"); });
    BOOST_TEST(msg.find("more bytes than memory can address") != std::string::npos, msg);
    // And a version-3 header length of 1.9 GB (the allocation came before the read).
    auto b = npy("<f4", "(1,)", f, 4);
    b[6] = 3;
    b.insert(b.begin() + 10, {0x00, 0x00});
    b[8] = 0x3e, b[9] = 0x63, b[10] = 0x72, b[11] = 0x72;
    fixtures::write_bytes(dir / "hlen3.npy", b);
    msg = message_of<format_error>([&] { read_npy(dir / "hlen3.npy"); });
    BOOST_TEST(msg.find("byte 8: NPY header length 1920099134 is larger") != std::string::npos, msg);
    // So is a dimension with more digits than any size.
    fixtures::write_bytes(dir / "digits.npy", npy("<f4", "(99999999999999999999999999,)", f, sizeof f));
    msg = message_of<format_error>([&] { read_npy(dir / "digits.npy"); });
    BOOST_TEST(msg.find("not a size") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(header_that_lies_about_its_size) {
    fixtures::TempDir dir("npy");
    const float f[] = {1, 2, 3, 4};
    // The shape promises 6 floats (24 bytes from byte 128, where the padded header ends), the
    // file holds 4.
    fixtures::write_bytes(dir / "short.npy", npy("<f4", "(3, 2)", f, sizeof f));
    auto msg = message_of<format_error>([&] { read_npy(dir / "short.npy"); });
    BOOST_TEST(msg.find((dir / "short.npy").string()) != std::string::npos, msg);
    BOOST_TEST(msg.find("byte 144") != std::string::npos, msg);
    BOOST_TEST(msg.find("from byte 128") != std::string::npos, msg);
    // The header length points past the end of the file.
    auto b = npy("<f4", "(1,)", f, 4);
    b[8] = 0xff, b[9] = 0x7f;
    fixtures::write_bytes(dir / "hlen.npy", b);
    msg = message_of<format_error>([&] { read_npy(dir / "hlen.npy"); });
    BOOST_TEST(msg.find("byte 8") != std::string::npos, msg);
    BOOST_TEST(msg.find("header length") != std::string::npos, msg);
    // More data than the shape says.
    fixtures::write_bytes(dir / "long.npy", npy("<f4", "(3,)", f, sizeof f));
    msg = message_of<format_error>([&] { read_npy(dir / "long.npy"); });
    BOOST_TEST(msg.find("byte 140") != std::string::npos, msg);
    // Not NPY at all.
    fixtures::write_text(dir / "text.npy", "hello world");
    msg = message_of<format_error>([&] { read_npy(dir / "text.npy"); });
    BOOST_TEST(msg.find("byte 0") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(label_errors) {
    fixtures::TempDir dir("npy");
    const std::int64_t y[] = {0, -4};
    fixtures::write_bytes(dir / "neg.npy", npy("<i8", "(2,)", y, sizeof y));
    const auto msg = message_of<format_error>([&] { read_npy_labels(dir / "neg.npy"); });
    BOOST_TEST(msg.find("byte 136") != std::string::npos, msg);
    const float f[] = {1, 2, 3};
    fixtures::write_bytes(dir / "x.npy", npy("<f4", "(3,)", f, sizeof f));
    fixtures::write_bytes(dir / "y2.npy", npy("<i8", "(1,)", y, 8));
    BOOST_CHECK_THROW(read_npy_labels(dir / "x.npy"), format_error);
    BOOST_CHECK_THROW(load_npy(dir / "x.npy", dir / "y2.npy"), shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
