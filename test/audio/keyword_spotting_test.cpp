// examples/keyword_spotting as a user runs it, in its short --smoke form: espeak-ng speaks,
// the front end makes MFCCs, the DS-CNN (or, with --model gru, the GRU) trains, is quantized,
// saved and served. The held-out accuracy must clear a bound that a network which learned
// nothing fails (chance is 10%), int8 must stay near fp32, the served file and the streamed
// front end must answer as the int8 engine did, and bad arguments are refused.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <regex>
#include <string>

#include <unistd.h>

#include "support/program.hpp"

namespace {

using edgestack::test::has;
using edgestack::test::run_program;

double accuracy(const std::string& out, const std::string& engine) {
    const std::regex re("(^|\n)" + engine + " accuracy ([0-9.]+)%");
    std::smatch m;
    BOOST_REQUIRE_MESSAGE(std::regex_search(out, m, re), "no " + engine + " accuracy in:\n" + out);
    return std::stod(m[2].str());
}

} // namespace

BOOST_AUTO_TEST_SUITE(keyword_spotting)

BOOST_AUTO_TEST_CASE(smoke_run_learns_the_keywords_of_unheard_voices) {
    const auto file = std::filesystem::temp_directory_path() /
                      ("edgestack-kws-test-" + std::to_string(::getpid()) + ".edgemdl");
    const auto r = run_program(EDGESTACK_KEYWORD_SPOTTING, {"--smoke", "-o", file.string()});
    BOOST_TEST_REQUIRE(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "320 clips from espeak-ng (4 accents x 8 voice variants x 10 words)"), r.out);
    BOOST_TEST(has(r.out, "480 training seconds, 80 held out"), r.out);
    BOOST_TEST(std::filesystem::exists(file));
    std::filesystem::remove(file);
    const double fp32 = accuracy(r.out, "fp32"), int8 = accuracy(r.out, "int8");
    BOOST_TEST(fp32 > 40.0, r.out);
    BOOST_TEST(int8 > 40.0, r.out);
    BOOST_TEST(int8 > fp32 - 10.0, r.out);
    // The served file takes raw MFCCs and applies the saved scaling itself.
    BOOST_TEST(accuracy(r.out, "file") == int8, r.out);
    // Streamed in 20 ms chunks, the front end gives the frames the batch form gave.
    BOOST_TEST(accuracy(r.out, "stream") == int8, r.out);
    BOOST_TEST(has(r.out, "engine fp32 "), r.out);
}

BOOST_AUTO_TEST_CASE(smoke_run_of_the_gru_quantizes_it_to_int8) {
    const auto file = std::filesystem::temp_directory_path() /
                      ("edgestack-kws-gru-test-" + std::to_string(::getpid()) + ".edgemdl");
    const auto r = run_program(EDGESTACK_KEYWORD_SPOTTING, {"--smoke", "--model", "gru", "-o", file.string()});
    std::filesystem::remove(file);
    BOOST_TEST_REQUIRE(r.status == 0, r.out);
    BOOST_TEST(has(r.out, "model: gru"), r.out);
    const double fp32 = accuracy(r.out, "fp32"), int8 = accuracy(r.out, "int8");
    BOOST_TEST(fp32 > 40.0, r.out);
    BOOST_TEST(int8 > fp32 - 10.0, r.out);
    BOOST_TEST(accuracy(r.out, "file") == int8, r.out);
    BOOST_TEST(accuracy(r.out, "stream") == int8, r.out);
    BOOST_TEST(run_program(EDGESTACK_KEYWORD_SPOTTING, {"--model", "rnn"}).status == 2);
}

BOOST_AUTO_TEST_CASE(missing_speech_program_is_named) {
    const auto r = run_program(EDGESTACK_KEYWORD_SPOTTING,
                               {"--smoke", "--espeak", "/nonexistent/espeak-ng", "-o", "/dev/null"});
    BOOST_TEST(r.status == 1, r.out);
    BOOST_TEST(has(r.out, "keyword_spotting: /nonexistent/espeak-ng could not be started"), r.out);
    BOOST_TEST(has(r.out, "apt-get install espeak-ng"), r.out);
    const auto bad = run_program(EDGESTACK_KEYWORD_SPOTTING, {"--epochs", "0"});
    BOOST_TEST(bad.status == 2, bad.out);
}

BOOST_AUTO_TEST_SUITE_END()
