// ONNX import: PyTorch-made fixtures into the matching declared Sequential types (the five
// exports of test/fixtures/make_pytorch_exports.py, with their non-square kernels, explicit
// padding and pools that count their padding), run by the model itself and on every backend
// against ONNX Runtime and PyTorch; round trips through our exporter, structural mismatches
// named by node with both geometries, and damaged files rejected without a crash.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#include "edgestack/data/detail/byte_reader.hpp"
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/io/onnx_import.hpp"
#include "edgestack/nn/nn.hpp"
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"
#include "pytorch_exports.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

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

// The five PyTorch exports as declared types, layer for layer as the script builds them.
using nn::Kernel, nn::Pad, nn::Stride, nn::Window, nn::CountPad;

// Stride-2 residual stages with 1x1 stride-2 projections, a padded 3x3 stride-2 max pool,
// BatchNorm kept, a 3x2 average pool padded (1, 0) that counts its padding.
using ResNet = nn::Sequential<
    nn::Input<16, 16, 3>, nn::Conv2D<8, 3, 1, Pad<1>>, nn::BatchNorm, nn::ReLU,
    nn::MaxPool2D<3, 2, Pad<1>>,
    nn::Residual<nn::Conv2D<8, 3>, nn::BatchNorm, nn::ReLU, nn::Conv2D<8, 3>, nn::BatchNorm>, nn::ReLU,
    nn::Residual<nn::Projection<nn::Conv2D<16, 1, 2, nn::Padding::valid>, nn::BatchNorm>,
                 nn::Conv2D<16, 3, 2, Pad<1>>, nn::BatchNorm, nn::ReLU, nn::Conv2D<16, 3>, nn::BatchNorm>,
    nn::ReLU,
    nn::Residual<nn::Projection<nn::Conv2D<24, 1, 2, nn::Padding::valid>, nn::BatchNorm>,
                 nn::Conv2D<24, 3, 2, Pad<1>>, nn::BatchNorm, nn::ReLU, nn::Conv2D<24, 3>, nn::BatchNorm>,
    nn::ReLU,
    nn::AvgPool2D<Window<3, 2>, 1, Pad<1, 0>, CountPad>, nn::GlobalAvgPool, nn::Dense<10>>;

// Keyword spotting: a 10x4 stride-2 stem padded (5, 1), depthwise-separable blocks, a 3x3
// average pool counting its padding, a 24x5 average pool.
using DsCnn = nn::Sequential<
    nn::Input<49, 10, 1>, nn::Conv2D<32, Kernel<10, 4>, Stride<2, 2>, Pad<5, 1>>, nn::ReLU,
    nn::DepthwiseConv2D<3, 1, Pad<1>>, nn::ReLU, nn::Conv2D<32, 1>, nn::ReLU,
    nn::AvgPool2D<3, 1, Pad<1>, CountPad>,
    nn::DepthwiseConv2D<3, 1, Pad<1>>, nn::ReLU, nn::Conv2D<32, 1>, nn::ReLU, nn::Dropout<0.2f>,
    nn::AvgPool2D<Window<24, 5>>, nn::Flatten, nn::Dense<12>>;

// MobileNet-style at 96x96: stride-2 3x3 convolutions padded (1, 1, 1, 1), ReLU6, HardSwish,
// a padded 3x3 average pool that does not count the padding.
using MobileNet = nn::Sequential<
    nn::Input<96, 96, 3>, nn::Conv2D<8, 3, 2, Pad<1, 1, 1, 1>>, nn::ReLU6,
    nn::DepthwiseConv2D<3>, nn::ReLU6, nn::Conv2D<16, 1>, nn::ReLU6,
    nn::DepthwiseConv2D<3, 2, Pad<1>>, nn::ReLU6, nn::Conv2D<24, 1>, nn::ReLU6,
    nn::DepthwiseConv2D<3, 2, Pad<1>>, nn::HardSwish, nn::Conv2D<32, 1>, nn::HardSwish,
    nn::AvgPool2D<3, 1, Pad<1>>,
    nn::DepthwiseConv2D<3, 2, Pad<1>>, nn::HardSwish, nn::Conv2D<32, 1>, nn::HardSwish,
    nn::GlobalAvgPool, nn::Flatten, nn::Dense<5>>;

using Autoencoder = nn::Sequential<nn::Input<64>, nn::Dense<32>, nn::ReLU, nn::Dense<8>, nn::ReLU,
                                   nn::Dense<32>, nn::ReLU, nn::Dense<64>, nn::Sigmoid>;

using ReferenceCnn = nn::Sequential<nn::Input<28, 28, 1>, nn::Conv2D<32, 3>, nn::ReLU, nn::MaxPool2D<2>,
                                    nn::Conv2D<64, 3>, nn::ReLU, nn::MaxPool2D<2>, nn::Flatten,
                                    nn::Dense<128>, nn::ReLU, nn::Dense<10>>;

using iotest::check_within;
using iotest::fixture_bytes;
using iotest::fixtures;
using iotest::nchw_to_nhwc;
using iotest::run_on;

/// Imports fixture `name` into the declared `Model`, then checks the model's own forward pass
/// and its lowered graph on every backend against ONNX Runtime on random inputs, and the
/// reference backend against PyTorch's output for the script's fixed input.
template <class Model>
void check_declared(const std::string& name, const std::string& file, std::vector<std::size_t> dims,
                    bool dynamic_batch) {
    iotest::TempDir dir;
    const std::string path = dir.file(name + ".onnx");
    iotest::write_text(path, fixture_bytes(file));
    Model m;
    io::import_onnx(path, m);
    const compile::Graph g = m.lower();
    constexpr std::size_t in_size = Model::input_shape::size, out_size = Model::output_shape::size;
    BOOST_REQUIRE_EQUAL(g.input_size(), in_size);

    const bool spatial = dims.size() == 3;
    auto to_ours = [&](const std::vector<float>& x, std::size_t batch) {
        return spatial ? nchw_to_nhwc(x, batch, dims[0], dims[1], dims[2]) : x;
    };
    constexpr std::size_t N = 4;
    const auto x = iotest::random_floats(N * in_size, -1.0f, 1.0f, 29);
    const auto want = iotest::ort_samples(path, x, N, dims, dynamic_batch, dir);
    BOOST_REQUIRE_EQUAL(want.size(), N * out_size);
    BOOST_TEST(*std::max_element(want.begin(), want.end()) - *std::min_element(want.begin(), want.end()) > 1e-2f,
               "outputs that all agree say nothing");
    const auto xo = to_ours(x, N);
    std::ostringstream report;
    report << name << " declared: max |ours - ONNX Runtime| / max(1, |ORT|):";
    std::vector<float> y(N * out_size);
    m.predict(xo.data(), y.data(), N);
    report << " model " << check_within(y, want, name + " model forward");
    report << " reference " << check_within(run_on(backend::Reference{}, g, xo), want, name + " on reference");
    report << " simd " << check_within(run_on(backend::Simd{}, g, xo), want, name + " on simd");
#if defined(EDGESTACK_HAS_XNNPACK)
    report << " xnnpack " << check_within(run_on(backend::Xnnpack{}, g, xo), want, name + " on xnnpack");
#endif
    report << " parallel "
           << check_within(run_on(backend::Parallel<backend::Simd>{{}, 2}, g, xo), want, name + " on parallel");
    BOOST_TEST_MESSAGE(report.str());

    std::vector<float> x0(in_size);
    for (std::size_t i = 0; i < x0.size(); ++i)
        x0[i] = static_cast<float>(static_cast<double>((i * 7919) % 2001) / 1000.0 - 1.0);
    std::ifstream f(fixtures + name + ".expected.txt");
    const std::vector<float> torch_y{std::istream_iterator<float>(f), std::istream_iterator<float>()};
    check_within(run_on(backend::Reference{}, g, to_ours(x0, 1)), torch_y, name + " declared vs PyTorch");
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

BOOST_AUTO_TEST_CASE(resnet_into_a_declared_type, *utf::precondition(iotest::OrtPresent{})) {
    check_declared<ResNet>("resnet", "resnet.onnx", {3, 16, 16}, true);
}
BOOST_AUTO_TEST_CASE(ds_cnn_into_a_declared_type, *utf::precondition(iotest::OrtPresent{})) {
    check_declared<DsCnn>("ds_cnn", "ds_cnn.onnx", {1, 49, 10}, true);
}
BOOST_AUTO_TEST_CASE(mobilenet_into_a_declared_type, *utf::precondition(iotest::OrtPresent{})) {
    check_declared<MobileNet>("mobilenet", "mobilenet.onnx", {3, 96, 96}, true);
}
BOOST_AUTO_TEST_CASE(autoencoder_into_a_declared_type, *utf::precondition(iotest::OrtPresent{})) {
    check_declared<Autoencoder>("autoencoder", "autoencoder.onnx", {64}, true);
}
BOOST_AUTO_TEST_CASE(reference_cnn_into_a_declared_type, *utf::precondition(iotest::OrtPresent{})) {
    check_declared<ReferenceCnn>("reference_cnn", "reference_cnn.onnx.gz", {1, 28, 28}, false);
}

// TensorFlow's `same` pads a 3x3 stride-2 convolution (0, 0, 1, 1); PyTorch's file says
// (1, 1, 1, 1): the message names the node and both geometries.
using ResNetSamePadding = nn::Sequential<
    nn::Input<16, 16, 3>, nn::Conv2D<8, 3, 1, Pad<1>>, nn::BatchNorm, nn::ReLU,
    nn::MaxPool2D<3, 2, Pad<1>>,
    nn::Residual<nn::Conv2D<8, 3>, nn::BatchNorm, nn::ReLU, nn::Conv2D<8, 3>, nn::BatchNorm>, nn::ReLU,
    nn::Residual<nn::Projection<nn::Conv2D<16, 1, 2, nn::Padding::valid>, nn::BatchNorm>,
                 nn::Conv2D<16, 3, 2>, nn::BatchNorm, nn::ReLU, nn::Conv2D<16, 3>, nn::BatchNorm>,
    nn::ReLU, nn::GlobalAvgPool, nn::Dense<10>>;
// The 3x3 pool of ds_cnn counts its padding (PyTorch's default): without CountPad it differs.
using DsCnnExcludePad = nn::Sequential<
    nn::Input<49, 10, 1>, nn::Conv2D<32, Kernel<10, 4>, Stride<2, 2>, Pad<5, 1>>, nn::ReLU,
    nn::DepthwiseConv2D<3, 1, Pad<1>>, nn::ReLU, nn::Conv2D<32, 1>, nn::ReLU, nn::AvgPool2D<3, 1, Pad<1>>,
    nn::Flatten, nn::Dense<12>>;
// mobilenet's pool does not count its padding: with CountPad it differs.
using MobileNetCountPad = nn::Sequential<
    nn::Input<96, 96, 3>, nn::Conv2D<8, 3, 2, Pad<1>>, nn::ReLU6,
    nn::DepthwiseConv2D<3>, nn::ReLU6, nn::Conv2D<16, 1>, nn::ReLU6,
    nn::DepthwiseConv2D<3, 2, Pad<1>>, nn::ReLU6, nn::Conv2D<24, 1>, nn::ReLU6,
    nn::DepthwiseConv2D<3, 2, Pad<1>>, nn::HardSwish, nn::Conv2D<32, 1>, nn::HardSwish,
    nn::AvgPool2D<3, 1, Pad<1>, CountPad>, nn::GlobalAvgPool, nn::Dense<5>>;

template <class Model>
std::string declared_import_error(const std::string& file) {
    Model m;
    const std::string b = fixture_bytes(file);
    try {
        io::import_onnx_bytes(std::as_bytes(std::span(b.data(), b.size())), file, m);
        return "";
    } catch (const shape_error& e) {
        return e.what();
    }
}

BOOST_AUTO_TEST_CASE(a_wrong_declared_geometry_names_the_node_and_both_geometries) {
    const auto same = declared_import_error<ResNetSamePadding>("resnet.onnx");
    BOOST_TEST(same.find("resnet.onnx: node 11 '/stages/stages.1/conv1/Conv' (Conv) has kernel 3x3, stride 2x2, "
                         "pads (1, 1, 1, 1), dilation 1x1; layer node 11 'conv2d_3' (conv2d) has kernel 3x3, "
                         "stride 2x2, pads (0, 0, 1, 1), dilation 1x1") == 0u, same);
    const auto exclude = declared_import_error<DsCnnExcludePad>("ds_cnn.onnx");
    BOOST_TEST(exclude.find("node 8 '/features/features.9/AveragePool' (AveragePool) counts its padding cells in "
                            "the mean; layer node 6 'avg_pool2d_0' (avg_pool2d) does not: declare the layer's "
                            "AvgPool2D with the CountPad policy") != std::string::npos, exclude);
    const auto count = declared_import_error<MobileNetCountPad>("mobilenet.onnx");
    BOOST_TEST(count.find("node 24 '/features/features.21/AveragePool' (AveragePool) does not count its padding "
                          "cells in the mean; layer node 14 'depthwise_conv2d_3' (average pool counting its "
                          "padding) does: declare the layer's AvgPool2D without CountPad") != std::string::npos,
               count);
}

BOOST_AUTO_TEST_CASE(a_pool_rounding_its_output_up_is_refused) {
    // resnet.onnx with its MaxPool switched to ceil_mode = 1: the output size no layer has.
    onnx::ModelProto m;
    const std::string b = fixture_bytes("resnet.onnx");
    BOOST_REQUIRE(m.ParseFromString(b));
    auto* pool = m.mutable_graph()->mutable_node(3);
    BOOST_REQUIRE_EQUAL(pool->op_type(), "MaxPool");
    bool set = false;
    for (auto& a : *pool->mutable_attribute())
        if (a.name() == "ceil_mode") {
            a.set_i(1);
            set = true;
        }
    BOOST_REQUIRE(set);
    std::string out;
    BOOST_REQUIRE(m.SerializeToString(&out));
    ResNet net;
    BOOST_CHECK_EXCEPTION(io::import_onnx_bytes(std::as_bytes(std::span(out.data(), out.size())), "ceil.onnx", net),
                          shape_error,
                          iotest::message_has("ceil.onnx: node 3 '/stem/stem.3/MaxPool' (MaxPool): ceil_mode = 1 "
                                              "(output size rounded up) has no layer form"));
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
