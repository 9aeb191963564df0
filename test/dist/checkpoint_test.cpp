#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>

#include "common.hpp"
#include "edgestack/dist/checkpoint.hpp"

using namespace edgestack;

namespace {
dist::Checkpoint sample() {
    dist::Checkpoint c;
    c.fingerprint = 0x1234;
    c.epoch = 3;
    c.step = 7;
    c.parameters = {1.0f, -2.5f, 3.25f};
    c.optimizer_state = {0.5f, 0.25f};
    return c;
}
bool says(const std::exception& e, const std::string& what) {
    return std::string(e.what()).find(what) != std::string::npos;
}
} // namespace

BOOST_AUTO_TEST_SUITE(checkpoint)

BOOST_AUTO_TEST_CASE(round_trip_through_a_file) {
    dist_test::TempDir dir("ckpt");
    const auto path = dir.path / "train.ckpt";
    sample().save(path);
    BOOST_TEST(!std::filesystem::exists(dir.path / "train.ckpt.tmp"));
    const auto c = dist::Checkpoint::load(path);
    BOOST_TEST(c.fingerprint == 0x1234u);
    BOOST_TEST(c.epoch == 3u);
    BOOST_TEST(c.step == 7u);
    BOOST_TEST(c.parameters == sample().parameters, boost::test_tools::per_element());
    BOOST_TEST(c.optimizer_state == sample().optimizer_state, boost::test_tools::per_element());
    BOOST_TEST(std::filesystem::file_size(path) == 56u + 5 * 4 + 8);
}

BOOST_AUTO_TEST_CASE(truncated_file_names_the_source_and_offset) {
    auto bytes = sample().to_bytes();
    bytes.resize(30);
    BOOST_CHECK_EXCEPTION(dist::Checkpoint::from_bytes(bytes, "a.ckpt"), format_error,
                          [](const format_error& e) {
                              return says(e, "a.ckpt: byte 30: truncated");
                          });
}

BOOST_AUTO_TEST_CASE(wrong_magic_is_a_format_error_at_byte_0) {
    auto bytes = sample().to_bytes();
    bytes[0] = std::byte{'X'};
    BOOST_CHECK_EXCEPTION(dist::Checkpoint::from_bytes(bytes, "a.ckpt"), format_error,
                          [](const format_error& e) { return says(e, "a.ckpt: byte 0: not"); });
}

BOOST_AUTO_TEST_CASE(newer_version_is_a_format_error_at_byte_8) {
    auto bytes = sample().to_bytes();
    bytes[8] = std::byte{9};
    BOOST_CHECK_EXCEPTION(dist::Checkpoint::from_bytes(bytes, "a.ckpt"), format_error,
                          [](const format_error& e) {
                              return says(e, "byte 8: version 9 is not supported");
                          });
}

BOOST_AUTO_TEST_CASE(sizes_that_do_not_fit_the_file_are_a_format_error_at_byte_40) {
    auto bytes = sample().to_bytes();
    bytes[40] = std::byte{200};
    BOOST_CHECK_EXCEPTION(dist::Checkpoint::from_bytes(bytes, "a.ckpt"), format_error,
                          [](const format_error& e) { return says(e, "byte 40: sizes"); });
    bytes = sample().to_bytes();
    bytes[47] = std::byte{0xff}; // a count near 2^64 must not overflow the size check
    BOOST_CHECK_THROW(dist::Checkpoint::from_bytes(bytes, "a.ckpt"), format_error);
}

BOOST_AUTO_TEST_CASE(a_flipped_parameter_bit_fails_the_checksum) {
    auto bytes = sample().to_bytes();
    bytes[60] ^= std::byte{1};
    BOOST_CHECK_EXCEPTION(dist::Checkpoint::from_bytes(bytes, "a.ckpt"), integrity_error,
                          [](const integrity_error& e) {
                              return says(e, "a.ckpt: byte 76: checksum");
                          });
}

BOOST_AUTO_TEST_CASE(missing_file_and_unwritable_folder_are_file_errors) {
    dist_test::TempDir dir("ckpt");
    BOOST_CHECK_EXCEPTION(dist::Checkpoint::load(dir.path / "none.ckpt"), file_error,
                          [](const file_error& e) { return says(e, "none.ckpt: cannot open"); });
    BOOST_CHECK_EXCEPTION(sample().save(dir.path / "no" / "such" / "dir" / "x.ckpt"), file_error,
                          [](const file_error& e) { return says(e, "x.ckpt.tmp: cannot open"); });
}

BOOST_AUTO_TEST_SUITE_END()
