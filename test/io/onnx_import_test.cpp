// ONNX import: a PyTorch-made fixture into the matching Sequential type (outputs equal to
// PyTorch's), round trips through our exporter, structural mismatches named by node, and
// damaged files rejected without a crash.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <sstream>

#include "edgestack/io/onnx_export.hpp"
#include "edgestack/io/onnx_import.hpp"
#include "edgestack/nn/nn.hpp"
#include "io_util.hpp"

using namespace edgestack;

namespace {

using FixtureNet = nn::Sequential<nn::Input<8, 8, 1>, nn::Conv2D<4, 3>, nn::ReLU, nn::MaxPool2D<2>,
                                  nn::BatchNorm, nn::DepthwiseConv2D<3>, nn::ReLU, nn::Flatten,
                                  nn::Dense<10>>;
// Differs from the fixture at the Linear layer (12 units, not 10).
using WrongWidth = nn::Sequential<nn::Input<8, 8, 1>, nn::Conv2D<4, 3>, nn::ReLU, nn::MaxPool2D<2>,
                                  nn::BatchNorm, nn::DepthwiseConv2D<3>, nn::ReLU, nn::Flatten,
                                  nn::Dense<12>>;
// Lacks the BatchNorm: the fixture's BatchNormalization meets our depthwise convolution.
using NoBatchNorm = nn::Sequential<nn::Input<8, 8, 1>, nn::Conv2D<4, 3>, nn::ReLU, nn::MaxPool2D<2>,
                                   nn::DepthwiseConv2D<3>, nn::ReLU, nn::Flatten, nn::Dense<10>>;

const std::string fixture = std::string(EDGESTACK_SOURCE_DIR) + "/test/fixtures/small_cnn.onnx";

std::vector<std::vector<float>> expected() {
    std::ifstream f(std::string(EDGESTACK_SOURCE_DIR) + "/test/fixtures/small_cnn.expected.txt");
    std::vector<std::vector<float>> rows;
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream s(line);
        rows.emplace_back(std::istream_iterator<float>(s), std::istream_iterator<float>());
    }
    return rows;
}

std::string import_error(const std::vector<char>& b) {
    FixtureNet m;
    try {
        io::import_onnx_bytes(std::as_bytes(std::span(b.data(), b.size())), "damaged.onnx", m);
        return "";
    } catch (const edgestack::error& e) {
        return e.what();
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(onnx_import)

BOOST_AUTO_TEST_CASE(pytorch_fixture_loads_and_matches_pytorch) {
    FixtureNet m;
    io::import_onnx(fixture, m);
    const auto rows = expected();
    BOOST_REQUIRE(rows.size() == 2u);
    BOOST_REQUIRE(rows[0].size() == 64u);
    BOOST_REQUIRE(rows[1].size() == 10u);
    // One channel: NCHW and NHWC orders coincide for the input.
    std::vector<float> y(10);
    m.predict(rows[0].data(), y.data(), 1);
    float scale = 0;
    for (float v : rows[1]) scale = std::max(scale, std::abs(v));
    for (int k = 0; k < 10; ++k)
        BOOST_TEST(std::abs(y[k] - rows[1][k]) <= 1e-4f * scale, "class " << k << ": ours " << y[k]
                   << ", pytorch " << rows[1][k]);
}

BOOST_AUTO_TEST_CASE(export_then_import_restores_parameters_and_state) {
    FixtureNet a;
    Rng rng(3);
    a.init(rng);
    for (std::size_t i = 0; i < a.state().size(); ++i) a.state()[i] = 0.5f + 0.01f * static_cast<float>(i);
    iotest::TempDir dir;
    io::export_onnx(dir.file("net.onnx"), a.lower());
    FixtureNet b;
    io::import_onnx(dir.file("net.onnx"), b);
    BOOST_TEST(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
    BOOST_TEST(std::equal(a.state().begin(), a.state().end(), b.state().begin()));
}

BOOST_AUTO_TEST_CASE(mismatch_names_the_first_differing_node) {
    WrongWidth w;
    BOOST_CHECK_EXCEPTION(io::import_onnx(fixture, w), shape_error,
                          iotest::message_has("(Gemm): weight has 640 elements"));
    NoBatchNorm n;
    BOOST_CHECK_EXCEPTION(io::import_onnx(fixture, n), shape_error,
                          iotest::message_has("(BatchNormalization) is the first node that differs: "
                                              "the model expects layer node 3 'depthwise_conv2d_0'"));
}

BOOST_AUTO_TEST_CASE(failed_import_leaves_the_model_unchanged) {
    WrongWidth w;
    Rng rng(5);
    w.init(rng);
    const std::vector<float> before(w.parameters().begin(), w.parameters().end());
    BOOST_CHECK_THROW(io::import_onnx(fixture, w), shape_error);
    BOOST_TEST(std::equal(before.begin(), before.end(), w.parameters().begin()));
}

BOOST_AUTO_TEST_CASE(damaged_files_are_rejected_without_a_crash) {
    const auto full = iotest::read_bytes(fixture);
    BOOST_TEST(import_error(full) == "");
    for (std::size_t n = 0; n < full.size(); n += 7) {
        const auto msg = import_error({full.begin(), full.begin() + static_cast<long>(n)});
        BOOST_TEST_CONTEXT("length " << n) { BOOST_TEST(msg.find("damaged.onnx") == 0u, msg); }
    }
    std::size_t rejected = 0;
    for (std::size_t i = 0; i < full.size(); ++i) {
        auto b = full;
        b[i] ^= static_cast<char>(0x10);
        const auto msg = import_error(b);
        if (!msg.empty()) {
            ++rejected;
            BOOST_TEST(msg.find("damaged.onnx") == 0u, msg);
        }
    }
    BOOST_TEST_MESSAGE("bit flips rejected: " << rejected << " of " << full.size());
    BOOST_TEST(rejected > 0u);
    const std::vector<char> text{'h', 'e', 'l', 'l', 'o'};
    BOOST_TEST(import_error(text).find("damaged.onnx") == 0u);
}

BOOST_AUTO_TEST_CASE(missing_file_is_a_file_error) {
    FixtureNet m;
    BOOST_CHECK_EXCEPTION(io::import_onnx("/nonexistent/x.onnx", m), file_error,
                          iotest::message_has("/nonexistent/x.onnx"));
}

BOOST_AUTO_TEST_SUITE_END()
