// Hostile input for the model file: truncated at every length, extended, every byte
// flipped (with and without re-sealing the checksum), and wrong-type files. Each must
// end in an edgestack::error that names the file, never in a crash.
#include <boost/test/unit_test.hpp>

#include "edgestack/io/model_file.hpp"
#include "graphs.hpp"
#include "io_util.hpp"

using namespace edgestack;

namespace {

/// Parse an in-memory image; returns the message of the edgestack::error it raised, or ""
/// if it loaded.
std::string parse_error(const std::vector<char>& b) {
    // Copy into 64-byte aligned storage, as a mapping would be.
    auto buf = io::detail::aligned_buffer(b.size());
    if (!b.empty()) std::memcpy(buf.get(), b.data(), b.size());
    try {
        io::ModelFile::parse({buf.get(), b.size()}, "image.esm", {});
        return "";
    } catch (const edgestack::error& e) {
        return e.what();
    }
}

std::vector<char> image_of(const compile::Graph& g) {
    iotest::TempDir dir;
    io::save_model(dir.file("m.esm"), g);
    return iotest::read_bytes(dir.file("m.esm"));
}

} // namespace

BOOST_AUTO_TEST_SUITE(hostile_model_file)

BOOST_AUTO_TEST_CASE(every_truncation_is_rejected) {
    const auto full = image_of(iotest::small_cnn(4, 4, 1, 2));
    BOOST_TEST(parse_error(full) == "");
    for (std::size_t n = 0; n < full.size(); ++n) {
        const auto msg = parse_error({full.begin(), full.begin() + static_cast<long>(n)});
        BOOST_TEST_CONTEXT("length " << n) {
            BOOST_TEST(msg.find("image.esm") == 0u);
            BOOST_TEST(msg.find("truncated") != std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(trailing_bytes_are_rejected) {
    auto b = image_of(iotest::small_mlp());
    b.insert(b.end(), 64, '\0');
    BOOST_TEST(parse_error(b).find("unexpected bytes after the payload") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_bit_flip_fails_the_checksum) {
    const auto full = image_of(iotest::small_cnn(4, 4, 1, 2));
    for (std::size_t i = 0; i < full.size(); ++i) {
        auto b = full;
        b[i] ^= static_cast<char>(1 << (i % 8));
        const auto msg = parse_error(b);
        BOOST_TEST_CONTEXT("byte " << i) { BOOST_TEST(!msg.empty()); }
    }
}

BOOST_AUTO_TEST_CASE(resealed_bit_flips_in_the_graph_section_never_crash) {
    // The checksum recomputed, so the parser and validator meet each altered field. Some
    // flips (a weight's bit, a name's letter) give a valid file; none may crash or load
    // a graph that fails validation.
    const auto full = image_of(iotest::small_cnn(4, 4, 1, 2));
    std::size_t rejected = 0;
    for (std::size_t i = 8; i < full.size(); ++i) {
        if (i >= 96 && i < 128) continue; // the digest itself
        for (int bit : {0, 3, 7}) {
            auto b = full;
            b[i] ^= static_cast<char>(1 << bit);
            const auto msg = parse_error(iotest::reseal(b));
            if (!msg.empty()) {
                ++rejected;
                BOOST_TEST(msg.find("image.esm") == 0u, "message without the file: " << msg);
            }
        }
    }
    BOOST_TEST(rejected > 100u);
}

BOOST_AUTO_TEST_CASE(wrong_type_is_rejected_by_magic) {
    std::vector<char> png = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
    png.resize(4096, 'x');
    BOOST_TEST(parse_error(png).find("bad magic") != std::string::npos);
    std::vector<char> onnx(4096, '\x08');
    BOOST_TEST(parse_error(onnx).find("image.esm: byte 0: not an edgestack model file") == 0u);
}

BOOST_AUTO_TEST_CASE(oversized_counts_are_rejected_before_allocating) {
    auto b = image_of(iotest::small_mlp());
    // The value count is the first field of the graph section (byte 128).
    b[128] = '\xff';
    b[129] = '\xff';
    b[130] = '\xff';
    b[131] = '\x7f';
    const auto msg = parse_error(iotest::reseal(b));
    BOOST_TEST(msg.find("image.esm: byte 128: value count") == 0u, msg);
}

BOOST_AUTO_TEST_SUITE_END()
