#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>
#include <numeric>
#include <vector>

#include "data/fixtures.hpp"
#include "edgestack/concepts.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/idx.hpp"

using namespace edgestack;
using fixtures::message_of;

static_assert(Loader<data::IdxLoader>);

BOOST_AUTO_TEST_SUITE(idx)

BOOST_AUTO_TEST_CASE(fashion_mnist_train_and_test) {
    const auto train = data::load_fashion_mnist(data::Split::train, fixtures::fashion_dir, 2000);
    const auto test = data::load_fashion_mnist(data::Split::test, fixtures::fashion_dir, 500);
    BOOST_TEST(train.size() == 2000u);
    BOOST_TEST(test.size() == 500u);
    BOOST_TEST(train.sample_size() == 784u);
    BOOST_TEST(train.num_classes() == 10u);
    BOOST_TEST((train.layout() == SampleLayout{28, 28, 1}));
    // The first training image of Fashion-MNIST is an ankle boot (9), the first test image too.
    BOOST_TEST(train.label(0) == 9);
    BOOST_TEST(test.label(0) == 9);
    std::vector<float> x(784);
    BOOST_TEST(train.read(0, x) == 9);
    float lo = 1, hi = 0;
    double sum = 0;
    for (float v : x) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
    }
    BOOST_TEST(lo >= 0.0f);
    BOOST_TEST(hi <= 1.0f);
    BOOST_TEST(hi > 0.5f);
    BOOST_TEST(sum > 10.0);
    const auto px = train.pixels(0);
    for (std::size_t k = 0; k < 784; ++k)
        BOOST_TEST(x[k] == px[k] / 255.0f, boost::test_tools::tolerance(1e-6f));
    std::vector<std::size_t> counts(10);
    for (std::size_t i = 0; i < train.size(); ++i) ++counts[train.label(i)];
    for (auto c : counts) BOOST_TEST(c > 100u);
}

BOOST_AUTO_TEST_CASE(full_train_split_loads_once) {
    const auto train = data::load_fashion_mnist(data::Split::train);
    BOOST_TEST(train.size() == 60000u);
    const auto copy = train; // shares the pixels
    BOOST_TEST(copy.pixels(59999).data() == train.pixels(59999).data());
}

BOOST_AUTO_TEST_CASE(raw_files_and_inferred_classes) {
    fixtures::TempDir dir("idx");
    std::vector<std::uint8_t> px(3 * 2 * 2);
    std::iota(px.begin(), px.end(), 0);
    fixtures::write_bytes(dir / "img", fixtures::idx_bytes({3, 2, 2}, px));
    fixtures::write_bytes(dir / "lab", fixtures::idx_bytes({3}, {0, 4, 2}));
    data::IdxLoader l(dir / "img", dir / "lab");
    BOOST_TEST(l.size() == 3u);
    BOOST_TEST(l.num_classes() == 5u);
    std::vector<float> x(4);
    BOOST_TEST(l.read(1, x) == 4);
    BOOST_TEST(x[3] == 7.0f / 255.0f, boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(missing_folder_names_the_file) {
    const auto msg = message_of<file_error>([] {
        (void)data::load_fashion_mnist(data::Split::test, "/nonexistent-folder");
    });
    BOOST_TEST(msg.find("/nonexistent-folder/t10k-images-idx3-ubyte") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(wrong_magic_names_file_and_offset) {
    fixtures::TempDir dir("idx");
    auto bytes = fixtures::idx_bytes({1, 2, 2}, {1, 2, 3, 4});
    bytes[0] = 0x1f; // looks like anything but IDX
    fixtures::write_bytes(dir / "bad-magic", bytes);
    fixtures::write_bytes(dir / "lab", fixtures::idx_bytes({1}, {0}));
    const auto msg = message_of<format_error>([&] { data::IdxLoader(dir / "bad-magic", dir / "lab"); });
    BOOST_TEST(msg.find((dir / "bad-magic").string()) != std::string::npos, msg);
    BOOST_TEST(msg.find("byte 0") != std::string::npos, msg);
    BOOST_TEST(msg.find("magic") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(wrong_type_code_names_offset_2) {
    fixtures::TempDir dir("idx");
    fixtures::write_bytes(dir / "f32", fixtures::idx_bytes({1, 1}, {0, 0, 0, 0}, 0x0D));
    const auto msg = message_of<format_error>([&] { data::read_idx(dir / "f32"); });
    BOOST_TEST(msg.find("byte 2") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(short_body_names_file_and_offset) {
    fixtures::TempDir dir("idx");
    // Header says 3 images of 2x2 (12 bytes from byte 16) but only 10 bytes follow.
    fixtures::write_bytes(dir / "short", fixtures::idx_bytes({3, 2, 2}, std::vector<std::uint8_t>(10, 7)));
    fixtures::write_bytes(dir / "lab", fixtures::idx_bytes({3}, {0, 1, 2}));
    const auto msg = message_of<format_error>([&] { data::IdxLoader(dir / "short", dir / "lab"); });
    BOOST_TEST(msg.find((dir / "short").string()) != std::string::npos, msg);
    BOOST_TEST(msg.find("byte 26") != std::string::npos, msg);
    BOOST_TEST(msg.find("short IDX body") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(a_header_claiming_gigabytes_fails_on_the_short_body_not_on_memory) {
    fixtures::TempDir dir("idx");
    // 4,294,967,295 items of 1 byte promised, 3 present: must be a format error, found
    // without first allocating what the header claims.
    fixtures::write_bytes(dir / "huge", {0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff, 1, 2, 3});
    const auto msg = message_of<format_error>([&] { data::read_idx(dir / "huge"); });
    BOOST_TEST(msg.find("short IDX body") != std::string::npos, msg);
    BOOST_TEST(msg.find("byte 11") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(truncated_header_names_offset) {
    fixtures::TempDir dir("idx");
    fixtures::write_bytes(dir / "hdr", {0, 0, 8, 3, 0, 0});
    const auto msg = message_of<format_error>([&] { data::read_idx(dir / "hdr"); });
    BOOST_TEST(msg.find("byte 4") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(count_mismatch_and_bad_label) {
    fixtures::TempDir dir("idx");
    fixtures::write_bytes(dir / "img", fixtures::idx_bytes({2, 1, 1}, {1, 2}));
    fixtures::write_bytes(dir / "lab3", fixtures::idx_bytes({3}, {0, 1, 1}));
    fixtures::write_bytes(dir / "lab2", fixtures::idx_bytes({2}, {0, 7}));
    auto msg = message_of<format_error>([&] { data::IdxLoader(dir / "img", dir / "lab3"); });
    BOOST_TEST(msg.find("lab3") != std::string::npos, msg);
    msg = message_of<format_error>([&] { data::IdxLoader(dir / "img", dir / "lab2", 0, 5); });
    BOOST_TEST(msg.find("byte 9") != std::string::npos, msg);
    BOOST_TEST(msg.find("label 7") != std::string::npos, msg);
}

#if defined(EDGESTACK_HAS_GZIP)
BOOST_AUTO_TEST_CASE(gzip_files_and_a_truncated_one) {
    fixtures::TempDir dir("idx");
    std::vector<std::uint8_t> px(50 * 4 * 4);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 7);
    const auto img = fixtures::idx_bytes({50, 4, 4}, px);
    gzFile f = gzopen((dir / "img.gz").c_str(), "wb");
    gzwrite(f, img.data(), static_cast<unsigned>(img.size()));
    gzclose(f);
    fixtures::write_bytes(dir / "lab", fixtures::idx_bytes({50}, std::vector<std::uint8_t>(50, 1)));
    const data::IdxLoader l(dir / "img.gz", dir / "lab");
    BOOST_TEST(l.size() == 50u);
    BOOST_TEST(l.pixels(49)[15] == px.back());
    // Cut the compressed stream short: the error names the file and a byte offset.
    std::ifstream in(dir / "img.gz", std::ios::binary);
    std::vector<std::uint8_t> gz((std::istreambuf_iterator<char>(in)), {});
    gz.resize(gz.size() / 2);
    fixtures::write_bytes(dir / "cut.gz", gz);
    const auto msg = message_of<format_error>([&] { data::IdxLoader(dir / "cut.gz", dir / "lab"); });
    BOOST_TEST(msg.find((dir / "cut.gz").string() + ": byte") != std::string::npos, msg);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
