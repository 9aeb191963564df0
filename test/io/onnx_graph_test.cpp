// ONNX import into a graph: five PyTorch exports (test/fixtures/make_pytorch_exports.py)
// imported with import_onnx_graph, compiled on every backend, and compared with ONNX
// Runtime on the same random inputs and with PyTorch's own output; hand-written models for
// the attribute forms PyTorch does not write; refusals named by node; damaged files refused.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#include "edgestack/data/detail/byte_reader.hpp"
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/io/onnx_graph_import.hpp"
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

namespace {

const std::string fixtures = std::string(EDGESTACK_SOURCE_DIR) + "/test/fixtures/";

/// A fixture's bytes (gzip-compressed ones inflated).
std::string fixture_bytes(const std::string& file) {
    data::detail::ByteReader r(fixtures + file);
    std::string s, chunk(1 << 16, '\0');
    while (const std::size_t got = r.read_some(chunk.data(), chunk.size())) s.append(chunk.data(), got);
    return s;
}

std::vector<float> nchw_to_nhwc(const std::vector<float>& x, std::size_t batch, std::size_t C, std::size_t H,
                                std::size_t W) {
    std::vector<float> y(x.size());
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t h = 0; h < H; ++h)
                for (std::size_t w = 0; w < W; ++w)
                    y[((b * H + h) * W + w) * C + c] = x[((b * C + c) * H + h) * W + w];
    return y;
}

/// The tolerance of every comparison with ONNX Runtime and PyTorch: 1e-4 absolute for
/// values up to 1 in magnitude, 1e-4 relative above.
constexpr float tolerance = 1e-4f;

/// Largest |got - want| / max(1, |want|); fails the test past `tolerance`.
float check_within(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    float worst = 0.0f;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const float d = std::abs(got[i] - want[i]) / std::max(1.0f, std::abs(want[i]));
        if (!(d <= tolerance)) BOOST_ERROR(what << ": element " << i << ": " << got[i] << " vs " << want[i]);
        worst = std::max(worst, d);
    }
    return worst;
}

template <class Backend>
std::vector<float> run_on(const Backend& b, const compile::Graph& g, const std::vector<float>& x) {
    const auto e = b.compile(g);
    const std::size_t batch = x.size() / e.input_size();
    std::vector<float> y(batch * e.output_size());
    auto arena = e.make_arena(batch);
    BOOST_REQUIRE(e.run(x, y, arena));
    return y;
}

/// Runs `g` on every backend and checks each against `want`; prints the largest differences.
void check_backends(const compile::Graph& g, const std::vector<float>& x_nhwc, const std::vector<float>& want,
                    const std::string& what) {
    std::ostringstream report;
    report << what << ": max |ours - ONNX Runtime| / max(1, |ORT|):";
    auto one = [&](const char* name, const std::vector<float>& y) {
        report << " " << name << " " << check_within(y, want, what + " on " + name);
    };
    one("reference", run_on(backend::Reference{}, g, x_nhwc));
    one("simd", run_on(backend::Simd{}, g, x_nhwc));
#if defined(EDGESTACK_HAS_XNNPACK)
    one("xnnpack", run_on(backend::Xnnpack{}, g, x_nhwc));
#endif
    one("parallel", run_on(backend::Parallel<backend::Simd>{{}, 2}, g, x_nhwc));
    BOOST_TEST_MESSAGE(report.str());
}

struct Network {
    std::string name, file;
    std::vector<std::size_t> dims; // per sample, as ONNX has it (C x H x W or features)
    bool dynamic_batch;
};

/// Imports a fixture, runs it on every backend against ONNX Runtime on random inputs, and
/// against PyTorch's output on the script's fixed input.
void check_network(const Network& net) {
    iotest::TempDir dir;
    const std::string bytes = fixture_bytes(net.file);
    const std::string model = dir.file(net.name + ".onnx");
    iotest::write_text(model, bytes);
    const compile::Graph g = io::import_onnx_graph(model);

    const bool spatial = net.dims.size() == 3;
    auto to_ours = [&](const std::vector<float>& x, std::size_t batch) {
        return spatial ? nchw_to_nhwc(x, batch, net.dims[0], net.dims[1], net.dims[2]) : x;
    };
    BOOST_REQUIRE_EQUAL(g.input_size(), compile::volume(net.dims));

    // ONNX Runtime on four random samples (one at a time for a file with a fixed batch).
    constexpr std::size_t N = 4;
    const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 17);
    std::vector<float> want;
    if (net.dynamic_batch) {
        want = iotest::ort_run(model, x, N, net.dims, dir);
    } else {
        for (std::size_t b = 0; b < N; ++b) {
            const std::vector<float> xb(x.begin() + static_cast<long>(b * g.input_size()),
                                        x.begin() + static_cast<long>((b + 1) * g.input_size()));
            const auto yb = iotest::ort_run(model, xb, 1, net.dims, dir);
            want.insert(want.end(), yb.begin(), yb.end());
        }
    }
    BOOST_TEST(*std::max_element(want.begin(), want.end()) - *std::min_element(want.begin(), want.end()) > 1e-2f,
               "outputs that all agree say nothing");
    check_backends(g, to_ours(x, N), want, net.name);

    // PyTorch's output for the script's input ((i * 7919) % 2001) / 1000 - 1.
    std::vector<float> x0(g.input_size());
    for (std::size_t i = 0; i < x0.size(); ++i)
        x0[i] = static_cast<float>(static_cast<double>((i * 7919) % 2001) / 1000.0 - 1.0);
    std::ifstream f(fixtures + net.name + ".expected.txt");
    const std::vector<float> torch_y{std::istream_iterator<float>(f), std::istream_iterator<float>()};
    const float d = check_within(run_on(backend::Reference{}, g, to_ours(x0, 1)), torch_y, net.name + " vs PyTorch");
    BOOST_TEST_MESSAGE(net.name << ": max difference to PyTorch (reference backend): " << d);
}

} // namespace

BOOST_AUTO_TEST_SUITE(onnx_graph_import)

BOOST_AUTO_TEST_CASE(resnet_with_batch_norm_nodes, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"resnet", "resnet.onnx", {3, 16, 16}, true});
}

BOOST_AUTO_TEST_CASE(keyword_spotting_ds_cnn, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"ds_cnn", "ds_cnn.onnx", {1, 49, 10}, true});
}

BOOST_AUTO_TEST_CASE(mobilenet_at_camera_resolution, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"mobilenet", "mobilenet.onnx", {3, 96, 96}, true});
}

BOOST_AUTO_TEST_CASE(dense_autoencoder, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"autoencoder", "autoencoder.onnx", {64}, true});
}

#if defined(EDGESTACK_HAS_GZIP) // the fixture is gzip-compressed
BOOST_AUTO_TEST_CASE(reference_cnn_with_fixed_batch, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"reference_cnn", "reference_cnn.onnx.gz", {1, 28, 28}, false});
}
#endif

BOOST_AUTO_TEST_CASE(pytorch_layout_becomes_nhwc) {
    // The stem's 10x4 stride-2 conv padded (5, 1): weights re-laid out, geometry kept.
    const std::string b = fixture_bytes("ds_cnn.onnx");
    const auto g = io::import_onnx_graph_bytes(std::as_bytes(std::span(b.data(), b.size())), "ds_cnn.onnx");
    BOOST_TEST(g.input_shape() == (compile::Dims{49, 10, 1}));
    const auto& stem = g.nodes.at(0);
    BOOST_TEST((stem.op == compile::Op::conv2d));
    BOOST_TEST((stem.kernel == std::array<std::size_t, 2>{10, 4}));
    BOOST_TEST((stem.stride == std::array<std::size_t, 2>{2, 2}));
    BOOST_TEST((stem.pad == std::array<std::size_t, 4>{5, 1, 5, 1}));
    BOOST_TEST(g.values.at(static_cast<std::size_t>(stem.output)) == (compile::Dims{25, 5, 32}));
    BOOST_TEST(g.output_shape() == (compile::Dims{12}));
    // The zero Pad PyTorch writes before the 24x5 pool vanishes; the one before the padded
    // 3x3 pool that counts its padding becomes a depthwise convolution of 1/9.
    std::size_t avg = 0, ones = 0;
    for (const auto& n : g.nodes) {
        avg += n.op == compile::Op::avg_pool2d;
        if (n.op == compile::Op::depthwise_conv2d && n.bias.empty() && !n.weights.empty() &&
            std::all_of(n.weights.begin(), n.weights.end(), [](float v) { return v == 1.0f / 9.0f; }))
            ++ones;
    }
    BOOST_TEST(avg == 1u);
    BOOST_TEST(ones == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
